//! Small pages: not found, and a route the caller's role may not open.

use crate::app::Route;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(NotFound)]
pub fn not_found() -> Html {
    html! {
        <section aria-labelledby="page-title">
            <h1 id="page-title">{ "Page not found" }</h1>
            <p>{ "There is no page at this address." }</p>
            <Link<Route> to={Route::Home}>{ "Go to your start page" }</Link<Route>>
        </section>
    }
}

#[function_component(Forbidden)]
pub fn forbidden() -> Html {
    html! {
        <section aria-labelledby="page-title">
            <h1 id="page-title">{ "Not available" }</h1>
            <p>{ "Your role does not open this page." }</p>
            <Link<Route> to={Route::Home}>{ "Go to your start page" }</Link<Route>>
        </section>
    }
}
