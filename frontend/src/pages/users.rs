//! Admins: the tenant's users — create, change the role, disable and enable. Operators see the same page
//! for the provider's own users (operators and finance).

use crate::api::ApiClient;
use crate::components::confirm::ConfirmButton;
use crate::components::field::{Field, Select};
use crate::components::status::{Banner, Tone};
use crate::hooks::{ListHandle, draft, use_client, use_list, use_me};
use crate::state::checks;
use crate::state::form::FormErrors;
use crate::state::views::{self, UserToggle};
use common::Role;
use common::api::{CreateUserRequest, MeResponse, UpdateUserRequest, UserResponse};
use futures::FutureExt;
use yew::platform::spawn_local;
use yew::prelude::*;

const INPUTS: [&str; 4] = ["name", "email", "role", "password"];

fn role_options(me: &MeResponse) -> Vec<(String, String)> {
    views::role_choices(me.tenant_kind)
        .into_iter()
        .map(|r| (r.to_string(), views::role_label(r).to_owned()))
        .collect()
}

#[function_component(UsersPage)]
pub fn users_page() -> Html {
    let client = use_client();
    let me = use_me();
    let list = {
        let client = client.clone();
        use_list((), move |cursor| {
            let client = client.clone();
            async move {
                client
                    .list_users(crate::api::client::PAGE, cursor.as_deref())
                    .await
            }
            .boxed_local()
        })
    };
    let open = use_state(|| false);
    let notice = use_state(|| None::<String>);
    let Some(me) = me else {
        return Html::default();
    };
    let toggle = {
        let (open, notice) = (open.clone(), notice.clone());
        Callback::from(move |_: MouseEvent| {
            notice.set(None);
            open.set(!*open);
        })
    };
    let on_created = {
        let (list, open, notice) = (list.clone(), open.clone(), notice.clone());
        Callback::from(move |u: UserResponse| {
            notice.set(Some(format!("{} ({}) can sign in now.", u.name, u.email)));
            list.upsert(u);
            open.set(false);
        })
    };
    let title = if me.role == Role::Operator {
        "Provider users"
    } else {
        "Users"
    };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head">
                <h1 id="page-title">{ title }</h1>
                <button type="button" class="button primary" onclick={toggle}
                    aria-expanded={(*open).to_string()} aria-controls="new-user">
                    { if *open { "Close" } else { "New user" } }
                </button>
            </div>
            if let Some(n) = &*notice {
                <Banner tone={Tone::Success}>{ n.clone() }</Banner>
            }
            if *open {
                <NewUser client={client.clone()} me={me.clone()} oncreated={on_created} />
            }
            { users_table(&list, &client, &me) }
        </section>
    }
}

fn users_table(list: &ListHandle<UserResponse>, client: &ApiClient, me: &MeResponse) -> Html {
    let update = {
        let list = list.clone();
        Callback::from(move |u| list.upsert(u))
    };
    let empty = html! { <p>{ "No users yet." }</p> };
    list.frame("users", empty, |items| {
        html! {
            <div class="table-wrap">
                <table>
                    <caption class="sr-only">{ "Users" }</caption>
                    <thead><tr>
                        <th scope="col">{ "Name" }</th><th scope="col">{ "Email" }</th>
                        <th scope="col">{ "Role" }</th><th scope="col">{ "Status" }</th>
                        <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                    </tr></thead>
                    <tbody>
                        { for items.iter().map(|u| html! {
                            <UserRow key={u.id.to_string()} user={u.clone()} me={me.clone()}
                                client={client.clone()} onupdate={update.clone()} />
                        }) }
                    </tbody>
                </table>
            </div>
        }
    })
}

#[derive(Properties, PartialEq)]
struct RowProps {
    user: UserResponse,
    me: MeResponse,
    client: ApiClient,
    onupdate: Callback<UserResponse>,
}

