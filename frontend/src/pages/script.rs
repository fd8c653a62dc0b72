//! One CloudScript: the editor (text with line numbers, declared variables, timeout) whose save is a new
//! version, its versions, and "try it": a preview rendered against a chosen appliance and a run on chosen
//! appliances whose jobs' output shows as it ends. A new script starts here too.

use crate::api::{ApiClient, ApiError};
use crate::app::Route;
use crate::components::code::{CodeEditor, CodeView};
use crate::components::confirm::ConfirmButton;
use crate::components::field::{Check, Field, Select, TextArea};
use crate::components::status::{Banner, Loading, Tone};
use crate::hooks::{draft, use_client, use_list, use_me, use_resource};
use crate::state::form::FormErrors;
use crate::state::runs::{appliance_badge, job_badge};
use crate::state::scripts::{self, ScriptDraft, VarDraft, error_line, values};
use crate::state::views;
use common::api::{
    JobResponse, Page, RenderRequest, RenderResponse, RunScriptRequest, ScriptResponse,
    ScriptVersionResponse, VarType,
};
use common::{ApplianceId, ApplicationId, ProjectId, Role, ScriptId};
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;
use yew::platform::spawn_local;
use yew::platform::time::sleep;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ScriptProps {
    /// None: a new script.
    pub id: Option<ScriptId>,
}

async fn load(
    client: ApiClient,
    id: ScriptId,
) -> Result<(ScriptResponse, Vec<ScriptVersionResponse>), ApiError> {
    let script = client.get_script(id).await?;
    let versions = client.script_versions(id).await?;
    Ok((script, versions))
}

#[function_component(ScriptPage)]
pub fn script_page(p: &ScriptProps) -> Html {
    let client = use_client();
    let me = use_me();
    let loaded = {
        let client = client.clone();
        use_resource(p.id, move |id| {
            let client = client.clone();
            async move {
                match id {
                    Some(id) => load(client, id).await.map(Some),
                    None => Ok(None),
                }
            }
            .boxed_local()
        })
    };
    let reload = loaded.reload.clone();
    // The editor starts over on a new version, so the page keeps the notice.
    let saved = use_state(|| None::<u32>);
    let onsaved = {
        let saved = saved.clone();
        Callback::from(move |v: u32| {
            saved.set(Some(v));
            reload.emit(());
        })
    };
    let role = me.as_ref().map(|m| m.role);
    let back =
        html! { <Link<Route> to={Route::Scripts} classes="back">{ "← All scripts" }</Link<Route>> };
    let Some(id) = p.id else {
        return html! {
            <section aria-labelledby="page-title">
                { back }
                <h1 id="page-title">{ "New CloudScript" }</h1>
                <Editor client={client.clone()} script={None::<ScriptResponse>} editable=true
                    onsaved={Callback::noop()} />
            </section>
        };
    };
    match (&loaded.current.value, &loaded.current.error) {
        (None | Some(None), None) => {
            html! { <section>{ back }<Loading what="the script" /></section> }
        }
        (None | Some(None), Some(e)) => html! {
            <section aria-labelledby="page-title">
                { back }
                <h1 id="page-title">{ "CloudScript" }</h1>
                <Banner tone={Tone::Error}>{ e.message() }</Banner>
            </section>
        },
        (Some(Some((s, versions))), error) => {
            let editable = match role {
                Some(Role::Admin) => s.tenant_id.is_some(),
                Some(Role::Operator) => s.tenant_id.is_none(),
                _ => false,
            };
            let tries = matches!(role, Some(Role::Admin | Role::User));
            html! {
                <section aria-labelledby="page-title">
                    { back }
                    <div class="page-head">
                        <div class="title">
                            <h1 id="page-title">{ s.name.clone() }</h1>
                            <span class="badge">{ if s.tenant_id.is_none() { "library" } else { "your organisation" } }</span>
                            <span class="badge" data-version={s.latest_version.to_string()}>{ format!("v{}", s.latest_version) }</span>
                        </div>
                    </div>
                    if !s.description.is_empty() { <p class="lede">{ s.description.clone() }</p> }
                    if let Some(e) = error {
                        <Banner tone={Tone::Error}>{ format!("The script could not be read again: {}", e.message()) }</Banner>
                    }
                    if !editable {
                        <p class="muted">{ if s.tenant_id.is_none() {
                            "The provider's library: you can read, preview and run this script, not change it."
                        } else {
                            "Your organisation's admins change its scripts; you can read, preview and run them."
                        } }</p>
                    }
                    if let Some(v) = *saved { <Banner tone={Tone::Success}>{ format!("Saved version {v}.") }</Banner> }
                    <Editor key={format!("{}-{}", s.id, s.latest_version)} client={client.clone()}
                        script={Some(s.clone())} {editable} {onsaved} />
                    if tries { <TryScript script={s.clone()} client={client.clone()} /> }
                    <Versions versions={versions.clone()} />
                    if editable { <DeleteScript {id} client={client.clone()} name={s.name.clone()} /> }
                </section>
            }
        }
    }
}

