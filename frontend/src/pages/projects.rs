//! Admins: the tenant's projects — create, rename in place, delete (after a confirmation); each links to
//! its page, where users are assigned.

use crate::api::ApiClient;
use crate::app::Route;
use crate::components::confirm::ConfirmButton;
use crate::components::field::{Field, TextArea};
use crate::components::status::{Banner, Tone};
use crate::hooks::{ListHandle, draft, use_client, use_list};
use crate::state::checks;
use crate::state::form::FormErrors;
use crate::state::views;
use common::ProjectId;
use common::api::{CreateProjectRequest, ProjectResponse, UpdateProjectRequest};
use futures::FutureExt;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(ProjectsPage)]
pub fn projects_page() -> Html {
    let client = use_client();
    let list = {
        let client = client.clone();
        use_list((), move |cursor| {
            let client = client.clone();
            async move { client.list_projects(cursor.as_deref()).await }.boxed_local()
        })
    };
    let open = use_state(|| false);
    let notice = use_state(|| None::<String>);
    let toggle = {
        let (open, notice) = (open.clone(), notice.clone());
        Callback::from(move |_: MouseEvent| {
            notice.set(None);
            open.set(!*open);
        })
    };
    let on_created = {
        let (list, open, notice) = (list.clone(), open.clone(), notice.clone());
        Callback::from(move |p: ProjectResponse| {
            notice.set(Some(format!("Project {} created.", p.name)));
            list.upsert(p);
            open.set(false);
        })
    };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head">
                <h1 id="page-title">{ "Projects" }</h1>
                <button type="button" class="button primary" onclick={toggle}
                    aria-expanded={(*open).to_string()} aria-controls="new-project">
                    { if *open { "Close" } else { "New project" } }
                </button>
            </div>
            if let Some(n) = &*notice {
                <Banner tone={Tone::Success}>{ n.clone() }</Banner>
            }
            if *open {
                <NewProject client={client.clone()} oncreated={on_created} />
            }
            { projects_table(&list, &client) }
        </section>
    }
}

fn projects_table(list: &ListHandle<ProjectResponse>, client: &ApiClient) -> Html {
    let update = {
        let list = list.clone();
        Callback::from(move |p| list.upsert(p))
    };
    let removed = {
        let list = list.clone();
        Callback::from(move |id| list.remove(id))
    };
    let empty = html! { <p>{ "No projects yet. Create one with “New project”, then assign users to it." }</p> };
    list.frame("projects", empty, |items| {
        html! {
            <div class="table-wrap">
                <table>
                    <caption class="sr-only">{ "Projects" }</caption>
                    <thead><tr>
                        <th scope="col">{ "Name" }</th><th scope="col">{ "Description" }</th>
                        <th scope="col">{ "Created" }</th>
                        <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                    </tr></thead>
                    <tbody>
                        { for items.iter().map(|p| html! {
                            <ProjectRow key={p.id.to_string()} project={p.clone()} client={client.clone()}
                                onupdate={update.clone()} onremove={removed.clone()} />
                        }) }
                    </tbody>
                </table>
            </div>
        }
    })
}

#[derive(Properties, PartialEq)]
struct RowProps {
    project: ProjectResponse,
    client: ApiClient,
    onupdate: Callback<ProjectResponse>,
    onremove: Callback<ProjectId>,
}

