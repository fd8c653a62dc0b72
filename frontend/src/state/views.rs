//! View models of the pages: which actions a row offers, which roles a form offers, who can be assigned
//! to a project, and how times and states read. Pure, so every rule is tested natively.

use chrono::{DateTime, Utc};
use common::api::{AssignmentResponse, MeResponse, TenantResponse, UserResponse};
use common::{Role, TenantKind, TenantStatus, UserId};

/// What an operator can do to a tenant from its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantAction {
    Suspend,
    Reactivate,
}

impl TenantAction {
    pub fn label(self) -> &'static str {
        match self {
            TenantAction::Suspend => "Suspend",
            TenantAction::Reactivate => "Reactivate",
        }
    }
}

/// The provider tenant cannot be suspended; a customer can be suspended or reactivated.
pub fn tenant_action(t: &TenantResponse) -> Option<TenantAction> {
    match (t.kind, t.status) {
        (TenantKind::Provider, _) => None,
        (TenantKind::Customer, TenantStatus::Active) => Some(TenantAction::Suspend),
        (TenantKind::Customer, TenantStatus::Suspended) => Some(TenantAction::Reactivate),
    }
}

/// The roles a user of the caller's tenant may be given.
pub fn role_choices(kind: TenantKind) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| r.allowed_in(kind))
        .collect()
}

/// The label of a role in forms and tables.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Operator => "Operator",
        Role::Admin => "Admin",
        Role::User => "User",
        Role::Finance => "Finance",
    }
}

/// Disable or enable a user; nobody disables themselves from the list (the server refuses it too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserToggle {
    Disable,
    Enable,
}

impl UserToggle {
    pub fn label(self) -> &'static str {
        match self {
            UserToggle::Disable => "Disable",
            UserToggle::Enable => "Enable",
        }
    }

    /// The value of `disabled` to send.
    pub fn disabled(self) -> bool {
        self == UserToggle::Disable
    }
}

pub fn user_toggle(u: &UserResponse, me: &MeResponse) -> Option<UserToggle> {
    if u.id == me.id {
        None
    } else if u.disabled {
        Some(UserToggle::Enable)
    } else {
        Some(UserToggle::Disable)
    }
}

/// Users who can still be assigned to a project: enabled, not finance (finance manages no projects),
/// not yet members. Sorted by name.
pub fn assignable<'a>(
    users: &'a [UserResponse],
    members: &[AssignmentResponse],
) -> Vec<&'a UserResponse> {
    let mut out: Vec<_> = users
        .iter()
        .filter(|u| !u.disabled && u.role != Role::Finance)
        .filter(|u| !members.iter().any(|m| m.user_id == u.id))
        .collect();
    out.sort_by_key(|u| u.name.to_lowercase());
    out
}

/// One row of a project's member table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub since: String,
}

/// Members with their names (a user not in `users` shows its id).
pub fn member_rows(members: &[AssignmentResponse], users: &[UserResponse]) -> Vec<MemberRow> {
    members
        .iter()
        .map(|m| {
            let user = users.iter().find(|u| u.id == m.user_id);
            MemberRow {
                user_id: m.user_id,
                name: user.map_or_else(|| m.user_id.to_string(), |u| u.name.clone()),
                email: user.map(|u| u.email.clone()).unwrap_or_default(),
                since: short_time(m.assigned_at),
            }
        })
        .collect()
}

/// `2026-11-01 09:30 UTC`.
pub fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn status_label(s: TenantStatus) -> &'static str {
    match s {
        TenantStatus::Active => "Active",
        TenantStatus::Suspended => "Suspended",
    }
}

/// A slug proposed from a tenant name while the operator has not typed one: `Acme Hosting` → `acme-hosting`.
pub fn slug_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= common::validate::SLUG_MAX {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::session::tests::me;
    use chrono::TimeZone;
    use common::api::Quotas;
    use common::{ProjectId, TenantId};

    fn tenant(kind: TenantKind, status: TenantStatus) -> TenantResponse {
        TenantResponse {
            id: TenantId::new(),
            name: "T".into(),
            slug: "t-1".into(),
            kind,
            status,
            quotas: Quotas::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn user(name: &str, role: Role, disabled: bool) -> UserResponse {
        UserResponse {
            id: UserId::new(),
            tenant_id: TenantId::new(),
            email: format!("{}@x.test", name.to_lowercase()),
            name: name.into(),
            role,
            disabled,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn member(u: &UserResponse) -> AssignmentResponse {
        AssignmentResponse {
            project_id: ProjectId::new(),
            user_id: u.id,
            assigned_at: Utc
                .with_ymd_and_hms(2026, 11, 1, 9, 30, 5)
                .single()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn tenant_actions_follow_kind_and_status() {
        use TenantKind::*;
        use TenantStatus::*;
        assert_eq!(tenant_action(&tenant(Provider, Active)), None);
        assert_eq!(
            tenant_action(&tenant(Customer, Active)),
            Some(TenantAction::Suspend)
        );
        assert_eq!(
            tenant_action(&tenant(Customer, Suspended)),
            Some(TenantAction::Reactivate)
        );
    }

    #[test]
    fn role_choices_per_tenant_kind() {
        assert_eq!(
            role_choices(TenantKind::Provider),
            [Role::Operator, Role::Finance]
        );
        assert_eq!(
            role_choices(TenantKind::Customer),
            [Role::Admin, Role::User, Role::Finance]
        );
    }

    #[test]
    fn nobody_disables_themselves() {
        let admin = me(Role::Admin);
        let mut own = user("Own", Role::Admin, false);
        own.id = admin.id;
        assert_eq!(user_toggle(&own, &admin), None);
        let bob = user("Bob", Role::User, false);
        assert_eq!(user_toggle(&bob, &admin), Some(UserToggle::Disable));
        assert!(UserToggle::Disable.disabled());
        let off = user("Off", Role::User, true);
        assert_eq!(user_toggle(&off, &admin), Some(UserToggle::Enable));
        assert!(!UserToggle::Enable.disabled());
    }

    #[test]
    fn assignable_users_exclude_members_finance_and_disabled() {
        let users = vec![
            user("zed", Role::User, false),
            user("Amy", Role::Admin, false),
            user("Fin", Role::Finance, false),
            user("Gone", Role::User, true),
            user("Bob", Role::User, false),
        ];
        let members = vec![member(&users[4])];
        let names: Vec<_> = assignable(&users, &members)
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(names, ["Amy", "zed"]);
    }

    #[test]
    fn member_rows_name_known_users_and_show_ids_of_others() {
        let bob = user("Bob", Role::User, false);
        let ghost = user("Ghost", Role::User, false);
        let rows = member_rows(&[member(&bob), member(&ghost)], std::slice::from_ref(&bob));
        assert_eq!(rows[0].name, "Bob");
        assert_eq!(rows[0].email, "bob@x.test");
        assert_eq!(rows[0].since, "2026-11-01 09:30 UTC");
        assert_eq!(rows[1].name, ghost.id.to_string());
        assert_eq!(rows[1].email, "");
    }

    #[test]
    fn slugs_proposed_from_names_pass_the_slug_rule() {
        let table = [
            ("Acme Hosting", "acme-hosting"),
            ("  Ünïcode & Co. ", "n-code-co"),
            ("ACME--2", "acme-2"),
            ("!!!", ""),
        ];
        for (name, want) in table {
            assert_eq!(slug_from_name(name), want, "{name}");
        }
        let long = slug_from_name(&"word ".repeat(30));
        assert!(long.len() <= common::validate::SLUG_MAX);
        assert!(common::validate::slug(&long).is_ok(), "{long}");
    }
}
