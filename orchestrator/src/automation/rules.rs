//! Which rules an event fires (pure): the event type, the filter on the appliance it is about, the
//! cooldown since the rule last fired, and for schedules the rule the firing belongs to.

use chrono::{DateTime, Duration, Utc};
use common::api::{ApplianceRole, RuleFilter};
use store::{Event, Rule};

/// What a filter looks at: the layer, group and template role of the event's appliance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub layer: String,
    pub group: String,
    pub role: Option<ApplianceRole>,
}

/// Whether the filter takes every appliance (and events about none).
pub fn unfiltered(filter: &RuleFilter) -> bool {
    filter.layer.is_none() && filter.group.is_none() && filter.role.is_none()
}

/// Whether `filter` admits `subject` (an event about no appliance passes only an empty filter).
pub fn admits(filter: &RuleFilter, subject: Option<&Subject>) -> bool {
    match subject {
        None => unfiltered(filter),
        Some(s) => {
            filter.layer.as_ref().is_none_or(|l| *l == s.layer)
                && filter.group.as_ref().is_none_or(|g| *g == s.group)
                && filter.role.is_none_or(|r| Some(r) == s.role)
        }
    }
}

/// Whether the rule is out of its cooldown at `at`.
pub fn cooled(last_fired: Option<DateTime<Utc>>, cooldown_secs: u32, at: DateTime<Utc>) -> bool {
    last_fired.is_none_or(|t| at >= t + Duration::seconds(i64::from(cooldown_secs)))
}

/// The rule a `schedule.fired` or `metric.threshold` event was recorded for (its detail's `rule_id`).
pub fn rule_of(event: &Event) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&event.detail)
        .ok()?
        .get("rule_id")?
        .as_str()
        .map(str::to_owned)
}

/// Whether `event` fires `rule` (cooldown aside).
pub fn fires(rule: &Rule, event: &Event, subject: Option<&Subject>) -> bool {
    if !rule.enabled || rule.event_type != event.type_ {
        return false;
    }
    if matches!(event.type_.as_str(), "schedule.fired" | "metric.threshold") {
        return rule_of(event).as_deref() == Some(rule.id.to_string().as_str());
    }
    admits(&rule.filter, subject)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use common::api::RuleOrigin;
    use common::{ApplicationId, EventId, RuleId, TenantId};

    fn rule(event_type: &str, filter: RuleFilter) -> Rule {
        let at = store::time::now();
        Rule {
            id: RuleId::new(),
            tenant_id: TenantId::new(),
            application_id: ApplicationId::new(),
            name: "r".into(),
            event_type: event_type.into(),
            filter,
            condition: None,
            cooldown_secs: 0,
            schedule: None,
            steps: Vec::new(),
            enabled: true,
            origin: RuleOrigin::User,
            last_fired_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn event(type_: &str, detail: &str) -> Event {
        Event {
            id: EventId::new(),
            tenant_id: TenantId::new(),
            type_: type_.into(),
            application_id: None,
            appliance_id: None,
            host_id: None,
            detail: detail.into(),
            at: store::time::now(),
        }
    }

    #[test]
    fn filters_admit_their_subjects() {
        let php = Subject {
            layer: "app".into(),
            group: "php".into(),
            role: Some(ApplianceRole::AppServer),
        };
        let f = |layer: Option<&str>, group: Option<&str>, role| RuleFilter {
            layer: layer.map(Into::into),
            group: group.map(Into::into),
            role,
        };
        let table = [
            (f(None, None, None), Some(&php), true),
            (f(None, None, None), None, true),
            (f(Some("app"), None, None), Some(&php), true),
            (f(Some("db"), None, None), Some(&php), false),
            (
                f(None, Some("php"), Some(ApplianceRole::AppServer)),
                Some(&php),
                true,
            ),
            (
                f(None, None, Some(ApplianceRole::LoadBalancer)),
                Some(&php),
                false,
            ),
            (f(Some("app"), None, None), None, false),
        ];
        for (filter, subject, want) in table {
            assert_eq!(admits(&filter, subject), want, "{filter:?} {subject:?}");
        }
    }

    #[test]
    fn cooldowns_hold_the_rule_back() {
        let t = store::time::now();
        let s = Duration::seconds;
        let table = [
            (None, 60, t, true),
            (Some(t), 60, t + s(59), false),
            (Some(t), 60, t + s(60), true),
            (Some(t), 0, t, true),
            // an event older than the last firing (delivered late) is held back too
            (Some(t), 60, t - s(5), false),
        ];
        for (last, cooldown, at, want) in table {
            assert_eq!(cooled(last, cooldown, at), want, "{last:?} {cooldown} {at}");
        }
    }

    #[test]
    fn events_fire_rules_of_their_type_and_schedules_their_own_rule() {
        let r = rule("appliance.came_alive", RuleFilter::default());
        assert!(fires(&r, &event("appliance.came_alive", ""), None));
        assert!(!fires(&r, &event("appliance.went_down", ""), None));
        let mut off = r.clone();
        off.enabled = false;
        assert!(!fires(&off, &event("appliance.came_alive", ""), None));
        let s = rule("schedule.fired", RuleFilter::default());
        let mine = event("schedule.fired", &format!(r#"{{"rule_id":"{}"}}"#, s.id));
        let other = event(
            "schedule.fired",
            &format!(r#"{{"rule_id":"{}"}}"#, RuleId::new()),
        );
        assert!(fires(&s, &mine, None));
        assert!(!fires(&s, &other, None));
        assert!(!fires(&s, &event("schedule.fired", "not json"), None));
    }
}