#[function_component(UserRow)]
fn user_row(p: &RowProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    // Bumped on a refused change, so the role <select> is drawn afresh with the stored role.
    let refusals = use_state(|| 0u32);
    let u = &p.user;
    let patch = {
        let (busy, error, client, update, id) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.onupdate.clone(),
            u.id,
        );
        let refusals = refusals.clone();
        Callback::from(move |req: UpdateUserRequest| {
            busy.set(true);
            error.set(None);
            let (busy, error, client, update) =
                (busy.clone(), error.clone(), client.clone(), update.clone());
            let refusals = refusals.clone();
            spawn_local(async move {
                match client.update_user(id, &req).await {
                    Ok(u) => update.emit(u),
                    Err(e) => {
                        error.set(Some(e.message()));
                        refusals.set(*refusals + 1);
                    }
                }
                busy.set(false);
            });
        })
    };
    let on_role = patch.reform(|v: String| UpdateUserRequest {
        role: v.parse::<Role>().ok(),
        ..UpdateUserRequest::default()
    });
    let is_me = u.id == p.me.id;
    let toggle = views::user_toggle(u, &p.me).map(|t| {
        let req = UpdateUserRequest {
            disabled: Some(t.disabled()),
            ..UpdateUserRequest::default()
        };
        match t {
            UserToggle::Disable => html! {
                <ConfirmButton label="Disable" question={format!("Disable {}? They are signed out at once.", u.name)}
                    danger=true busy={*busy} onconfirm={patch.reform(move |()| req.clone())} />
            },
            UserToggle::Enable => html! {
                <button type="button" class="button secondary" disabled={*busy}
                    onclick={patch.reform(move |_: MouseEvent| req.clone())}>{ t.label() }</button>
            },
        }
    });
    let select_id = format!("role-{}", u.id);
    html! {
        <tr data-user={u.email.clone()}>
            <th scope="row">{ u.name.clone() } if is_me { <span class="badge">{ "you" }</span> }</th>
            <td>{ u.email.clone() }</td>
            <td>
                <label for={select_id.clone()} class="sr-only">{ format!("Role of {}", u.name) }</label>
                <select id={select_id} key={format!("{}-{}", u.role, *refusals)} disabled={is_me || *busy}
                    onchange={on_role.reform(|e: Event| e.target_unchecked_into::<web_sys::HtmlSelectElement>().value())}>
                    { for views::role_choices(p.me.tenant_kind).into_iter().map(|r| html! {
                        <option value={r.to_string()} selected={r == u.role}>{ views::role_label(r) }</option>
                    }) }
                </select>
            </td>
            <td><span class={classes!("badge", if u.disabled { "status-suspended" } else { "status-active" })}>
                { if u.disabled { "Disabled" } else { "Active" } }</span></td>
            <td class="actions">
                { toggle.unwrap_or_default() }
                if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
            </td>
        </tr>
    }
}

#[derive(Properties, PartialEq)]
struct NewUserProps {
    client: ApiClient,
    me: MeResponse,
    oncreated: Callback<UserResponse>,
}

#[function_component(NewUser)]
fn new_user(p: &NewUserProps) -> Html {
    let default_role = views::role_choices(p.me.tenant_kind)
        .into_iter()
        .find(|r| matches!(r, Role::User | Role::Operator))
        .unwrap_or(Role::Finance);
    let name = use_state(String::new);
    let email = use_state(String::new);
    let role = use_state(|| default_role.to_string());
    let password = use_state(String::new);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let set =
        |state: &UseStateHandle<String>, field: &'static str| draft::text(state, &errors, field);
    let onsubmit = {
        let (name, email, role, password) =
            (name.clone(), email.clone(), role.clone(), password.clone());
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
            let Ok(r) = role.parse::<Role>() else {
                errors.set(FormErrors::from_field_errors(
                    &[common::FieldError {
                        field: "role".into(),
                        code: "required".into(),
                        message: "choose a role".into(),
                    }],
                    &INPUTS,
                    None,
                ));
                return;
            };
            let req = CreateUserRequest {
                email: email.trim().to_owned(),
                name: name.trim().to_owned(),
                role: r,
                password: (*password).clone(),
            };
            if let Err(f) = FormErrors::check(checks::user(&req), &INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, client, done) =
                (errors.clone(), busy.clone(), client.clone(), done.clone());
            spawn_local(async move {
                match client.create_user(&req).await {
                    Ok(u) => done.emit(u),
                    Err(e) => errors.set(FormErrors::from_api(&e, &INPUTS)),
                }
                busy.set(false);
            });
        })
    };
    html! {
        <form id="new-user" class="card form-grid" {onsubmit} novalidate=true aria-labelledby="new-user-title">
            <h2 id="new-user-title">{ "New user" }</h2>
            if let Some(g) = &errors.general {
                <Banner tone={Tone::Error}>{ g.clone() }</Banner>
            }
            <Field id="name" label="Name" value={(*name).clone()} oninput={set(&name, "name")} error={errors.field("name")} />
            <Field id="email" label="Email" kind="email" autocomplete="off" value={(*email).clone()}
                oninput={set(&email, "email")} error={errors.field("email")} />
            <Select id="role" label="Role" value={(*role).clone()} options={role_options(&p.me)}
                onchange={set(&role, "role")} error={errors.field("role")} />
            <Field id="password" label="Initial password" kind="password" autocomplete="new-password"
                value={(*password).clone()} oninput={set(&password, "password")} error={errors.field("password")}
                hint="At least 12 characters; hard to guess. Tell the user through a safe channel." />
            <div class="form-actions">
                <button type="submit" class="button primary" disabled={*busy}>
                    { if *busy { "Creating…" } else { "Create user" } }
                </button>
            </div>
        </form>
    }
}
