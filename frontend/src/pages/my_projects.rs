//! Users: the projects assigned to me (the server lists exactly those), as cards that open the project.

use crate::app::Route;
use crate::hooks::{use_client, use_list};
use crate::state::views;
use futures::FutureExt;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(MyProjectsPage)]
pub fn my_projects_page() -> Html {
    let client = use_client();
    let list = use_list((), move |cursor| {
        let client = client.clone();
        async move { client.list_projects(cursor.as_deref()).await }.boxed_local()
    });
    let empty = html! {
        <>
            <p><strong>{ "No projects are assigned to you yet." }</strong></p>
            <p>{ "Ask an administrator of your organisation to assign you to a project." }</p>
        </>
    };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head"><h1 id="page-title">{ "My projects" }</h1></div>
            { list.frame("projects", empty, |items| html! {
                <ul class="cards" aria-label="Assigned projects">
                    { for items.iter().map(|p| html! {
                        <li class="card project-card" key={p.id.to_string()} data-project={p.name.clone()}>
                            <h2><Link<Route> to={Route::Project { id: p.id }}>{ p.name.clone() }</Link<Route>></h2>
                            if p.description.is_empty() {
                                <p class="muted">{ "No description." }</p>
                            } else {
                                <p>{ p.description.clone() }</p>
                            }
                            <p class="meta">{ format!("Created {}", views::short_time(p.created_at)) }</p>
                        </li>
                    }) }
                </ul>
            }) }
        </section>
    }
}
