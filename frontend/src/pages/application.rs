//! One application, in three tabs: its layers, groups (with their size) and appliances; its event rules
//! (the default load-balancer wiring among them) with the form that makes and changes them; and the
//! history of its rules' runs with each step's output and jobs. The overview follows the
//! application's live stream (appliances, their states and the events, without reloading); the
//! runs tab still reads again every 2 s while a run is open.

use crate::api::{ApiClient, ApiError};
use crate::app::Route;
use crate::components::confirm::ConfirmButton;
use crate::components::field::{Check, Field, Select, TextArea};
use crate::components::shell::NavLink;
use crate::components::status::{Banner, Loading, Tone};
use crate::hooks::{
    ListHandle, LiveLink, draft, use_client, use_list, use_live, use_reload, use_resource,
    use_ticker,
};
use crate::pages::script::JobView;
use crate::state::form::FormErrors;
use crate::state::live::{ApplianceAction, appliance_actions};
use crate::state::rules::{
    self, ACTIONS, RuleDraft, StepDraft, TARGETS, condition_text, event_choices, filter_text,
    step_text,
};
use crate::state::runs::{appliance_badge, duration, is_open, run_badge, step_badge};
use crate::state::scripts::value_hint;
use crate::state::views;
use chrono::Utc;
use common::ApplicationId;
use common::api::{
    ApplianceRole, ApplicationResponse, GroupResponse, JobResponse, RuleOrigin, RuleResponse,
    RunResponse, ScriptResponse, UpdateRuleRequest,
};
use futures::FutureExt;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

/// The tabs of an application's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppTab {
    Overview,
    Rules,
    Runs,
}

#[derive(Properties, PartialEq)]
pub struct ApplicationProps {
    pub id: ApplicationId,
    pub tab: AppTab,
}

