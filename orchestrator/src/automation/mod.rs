//! Automation: CloudScripts rendered with Script Variables (`render`, `context`), run through the
//! appliances' agents as jobs (`jobs`), and system events that fire rules whose chains of actions
//! the engine runs (`rules`, `chain`, `engine`, `webhook`); the provider's library (`library`) and
//! the default load-balancer wiring of an application (`wire_defaults`).

pub mod chain;
pub mod context;
pub mod engine;
pub mod jobs;
pub mod library;
pub mod metrics;
pub mod render;
pub mod rules;
pub mod sandbox;
pub mod webhook;

use common::api::{Action, ApplianceRole, OnFailure, RuleFilter, RuleOrigin, Step, Target};
use common::{ApplicationId, RuleId, TenantId};
use std::collections::BTreeMap;
use store::StoreError as E;
use store::repo::{applications, rules as rule_repo, scripts, unscoped};
use store::time::now;
use store::{DbConn, Rule, StoreError};

/// The default rules of an application with a load-balancer group and an app-server group: the
/// load balancer gets an app server once its agent is up, and loses it when it is terminated or
/// goes down; a load balancer that finished its install scripts (a new one, one that came up after
/// the app servers did, a replacement) gets the app servers of the app-server layer. Each is made
/// once per application (a user may change or remove them), one added by a later version on the
/// application's next deploy or group change; returns how many were made. Without the library
/// scripts (an installation that removed them) nothing is made.
pub fn wire_defaults(
    c: &mut DbConn,
    tenant: TenantId,
    app: ApplicationId,
) -> Result<usize, StoreError> {
    let groups = unscoped::applications::groups(c, app)?;
    let mut roles = Vec::new();
    let mut app_layer = None;
    for g in &groups {
        if let Some(t) = unscoped::templates::get(c, g.template_id)? {
            roles.push(t.role);
            if t.role == ApplianceRole::AppServer && app_layer.is_none() {
                app_layer = Some(g.layer_id);
            }
        }
    }
    if !roles.contains(&ApplianceRole::LoadBalancer) || !roles.contains(&ApplianceRole::AppServer) {
        return Ok(0);
    }
    let (Some(add), Some(remove)) = (
        scripts::by_name(c, None, library::HAPROXY_ADD)?,
        scripts::by_name(c, None, library::HAPROXY_REMOVE)?,
    ) else {
        return Ok(0);
    };
    // the app servers' layer by name, for a load balancer's own event (the user renaming that
    // layer edits this rule too; the others follow the event's appliance)
    let app_layer = match app_layer {
        Some(id) => applications::layers(c, tenant, app)?
            .into_iter()
            .find(|l| l.id == id)
            .map(|l| l.name),
        None => None,
    };
    let of_event = |layer: String| {
        BTreeMap::from([("backend_layer".to_owned(), serde_json::Value::String(layer))])
    };
    let step = |script, target, variables| Step {
        action: Action::RunScript {
            script_id: script,
            version: None,
            target,
            variables,
        },
        timeout_secs: 600,
        retries: 2,
        on_failure: OnFailure::Stop,
    };
    let to_lb = |script| {
        step(
            script,
            Target::Role {
                role: ApplianceRole::LoadBalancer,
            },
            of_event("{{ event.appliance.layer }}".into()),
        )
    };
    let mut defaults = vec![
        (
            "Add app servers to the load balancer",
            "appliance.came_alive",
            ApplianceRole::AppServer,
            to_lb(add.id),
        ),
        (
            "Remove terminated app servers from the load balancer",
            "appliance.terminated",
            ApplianceRole::AppServer,
            to_lb(remove.id),
        ),
        (
            "Remove app servers that went down from the load balancer",
            "appliance.went_down",
            ApplianceRole::AppServer,
            to_lb(remove.id),
        ),
    ];
    if let Some(layer) = app_layer {
        // the name as a template string literal (a value is rendered: `{{` in a name stays text)
        let literal = serde_json::Value::String(layer).to_string();
        defaults.push((
            "Give a configured load balancer the app servers",
            "appliance.configured",
            ApplianceRole::LoadBalancer,
            step(
                add.id,
                Target::EventAppliance,
                of_event(format!("{{{{ {literal} }}}}")),
            ),
        ));
    }
    // the ones this application has not had (defaults added by a later version come to
    // applications wired before it), each once
    let Some(had) = applications::claim_defaults(c, tenant, app, defaults.len())? else {
        return Ok(0);
    };
    let at = now();
    let mut made = 0;
    for (name, event_type, role, step) in defaults.into_iter().skip(had) {
        let rule = Rule {
            id: RuleId::new(),
            tenant_id: tenant,
            application_id: app,
            name: name.into(),
            event_type: event_type.into(),
            filter: RuleFilter {
                role: Some(role),
                ..Default::default()
            },
            condition: None,
            cooldown_secs: 0,
            schedule: None,
            steps: vec![step],
            enabled: true,
            origin: RuleOrigin::Default,
            last_fired_at: None,
            created_at: at,
            updated_at: at,
        };
        // in a savepoint: on PostgreSQL a refused insert would spoil the rest of the transaction
        match store::savepoint(c, |c| rule_repo::insert(c, &rule)) {
            Ok(()) => made += 1,
            // a rule of the user's has this name: theirs stays, this default is not made
            Err(E::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}
