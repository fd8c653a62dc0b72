//! Operators: the customer tenants — list, create one together with its first admin, suspend, reactivate.

use crate::api::ApiClient;
use crate::components::confirm::ConfirmButton;
use crate::components::field::Field;
use crate::components::status::{Banner, Tone};
use crate::hooks::{ListHandle, draft, use_client, use_list};
use crate::state::checks;
use crate::state::form::FormErrors;
use crate::state::views::{self, TenantAction};
use common::TenantId;
use common::api::{CreateTenantRequest, NewAdmin, TenantResponse};
use futures::FutureExt;
use yew::platform::spawn_local;
use yew::prelude::*;

const INPUTS: [&str; 5] = [
    "name",
    "slug",
    "admin.name",
    "admin.email",
    "admin.password",
];

#[function_component(TenantsPage)]
pub fn tenants_page() -> Html {
    let client = use_client();
    let list = {
        let client = client.clone();
        use_list((), move |cursor| {
            let client = client.clone();
            async move { client.list_tenants(cursor.as_deref()).await }.boxed_local()
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
        Callback::from(move |(t, admin_email): (TenantResponse, String)| {
            notice.set(Some(format!(
                "Tenant {} created. Its admin {admin_email} can sign in now.",
                t.name
            )));
            list.upsert(t);
            open.set(false);
        })
    };

    html! {
        <section aria-labelledby="page-title">
            <div class="page-head">
                <h1 id="page-title">{ "Tenants" }</h1>
                <button type="button" class="button primary" onclick={toggle}
                    aria-expanded={(*open).to_string()} aria-controls="new-tenant">
                    { if *open { "Close" } else { "New tenant" } }
                </button>
            </div>
            if let Some(n) = &*notice {
                <Banner tone={Tone::Success}>{ n.clone() }</Banner>
            }
            if *open {
                <NewTenant client={client.clone()} oncreated={on_created} />
            }
            { tenants_table(&list, &client) }
        </section>
    }
}

fn tenants_table(list: &ListHandle<TenantResponse>, client: &ApiClient) -> Html {
    let empty = html! { <p>{ "No tenants yet. Create the first customer with “New tenant”." }</p> };
    list.frame("tenants", empty, |items| {
        html! {
            <div class="table-wrap">
                <table>
                    <caption class="sr-only">{ "Tenants" }</caption>
                    <thead><tr>
                        <th scope="col">{ "Name" }</th><th scope="col">{ "Slug" }</th>
                        <th scope="col">{ "Status" }</th><th scope="col">{ "Created" }</th>
                        <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                    </tr></thead>
                    <tbody>
                        { for items.iter().map(|t| html! {
                            <TenantRow key={t.id.to_string()} tenant={t.clone()}
                                client={client.clone()} list_update={upsert_cb(list)} />
                        }) }
                    </tbody>
                </table>
            </div>
        }
    })
}

fn upsert_cb(list: &ListHandle<TenantResponse>) -> Callback<TenantResponse> {
    let list = list.clone();
    Callback::from(move |t| list.upsert(t))
}

#[derive(Properties, PartialEq)]
struct RowProps {
    tenant: TenantResponse,
    client: ApiClient,
    list_update: Callback<TenantResponse>,
}

#[function_component(TenantRow)]
fn tenant_row(p: &RowProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let t = &p.tenant;
    let act = {
        let (busy, error, client, update, id) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.list_update.clone(),
            t.id,
        );
        move |action: TenantAction| {
            let (busy, error, client, update) =
                (busy.clone(), error.clone(), client.clone(), update.clone());
            Callback::from(move |()| {
                busy.set(true);
                error.set(None);
                let (busy, error, client, update) =
                    (busy.clone(), error.clone(), client.clone(), update.clone());
                spawn_local(async move {
                    match run(&client, id, action).await {
                        Ok(t) => update.emit(t),
                        Err(e) => error.set(Some(e)),
                    }
                    busy.set(false);
                });
            })
        }
    };
    let action = views::tenant_action(t).map(|a| match a {
        TenantAction::Suspend => html! {
            <ConfirmButton label="Suspend" question={format!("Suspend {}? Its users are signed out at once.", t.name)}
                danger=true busy={*busy} onconfirm={act(a)} />
        },
        TenantAction::Reactivate => {
            let go = act(a).reform(|_: MouseEvent| ());
            html! {
                <button type="button" class="button secondary" onclick={go} disabled={*busy}>
                    { if *busy { "Working…" } else { a.label() } }
                </button>
            }
        }
    });
    html! {
        <tr data-tenant={t.slug.clone()}>
            <th scope="row">{ t.name.clone() }
                if t.kind == common::TenantKind::Provider { <span class="badge">{ "provider" }</span> }
            </th>
            <td><code>{ t.slug.clone() }</code></td>
            <td><span class={classes!("badge", format!("status-{}", t.status))}>{ views::status_label(t.status) }</span></td>
            <td>{ views::short_time(t.created_at) }</td>
            <td class="actions">
                { action.unwrap_or_default() }
                if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
            </td>
        </tr>
    }
}

async fn run(
    client: &ApiClient,
    id: TenantId,
    action: TenantAction,
) -> Result<TenantResponse, String> {
    match action {
        TenantAction::Suspend => client.suspend_tenant(id).await,
        TenantAction::Reactivate => client.reactivate_tenant(id).await,
    }
    .map_err(|e| e.message())
}

#[derive(Properties, PartialEq)]
struct NewTenantProps {
    client: ApiClient,
    oncreated: Callback<(TenantResponse, String)>,
}

/// The tenant and its first admin, in one form (one request: both or neither are created).
#[function_component(NewTenant)]
fn new_tenant(p: &NewTenantProps) -> Html {
    let name = use_state(String::new);
    let slug = use_state(String::new);
    let slug_touched = use_state(|| false);
    let admin_name = use_state(String::new);
    let admin_email = use_state(String::new);
    let admin_password = use_state(String::new);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);

    let set =
        |state: &UseStateHandle<String>, field: &'static str| draft::text(state, &errors, field);
    let on_name = {
        let (name, slug, touched, errors) = (
            name.clone(),
            slug.clone(),
            slug_touched.clone(),
            errors.clone(),
        );
        Callback::from(move |v: String| {
            if !*touched {
                slug.set(views::slug_from_name(&v));
            }
            name.set(v);
            let mut f = (*errors).clone();
            f.clear_field("name");
            errors.set(f);
        })
    };
    let on_slug = {
        let (touched, inner) = (slug_touched.clone(), set(&slug, "slug"));
        Callback::from(move |v: String| {
            touched.set(true);
            inner.emit(v);
        })
    };
    let onsubmit = {
        let (name, slug, an, ae, ap) = (
            name.clone(),
            slug.clone(),
            admin_name.clone(),
            admin_email.clone(),
            admin_password.clone(),
        );
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
            let req = CreateTenantRequest {
                name: name.trim().to_owned(),
                slug: slug.trim().to_owned(),
                quotas: None,
                admin: NewAdmin {
                    email: ae.trim().to_owned(),
                    name: an.trim().to_owned(),
                    password: (*ap).clone(),
                },
            };
            if let Err(f) = FormErrors::check(checks::tenant(&req), &INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, client, done) =
                (errors.clone(), busy.clone(), client.clone(), done.clone());
            spawn_local(async move {
                match client.create_tenant(&req).await {
                    Ok(created) => done.emit((created.tenant, created.admin.email)),
                    Err(e) => errors.set(FormErrors::from_api(&e, &INPUTS)),
                }
                busy.set(false);
            });
        })
    };

    html! {
        <form id="new-tenant" class="card form-grid" {onsubmit} novalidate=true aria-labelledby="new-tenant-title">
            <h2 id="new-tenant-title">{ "New tenant" }</h2>
            if let Some(g) = &errors.general {
                <Banner tone={Tone::Error}>{ g.clone() }</Banner>
            }
            <fieldset>
                <legend>{ "Organisation" }</legend>
                <Field id="name" label="Name" value={(*name).clone()} oninput={on_name} error={errors.field("name")} />
                <Field id="slug" label="Slug" value={(*slug).clone()} oninput={on_slug} error={errors.field("slug")}
                    hint="Lowercase letters, digits and hyphens; unique." />
            </fieldset>
            <fieldset>
                <legend>{ "First admin" }</legend>
                <Field id="admin.name" label="Admin name" value={(*admin_name).clone()}
                    oninput={set(&admin_name, "admin.name")} error={errors.field("admin.name")} />
                <Field id="admin.email" label="Admin email" kind="email" autocomplete="off" value={(*admin_email).clone()}
                    oninput={set(&admin_email, "admin.email")} error={errors.field("admin.email")} />
                <Field id="admin.password" label="Admin password" kind="password" autocomplete="new-password"
                    value={(*admin_password).clone()} oninput={set(&admin_password, "admin.password")}
                    error={errors.field("admin.password")}
                    hint="At least 12 characters; hard to guess." />
            </fieldset>
            <div class="form-actions">
                <button type="submit" class="button primary" disabled={*busy}>
                    { if *busy { "Creating…" } else { "Create tenant" } }
                </button>
            </div>
        </form>
    }
}