#[function_component(ApplicationPage)]
pub fn application_page(p: &ApplicationProps) -> Html {
    let client = use_client();
    let app = {
        let client = client.clone();
        use_resource(p.id, move |id| {
            let client = client.clone();
            async move { client.get_application(id).await }.boxed_local()
        })
    };
    let reload = app.reload.clone();
    let a = match (&app.current.value, &app.current.error) {
        (None, None) => return html! { <Loading what="the application" /> },
        (None, Some(e)) => {
            return html! {
                <section aria-labelledby="page-title">
                    <h1 id="page-title">{ "Application" }</h1>
                    <Banner tone={Tone::Error}>{ e.message() }</Banner>
                </section>
            };
        }
        (Some(a), _) => a.clone(),
    };
    let id = p.id;
    let tab = |t: AppTab, route: Route, label: &'static str| {
        html! { <NavLink {route} {label} current={p.tab == t} class="tab" /> }
    };
    html! {
        <section aria-labelledby="page-title">
            <Link<Route> to={Route::Project { id: a.project_id }} classes="back">{ "← The project" }</Link<Route>>
            <div class="page-head">
                <div class="title">
                    <h1 id="page-title">{ a.name.clone() }</h1>
                    <span class={classes!("badge", if a.deployed { "status-active" } else { "status-pending" })}>
                        { if a.deployed { "deployed" } else { "not deployed" } }
                    </span>
                </div>
            </div>
            if !a.description.is_empty() { <p class="lede">{ a.description.clone() }</p> }
            if let Some(e) = &app.current.error {
                <Banner tone={Tone::Info}>{ format!("Showing the application as last read: {}", e.message()) }</Banner>
            }
            <nav class="tabs" aria-label="Application">
                { tab(AppTab::Overview, Route::Application { id }, "Overview") }
                { tab(AppTab::Rules, Route::ApplicationRules { id }, "Rules") }
                { tab(AppTab::Runs, Route::ApplicationRuns { id }, "Runs") }
            </nav>
            { match p.tab {
                AppTab::Overview => html! { <Overview app={a} client={client.clone()} onchanged={reload} /> },
                AppTab::Rules => html! { <RulesTab app={a} client={client.clone()} /> },
                AppTab::Runs => html! { <RunsTab app={a} client={client.clone()} /> },
            } }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct TabProps {
    app: ApplicationResponse,
    client: ApiClient,
    #[prop_or_default]
    onchanged: Callback<()>,
}

/// How often the pages follow work under way.
const FOLLOW: Duration = Duration::from_secs(2);

#[function_component(Overview)]
fn overview(p: &TabProps) -> Html {
    let live = use_live(p.client.clone(), p.app.id, p.onchanged.clone());
    let view = live.view.clone();
    let groups: Vec<(String, GroupResponse)> = p
        .app
        .layers
        .iter()
        .flat_map(|l| l.groups.iter().map(|g| (l.name.clone(), g.clone())))
        .collect();
    let group_name = |gid| {
        groups
            .iter()
            .find(|(_, g)| g.id == gid)
            .map_or_else(String::new, |(_, g)| g.name.clone())
    };
    let appliance_name = |id: Option<common::ApplianceId>| {
        id.and_then(|id| view.appliance(id).map(|a| a.name.clone()))
            .unwrap_or_default()
    };
    // while the stream is current, a group's running count is the stream's
    let running = |gid| {
        view.synced.then(|| {
            view.appliances
                .iter()
                .filter(|a| a.group_id == gid && a.state == common::ApplianceState::Running)
                .count() as u32
        })
    };
    let (link_word, link_class) = match &live.link {
        LiveLink::Connecting => ("connecting…", "status-pending"),
        LiveLink::Live => ("live", "status-active"),
        LiveLink::Reconnecting => ("reconnecting…", "status-pending"),
        LiveLink::Stopped(_) => ("not live", "status-suspended"),
    };
    html! {
        <>
            <h2>{ "Layers and groups" }</h2>
            if groups.is_empty() {
                <p class="muted">{ "No layers yet: the designer builds them." }</p>
            } else {
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">{ "Groups" }</caption>
                        <thead><tr>
                            <th scope="col">{ "Layer" }</th><th scope="col">{ "Group" }</th>
                            <th scope="col">{ "Live" }</th><th scope="col">{ "Min … max" }</th>
                            <th scope="col">{ "Size" }</th>
                        </tr></thead>
                        <tbody>
                            { for groups.iter().map(|(layer, g)| html! {
                                <GroupRow key={g.id.to_string()} layer={layer.clone()} group={g.clone()}
                                    running={running(g.id)}
                                    client={p.client.clone()} onchanged={p.onchanged.clone()} />
                            }) }
                        </tbody>
                    </table>
                </div>
            }
            <div class="section-head">
                <h2>{ "Appliances" }</h2>
                <span class={classes!("badge", link_class)} data-link={link_word} role="status" aria-live="polite">{ link_word }</span>
            </div>
            if let LiveLink::Stopped(why) = &live.link {
                <Banner tone={Tone::Error}>{ why.clone() }</Banner>
            }
            if !view.synced && matches!(live.link, LiveLink::Reconnecting) && !view.appliances.is_empty() {
                <p class="muted small">{ "Showing the appliances as last seen; reconnecting to follow changes." }</p>
            }
            if view.appliances.is_empty() {
                if matches!(live.link, LiveLink::Connecting) {
                    <Loading what="the appliances" />
                } else {
                    <p>{ if p.app.deployed { "No live appliances." } else { "Not deployed: no appliances." } }</p>
                }
            } else {
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">{ "Appliances" }</caption>
                        <thead><tr>
                            <th scope="col">{ "Name" }</th><th scope="col">{ "Group" }</th>
                            <th scope="col">{ "State" }</th><th scope="col">{ "Address" }</th>
                            <th scope="col">{ "Since" }</th>
                            <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                        </tr></thead>
                        <tbody>
                            { for view.appliances.iter().map(|a| html! {
                                <ApplianceRow key={a.id.to_string()} appliance={a.clone()}
                                    group={group_name(a.group_id)} client={p.client.clone()} />
                            }) }
                        </tbody>
                    </table>
                </div>
            }
            <h2>{ "Events" }</h2>
            if view.events.is_empty() {
                <p class="muted">{ "None since this page opened." }</p>
            } else {
                <ol class="events" aria-label="Events, newest first">
                    { for view.events.iter().map(|e| html! {
                        <li key={e.id.to_string()} data-event={e.type_.clone()}>
                            <time datetime={e.at.to_rfc3339()}>{ views::short_time(e.at) }</time>
                            { " " }<code>{ e.type_.clone() }</code>
                            { format!(" {}", appliance_name(e.appliance_id)) }
                            if !e.detail.is_empty() && e.detail != "{}" { <span class="muted small">{ format!(" {}", e.detail) }</span> }
                        </li>
                    }) }
                </ol>
            }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ApplianceRowProps {
    appliance: common::api::ApplianceResponse,
    group: String,
    client: ApiClient,
}

/// A live appliance with the actions its state admits; the stream shows what follows.
#[function_component(ApplianceRow)]
fn appliance_row(p: &ApplianceRowProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let a = &p.appliance;
    let act = |action: ApplianceAction| {
        let (busy, error, client, id) = (busy.clone(), error.clone(), p.client.clone(), a.id);
        Callback::from(move |()| {
            busy.set(true);
            error.set(None);
            let (busy, error, client) = (busy.clone(), error.clone(), client.clone());
            spawn_local(async move {
                if let Err(e) = client.appliance_action(id, action).await {
                    error.set(Some(e.message()));
                }
                busy.set(false);
            });
        })
    };
    let (word, class) = appliance_badge(a.state);
    html! {
        <tr data-appliance={a.name.clone()} data-state={word}>
            <th scope="row">{ a.name.clone() }</th>
            <td>{ p.group.clone() }</td>
            <td><span class={classes!("badge", class)}>{ word }</span>
                if !a.state_reason.is_empty() { <span class="muted small">{ format!(" {}", a.state_reason) }</span> }
            </td>
            <td><code>{ a.ip.clone().unwrap_or_default() }</code></td>
            <td>{ views::short_time(a.state_since) }</td>
            <td class="actions">
                { for appliance_actions(a.state).into_iter().map(|x| if x.asks_first() {
                    html! {
                        <ConfirmButton label={x.label()} danger={x == ApplianceAction::Terminate} busy={*busy}
                            question={format!("{} {}?", x.label(), a.name)} onconfirm={act(x)} />
                    }
                } else {
                    html! {
                        <button type="button" class="button secondary" disabled={*busy}
                            onclick={act(x).reform(|_: MouseEvent| ())}>{ x.label() }</button>
                    }
                }) }
                if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
            </td>
        </tr>
    }
}

#[derive(Properties, PartialEq)]
struct GroupRowProps {
    layer: String,
    group: GroupResponse,
    /// Running appliances as the live stream shows them (`None`: the application's record).
    running: Option<u32>,
    client: ApiClient,
    onchanged: Callback<()>,
}

/// A group with its size control.
#[function_component(GroupRow)]
fn group_row(p: &GroupRowProps) -> Html {
    let g = &p.group;
    let size = use_state(|| g.size.desired.to_string());
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    {
        // A size changed elsewhere (a rule's scale step) shows once the application is read again.
        let size = size.clone();
        use_effect_with(g.size.desired, move |d| size.set(d.to_string()));
    }
    let onsubmit = {
        let (size, error, busy, client, changed, id) = (
            size.clone(),
            error.clone(),
            busy.clone(),
            p.client.clone(),
            p.onchanged.clone(),
            g.id,
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Ok(n) = size.trim().parse::<u32>() else {
                error.set(Some("must be a number".into()));
                return;
            };
            busy.set(true);
            error.set(None);
            let (error, busy, client, changed) =
                (error.clone(), busy.clone(), client.clone(), changed.clone());
            spawn_local(async move {
                match client.scale_group(id, n).await {
                    Ok(_) => changed.emit(()),
                    Err(e) => error.set(Some(e.message())),
                }
                busy.set(false);
            });
        })
    };
    let set = {
        let (size, error) = (size.clone(), error.clone());
        Callback::from(move |v: String| {
            size.set(v);
            error.set(None);
        })
    };
    html! {
        <tr data-group={g.name.clone()}>
            <td>{ p.layer.clone() }</td>
            <th scope="row">{ g.name.clone() }</th>
            <td>{ p.running.unwrap_or(g.running) }</td>
            <td>{ format!("{} … {}", g.size.min, g.size.max) }</td>
            <td>
                <form class="inline-form" {onsubmit} novalidate=true>
                    <Field id={format!("size-{}", g.id)} label={format!("Desired size of {}", g.name)} kind="number"
                        value={(*size).clone()} oninput={set} error={(*error).clone()} />
                    <button type="submit" class="button secondary" disabled={*busy}>{ "Set size" }</button>
                </form>
            </td>
        </tr>
    }
}

fn scripts_list(
    client: &ApiClient,
) -> impl Fn(
    Option<String>,
) -> futures::future::LocalBoxFuture<
    'static,
    Result<common::api::Page<ScriptResponse>, ApiError>,
> + 'static {
    let client = client.clone();
    move |cursor| {
        let client = client.clone();
        async move { client.list_scripts(cursor.as_deref()).await }.boxed_local()
    }
}

fn rules_list(
    client: &ApiClient,
    id: ApplicationId,
) -> impl Fn(
    Option<String>,
) -> futures::future::LocalBoxFuture<
    'static,
    Result<common::api::Page<RuleResponse>, ApiError>,
> + 'static {
    let client = client.clone();
    move |cursor| {
        let client = client.clone();
        async move { client.list_rules(id, cursor.as_deref()).await }.boxed_local()
    }
}

