//! Operators: the compute pools and their hosts — capacity in use, state, maintenance on and off,
//! adding and removing hosts — and, where the simulated pool runs, its controls: kill and revive a
//! host, fail boots and scripts, slow everything down. Hosts are read again every 2 s (their states
//! move as the host monitor sees them).

use crate::api::ApiClient;
use crate::components::confirm::ConfirmButton;
use crate::components::field::{Check, Field};
use crate::components::status::{Banner, Tone};
use crate::hooks::{draft, use_client, use_list, use_ticker};
use crate::state::form::FormErrors;
use crate::state::views;
use common::api::{
    Capacity, CreateHostRequest, HostResponse, PoolResponse, SimFaults, UpdateHostRequest,
};
use common::{HostId, HostState};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::time::Duration;
use validator::Validate;
use yew::platform::spawn_local;
use yew::prelude::*;

const FOLLOW: Duration = Duration::from_secs(2);
const HOST_INPUTS: [&str; 5] = [
    "name",
    "uri",
    "capacity.vcpus",
    "capacity.memory_mib",
    "capacity.disk_gib",
];

#[function_component(PoolsPage)]
pub fn pools_page() -> Html {
    let client = use_client();
    let pools = {
        let client = client.clone();
        use_list((), move |cursor| {
            let client = client.clone();
            async move { client.list_pools(cursor.as_deref()).await }.boxed_local()
        })
    };
    let empty = html! { <p>{ "No pools yet." }</p> };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head"><h1 id="page-title">{ "Pools and hosts" }</h1></div>
            <SimPanel client={client.clone()} />
            { pools.frame("pools", empty, |items| html! {
                <>{ for items.iter().map(|p| html! {
                    <PoolCard key={p.id.to_string()} pool={p.clone()} client={client.clone()} />
                }) }</>
            }) }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct PoolProps {
    pool: PoolResponse,
    client: ApiClient,
}

#[function_component(PoolCard)]
fn pool_card(p: &PoolProps) -> Html {
    let id = p.pool.id;
    let hosts = {
        let client = p.client.clone();
        use_list(id, move |cursor| {
            let client = client.clone();
            async move { client.list_hosts(id, cursor.as_deref()).await }.boxed_local()
        })
    };
    {
        let hosts = hosts.clone();
        use_ticker(id, FOLLOW, Callback::from(move |_| hosts.refresh()));
    }
    let adding = use_state(|| false);
    let toggle = {
        let adding = adding.clone();
        Callback::from(move |_: MouseEvent| adding.set(!*adding))
    };
    let added = {
        let (hosts, adding) = (hosts.clone(), adding.clone());
        Callback::from(move |h: HostResponse| {
            hosts.upsert(h);
            adding.set(false);
        })
    };
    let changed = {
        let hosts = hosts.clone();
        Callback::from(move |c: HostChange| match c {
            HostChange::Now(h) => hosts.upsert(h),
            HostChange::Gone(id) => hosts.remove(id),
            HostChange::Later => hosts.refresh(),
        })
    };
    let pool = &p.pool;
    let title_id = format!("pool-{id}");
    let empty = html! { <p>{ "No hosts in this pool." }</p> };
    html! {
        <article class="card pool" data-pool={pool.name.clone()} aria-labelledby={title_id.clone()}>
            <div class="section-head">
                <h2 id={title_id}>{ pool.name.clone() }</h2>
                <span class="muted small">{ format!("placement: {}", serde_json::to_value(pool.strategy).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()) }</span>
                if pool.network.is_some() {
                    <span class="muted small">{ format!(" · addresses {} of {}", pool.addresses_in_use, pool.addresses_total) }</span>
                }
                <button type="button" class="button secondary" onclick={toggle}
                    aria-expanded={(*adding).to_string()}>{ if *adding { "Close" } else { "Add host" } }</button>
            </div>
            if *adding {
                <NewHost pool={id} client={p.client.clone()} onadded={added} />
            }
            { hosts.frame("hosts", empty, |items| html! {
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">{ format!("Hosts of {}", pool.name) }</caption>
                        <thead><tr>
                            <th scope="col">{ "Host" }</th><th scope="col">{ "State" }</th>
                            <th scope="col">{ "vCPUs" }</th><th scope="col">{ "Memory" }</th>
                            <th scope="col">{ "Appliances" }</th><th scope="col">{ "Last seen" }</th>
                            <th scope="col"><span class="sr-only">{ "Actions" }</span></th>
                        </tr></thead>
                        <tbody>
                            { for items.iter().map(|h| html! {
                                <HostRow key={h.id.to_string()} host={h.clone()} client={p.client.clone()}
                                    onchanged={changed.clone()} />
                            }) }
                        </tbody>
                    </table>
                </div>
            }) }
        </article>
    }
}

/// The word and badge class of a host state.
fn host_badge(s: HostState) -> (&'static str, &'static str) {
    match s {
        HostState::Up => ("up", "status-active"),
        HostState::Suspect => ("suspect", "status-pending"),
        HostState::Maintenance => ("maintenance", "status-pending"),
        HostState::Down => ("down", "status-suspended"),
        HostState::Fenced => ("fenced", "status-suspended"),
    }
}

fn bar(label: String, used: u32, total: u32, unit: &str) -> Html {
    html! {
        <div class="capacity">
            <meter min="0" max={total.to_string()} value={used.to_string()}
                high={(u64::from(total) * 9 / 10).to_string()} aria-label={label}></meter>
            <span class="small">{ format!("{used} / {total}{unit}") }</span>
        </div>
    }
}

/// What a host action left for the list to show.
enum HostChange {
    /// The host as it is now.
    Now(HostResponse),
    Gone(HostId),
    /// Its new state shows once the monitor sees it (a kill, a revive).
    Later,
}

#[derive(Clone, Copy, PartialEq)]
enum HostAction {
    Maintenance,
    Return,
    Kill,
    Revive,
    Remove,
}

#[derive(Properties, PartialEq)]
struct HostProps {
    host: HostResponse,
    client: ApiClient,
    onchanged: Callback<HostChange>,
}

#[function_component(HostRow)]
fn host_row(p: &HostProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    let h = &p.host;
    let sim = h.uri.starts_with("sim://");
    let act = |a: HostAction| {
        let (busy, error, client, changed, id) = (
            busy.clone(),
            error.clone(),
            p.client.clone(),
            p.onchanged.clone(),
            h.id,
        );
        Callback::from(move |()| {
            busy.set(true);
            error.set(None);
            let (busy, error, client, changed) =
                (busy.clone(), error.clone(), client.clone(), changed.clone());
            spawn_local(async move {
                match run(&client, id, a).await {
                    Ok(h) => changed.emit(h),
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        })
    };
    let click = |a: HostAction| act(a).reform(|_: MouseEvent| ());
    let (word, class) = host_badge(h.state);
    let live = !matches!(h.state, HostState::Down | HostState::Fenced);
    html! {
        <tr data-host={h.name.clone()} data-state={word}>
            <th scope="row">{ h.name.clone() }<br /><code class="small">{ h.uri.clone() }</code></th>
            <td><span class={classes!("badge", class)}>{ word }</span></td>
            <td>{ bar(format!("vCPUs in use on {}", h.name), h.used.vcpus, h.capacity.vcpus, "") }</td>
            <td>{ bar(format!("Memory in use on {}", h.name), h.used.memory_mib, h.capacity.memory_mib, " MiB") }</td>
            <td>{ h.appliances }</td>
            <td>{ h.last_seen_at.map(views::short_time).unwrap_or_default() }</td>
            <td class="actions">
                if h.state == HostState::Up {
                    <button type="button" class="button secondary" disabled={*busy} onclick={click(HostAction::Maintenance)}
                        aria-label={format!("Put {} in maintenance", h.name)}>{ "Maintenance" }</button>
                }
                // the monitor never moves a host out of maintenance or fencing: the operator does
                if matches!(h.state, HostState::Maintenance | HostState::Fenced) {
                    <button type="button" class="button secondary" disabled={*busy} onclick={click(HostAction::Return)}
                        aria-label={format!("Return {} to service", h.name)}>{ "Return to service" }</button>
                }
                if sim && live {
                    <ConfirmButton label="Kill" danger=true busy={*busy} onconfirm={act(HostAction::Kill)}
                        question={format!("Kill {}? It stops answering and its {} appliances die with it.", h.name, h.appliances)} />
                }
                if sim && !live {
                    <button type="button" class="button secondary" disabled={*busy} onclick={click(HostAction::Revive)}
                        aria-label={format!("Revive {}", h.name)}>{ "Revive" }</button>
                }
                if h.appliances == 0 {
                    <ConfirmButton label="Remove" danger=true busy={*busy} onconfirm={act(HostAction::Remove)}
                        question={format!("Remove {} from the pool?", h.name)} />
                }
                if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
            </td>
        </tr>
    }
}

async fn run(client: &ApiClient, id: HostId, a: HostAction) -> Result<HostChange, String> {
    let state = |s| UpdateHostRequest {
        state: Some(s),
        ..UpdateHostRequest::default()
    };
    let r = match a {
        HostAction::Maintenance => client
            .update_host(id, &state(HostState::Maintenance))
            .await
            .map(HostChange::Now),
        HostAction::Return => client
            .update_host(id, &state(HostState::Up))
            .await
            .map(HostChange::Now),
        HostAction::Kill => client.sim_kill_host(id).await.map(|()| HostChange::Later),
        HostAction::Revive => client.sim_revive_host(id).await.map(|()| HostChange::Later),
        HostAction::Remove => client.delete_host(id).await.map(|()| HostChange::Gone(id)),
    };
    r.map_err(|e| e.message())
}

#[derive(Properties, PartialEq)]
struct NewHostProps {
    pool: common::PoolId,
    client: ApiClient,
    onadded: Callback<HostResponse>,
}

#[function_component(NewHost)]
fn new_host(p: &NewHostProps) -> Html {
    let name = use_state(String::new);
    let uri = use_state(String::new);
    let vcpus = use_state(|| "16".to_owned());
    let memory = use_state(|| "65536".to_owned());
    let disk = use_state(|| "1000".to_owned());
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let set =
        |state: &UseStateHandle<String>, field: &'static str| draft::text(state, &errors, field);
    let onsubmit = {
        let (name, uri, vcpus, memory, disk, errors, busy, client, done, pool) = (
            name.clone(),
            uri.clone(),
            vcpus.clone(),
            memory.clone(),
            disk.clone(),
            errors.clone(),
            busy.clone(),
            p.client.clone(),
            p.onadded.clone(),
            p.pool,
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let mut found = Vec::new();
            let mut number = |v: &str, field: &str| {
                v.trim().parse::<u32>().unwrap_or_else(|_| {
                    found.push(common::FieldError {
                        field: field.to_owned(),
                        code: "number".into(),
                        message: "must be a whole number".into(),
                    });
                    0
                })
            };
            let capacity = Capacity {
                vcpus: number(&vcpus, "capacity.vcpus"),
                memory_mib: number(&memory, "capacity.memory_mib"),
                disk_gib: number(&disk, "capacity.disk_gib"),
            };
            let req = CreateHostRequest {
                name: name.trim().to_owned(),
                uri: uri.trim().to_owned(),
                capacity,
                labels: BTreeMap::new(),
            };
            if let Err(e) = req.validate() {
                found.extend(common::validate::field_errors(&e));
            }
            if let Err(f) = FormErrors::check(found, &HOST_INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (errors, busy, client, done) =
                (errors.clone(), busy.clone(), client.clone(), done.clone());
            spawn_local(async move {
                match client.create_host(pool, &req).await {
                    Ok(h) => done.emit(h),
                    Err(e) => errors.set(FormErrors::from_api(&e, &HOST_INPUTS)),
                }
                busy.set(false);
            });
        })
    };
    let fid = |f: &str| format!("host-{}-{f}", p.pool);
    html! {
        <form class="form-grid" {onsubmit} novalidate=true aria-label="Add a host">
            if let Some(g) = &errors.general {
                <Banner tone={Tone::Error}>{ g.clone() }</Banner>
            }
            <Field id={fid("name")} label="Name" value={(*name).clone()} oninput={set(&name, "name")} error={errors.field("name")} />
            <Field id={fid("uri")} label="libvirt URI" value={(*uri).clone()} oninput={set(&uri, "uri")} error={errors.field("uri")}
                hint="qemu+ssh://root@host/system, qemu:///system, or sim://name in the simulated pool" />
            <Field id={fid("vcpus")} label="vCPUs" kind="number" value={(*vcpus).clone()} oninput={set(&vcpus, "capacity.vcpus")} error={errors.field("capacity.vcpus")} />
            <Field id={fid("memory")} label="Memory (MiB)" kind="number" value={(*memory).clone()} oninput={set(&memory, "capacity.memory_mib")} error={errors.field("capacity.memory_mib")} />
            <Field id={fid("disk")} label="Disk (GiB)" kind="number" value={(*disk).clone()} oninput={set(&disk, "capacity.disk_gib")} error={errors.field("capacity.disk_gib")} />
            <div class="form-actions">
                <button type="submit" class="button primary" disabled={*busy}>{ if *busy { "Adding…" } else { "Add host" } }</button>
            </div>
        </form>
    }
}

#[derive(Properties, PartialEq)]
struct SimProps {
    client: ApiClient,
}

/// The simulated pool's fault injection; absent when this installation runs no simulated pool.
#[function_component(SimPanel)]
fn sim_panel(p: &SimProps) -> Html {
    let faults = use_state(|| None::<SimFaults>);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    {
        let (faults, client) = (faults.clone(), p.client.clone());
        use_effect_with((), move |()| {
            spawn_local(async move {
                // no simulated pool (409 no_sim), or not now: no panel
                if let Ok(f) = client.sim_faults().await {
                    faults.set(Some(f));
                }
            });
        });
    }
    let Some(f) = *faults else { return html! {} };
    let put = {
        let (faults, error, busy, client) = (
            faults.clone(),
            error.clone(),
            busy.clone(),
            p.client.clone(),
        );
        move |change: fn(&mut SimFaults, bool)| {
            let (faults, error, busy, client) =
                (faults.clone(), error.clone(), busy.clone(), client.clone());
            Callback::from(move |on: bool| {
                // one change at a time, each from the faults the server answered last
                let mut next = f;
                change(&mut next, on);
                busy.set(true);
                let (faults, error, busy, client) =
                    (faults.clone(), error.clone(), busy.clone(), client.clone());
                spawn_local(async move {
                    match client.set_sim_faults(&next).await {
                        Ok(n) => {
                            faults.set(Some(n));
                            error.set(None);
                        }
                        Err(e) => {
                            // redraw the boxes as they were
                            faults.set(Some(f));
                            error.set(Some(e.message()));
                        }
                    }
                    busy.set(false);
                });
            })
        }
    };
    html! {
        <section class="card sim" aria-labelledby="sim-title">
            <h2 id="sim-title">{ "Simulator" }</h2>
            <p class="muted small">{ "Faults injected into the simulated pool. Kill and revive its hosts below." }</p>
            <Check id="sim-fail-boots" disabled={*busy} label="Fail boots" checked={f.fail_boots} onchange={put(|x, on| x.fail_boots = on)} />
            <Check id="sim-fail-scripts" disabled={*busy} label="Fail CloudScripts" checked={f.fail_scripts} onchange={put(|x, on| x.fail_scripts = on)} />
            <Check id="sim-hang-scripts" disabled={*busy} label="Hang CloudScripts" checked={f.hang_scripts} onchange={put(|x, on| x.hang_scripts = on)} />
            <Check id="sim-slow" disabled={*busy} label="Ten times slower" checked={f.slow >= 10.0} onchange={put(|x, on| x.slow = if on { 10.0 } else { 1.0 })} />
            if let Some(e) = &*error { <p class="field-error" role="alert">{ e.clone() }</p> }
        </section>
    }
}
