//! One project: its applications (admins and assigned users), each opening its page; and, for admins, its
//! members — assign a user of the tenant, unassign a member.

use crate::api::client::PAGE_MAX;
use crate::api::{ApiClient, ApiError};
use crate::app::Route;
use crate::components::field::Select;
use crate::components::status::{Banner, Loading, Tone};
use crate::hooks::{ListHandle, use_client, use_list, use_me};
use crate::state::views;
use common::Role;
use common::api::{ApplicationResponse, AssignmentResponse, Page, ProjectResponse, UserResponse};
use common::{ProjectId, UserId};
use futures::FutureExt;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ProjectProps {
    pub id: ProjectId,
}

#[function_component(ProjectPage)]
pub fn project_page(p: &ProjectProps) -> Html {
    let client = use_client();
    let project = use_state(|| None::<Result<ProjectResponse, ApiError>>);
    {
        let (client, project) = (client.clone(), project.clone());
        use_effect_with(p.id, move |id| {
            let id = *id;
            project.set(None);
            spawn_local(async move { project.set(Some(client.get_project(id).await)) });
        });
    }
    let id = p.id;
    let admin = use_me().is_some_and(|m| m.role == Role::Admin);
    let applications = {
        let client = client.clone();
        use_list(id, move |cursor| {
            let client = client.clone();
            async move { client.list_applications(id, cursor.as_deref()).await }.boxed_local()
        })
    };
    let members = {
        let client = client.clone();
        use_list((id, admin), move |cursor| {
            let client = client.clone();
            async move {
                if admin {
                    client.list_members(id, cursor.as_deref()).await
                } else {
                    Ok(Page::empty())
                }
            }
            .boxed_local()
        })
    };
    // Every user of the tenant, for the picker and to put names on the members.
    let users = {
        let client = client.clone();
        use_list(admin, move |cursor| {
            let client = client.clone();
            async move {
                if admin {
                    client.list_users(PAGE_MAX, cursor.as_deref()).await
                } else {
                    Ok(Page::empty())
                }
            }
            .boxed_local()
        })
    };

    let home = if admin {
        Route::Projects
    } else {
        Route::MyProjects
    };
    let back = html! { <Link<Route> to={home} classes="back">{ "← All projects" }</Link<Route>> };
    let head = match &*project {
        None => html! { <Loading what="the project" /> },
        Some(Err(e)) => html! {
            <>
                <h1 id="page-title">{ "Project" }</h1>
                <Banner tone={Tone::Error}>{ e.message() }</Banner>
            </>
        },
        Some(Ok(pr)) => html! {
            <>
                <h1 id="page-title">{ pr.name.clone() }</h1>
                if !pr.description.is_empty() { <p class="lede">{ pr.description.clone() }</p> }
            </>
        },
    };
    let found = matches!(&*project, Some(Ok(_)));
    html! {
        <section aria-labelledby="page-title">
            { back }
            { head }
            if found {
                <h2>{ "Applications" }</h2>
                { applications_list(&applications) }
            }
            if found && admin {
                <h2>{ "Members" }</h2>
                <AssignForm {id} client={client.clone()} members={members.state.items().to_vec()}
                    users={users.state.items().to_vec()} users_loading={!matches!(*users.state, crate::state::list::ListState::Ready { .. })}
                    onassigned={{ let m = members.clone(); Callback::from(move |a| m.upsert(a)) }} />
                { members_table(&members, &users, &client, id) }
            }
        </section>
    }
}

fn applications_list(list: &ListHandle<ApplicationResponse>) -> Html {
    let empty = html! { <p>{ "No applications in this project yet." }</p> };
    list.frame("applications", empty, |items| {
        html! {
            <ul class="cards" aria-label="Applications">
                { for items.iter().map(|a| {
                    let groups: usize = a.layers.iter().map(|l| l.groups.len()).sum();
                    html! {
                        <li class="card project-card" key={a.id.to_string()} data-application={a.name.clone()}>
                            <h3><Link<Route> to={Route::Application { id: a.id }}>{ a.name.clone() }</Link<Route>></h3>
                            <p class="meta">{ format!("{} layers, {} groups · {}", a.layers.len(), groups,
                                if a.deployed { "deployed" } else { "not deployed" }) }</p>
                            <p>
                                <Link<Route> to={Route::ApplicationRules { id: a.id }}>{ "Rules" }</Link<Route>>
                                { " · " }
                                <Link<Route> to={Route::ApplicationRuns { id: a.id }}>{ "Runs" }</Link<Route>>
                            </p>
                        </li>
                    }
                }) }
            </ul>
        }
    })
}