/// When a form that `open` shows closes, the focus goes back to the button that opened it.
#[hook]
fn use_focus_back(open: bool) -> NodeRef {
    let button = use_node_ref();
    let was = use_mut_ref(|| open);
    {
        let button = button.clone();
        use_effect_with(open, move |open| {
            if *was.borrow()
                && !*open
                && let Some(el) = button.cast::<web_sys::HtmlElement>()
            {
                let _ = el.focus();
            }
            *was.borrow_mut() = *open;
        });
    }
    button
}

#[function_component(RulesTab)]
fn rules_tab(p: &TabProps) -> Html {
    let id = p.app.id;
    let scripts = use_list((), scripts_list(&p.client));
    let rules = use_list(id, rules_list(&p.client, id));
    let creating = use_state(|| false);
    let new_button = use_focus_back(*creating);
    let notice = use_state(|| None::<String>);
    let toggle = {
        let (creating, notice) = (creating.clone(), notice.clone());
        Callback::from(move |_: MouseEvent| {
            notice.set(None);
            creating.set(!*creating);
        })
    };
    let created = {
        let (rules, creating, notice) = (rules.clone(), creating.clone(), notice.clone());
        Callback::from(move |r: RuleResponse| {
            notice.set(Some(format!("Rule {} created.", r.name)));
            rules.upsert(r);
            creating.set(false);
        })
    };
    let cancel = {
        let creating = creating.clone();
        Callback::from(move |_| creating.set(false))
    };
    let all_scripts = scripts.state.items().to_vec();
    let empty = html! { <p>{ "No rules. A rule runs a chain of actions when an event happens to the application." }</p> };
    html! {
        <>
            <div class="page-head">
                <h2>{ "Event rules" }</h2>
                <button type="button" class="button primary" onclick={toggle} ref={new_button}
                    aria-expanded={(*creating).to_string()} aria-controls="rule-new-form">
                    { if *creating { "Close" } else { "New rule" } }
                </button>
            </div>
            if let Some(n) = &*notice { <Banner tone={Tone::Success}>{ n.clone() }</Banner> }
            if *creating {
                <RuleForm app={p.app.clone()} client={p.client.clone()} scripts={all_scripts.clone()}
                    rule={None::<RuleResponse>} onsaved={created} oncancel={cancel} />
            }
            { rules.frame("rules", empty, |items| html! {
                <ul class="plain rules">
                    { for items.iter().map(|r| html! {
                        <li key={r.id.to_string()}>
                            <RuleCard rule={r.clone()} app={p.app.clone()} client={p.client.clone()}
                                scripts={all_scripts.clone()} rules={rules.clone()} />
                        </li>
                    }) }
                </ul>
            }) }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct RuleCardProps {
    rule: RuleResponse,
    app: ApplicationResponse,
    client: ApiClient,
    scripts: Vec<ScriptResponse>,
    rules: ListHandle<RuleResponse>,
}

#[function_component(RuleCard)]
fn rule_card(p: &RuleCardProps) -> Html {
    let editing = use_state(|| false);
    let edit_button = use_focus_back(*editing);
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let r = &p.rule;
    let patch = {
        let (busy, error, client, rules, id) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.rules.clone(),
            r.id,
        );
        move |req: UpdateRuleRequest| {
            busy.set(true);
            error.set(None);
            let (busy, error, client, rules) =
                (busy.clone(), error.clone(), client.clone(), rules.clone());
            spawn_local(async move {
                match client.update_rule(id, &req).await {
                    Ok(r) => rules.upsert(r),
                    Err(e) => error.set(Some(e.message())),
                }
                busy.set(false);
            });
        }
    };
    let toggle_enabled = {
        let (patch, enabled) = (patch.clone(), r.enabled);
        Callback::from(move |_: MouseEvent| {
            patch(UpdateRuleRequest {
                enabled: Some(!enabled),
                ..UpdateRuleRequest::default()
            })
        })
    };
    let delete = {
        let (busy, error, client, rules, id) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.rules.clone(),
            r.id,
        );
        Callback::from(move |()| {
            busy.set(true);
            let (busy, error, client, rules) =
                (busy.clone(), error.clone(), client.clone(), rules.clone());
            spawn_local(async move {
                match client.delete_rule(id).await {
                    Ok(()) => rules.remove(id),
                    Err(e) => {
                        error.set(Some(e.message()));
                        busy.set(false);
                    }
                }
            });
        })
    };
    let saved = {
        let (rules, editing) = (p.rules.clone(), editing.clone());
        Callback::from(move |r: RuleResponse| {
            rules.upsert(r);
            editing.set(false);
        })
    };
    let edit = {
        let editing = editing.clone();
        Callback::from(move |_: MouseEvent| editing.set(true))
    };
    let cancel = {
        let editing = editing.clone();
        Callback::from(move |_| editing.set(false))
    };
    if *editing {
        return html! {
            <RuleForm app={p.app.clone()} client={p.client.clone()} scripts={p.scripts.clone()}
                rule={Some(r.clone())} onsaved={saved} oncancel={cancel} />
        };
    }
    html! {
        <article class="card rule" data-rule={r.name.clone()} aria-labelledby={format!("rule-{}", r.id)}>
            <h3 id={format!("rule-{}", r.id)}>
                { r.name.clone() }
                if r.origin == RuleOrigin::Default { <span class="badge">{ "default wiring" }</span> }
                <span class={classes!("badge", if r.enabled { "status-active" } else { "status-pending" })}>
                    { if r.enabled { "enabled" } else { "disabled" } }
                </span>
            </h3>
            <dl class="details">
                <dt>{ "When" }</dt>
                <dd><code>{ r.event_type.clone() }</code>{ format!(" on {}", filter_text(&r.filter)) }</dd>
                if let Some(c) = &r.condition { <dt>{ "Condition" }</dt><dd>{ condition_text(c) }</dd> }
                if let Some(s) = &r.schedule { <dt>{ "Schedule" }</dt><dd><code>{ s.clone() }</code>{ " (UTC)" }</dd> }
                if r.cooldown_secs > 0 { <dt>{ "Cooldown" }</dt><dd>{ format!("{} s", r.cooldown_secs) }</dd> }
                <dt>{ "Then" }</dt>
                <dd><ol class="steps">{ for r.steps.iter().map(|s| html! { <li>{ step_text(s, &p.scripts) }</li> }) }</ol></dd>
                <dt>{ "Last fired" }</dt>
                <dd>{ r.last_fired_at.map_or_else(|| "never".to_owned(), views::short_time) }</dd>
            </dl>
            <div class="actions">
                <button type="button" class="button secondary" onclick={edit} ref={edit_button}
                    aria-label={format!("Edit {}", r.name)}>{ "Edit" }</button>
                <button type="button" class="button secondary" onclick={toggle_enabled} disabled={*busy}
                    aria-label={format!("{} {}", if r.enabled { "Disable" } else { "Enable" }, r.name)}>
                    { if r.enabled { "Disable" } else { "Enable" } }
                </button>
                <ConfirmButton label="Delete" question={format!("Delete rule {}?", r.name)} danger=true
                    busy={*busy} onconfirm={delete} />
            </div>
            if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
        </article>
    }
}