#[function_component(ProjectRow)]
fn project_row(p: &RowProps) -> Html {
    let editing = use_state(|| None::<String>);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let pr = &p.project;
    let input_id = format!("rename-{}", pr.id);

    let start_edit = {
        let (editing, errors, name) = (editing.clone(), errors.clone(), pr.name.clone());
        Callback::from(move |_: MouseEvent| {
            errors.set(FormErrors::default());
            editing.set(Some(name.clone()));
        })
    };
    let cancel = {
        let editing = editing.clone();
        Callback::from(move |_: MouseEvent| editing.set(None))
    };
    let save = {
        let (editing, errors, busy, client, update, id) = (
            editing.clone(),
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.onupdate.clone(),
            pr.id,
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(name) = (*editing).clone() else {
                return;
            };
            let req = UpdateProjectRequest {
                name: Some(name.trim().to_owned()),
                description: None,
            };
            if let Err(f) = FormErrors::check(checks::project_name(&name), &["name"]) {
                errors.set(f);
                return;
            }
            busy.set(true);
            let (editing, errors, busy, client, update) = (
                editing.clone(),
                errors.clone(),
                busy.clone(),
                client.clone(),
                update.clone(),
            );
            spawn_local(async move {
                match client.update_project(id, &req).await {
                    Ok(p) => {
                        update.emit(p);
                        editing.set(None);
                        errors.set(FormErrors::default());
                    }
                    Err(e) => errors.set(FormErrors::from_api(&e, &["name"])),
                }
                busy.set(false);
            });
        })
    };
    let delete = {
        let (errors, busy, client, remove, id) = (
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.onremove.clone(),
            pr.id,
        );
        Callback::from(move |()| {
            busy.set(true);
            let (errors, busy, client, remove) =
                (errors.clone(), busy.clone(), client.clone(), remove.clone());
            spawn_local(async move {
                match client.delete_project(id).await {
                    Ok(()) => remove.emit(id),
                    Err(e) => {
                        errors.set(FormErrors::from_api(&e, &[]));
                        busy.set(false);
                    }
                }
            });
        })
    };

    let name_cell = match &*editing {
        Some(value) => {
            let editing2 = editing.clone();
            html! {
                <form class="inline-form" onsubmit={save} novalidate=true>
                    <Field id={input_id.clone()} label={format!("New name for {}", pr.name)} value={value.clone()}
                        oninput={Callback::from(move |v| editing2.set(Some(v)))} error={errors.field("name")} />
                    <button type="submit" class="button primary" disabled={*busy}>{ "Save" }</button>
                    <button type="button" class="button secondary" onclick={cancel}>{ "Cancel" }</button>
                </form>
            }
        }
        None => html! {
            <Link<Route> to={Route::Project { id: pr.id }}>{ pr.name.clone() }</Link<Route>>
        },
    };
    html! {
        <tr data-project={pr.name.clone()}>
            <th scope="row">{ name_cell }</th>
            <td class="muted">{ pr.description.clone() }</td>
            <td>{ views::short_time(pr.created_at) }</td>
            <td class="actions">
                if editing.is_none() {
                    <button type="button" class="button secondary" onclick={start_edit}
                        aria-label={format!("Rename {}", pr.name)}>{ "Rename" }</button>
                    <ConfirmButton label="Delete" question={format!("Delete {}?", pr.name)} danger=true
                        busy={*busy} onconfirm={delete} />
                }
                if let Some(g) = errors.general.as_ref().filter(|_| editing.is_none()) {
                    <p class="field-error" role="alert">{ g.clone() }</p>
                }
            </td>
        </tr>
    }
}

#[derive(Properties, PartialEq)]
struct NewProjectProps {
    client: ApiClient,
    oncreated: Callback<ProjectResponse>,
}

#[function_component(NewProject)]
fn new_project(p: &NewProjectProps) -> Html {
    let name = use_state(String::new);
    let description = use_state(String::new);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    const INPUTS: [&str; 2] = ["name", "description"];
    let set =
        |state: &UseStateHandle<String>, field: &'static str| draft::text(state, &errors, field);
    let onsubmit = {
        let (name, description) = (name.clone(), description.clone());
        let (errors, busy, client, done) = (
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.oncreated.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let req = CreateProjectRequest {
                name: name.trim().to_owned(),
                description: description.trim().to_owned(),
            };
            if let Err(f) = FormErrors::check(checks::project(&req), &INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, client, done) =
                (errors.clone(), busy.clone(), client.clone(), done.clone());
            spawn_local(async move {
                match client.create_project(&req).await {
                    Ok(p) => done.emit(p),
                    Err(e) => errors.set(FormErrors::from_api(&e, &INPUTS)),
                }
                busy.set(false);
            });
        })
    };
    html! {
        <form id="new-project" class="card form-grid" {onsubmit} novalidate=true aria-labelledby="new-project-title">
            <h2 id="new-project-title">{ "New project" }</h2>
            if let Some(g) = &errors.general {
                <Banner tone={Tone::Error}>{ g.clone() }</Banner>
            }
            <Field id="project-name" label="Name" value={(*name).clone()} oninput={set(&name, "name")}
                error={errors.field("name")} />
            <TextArea id="project-description" label="Description (optional)" value={(*description).clone()}
                oninput={set(&description, "description")} error={errors.field("description")} />
            <div class="form-actions">
                <button type="submit" class="button primary" disabled={*busy}>
                    { if *busy { "Creating…" } else { "Create project" } }
                </button>
            </div>
        </form>
    }
}
