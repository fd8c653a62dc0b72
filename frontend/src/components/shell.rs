//! The app shell: a skip link, the header (tenant, user, role, logout), the role's navigation and the
//! page. On narrow screens the navigation wraps above the page.

use crate::app::Route;
use crate::hooks::{use_client, use_session};
use crate::state::nav;
use crate::state::session::SessionAction;
use crate::state::views::role_label;
use common::api::MeResponse;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ShellProps {
    pub me: MeResponse,
    pub current: Route,
    pub children: Html,
}

#[function_component(Shell)]
pub fn shell(p: &ShellProps) -> Html {
    let client = use_client();
    let session = use_session();
    let busy = use_state(|| false);
    let navigator = use_navigator();
    let logout = {
        let busy = busy.clone();
        Callback::from(move |_: MouseEvent| {
            busy.set(true);
            let (client, session, navigator) =
                (client.clone(), session.dispatcher(), navigator.clone());
            spawn_local(async move {
                // Signed out locally whatever the answer: the token is dropped either way.
                let _ = client.logout().await;
                session.dispatch(SessionAction::LoggedOut);
                // The next user starts from their own home, not from this user's page.
                if let Some(n) = navigator {
                    n.push(&Route::Login);
                }
            });
        })
    };
    // On every page change: name the page in the title and move the focus to the content, so screen
    // readers announce the new page and Tab starts from it.
    let main_ref = use_node_ref();
    {
        let main_ref = main_ref.clone();
        use_effect_with(p.current.clone(), move |route| {
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(&nav::title(route));
            }
            if let Some(main) = main_ref.cast::<web_sys::HtmlElement>() {
                let _ = main.focus();
            }
        });
    }
    let items = nav::nav_items(p.me.role);
    html! {
        <div class="shell">
            <a class="skip-link" href="#main">{ "Skip to content" }</a>
            <header class="topbar">
                <span class="brand">{ "ScaleInfra" }</span>
                <span class="tenant" title="Organisation">{ p.me.tenant_name.clone() }</span>
                <span class="whoami">
                    <span class="user-name">{ p.me.name.clone() }</span>
                    <span class="badge role">{ role_label(p.me.role) }</span>
                </span>
                <button type="button" class="button secondary" onclick={logout} disabled={*busy}>
                    { "Log out" }
                </button>
            </header>
            <nav class="sidenav" aria-label="Main">
                <ul>
                    { for items.into_iter().map(|item| {
                        let current = nav::is_current(&item, Some(&p.current));
                        html! { <li><NavLink route={item.route.clone()} label={item.label} {current} /></li> }
                    }) }
                </ul>
            </nav>
            <main id="main" class="content" tabindex="-1" ref={main_ref}>{ p.children.clone() }</main>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct NavLinkProps {
    pub route: Route,
    pub label: AttrValue,
    /// The page shown now (`aria-current="page"`).
    pub current: bool,
    #[prop_or(AttrValue::Static("nav-link"))]
    pub class: AttrValue,
}

/// A real link (so it works with the keyboard, middle-click and without the router) that the router
/// follows without reloading the page; the current one says so (`aria-current`).
#[function_component(NavLink)]
pub fn nav_link(p: &NavLinkProps) -> Html {
    let navigator = use_navigator();
    let route = p.route.clone();
    let onclick = Callback::from(move |e: MouseEvent| {
        if e.ctrl_key() || e.meta_key() || e.shift_key() || e.button() != 0 {
            return;
        }
        if let Some(n) = &navigator {
            e.prevent_default();
            n.push(&route);
        }
    });
    html! {
        <a href={p.route.to_path()} {onclick} aria-current={p.current.then_some("page")}
            class={classes!(p.class.to_string(), p.current.then_some("current"))}>
            { p.label.clone() }
        </a>
    }
}