#[derive(Properties, PartialEq)]
struct RuleFormProps {
    app: ApplicationResponse,
    client: ApiClient,
    scripts: Vec<ScriptResponse>,
    /// None: a new rule.
    rule: Option<RuleResponse>,
    onsaved: Callback<RuleResponse>,
    oncancel: Callback<()>,
}

fn choices(any: &str, names: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    let mut out = vec![(String::new(), any.to_owned())];
    out.extend(names.into_iter().map(|n| (n.clone(), n)));
    out
}

fn role_choices(any: &str) -> Vec<(String, String)> {
    choices(
        any,
        ApplianceRole::ALL.iter().map(|r| r.as_str().to_owned()),
    )
}

/// The form of a new rule or of a rule's change.
#[function_component(RuleForm)]
fn rule_form(p: &RuleFormProps) -> Html {
    let draft = use_state(|| p.rule.as_ref().map(RuleDraft::of).unwrap_or_default());
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let first = use_node_ref();
    {
        // The opened form takes the focus.
        let first = first.clone();
        use_effect_with((), move |_| {
            if let Some(el) = first.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let layers: Vec<String> = p.app.layers.iter().map(|l| l.name.clone()).collect();
    let groups: Vec<String> = p
        .app
        .layers
        .iter()
        .flat_map(|l| l.groups.iter().map(|g| g.name.clone()))
        .collect();
    let edit =
        |field: &'static str, f: fn(&mut RuleDraft, String)| draft::edit(&draft, &errors, field, f);
    // a step's errors go when it is edited; every step's when steps move (they name positions)
    let set_step = {
        let (change, errors) = (
            draft::change(&draft, |d: &mut RuleDraft, (i, s): (usize, StepDraft)| {
                if let Some(slot) = d.steps.get_mut(i) {
                    *slot = s;
                }
            }),
            errors.clone(),
        );
        Callback::from(move |(i, s): (usize, StepDraft)| {
            let mut e = (*errors).clone();
            e.clear_prefix(&format!("steps[{i}]."));
            errors.set(e);
            change.emit((i, s));
        })
    };
    let step_op = {
        let (change, errors) = (
            draft::change(
                &draft,
                |d: &mut RuleDraft, (i, op): (usize, StepOp)| match op {
                    StepOp::Remove if i < d.steps.len() => {
                        d.steps.remove(i);
                    }
                    StepOp::Up if i > 0 && i < d.steps.len() => d.steps.swap(i - 1, i),
                    StepOp::Down if i + 1 < d.steps.len() => d.steps.swap(i, i + 1),
                    _ => {}
                },
            ),
            errors.clone(),
        );
        Callback::from(move |op: (usize, StepOp)| {
            let mut e = (*errors).clone();
            e.clear_prefix("steps[");
            errors.set(e);
            change.emit(op);
        })
    };
    let add_step = draft::change(&draft, |d: &mut RuleDraft, _: MouseEvent| {
        d.steps.push(StepDraft::default())
    });
    let set_enabled = draft::change(&draft, |d: &mut RuleDraft, on: bool| d.enabled = on);
    let onsubmit = {
        let (draft, errors, busy, client, saved, scripts, rule, app) = (
            draft.clone(),
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.onsaved.clone(),
            p.scripts.clone(),
            p.rule.clone(),
            p.app.id,
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let inputs = rules::inputs(&draft);
            let field_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let call: futures::future::LocalBoxFuture<'static, Result<RuleResponse, ApiError>> =
                match &rule {
                    Some(r) => match draft.update(&scripts) {
                        Ok(req) => {
                            let (client, id) = (client.clone(), r.id);
                            async move { client.update_rule(id, &req).await }.boxed_local()
                        }
                        Err(found) => {
                            errors.set(
                                FormErrors::check(found, &field_refs)
                                    .err()
                                    .unwrap_or_default(),
                            );
                            return;
                        }
                    },
                    None => match draft.create(&scripts) {
                        Ok(req) => {
                            let client = client.clone();
                            async move { client.create_rule(app, &req).await }.boxed_local()
                        }
                        Err(found) => {
                            errors.set(
                                FormErrors::check(found, &field_refs)
                                    .err()
                                    .unwrap_or_default(),
                            );
                            return;
                        }
                    },
                };
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, saved) = (errors.clone(), busy.clone(), saved.clone());
            spawn_local(async move {
                match call.await {
                    Ok(r) => saved.emit(r),
                    Err(e) => {
                        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                        errors.set(FormErrors::from_api(&e, &refs));
                    }
                }
                busy.set(false);
            });
        })
    };
    let cancel = {
        let cb = p.oncancel.clone();
        Callback::from(move |_: MouseEvent| cb.emit(()))
    };
    let d = &*draft;
    let editing = p.rule.is_some();
    // ids of its own: a new rule's form and a rule's edit can be open at once
    let prefix = p
        .rule
        .as_ref()
        .map_or_else(|| "rule-new".to_owned(), |r| format!("rule-{}", r.id));
    let at = |f: &str| format!("{prefix}-{f}");
    let event = d.event();
    let title = if editing {
        "Change the rule"
    } else {
        "New rule"
    };
    html! {
        <form id={at("form")} class="card form-grid rule-form" {onsubmit} novalidate=true aria-labelledby={at("form-title")}>
            <h2 id={at("form-title")} tabindex="-1" ref={first}>{ title }</h2>
            if let Some(g) = &errors.general { <Banner tone={Tone::Error}>{ g.clone() }</Banner> }
            <Field id={at("name")} label="Name" value={d.name.clone()} oninput={edit("name", |d, v| d.name = v)}
                error={errors.field("name")} />
            <Select id={at("event")} label="Event" value={d.event_type.clone()} options={event_choices()}
                onchange={edit("event_type", |d, v| d.event_type = v)} error={errors.field("event_type")}
                disabled={editing} hint={editing.then_some(AttrValue::Static("A rule's event stays; make a new rule for another."))} />
            if d.event_type == "custom" {
                <Field id={at("custom")} label="Custom event name" value={d.custom_name.clone()}
                    oninput={edit("event_type", |d, v| d.custom_name = v)} disabled={editing} />
            }
            <fieldset>
                <legend>{ "Which appliances' events" }</legend>
                <Select id={at("layer")} label="Layer" value={d.layer.clone()} options={choices("Any layer", layers.clone())}
                    onchange={edit("filter.layer", |d, v| d.layer = v)} error={errors.field("filter.layer")} />
                <Select id={at("group")} label="Group" value={d.group.clone()} options={choices("Any group", groups.clone())}
                    onchange={edit("filter.group", |d, v| d.group = v)} error={errors.field("filter.group")} />
                <Select id={at("role")} label="Role" value={d.role.clone()} options={role_choices("Any role")}
                    onchange={edit("filter.role", |d, v| d.role = v)} error={errors.field("filter.role")} />
            </fieldset>
            if event == "schedule.fired" {
                <Field id={at("schedule")} label="Schedule" value={d.schedule.clone()}
                    oninput={edit("schedule", |d, v| d.schedule = v)} error={errors.field("schedule")}
                    hint="Cron with seconds first, in UTC, at most once a minute: 0 */5 * * * * is every five minutes." />
            }
            if event == "metric.threshold" {
                <fieldset>
                    <legend>{ "Condition" }</legend>
                    <Field id={at("metric")} label="Metric" value={d.metric.clone()}
                        oninput={edit("condition.metric", |d, v| d.metric = v)} error={errors.field("condition.metric")}
                        hint="cpu_pct, load1, mem_used_pct or a custom metric the agent reports." />
                    <Select id={at("aggregate")} label="Aggregate" value={d.aggregate.clone()}
                        options={["avg", "max", "min", "p95"].map(|a| (a.to_owned(), a.to_owned())).to_vec()}
                        onchange={edit("condition.aggregate", |d, v| d.aggregate = v)} />
                    <Field id={at("window")} label="Window (seconds)" kind="number" value={d.window.clone()}
                        oninput={edit("condition.window_secs", |d, v| d.window = v)} error={errors.field("condition.window_secs")} />
                    <Select id={at("comparator")} label="Comparator" value={d.comparator.clone()}
                        options={[("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")].map(|(v, l)| (v.to_owned(), l.to_owned())).to_vec()}
                        onchange={edit("condition.comparator", |d, v| d.comparator = v)} />
                    <Field id={at("threshold")} label="Threshold" value={d.threshold.clone()}
                        oninput={edit("condition.threshold", |d, v| d.threshold = v)} error={errors.field("condition.threshold")} />
                    <Field id={at("for")} label="Holding for (seconds)" kind="number" value={d.for_secs.clone()}
                        oninput={edit("condition.for_secs", |d, v| d.for_secs = v)} error={errors.field("condition.for_secs")} />
                </fieldset>
            }
            <Field id={at("cooldown")} label="Cooldown (seconds)" kind="number" value={d.cooldown.clone()}
                oninput={edit("cooldown_secs", |d, v| d.cooldown = v)} error={errors.field("cooldown_secs")}
                hint="After firing, the rule ignores its events for this long." />
            <fieldset class="chain">
                <legend>{ "Chain of actions" }</legend>
                if let Some(e) = errors.field("steps") { <p class="field-error">{ e }</p> }
                <ol class="plain">
                    { for d.steps.iter().enumerate().map(|(i, s)| html! {
                        <li key={i}>
                            <StepEditor prefix={prefix.clone()} index={i} count={d.steps.len()} step={s.clone()} scripts={p.scripts.clone()}
                                layers={layers.clone()} groups={groups.clone()} errors={(*errors).clone()}
                                onchange={set_step.clone()} onop={step_op.clone()} />
                        </li>
                    }) }
                </ol>
                if d.steps.len() < common::api::CHAIN_STEPS_MAX {
                    <button type="button" class="button secondary" onclick={add_step}>{ "Add step" }</button>
                }
            </fieldset>
            <Check id={at("enabled")} label="Enabled" checked={d.enabled}
                onchange={set_enabled} />
            <div class="form-actions">
                <button type="submit" class="button primary" disabled={*busy}>
                    { match (*busy, editing) { (true, _) => "Saving…", (false, true) => "Save rule", (false, false) => "Create rule" } }
                </button>
                <button type="button" class="button secondary" onclick={cancel}>{ "Cancel" }</button>
            </div>
        </form>
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepOp {
    Up,
    Down,
    Remove,
}

#[derive(Properties, PartialEq)]
struct StepEditorProps {
    /// Its form's id prefix.
    prefix: String,
    index: usize,
    count: usize,
    step: StepDraft,
    scripts: Vec<ScriptResponse>,
    layers: Vec<String>,
    groups: Vec<String>,
    errors: FormErrors,
    onchange: Callback<(usize, StepDraft)>,
    onop: Callback<(usize, StepOp)>,
}

#[function_component(StepEditor)]
fn step_editor(p: &StepEditorProps) -> Html {
    let i = p.index;
    let s = &p.step;
    let at = |f: &str| format!("steps[{i}].{f}");
    let err = |f: &str| p.errors.field(&at(f));
    let edit = |f: fn(&mut StepDraft, String)| draft::item(&p.onchange, i, &p.step, f);
    let op = |o: StepOp| {
        let cb = p.onop.clone();
        Callback::from(move |_: MouseEvent| cb.emit((i, o)))
    };
    let id = |f: &str| format!("{}-step-{i}-{f}", p.prefix);
    let script = p.scripts.iter().find(|x| x.id.to_string() == s.script_id);
    // the input of one variable's value
    let set_value = |name: String| {
        let (cb, step) = (p.onchange.clone(), p.step.clone());
        Callback::from(move |v: String| {
            let mut s = step.clone();
            s.variables.insert(name.clone(), v);
            cb.emit((i, s));
        })
    };
    let action = match s.kind.as_str() {
        "scale" => html! {
            <>
                <Select id={id("group")} label="Group" value={s.scale_group.clone()}
                    options={choices("Choose a group…", p.groups.clone())}
                    onchange={edit(|s, v| s.scale_group = v)} error={err("action.group")} />
                <Select id={id("mode")} label="Change" value={s.scale_mode.clone()}
                    options={vec![("by".into(), "by (±n)".into()), ("to".into(), "to (n)".into())]}
                    onchange={edit(|s, v| s.scale_mode = v)} />
                <Field id={id("amount")} label="Amount" value={s.scale_amount.clone()}
                    oninput={edit(|s, v| s.scale_amount = v)}
                    error={err(if s.scale_mode == "to" { "action.to" } else { "action.by" })}
                    hint="Kept within the group's min and max and the tenant's quota." />
            </>
        },
        "webhook" => html! {
            <>
                <Field id={id("url")} label="URL" value={s.url.clone()} oninput={edit(|s, v| s.url = v)}
                    error={err("action.url")} kind="url" />
                <Field id={id("secret")} label="Signing secret (optional)" value={s.secret.clone()} required=false
                    kind="password" autocomplete="new-password"
                    oninput={edit(|s, v| s.secret = v)} error={err("action.secret")}
                    hint="Signs the body: X-ScaleInfra-Signature: sha256=<HMAC>. Shown as ********; leave it to keep it." />
            </>
        },
        "email" => html! {
            <>
                <p class="muted">{ "Email is delivered once the installation has a mailer; until then this step is skipped." }</p>
                <Field id={id("to")} label="To" value={s.email_to.clone()} oninput={edit(|s, v| s.email_to = v)}
                    error={err("action.to")} />
                <Field id={id("subject")} label="Subject" value={s.subject.clone()} oninput={edit(|s, v| s.subject = v)}
                    error={err("action.subject")} />
                <TextArea id={id("body")} label="Body" value={s.body.clone()} oninput={edit(|s, v| s.body = v)} />
            </>
        },
        _ => {
            let mut script_options = vec![(String::new(), "Choose a script…".to_owned())];
            script_options.extend(p.scripts.iter().map(|x| {
                let owner = if x.tenant_id.is_none() {
                    "library"
                } else {
                    "yours"
                };
                (
                    x.id.to_string(),
                    format!("{} ({owner}, v{})", x.name, x.latest_version),
                )
            }));
            let targets = TARGETS.map(|(v, l)| (v.to_owned(), l.to_owned())).to_vec();
            let target_arg = match s.target.as_str() {
                "layer" => Some(("Layer", choices("Choose a layer…", p.layers.clone()))),
                "group" => Some(("Group", choices("Choose a group…", p.groups.clone()))),
                "role" => Some(("Role", role_choices("Choose a role…"))),
                _ => None,
            };
            html! {
                <>
                    <Select id={id("script")} label="Script" value={s.script_id.clone()} options={script_options}
                        onchange={edit(|s, v| { s.script_id = v; s.variables.clear(); })} error={err("action.script_id")} />
                    <Field id={id("version")} label="Version (blank: the latest)" value={s.version.clone()} required=false
                        kind="number" oninput={edit(|s, v| s.version = v)} error={err("action.version")} />
                    <Select id={id("target")} label="Run on" value={s.target.clone()} options={targets}
                        onchange={edit(|s, v| { s.target = v; s.target_arg.clear(); })} error={err("action.target")} />
                    if let Some((label, options)) = target_arg {
                        <Select id={id("target-arg")} {label} value={s.target_arg.clone()} {options}
                            onchange={edit(|s, v| s.target_arg = v)} />
                    }
                    if let Some(x) = script {
                        if !x.latest.variables.is_empty() {
                            <fieldset class="values">
                                <legend>{ "Values" }</legend>
                                <p class="hint">{ "Blank: the default. A value may be an expression, such as {{ event.appliance.layer }}." }</p>
                                if s.version.trim().parse::<u32>().is_ok_and(|v| v != x.latest_version) {
                                    <p class="hint">{ format!("The step runs version {}: these are the latest version's variables, \
                                        and the values are checked against version {} when the rule is saved.", s.version.trim(), s.version.trim()) }</p>
                                }
                                { for x.latest.variables.iter().map(|decl| {
                                    let name = decl.name.clone();
                                    let set = set_value(name.clone());
                                    let hint = value_hint(decl);
                                    html! {
                                        <Field key={name.clone()} id={id(&format!("var-{name}"))} label={name.clone()}
                                            value={s.variables.get(&name).cloned().unwrap_or_default()} oninput={set}
                                            required={decl.required} hint={hint}
                                            kind={if decl.secret { "password" } else { "text" }}
                                            autocomplete={decl.secret.then_some(AttrValue::Static("new-password"))}
                                            error={err(&format!("action.variables.{name}"))} />
                                    }
                                }) }
                                // values the rule holds for names the latest version no longer declares
                                { for s.variables.keys().filter(|k| !x.latest.variables.iter().any(|d| &d.name == *k)).map(|name| {
                                    let set = set_value(name.clone());
                                    html! {
                                        <Field key={name.clone()} id={id(&format!("var-{name}"))} label={name.clone()}
                                            value={s.variables.get(name).cloned().unwrap_or_default()} oninput={set}
                                            required=false hint="The latest version declares no such variable: empty it to drop the value."
                                            error={err(&format!("action.variables.{name}"))} />
                                    }
                                }) }
                            </fieldset>
                        }
                    }
                </>
            }
        }
    };
    let kinds = ACTIONS.map(|(v, l)| (v.to_owned(), l.to_owned())).to_vec();
    let on_continue = draft::item(&p.onchange, i, &p.step, |s, on| s.continue_on_failure = on);
    html! {
        <div class="card step" data-step={i.to_string()}>
            <h3>{ format!("Step {}", i + 1) }</h3>
            if let Some(e) = err("action") { <p class="field-error">{ e }</p> }
            <Select id={id("kind")} label="Action" value={s.kind.clone()} options={kinds}
                onchange={edit(|s, v| s.kind = v)} />
            { action }
            <div class="inline-fields">
                <Field id={id("timeout")} label="Timeout (seconds)" kind="number" value={s.timeout.clone()}
                    oninput={edit(|s, v| s.timeout = v)} error={err("timeout_secs")} />
                <Field id={id("retries")} label="Retries" kind="number" value={s.retries.clone()}
                    oninput={edit(|s, v| s.retries = v)} error={err("retries")} />
            </div>
            <Check id={id("continue")} label="Go on with the chain if this step fails" checked={s.continue_on_failure}
                onchange={on_continue} />
            <div class="actions">
                <button type="button" class="button secondary" onclick={op(StepOp::Up)} disabled={i == 0}
                    aria-label={format!("Move step {} up", i + 1)}>{ "↑" }</button>
                <button type="button" class="button secondary" onclick={op(StepOp::Down)} disabled={i + 1 == p.count}
                    aria-label={format!("Move step {} down", i + 1)}>{ "↓" }</button>
                <button type="button" class="button secondary" onclick={op(StepOp::Remove)}
                    aria-label={format!("Remove step {}", i + 1)}>{ "Remove" }</button>
            </div>
        </div>
    }
}

#[function_component(RunsTab)]
fn runs_tab(p: &TabProps) -> Html {
    let id = p.app.id;
    let rules = use_list(id, rules_list(&p.client, id));
    let runs = {
        let client = p.client.clone();
        use_list(id, move |cursor| {
            let client = client.clone();
            async move { client.list_runs(id, cursor.as_deref()).await }.boxed_local()
        })
    };
    {
        // New runs come with events; the list follows them.
        // (rule names change seldom: read every 15th time)
        let (runs, rules, ticks) = (runs.clone(), rules.clone(), Rc::new(Cell::new(0u32)));
        use_ticker(
            id,
            FOLLOW,
            Callback::from(move |_| {
                runs.refresh();
                ticks.set(ticks.get().wrapping_add(1));
                if ticks.get() % 15 == 0 {
                    rules.refresh();
                }
            }),
        );
    }
    let all_rules = rules.state.items().to_vec();
    let open = runs.state.items().iter().filter(|r| is_open(r)).count();
    let empty = html! { <p>{ "No runs yet. A rule runs when its event happens." }</p> };
    html! {
        <>
            <h2>{ "Runs" }</h2>
            <p class="muted" aria-live="polite">{ match open {
                0 => "Nothing under way.".to_owned(),
                1 => "1 run under way.".to_owned(),
                n => format!("{n} runs under way."),
            } }</p>
            { runs.frame("runs", empty, |items| html! {
                <ul class="plain runs">
                    { for items.iter().map(|r| {
                        let rule = all_rules.iter().find(|x| x.id == r.rule_id).map(|x| x.name.clone());
                        html! { <li key={r.id.to_string()}><RunView run={r.clone()} {rule} client={p.client.clone()} /></li> }
                    }) }
                </ul>
            }) }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct RunViewProps {
    run: RunResponse,
    rule: Option<String>,
    client: ApiClient,
}

#[function_component(RunView)]
fn run_view(p: &RunViewProps) -> Html {
    let r = &p.run;
    let (word, class) = run_badge(r.status);
    let name = p
        .rule
        .clone()
        .unwrap_or_else(|| "a deleted rule".to_owned());
    let took = duration(r.created_at, r.finished_at, Utc::now());
    // Jobs are read once the run is opened.
    let open = use_state(|| false);
    let ontoggle = {
        let open = open.clone();
        Callback::from(move |e: Event| {
            open.set(
                e.target_unchecked_into::<web_sys::HtmlDetailsElement>()
                    .open(),
            )
        })
    };
    html! {
        <details class="card run" data-run={r.id.to_string()} data-rule={name.clone()} data-status={word} {ontoggle}>
            <summary>
                <strong>{ name.clone() }</strong>
                <span class={classes!("badge", class)}>{ word }</span>
                <span class="muted">{ format!(" {} · {} · {}", r.event_type, views::short_time(r.created_at), took) }</span>
            </summary>
            <ol class="plain run-steps">
                { for r.steps.iter().enumerate().map(|(i, s)| {
                    let (sw, sc) = step_badge(s.status);
                    html! {
                        <li key={i} class="run-step" data-status={sw}>
                            <p>
                                <strong>{ format!("Step {}", i + 1) }</strong>
                                <span class={classes!("badge", sc)}>{ sw }</span>
                                if s.attempts > 1 { <span class="muted">{ format!(" {} attempts", s.attempts) }</span> }
                                if let Some(start) = s.started_at {
                                    <span class="muted">{ format!(" {}", duration(start, s.finished_at, Utc::now())) }</span>
                                }
                            </p>
                            if !s.output.is_empty() { <pre class="output">{ s.output.clone() }</pre> }
                            if *open && !s.jobs.is_empty() {
                                <Jobs ids={s.jobs.clone()} step={format!("{sw}-{}", s.attempts)} client={p.client.clone()} />
                            }
                        </li>
                    }
                }) }
            </ol>
        </details>
    }
}

#[derive(Properties, PartialEq)]
struct JobsProps {
    ids: Vec<common::JobId>,
    /// The step's status and attempt: its jobs are read again when it changes.
    step: String,
    client: ApiClient,
}

/// A step's jobs, loaded when the run is opened (and again as the step's jobs change).
#[function_component(Jobs)]
fn jobs(p: &JobsProps) -> Html {
    let jobs = use_state(|| None::<Result<Vec<JobResponse>, ApiError>>);
    let (revision, reload) = use_reload();
    // read again while one of them has not ended
    let unfinished = use_memo((), |_| Rc::new(Cell::new(false)));
    {
        let (unfinished, reload) = ((*unfinished).clone(), reload.clone());
        use_ticker(
            p.ids.clone(),
            FOLLOW,
            Callback::from(move |_| {
                if unfinished.get() {
                    reload.emit(());
                }
            }),
        );
    }
    {
        let (jobs, client, unfinished) = (jobs.clone(), p.client.clone(), (*unfinished).clone());
        use_effect_with(
            (p.ids.clone(), p.step.clone(), revision),
            move |(ids, _, _)| {
                let ids = ids.clone();
                spawn_local(async move {
                    let mut out = Vec::new();
                    for id in ids {
                        match client.get_job(id).await {
                            Ok(j) => out.push(j),
                            Err(e) => {
                                jobs.set(Some(Err(e)));
                                return;
                            }
                        }
                    }
                    unfinished.set(out.iter().any(|j| !j.status.finished()));
                    jobs.set(Some(Ok(out)));
                });
            },
        );
    }
    match &*jobs {
        None => html! { <Loading what="the jobs" /> },
        Some(Err(e)) => html! { <p class="field-error">{ e.message() }</p> },
        Some(Ok(list)) => html! {
            <ul class="plain jobs">
                { for list.iter().map(|j| html! { <li key={j.id.to_string()}><JobView job={j.clone()} /></li> }) }
            </ul>
        },
    }
}
