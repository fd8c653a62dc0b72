//! Role-aware navigation: which pages each role sees in the shell, where it lands, and which routes it
//! may open (the server enforces the same rules; this only keeps the UI honest).

use crate::app::Route;
use common::Role;

/// One entry of the shell's navigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavItem {
    pub route: Route,
    pub label: &'static str,
}

fn item(route: Route, label: &'static str) -> NavItem {
    NavItem { route, label }
}

/// The navigation of `role`, in display order.
pub fn nav_items(role: Role) -> Vec<NavItem> {
    let mut items = match role {
        Role::Operator => vec![
            item(Route::Tenants, "Tenants"),
            item(Route::Pools, "Pools and hosts"),
            item(Route::Users, "Provider users"),
            item(Route::Scripts, "Script library"),
        ],
        Role::Admin => vec![
            item(Route::Projects, "Projects"),
            item(Route::Users, "Users"),
            item(Route::Scripts, "CloudScripts"),
        ],
        Role::User => vec![
            item(Route::MyProjects, "My projects"),
            item(Route::Scripts, "CloudScripts"),
        ],
        Role::Finance => vec![item(Route::Finance, "Billing")],
    };
    items.push(item(Route::Profile, "Profile"));
    items
}

/// Where `role` lands after login and on `/`.
pub fn home(role: Role) -> Route {
    nav_items(role)
        .into_iter()
        .next()
        .map_or(Route::Profile, |i| i.route)
}

/// Whether `role` may open `route`.
pub fn may_open(role: Role, route: &Route) -> bool {
    match route {
        Route::Home | Route::Login | Route::NotFound | Route::Profile => true,
        Route::Project { .. }
        | Route::Application { .. }
        | Route::ApplicationRules { .. }
        | Route::ApplicationRuns { .. } => matches!(role, Role::Admin | Role::User),
        // Admins write their tenant's scripts and operators the library; users read and run them.
        Route::NewScript => matches!(role, Role::Admin | Role::Operator),
        Route::Script { .. } => role != Role::Finance,
        other => nav_items(role).iter().any(|i| &i.route == other),
    }
}

/// The document title of a page (screen readers announce it on navigation).
pub fn title(route: &Route) -> String {
    let page = match route {
        Route::Home | Route::Login => "Sign in",
        Route::Tenants => "Tenants",
        Route::Pools => "Pools and hosts",
        Route::Users => "Users",
        Route::Projects => "Projects",
        Route::Project { .. } => "Project",
        Route::Application { .. } => "Application",
        Route::ApplicationRules { .. } => "Rules",
        Route::ApplicationRuns { .. } => "Runs",
        Route::Scripts => "CloudScripts",
        Route::NewScript => "New CloudScript",
        Route::Script { .. } => "CloudScript",
        Route::MyProjects => "My projects",
        Route::Finance => "Billing",
        Route::Profile => "Profile",
        Route::NotFound => "Page not found",
    };
    format!("{page} · ScaleInfra")
}

/// Whether `item` is the current page (a project's and an application's pages belong to "Projects" or
/// "My projects", a script's to the scripts).
pub fn is_current(item: &NavItem, current: Option<&Route>) -> bool {
    match current {
        Some(
            Route::Project { .. }
            | Route::Application { .. }
            | Route::ApplicationRules { .. }
            | Route::ApplicationRuns { .. },
        ) => matches!(item.route, Route::Projects | Route::MyProjects),
        Some(Route::Script { .. } | Route::NewScript) => item.route == Route::Scripts,
        Some(r) => &item.route == r,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::{ApplicationId, ProjectId, ScriptId};

    fn labels(role: Role) -> Vec<&'static str> {
        nav_items(role).into_iter().map(|i| i.label).collect()
    }

    #[test]
    fn each_role_sees_its_own_pages() {
        assert_eq!(
            labels(Role::Operator),
            [
                "Tenants",
                "Pools and hosts",
                "Provider users",
                "Script library",
                "Profile"
            ]
        );
        assert_eq!(
            labels(Role::Admin),
            ["Projects", "Users", "CloudScripts", "Profile"]
        );
        assert_eq!(
            labels(Role::User),
            ["My projects", "CloudScripts", "Profile"]
        );
        assert_eq!(labels(Role::Finance), ["Billing", "Profile"]);
    }

    #[test]
    fn homes() {
        assert_eq!(home(Role::Operator), Route::Tenants);
        assert_eq!(home(Role::Admin), Route::Projects);
        assert_eq!(home(Role::User), Route::MyProjects);
        assert_eq!(home(Role::Finance), Route::Finance);
    }

    #[test]
    fn route_access_matrix() {
        let project = Route::Project {
            id: ProjectId::new(),
        };
        let app = Route::ApplicationRuns {
            id: ApplicationId::new(),
        };
        let script = Route::Script {
            id: ScriptId::new(),
        };
        let table = [
            (Role::Operator, Route::Tenants, true),
            (Role::Admin, Route::Tenants, false),
            (Role::User, Route::Tenants, false),
            (Role::Finance, Route::Tenants, false),
            (Role::Operator, Route::Pools, true),
            (Role::Admin, Route::Pools, false),
            (Role::User, Route::Pools, false),
            (Role::Finance, Route::Pools, false),
            (Role::Operator, Route::Users, true),
            (Role::Admin, Route::Users, true),
            (Role::User, Route::Users, false),
            (Role::Admin, Route::Projects, true),
            (Role::User, Route::Projects, false),
            (Role::Operator, Route::Projects, false),
            (Role::Admin, project.clone(), true),
            (Role::User, project.clone(), true),
            (Role::Finance, project.clone(), false),
            (Role::Operator, project.clone(), false),
            (Role::User, app.clone(), true),
            (Role::Finance, app.clone(), false),
            (Role::Operator, app, false),
            (Role::User, Route::Scripts, true),
            (Role::Operator, Route::Scripts, true),
            (Role::Finance, Route::Scripts, false),
            (Role::User, Route::NewScript, false),
            (Role::Admin, Route::NewScript, true),
            (Role::Operator, Route::NewScript, true),
            (Role::User, script.clone(), true),
            (Role::Finance, script, false),
            (Role::User, Route::MyProjects, true),
            (Role::Admin, Route::MyProjects, false),
            (Role::Finance, Route::Finance, true),
            (Role::Admin, Route::Finance, false),
            (Role::User, Route::Profile, true),
            (Role::Finance, Route::Profile, true),
        ];
        for (role, route, ok) in table {
            assert_eq!(may_open(role, &route), ok, "{role} → {route:?}");
        }
    }

    #[test]
    fn titles_name_the_page() {
        assert_eq!(title(&Route::MyProjects), "My projects · ScaleInfra");
        assert_eq!(
            title(&Route::Project {
                id: ProjectId::new()
            }),
            "Project · ScaleInfra"
        );
    }

    #[test]
    fn a_project_page_highlights_projects() {
        let items = nav_items(Role::Admin);
        let here = Route::Project {
            id: ProjectId::new(),
        };
        let current: Vec<_> = items
            .iter()
            .filter(|i| is_current(i, Some(&here)))
            .map(|i| i.label)
            .collect();
        assert_eq!(current, ["Projects"]);
        assert!(!items.iter().any(|i| is_current(i, None)));
        let script = Route::Script {
            id: ScriptId::new(),
        };
        let current: Vec<_> = nav_items(Role::User)
            .iter()
            .filter(|i| is_current(i, Some(&script)))
            .map(|i| i.label)
            .collect();
        assert_eq!(current, ["CloudScripts"]);
    }
}