/// What a save made.
enum Saved {
    Version(u32),
    Script(ScriptId),
}

#[derive(Properties, PartialEq)]
struct EditorProps {
    client: ApiClient,
    script: Option<ScriptResponse>,
    editable: bool,
    /// A version was saved (the page loads the script again).
    onsaved: Callback<u32>,
}

/// The form of the next version (or of a new script).
#[function_component(Editor)]
fn editor(p: &EditorProps) -> Html {
    let initial = p
        .script
        .as_ref()
        .map(|s| ScriptDraft::of(s, &s.latest))
        .unwrap_or_default();
    let draft = use_state(|| initial.clone());
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let navigator = use_navigator();
    let dirty = *draft != initial;

    let edit = |field: &'static str, f: fn(&mut ScriptDraft, String)| {
        draft::edit(&draft, &errors, field, f)
    };
    let set_var = draft::change(&draft, |d: &mut ScriptDraft, (i, v): (usize, VarDraft)| {
        if let Some(slot) = d.variables.get_mut(i) {
            *slot = v;
        }
    });
    let remove_var = draft::change(&draft, |d: &mut ScriptDraft, i: usize| {
        if i < d.variables.len() {
            d.variables.remove(i);
        }
    });
    let add_var = draft::change(&draft, |d: &mut ScriptDraft, _: MouseEvent| {
        d.variables.push(VarDraft::default())
    });
    let onsubmit = {
        let (draft, errors, busy, client, saved) = (
            draft.clone(),
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.onsaved.clone(),
        );
        let script = p.script.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let inputs = scripts::inputs(&draft);
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let client = client.clone();
            // A new version answers its number; a new script opens its page.
            let call: LocalBoxFuture<'static, Result<Saved, ApiError>> = match &script {
                Some(s) => match draft.version() {
                    Ok(req) => {
                        let id = s.id;
                        async move {
                            let s = client.add_script_version(id, &req).await?;
                            Ok(Saved::Version(s.latest_version))
                        }
                        .boxed_local()
                    }
                    Err(found) => {
                        errors.set(FormErrors::check(found, &refs).err().unwrap_or_default());
                        return;
                    }
                },
                None => match draft.create() {
                    Ok(req) => async move {
                        let s = client.create_script(&req).await?;
                        Ok(Saved::Script(s.id))
                    }
                    .boxed_local(),
                    Err(found) => {
                        errors.set(FormErrors::check(found, &refs).err().unwrap_or_default());
                        return;
                    }
                },
            };
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, saved, navigator) = (
                errors.clone(),
                busy.clone(),
                saved.clone(),
                navigator.clone(),
            );
            spawn_local(async move {
                match call.await {
                    Ok(Saved::Version(v)) => saved.emit(v),
                    Ok(Saved::Script(id)) => {
                        if let Some(n) = navigator {
                            n.push(&Route::Script { id });
                        }
                    }
                    Err(e) => {
                        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                        errors.set(FormErrors::from_api(&e, &refs));
                    }
                }
                busy.set(false);
            });
        })
    };

    let d = &*draft;
    let readonly = !p.editable;
    let body_error = errors.field("body");
    let mark = body_error.as_deref().and_then(error_line);
    let next = p.script.as_ref().map(|s| s.latest_version + 1);
    let save_label = match (next, *busy) {
        (_, true) => "Saving…".to_owned(),
        (Some(n), false) => format!("Save as version {n}"),
        (None, false) => "Create script".to_owned(),
    };
    html! {
        <form class="card form-grid script-form" {onsubmit} novalidate=true aria-labelledby="script-form-title">
            <h2 id="script-form-title">{ match (&p.script, p.editable) {
                (None, _) => "The script",
                (Some(_), true) => "Next version",
                (Some(_), false) => "Latest version",
            } }</h2>
            if let Some(g) = &errors.general { <Banner tone={Tone::Error}>{ g.clone() }</Banner> }
            if p.script.is_none() {
                <Field id="script-name" label="Name" value={d.name.clone()}
                    oninput={edit("name", |d, v| d.name = v)} error={errors.field("name")}
                    hint="Lowercase letters, digits, '.', '-' or '_'." />
                <TextArea id="script-description" label="Description (optional)" value={d.description.clone()}
                    oninput={edit("description", |d, v| d.description = v)} error={errors.field("description")} />
            }
            <CodeEditor id="script-body" label="Script" value={d.body.clone()} {readonly}
                oninput={edit("body", |d, v| d.body = v)} error={body_error} mark_line={mark}
                hint="The first line's shebang picks the interpreter. {{ vars.name }}, {{ appliance.ip }}, {{ layer('app').ips | join(' ') }} and the rest of the context are filled in before it runs." />
            <fieldset class="variables">
                <legend>{ "Variables" }</legend>
                if errors.field("variables").is_some() {
                    <p class="field-error">{ errors.field("variables").unwrap_or_default() }</p>
                }
                if d.variables.is_empty() {
                    <p class="muted">{ "No variables. A variable is filled in as {{ vars.name }} and given to the script as $NAME." }</p>
                }
                { for d.variables.iter().enumerate().map(|(i, v)| html! {
                    <VariableRow key={i} index={i} var={v.clone()} {readonly} onchange={set_var.clone()}
                        onremove={remove_var.clone()}
                        name_error={errors.field(&format!("variables[{i}].name"))}
                        default_error={errors.field(&format!("variables[{i}].default"))} />
                }) }
                if p.editable {
                    <button type="button" class="button secondary" onclick={add_var}>{ "Add variable" }</button>
                }
            </fieldset>
            <Field id="script-timeout" label="Timeout (seconds)" value={d.timeout.clone()} kind="number"
                oninput={edit("timeout_secs", |d, v| d.timeout = v)} error={errors.field("timeout_secs")}
                disabled={readonly} />
            if p.editable {
                <div class="form-actions">
                    <button type="submit" class="button primary" disabled={*busy || (p.script.is_some() && !dirty)}>
                        { save_label }
                    </button>
                    if dirty && p.script.is_some() { <span class="muted">{ "Unsaved changes" }</span> }
                </div>
            }
        </form>
    }
}

