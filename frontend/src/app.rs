//! The `Route` enum, the router and the session: restores the session from the refresh cookie at start,
//! shows the login page in place of any page while signed out, and the role-aware shell once signed in.

use crate::api::ApiClient;
use crate::api::client::SessionEvent;
use crate::components::shell::Shell;
use crate::components::status::Loading;
use crate::hooks::SessionHandle;
use crate::pages;
use crate::pages::application::AppTab;
use crate::state::nav;
use crate::state::session::{Session, SessionAction};
use common::{ApplicationId, ProjectId, ScriptId};
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

/// Every page of the SPA. The server answers `index.html` for these paths, so they can be reloaded.
#[derive(Clone, Debug, PartialEq, Eq, Routable)]
pub enum Route {
    #[at("/")]
    Home,
    #[at("/login")]
    Login,
    #[at("/tenants")]
    Tenants,
    #[at("/pools")]
    Pools,
    #[at("/users")]
    Users,
    #[at("/projects")]
    Projects,
    #[at("/projects/:id")]
    Project { id: ProjectId },
    #[at("/applications/:id")]
    Application { id: ApplicationId },
    #[at("/applications/:id/rules")]
    ApplicationRules { id: ApplicationId },
    #[at("/applications/:id/runs")]
    ApplicationRuns { id: ApplicationId },
    #[at("/cloudscripts")]
    Scripts,
    #[at("/cloudscripts/new")]
    NewScript,
    #[at("/cloudscripts/:id")]
    Script { id: ScriptId },
    #[at("/my-projects")]
    MyProjects,
    #[at("/finance")]
    Finance,
    #[at("/profile")]
    Profile,
    #[not_found]
    #[at("/not-found")]
    NotFound,
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let client = use_memo((), |_| ApiClient::new("/api/v1"));
    let session = use_reducer(|| Session::Restoring);
    {
        let client = (*client).clone();
        let dispatcher = session.dispatcher();
        use_effect_with((), move |_| {
            let events = dispatcher.clone();
            client.set_listener(move |e| match e {
                SessionEvent::Refreshed(me) => events.dispatch(SessionAction::Refreshed(me)),
                SessionEvent::Lost => events.dispatch(SessionAction::Expired),
            });
            spawn_local(async move {
                let action = match client.restore().await {
                    Ok(me) => SessionAction::Restored(me),
                    Err(e) => SessionAction::RestoreFailed(e.message()),
                };
                dispatcher.dispatch(action);
            });
        });
    }
    html! {
        <ContextProvider<ApiClient> context={(*client).clone()}>
            <ContextProvider<SessionHandle> context={session}>
                <BrowserRouter>
                    <Switch<Route> render={switch} />
                </BrowserRouter>
            </ContextProvider<SessionHandle>>
        </ContextProvider<ApiClient>>
    }
}

fn switch(route: Route) -> Html {
    html! { <Page {route} /> }
}

#[derive(Properties, PartialEq)]
struct PageProps {
    route: Route,
}

/// One route, as the session allows it.
#[function_component(Page)]
fn page(props: &PageProps) -> Html {
    let session = crate::hooks::use_session();
    match &*session {
        Session::Restoring => html! { <main class="splash"><Loading what="your session" /></main> },
        Session::Anonymous { notice } => {
            html! { <pages::login::LoginPage notice={notice.clone()} /> }
        }
        Session::SignedIn(me) => {
            let route = &props.route;
            if matches!(route, Route::Home | Route::Login) {
                return html! { <Redirect<Route> to={nav::home(me.role)} /> };
            }
            let body = if !nav::may_open(me.role, route) {
                html! { <pages::misc::Forbidden /> }
            } else {
                match route.clone() {
                    Route::Tenants => html! { <pages::tenants::TenantsPage /> },
                    Route::Users => html! { <pages::users::UsersPage /> },
                    Route::Pools => html! { <pages::pools::PoolsPage /> },
                    Route::Projects => html! { <pages::projects::ProjectsPage /> },
                    Route::Project { id } => html! { <pages::project::ProjectPage {id} /> },
                    Route::Application { id } => {
                        html! { <pages::application::ApplicationPage {id} tab={AppTab::Overview} /> }
                    }
                    Route::ApplicationRules { id } => {
                        html! { <pages::application::ApplicationPage {id} tab={AppTab::Rules} /> }
                    }
                    Route::ApplicationRuns { id } => {
                        html! { <pages::application::ApplicationPage {id} tab={AppTab::Runs} /> }
                    }
                    Route::Scripts => html! { <pages::scripts::ScriptsPage /> },
                    Route::NewScript => {
                        html! { <pages::script::ScriptPage id={None::<ScriptId>} /> }
                    }
                    Route::Script { id } => html! { <pages::script::ScriptPage id={Some(id)} /> },
                    Route::MyProjects => html! { <pages::my_projects::MyProjectsPage /> },
                    Route::Finance => html! { <pages::finance::FinancePage /> },
                    Route::Profile => html! { <pages::profile::ProfilePage /> },
                    Route::NotFound | Route::Home | Route::Login => {
                        html! { <pages::misc::NotFound /> }
                    }
                }
            };
            html! { <Shell me={me.clone()} current={route.clone()}>{ body }</Shell> }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip_through_their_paths() {
        let id = ProjectId::new();
        let table = [
            (Route::Home, "/".to_owned()),
            (Route::Tenants, "/tenants".to_owned()),
            (Route::Pools, "/pools".to_owned()),
            (Route::MyProjects, "/my-projects".to_owned()),
            (Route::Project { id }, format!("/projects/{id}")),
            (Route::Scripts, "/cloudscripts".to_owned()),
            (Route::NewScript, "/cloudscripts/new".to_owned()),
        ];
        for (route, path) in table {
            assert_eq!(route.to_path(), path);
            assert_eq!(Route::recognize(&path), Some(route));
        }
        assert_eq!(
            Route::recognize("/projects/not-a-uuid"),
            Some(Route::NotFound)
        );
        assert_eq!(Route::recognize("/nowhere"), Some(Route::NotFound));
        let app = ApplicationId::new();
        let script = ScriptId::new();
        for (route, path) in [
            (
                Route::Application { id: app },
                format!("/applications/{app}"),
            ),
            (
                Route::ApplicationRules { id: app },
                format!("/applications/{app}/rules"),
            ),
            (
                Route::ApplicationRuns { id: app },
                format!("/applications/{app}/runs"),
            ),
            (
                Route::Script { id: script },
                format!("/cloudscripts/{script}"),
            ),
        ] {
            assert_eq!(route.to_path(), path);
            assert_eq!(Route::recognize(&path), Some(route));
        }
    }
}