fn members_table(
    members: &ListHandle<AssignmentResponse>,
    users: &ListHandle<UserResponse>,
    client: &ApiClient,
    project: ProjectId,
) -> Html {
    let removed = {
        let m = members.clone();
        Callback::from(move |u| m.remove(u))
    };
    let empty = html! { <p>{ "Nobody is assigned yet. Assign a user above; they will see this project." }</p> };
    let all_users = users.state.items().to_vec();
    members.frame("members", empty, |items| {
        let rows = views::member_rows(items, &all_users);
        html! {
            <div class="table-wrap">
                <table>
                    <caption class="sr-only">{ "Members" }</caption>
                    <thead><tr>
                        <th scope="col">{ "Name" }</th><th scope="col">{ "Email" }</th>
                        <th scope="col">{ "Assigned" }</th>
                        <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                    </tr></thead>
                    <tbody>
                        { for rows.into_iter().map(|r| {
                            let key = r.user_id.to_string();
                            html! {
                                <MemberRow {key} row={r} {project}
                                    client={client.clone()} onremoved={removed.clone()} />
                            }
                        }) }
                    </tbody>
                </table>
            </div>
        }
    })
}

#[derive(Properties, PartialEq)]
struct MemberRowProps {
    row: views::MemberRow,
    project: ProjectId,
    client: ApiClient,
    onremoved: Callback<UserId>,
}

#[function_component(MemberRow)]
fn member_row(p: &MemberRowProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let unassign = {
        let (busy, error, client, removed, project, user) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.onremoved.clone(),
            p.project,
            p.row.user_id,
        );
        Callback::from(move |_: MouseEvent| {
            busy.set(true);
            error.set(None);
            let (busy, error, client, removed) =
                (busy.clone(), error.clone(), client.clone(), removed.clone());
            spawn_local(async move {
                match client.unassign(project, user).await {
                    Ok(()) => removed.emit(user),
                    Err(e) => {
                        error.set(Some(e.message()));
                        busy.set(false);
                    }
                }
            });
        })
    };
    let r = &p.row;
    html! {
        <tr data-member={r.email.clone()}>
            <th scope="row">{ r.name.clone() }</th>
            <td>{ r.email.clone() }</td>
            <td>{ r.since.clone() }</td>
            <td class="actions">
                <button type="button" class="button secondary" onclick={unassign} disabled={*busy}
                    aria-label={format!("Unassign {}", r.name)}>{ "Unassign" }</button>
                if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
            </td>
        </tr>
    }
}

#[derive(Properties, PartialEq)]
struct AssignProps {
    id: ProjectId,
    client: ApiClient,
    members: Vec<AssignmentResponse>,
    users: Vec<UserResponse>,
    users_loading: bool,
    onassigned: Callback<AssignmentResponse>,
}

#[function_component(AssignForm)]
fn assign_form(p: &AssignProps) -> Html {
    let chosen = use_state(String::new);
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let candidates = views::assignable(&p.users, &p.members);
    let mut options = vec![(String::new(), "Choose a user…".to_owned())];
    options.extend(
        candidates
            .iter()
            .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.email))),
    );
    let onsubmit = {
        let (chosen, busy, error, client, done, id) = (
            chosen.clone(),
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.onassigned.clone(),
            p.id,
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Ok(user) = chosen.parse::<UserId>() else {
                error.set(Some("Choose a user to assign.".into()));
                return;
            };
            busy.set(true);
            error.set(None);
            let (chosen, busy, error, client, done) = (
                chosen.clone(),
                busy.clone(),
                error.clone(),
                client.clone(),
                done.clone(),
            );
            spawn_local(async move {
                match client.assign(id, user).await {
                    Ok(a) => {
                        done.emit(a);
                        chosen.set(String::new());
                    }
                    Err(e) => error.set(Some(e.message())),
                }
                busy.set(false);
            });
        })
    };
    if p.users_loading {
        return html! { <Loading what="the tenant's users" /> };
    }
    if candidates.is_empty() {
        return html! {
            <p class="muted">{ "Every enabled user who can work on projects is assigned. Create more on the Users page." }</p>
        };
    }
    let on_choose = {
        let (chosen, error) = (chosen.clone(), error.clone());
        Callback::from(move |v: String| {
            chosen.set(v);
            error.set(None);
        })
    };
    html! {
        <form class="card inline-form assign" {onsubmit} novalidate=true aria-label="Assign a user to the project">
            <Select id="assign-user" label="Assign a user" value={(*chosen).clone()} {options}
                onchange={on_choose} error={(*error).clone()} />
            <button type="submit" class="button primary" disabled={*busy}>
                { if *busy { "Assigning…" } else { "Assign" } }
            </button>
        </form>
    }
}