#[derive(Properties, PartialEq)]
struct VariableRowProps {
    index: usize,
    var: VarDraft,
    readonly: bool,
    onchange: Callback<(usize, VarDraft)>,
    onremove: Callback<usize>,
    name_error: Option<String>,
    default_error: Option<String>,
}

#[function_component(VariableRow)]
fn variable_row(p: &VariableRowProps) -> Html {
    let i = p.index;
    let change = |f: fn(&mut VarDraft, String)| draft::item(&p.onchange, i, &p.var, f);
    let flag = |f: fn(&mut VarDraft, bool)| draft::item(&p.onchange, i, &p.var, f);
    let types = [VarType::String, VarType::Int, VarType::Bool, VarType::List]
        .map(|t| (t.as_str().to_owned(), t.as_str().to_owned()))
        .to_vec();
    let remove = {
        let cb = p.onremove.clone();
        Callback::from(move |_: MouseEvent| cb.emit(i))
    };
    let v = &p.var;
    let label = if v.name.is_empty() {
        format!("variable {}", i + 1)
    } else {
        v.name.clone()
    };
    html! {
        <div class="variable-row" data-variable={v.name.clone()}>
            <Field id={format!("var-{i}-name")} label="Name" value={v.name.clone()} oninput={change(|v, x| v.name = x)}
                error={p.name_error.clone()} disabled={p.readonly} />
            <Select id={format!("var-{i}-type")} label="Type" value={v.type_.as_str()} options={types}
                onchange={change(|v, x| v.type_ = match x.as_str() {
                    "int" => VarType::Int, "bool" => VarType::Bool, "list" => VarType::List, _ => VarType::String,
                })} disabled={p.readonly} />
            <Field id={format!("var-{i}-default")} label="Default" value={v.default.clone()} required=false
                oninput={change(|v, x| v.default = x)} error={p.default_error.clone()} disabled={p.readonly} />
            <Field id={format!("var-{i}-description")} label="Description" value={v.description.clone()} required=false
                oninput={change(|v, x| v.description = x)} disabled={p.readonly} />
            <Check id={format!("var-{i}-required")} label="Required" checked={v.required}
                onchange={flag(|v, x| v.required = x)} disabled={p.readonly} />
            <Check id={format!("var-{i}-secret")} label="Secret" checked={v.secret}
                onchange={flag(|v, x| v.secret = x)} disabled={p.readonly} />
            if !p.readonly {
                <button type="button" class="button secondary" onclick={remove}
                    aria-label={format!("Remove {label}")}>{ "Remove" }</button>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct VersionsProps {
    versions: Vec<ScriptVersionResponse>,
}

/// Every version, newest first, each opening to its text.
#[function_component(Versions)]
fn versions(p: &VersionsProps) -> Html {
    html! {
        <section class="card" aria-labelledby="versions-title">
            <h2 id="versions-title">{ "Versions" }</h2>
            <ul class="plain">
                { for p.versions.iter().rev().map(|v| html! {
                    <li key={v.version}>
                        <details>
                            <summary>{ format!("Version {} · {} · {} s · {}", v.version, v.interpreter,
                                v.timeout_secs, views::short_time(v.created_at)) }</summary>
                            <CodeView text={v.body.clone()} label={format!("Version {}", v.version)} />
                        </details>
                    </li>
                }) }
            </ul>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct DeleteProps {
    id: ScriptId,
    name: String,
    client: ApiClient,
}

#[function_component(DeleteScript)]
fn delete_script(p: &DeleteProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let navigator = use_navigator();
    let onconfirm = {
        let (busy, error, client, id) = (busy.clone(), error.clone(), p.client.clone(), p.id);
        Callback::from(move |()| {
            busy.set(true);
            let (busy, error, client, navigator) = (
                busy.clone(),
                error.clone(),
                client.clone(),
                navigator.clone(),
            );
            spawn_local(async move {
                match client.delete_script(id).await {
                    Ok(()) => {
                        if let Some(n) = navigator {
                            n.push(&Route::Scripts);
                        }
                    }
                    Err(e) => {
                        error.set(Some(e.message()));
                        busy.set(false);
                    }
                }
            });
        })
    };
    html! {
        <div class="danger-zone">
            <ConfirmButton label="Delete script" question={format!("Delete {} and all its versions?", p.name)}
                danger=true busy={*busy} {onconfirm} />
            if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct TryProps {
    script: ScriptResponse,
    client: ApiClient,
}

/// Preview against an appliance and run on appliances of one application.
#[function_component(TryScript)]
fn try_script(p: &TryProps) -> Html {
    let client = p.client.clone();
    let project = use_state(String::new);
    let app = use_state(String::new);
    let chosen = use_state(BTreeSet::<ApplianceId>::new);
    let texts = use_state(BTreeMap::<String, String>::new);
    let errors = use_state(FormErrors::default);
    let preview = use_state(|| None::<RenderResponse>);
    let jobs = use_state(Vec::<JobResponse>::new);
    let busy = use_state(|| false);
    // Which run the jobs shown belong to; 0 once the page is gone (its polling then stops).
    let following = use_memo((), |_| Rc::new(Cell::new(1u64)));
    {
        let following = (*following).clone();
        use_effect_with((), move |_| move || following.set(0));
    }
    let projects = {
        let client = client.clone();
        use_list((), move |cursor| {
            let client = client.clone();
            async move { client.list_projects(cursor.as_deref()).await }.boxed_local()
        })
    };
    let project_id = project.parse::<ProjectId>().ok();
    let apps = {
        let client = client.clone();
        use_list(project_id, move |cursor| {
            let client = client.clone();
            async move {
                match project_id {
                    Some(p) => client.list_applications(p, cursor.as_deref()).await,
                    None => Ok(Page::empty()),
                }
            }
            .boxed_local()
        })
    };
    let app_id = app.parse::<ApplicationId>().ok();
    let appliances = {
        let client = client.clone();
        use_list(app_id, move |cursor| {
            let client = client.clone();
            async move {
                match app_id {
                    Some(a) => client.list_appliances(a, cursor.as_deref()).await,
                    None => Ok(Page::empty()),
                }
            }
            .boxed_local()
        })
    };
    let decls = p.script.latest.variables.clone();
    let value_inputs: Vec<String> = decls
        .iter()
        .map(|d| format!("variables.{}", d.name))
        .chain(["appliance_ids".to_owned(), "appliance_id".to_owned()])
        .collect();

    let mut project_options = vec![(String::new(), "Choose a project…".to_owned())];
    project_options.extend(
        projects
            .state
            .items()
            .iter()
            .map(|p| (p.id.to_string(), p.name.clone())),
    );
    let mut app_options = vec![(String::new(), "Choose an application…".to_owned())];
    app_options.extend(
        apps.state
            .items()
            .iter()
            .map(|a| (a.id.to_string(), a.name.clone())),
    );
    let on_project = {
        let (project, app, chosen) = (project.clone(), app.clone(), chosen.clone());
        Callback::from(move |v: String| {
            project.set(v);
            app.set(String::new());
            chosen.set(BTreeSet::new());
        })
    };
    let on_app = {
        let (app, chosen) = (app.clone(), chosen.clone());
        Callback::from(move |v: String| {
            app.set(v);
            chosen.set(BTreeSet::new());
        })
    };
    let request = {
        let (texts, chosen, errors, decls, value_inputs) = (
            texts.clone(),
            chosen.clone(),
            errors.clone(),
            decls.clone(),
            value_inputs.clone(),
        );
        move || -> Option<(Vec<ApplianceId>, BTreeMap<String, serde_json::Value>)> {
            let inputs: Vec<&str> = value_inputs.iter().map(String::as_str).collect();
            let mut found = Vec::new();
            if chosen.is_empty() {
                found.push(common::FieldError {
                    field: "appliance_ids".into(),
                    code: "required".into(),
                    message: "choose at least one appliance".into(),
                });
            }
            let vals = values(&decls, &texts, "variables").unwrap_or_else(|e| {
                found.extend(e);
                BTreeMap::new()
            });
            match FormErrors::check(found, &inputs) {
                Ok(()) => Some((chosen.iter().copied().collect(), vals)),
                Err(f) => {
                    errors.set(f);
                    None
                }
            }
        }
    };
    let on_preview = {
        let (client, id, busy, errors, preview, request, value_inputs) = (
            client.clone(),
            p.script.id,
            busy.clone(),
            errors.clone(),
            preview.clone(),
            request.clone(),
            value_inputs.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let Some((ids, variables)) = request() else {
                return;
            };
            let req = RenderRequest {
                appliance_id: ids[0],
                version: None,
                variables,
            };
            busy.set(true);
            errors.set(FormErrors::default());
            let (client, busy, errors, preview, value_inputs) = (
                client.clone(),
                busy.clone(),
                errors.clone(),
                preview.clone(),
                value_inputs.clone(),
            );
            spawn_local(async move {
                let inputs: Vec<&str> = value_inputs.iter().map(String::as_str).collect();
                match client.render_script(id, &req).await {
                    Ok(r) => preview.set(Some(r)),
                    Err(e) => {
                        preview.set(None);
                        errors.set(FormErrors::from_api(&e, &inputs));
                    }
                }
                busy.set(false);
            });
        })
    };
    let on_run = {
        let (client, id, busy, errors, jobs, value_inputs, following) = (
            client.clone(),
            p.script.id,
            busy.clone(),
            errors.clone(),
            jobs.clone(),
            value_inputs.clone(),
            (*following).clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let Some((appliance_ids, variables)) = request() else {
                return;
            };
            let req = RunScriptRequest {
                appliance_ids,
                version: None,
                variables,
            };
            busy.set(true);
            errors.set(FormErrors::default());
            // a new run: the polling of an earlier one stops
            let this = following.get() + 1;
            following.set(this);
            let (client, busy, errors, jobs, value_inputs, following) = (
                client.clone(),
                busy.clone(),
                errors.clone(),
                jobs.clone(),
                value_inputs.clone(),
                following.clone(),
            );
            spawn_local(async move {
                let inputs: Vec<&str> = value_inputs.iter().map(String::as_str).collect();
                match client.run_script(id, &req).await {
                    Ok(started) if following.get() == this => {
                        jobs.set(started.clone());
                        busy.set(false);
                        follow(client, started, jobs, &following, this).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        errors.set(FormErrors::from_api(&e, &inputs));
                        busy.set(false);
                    }
                }
            });
        })
    };

    let appliance_list = match app_id {
        None => {
            html! { <p class="muted">{ "Choose a project and an application to see its appliances." }</p> }
        }
        Some(_) if appliances.state.is_empty() => {
            html! { <p class="muted">{ "This application has no live appliances. Deploy it first." }</p> }
        }
        Some(_) => html! {
            <fieldset class="appliance-choice">
                <legend>{ "Appliances" }</legend>
                if let Some(e) = errors.field("appliance_ids") { <p class="field-error">{ e }</p> }
                { for appliances.state.items().iter().map(|a| {
                    let id = a.id;
                    let toggle = {
                        let chosen = chosen.clone();
                        Callback::from(move |on: bool| {
                            let mut c = (*chosen).clone();
                            if on { c.insert(id); } else { c.remove(&id); }
                            chosen.set(c);
                        })
                    };
                    let (word, class) = appliance_badge(a.state);
                    html! {
                        <div class="appliance-option" key={id.to_string()}>
                            <Check id={format!("pick-{id}")} label={format!("{} ({})", a.name,
                                a.ip.clone().unwrap_or_else(|| "no address".into()))}
                                checked={chosen.contains(&id)} onchange={toggle} />
                            <span class={classes!("badge", class)}>{ word }</span>
                        </div>
                    }
                }) }
            </fieldset>
        },
    };
    html! {
        <section class="card try" aria-labelledby="try-title">
            <h2 id="try-title">{ "Try it" }</h2>
            <p class="muted">{ "Preview renders the latest version for the first chosen appliance without running it; \
                Run sends it to the chosen appliances' agents. Secrets show as ********." }</p>
            if let Some(g) = &errors.general { <Banner tone={Tone::Error}>{ g.clone() }</Banner> }
            <div class="pickers">
                <Select id="try-project" label="Project" value={(*project).clone()} options={project_options}
                    onchange={on_project} />
                <Select id="try-app" label="Application" value={(*app).clone()} options={app_options}
                    onchange={on_app} disabled={project_id.is_none()} />
            </div>
            { appliance_list }
            if !decls.is_empty() {
                <fieldset class="values">
                    <legend>{ "Values" }</legend>
                    { for decls.iter().map(|d| {
                        let name = d.name.clone();
                        let set = {
                            let (texts, name) = (texts.clone(), name.clone());
                            Callback::from(move |v: String| {
                                let mut t = (*texts).clone();
                                t.insert(name.clone(), v);
                                texts.set(t);
                            })
                        };
                        let hint = scripts::value_hint(d);
                        html! {
                            <Field key={name.clone()} id={format!("value-{name}")} label={name.clone()}
                                value={texts.get(&name).cloned().unwrap_or_default()} oninput={set} required={d.required}
                                kind={if d.secret { "password" } else { "text" }}
                                autocomplete={d.secret.then_some(AttrValue::Static("new-password"))}
                                hint={hint} error={errors.field(&format!("variables.{name}"))} />
                        }
                    }) }
                </fieldset>
            }
            <div class="form-actions">
                <button type="button" class="button secondary" onclick={on_preview} disabled={*busy}>{ "Preview" }</button>
                <button type="button" class="button primary" onclick={on_run} disabled={*busy}>
                    { match chosen.len() { 0 => "Run".to_owned(), 1 => "Run on 1 appliance".to_owned(), n => format!("Run on {n} appliances") } }
                </button>
            </div>
            if let Some(r) = &*preview {
                <h3>{ "Preview" }</h3>
                <CodeView text={r.script.clone()} label="Rendered script" />
                if !r.env.is_empty() {
                    <table class="env">
                        <caption>{ "Environment" }</caption>
                        <tbody>
                            { for r.env.iter().map(|(k, v)| html! {
                                <tr key={k.clone()}><th scope="row"><code>{ k.clone() }</code></th><td><code>{ v.clone() }</code></td></tr>
                            }) }
                        </tbody>
                    </table>
                }
            }
            if !jobs.is_empty() {
                <h3>{ "Jobs" }</h3>
                <ul class="plain jobs" aria-live="polite">
                    { for jobs.iter().map(|j| {
                        let name = appliances.state.items().iter().find(|a| a.id == j.appliance_id)
                            .map(|a| AttrValue::from(a.name.clone()));
                        html! { <li key={j.id.to_string()}><JobView job={j.clone()} appliance={name} /></li> }
                    }) }
                </ul>
            }
        </section>
    }
}

/// Poll the jobs until each has ended (a second apart; the live stream will replace this), while
/// `following` still names this run (another run, or leaving the page, stops it), for at most the
/// longest job's timeout plus the engine's grace, and until five reads in a row failed.
async fn follow(
    client: ApiClient,
    mut jobs: Vec<JobResponse>,
    out: UseStateHandle<Vec<JobResponse>>,
    following: &Cell<u64>,
    this: u64,
) {
    let rounds = jobs.iter().map(|j| j.timeout_secs).max().unwrap_or(0) + 60;
    let mut failed = 0;
    for _ in 0..rounds {
        if jobs.iter().all(|j| j.status.finished()) || failed >= 5 {
            return;
        }
        sleep(Duration::from_secs(1)).await;
        if following.get() != this {
            return;
        }
        for j in jobs.iter_mut().filter(|j| !j.status.finished()) {
            match client.get_job(j.id).await {
                Ok(fresh) => {
                    *j = fresh;
                    failed = 0;
                }
                Err(_) => failed += 1,
            }
        }
        if following.get() != this {
            return;
        }
        out.set(jobs.clone());
    }
}

#[derive(Properties, PartialEq)]
pub struct JobProps {
    pub job: JobResponse,
    /// The appliance's name, where the page knows it.
    #[prop_or_default]
    pub appliance: Option<AttrValue>,
}

/// One job: its appliance, status, exit code and output.
#[function_component(JobView)]
pub fn job_view(p: &JobProps) -> Html {
    let j = &p.job;
    let (word, class) = job_badge(j.status);
    html! {
        <div class="job" data-job={j.id.to_string()} data-status={word}>
            <p>
                <strong>{ format!("{} v{}", j.script_name, j.version) }</strong>
                if let Some(a) = &p.appliance { { format!(" on {a}") } }
                <span class={classes!("badge", class)}>{ word }</span>
                if let Some(c) = j.exit_code { <span class="muted">{ format!(" exit code {c}") }</span> }
            </p>
            if !j.stdout.is_empty() { <CodeView text={j.stdout.clone()} label="Output" numbered={false} /> }
            if !j.stderr.is_empty() { <CodeView text={j.stderr.clone()} label="Errors" numbered={false} /> }
            <details>
                <summary>{ "Script as run" }</summary>
                <CodeView text={j.script.clone()} label="Script as run" />
            </details>
        </div>
    }
}
