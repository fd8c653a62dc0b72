//! CloudScripts: the tenant's scripts and the provider's library, each linking to its editor; admins
//! (their tenant's) and operators (the library) start new ones.

use crate::app::Route;
use crate::hooks::{use_client, use_list, use_me};
use crate::state::views;
use common::Role;
use futures::FutureExt;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(ScriptsPage)]
pub fn scripts_page() -> Html {
    let client = use_client();
    let me = use_me();
    let list = use_list((), move |cursor| {
        let client = client.clone();
        async move { client.list_scripts(cursor.as_deref()).await }.boxed_local()
    });
    let role = me.map(|m| m.role);
    let writes = matches!(role, Some(Role::Admin | Role::Operator));
    let title = if role == Some(Role::Operator) {
        "Script library"
    } else {
        "CloudScripts"
    };
    let empty = html! { <p>{ "No scripts yet." }</p> };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head">
                <h1 id="page-title">{ title }</h1>
                if writes {
                    <Link<Route> to={Route::NewScript} classes="button primary">{ "New script" }</Link<Route>>
                }
            </div>
            <p class="lede">{ "Scripts configure appliances: install scripts run when an appliance comes up, \
                and event rules run scripts when something happens. The library's scripts are the provider's; \
                every tenant runs them." }</p>
            { list.frame("scripts", empty, |items| html! {
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">{ "CloudScripts" }</caption>
                        <thead><tr>
                            <th scope="col">{ "Name" }</th><th scope="col">{ "Owner" }</th>
                            <th scope="col">{ "Version" }</th><th scope="col">{ "Interpreter" }</th>
                            <th scope="col">{ "Changed" }</th>
                        </tr></thead>
                        <tbody>
                            { for items.iter().map(|s| html! {
                                <tr key={s.id.to_string()} data-script={s.name.clone()}>
                                    <th scope="row">
                                        <Link<Route> to={Route::Script { id: s.id }}>{ s.name.clone() }</Link<Route>>
                                        if !s.description.is_empty() {
                                            <p class="muted small">{ s.description.clone() }</p>
                                        }
                                    </th>
                                    <td>{ if s.tenant_id.is_none() { "Library" } else { "Your organisation" } }</td>
                                    <td>{ format!("v{}", s.latest_version) }</td>
                                    <td><code>{ s.latest.interpreter.clone() }</code></td>
                                    <td>{ views::short_time(s.updated_at) }</td>
                                </tr>
                            }) }
                        </tbody>
                    </table>
                </div>
            }) }
        </section>
    }
}
