//! Automation benchmark: events recorded at a sustained rate (default 1,000/s for 10 s, spread over 50
//! applications, each with one rule whose first step is a `run_script`), while the automation engine
//! runs. Prints the latency from an event's time to its run's first step starting (p50, p99, max)
//! and how many runs ended. Goal (issue 8): p99 ≤ 1 s. First it measures `metric.threshold`
//! evaluation alone on one core: samples pushed into windows and conditions evaluated per second
//! (goal ≥ 100,000). Asserts nothing.
//! Usage: automation-latency [DATABASE_URL] [EVENTS_PER_SEC] [SECONDS]   (default: a fresh SQLite file)

use common::api::{Action, OnFailure, Quotas, RuleFilter, RuleOrigin, RunStatus, Step, Target};
use common::{ApplicationId, RuleId, ScriptId, TenantId};
use orchestrator::automation::engine::Engine;
use scaleinfra_bench::percentile;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use store::repo::events::Subject;
use store::repo::{PageRequest, applications, events, rules, runs, scripts};
use store::time::now;
use store::{Application, Rule, Script, ScriptVersion, Store, StoreError};

const APPS: usize = 50;

async fn fixture(store: &Store) -> anyhow::Result<(TenantId, Vec<ApplicationId>)> {
    let at = now();
    let tenant = TenantId::new();
    let apps: Vec<ApplicationId> = (0..APPS).map(|_| ApplicationId::new()).collect();
    let ids = apps.clone();
    store
        .write(move |c| -> Result<(), StoreError> {
            let project = scaleinfra_bench::tenant_with_project(
                c,
                tenant,
                "Bench",
                "bench",
                Quotas {
                    max_vcpus: 1000,
                    max_memory_mib: 1_000_000,
                    max_appliances: 1000,
                },
            )?;
            let script = Script {
                id: ScriptId::new(),
                tenant_id: Some(tenant),
                name: "noop".into(),
                description: String::new(),
                latest_version: 1,
                created_at: at,
                updated_at: at,
            };
            scripts::insert(
                c,
                &script,
                &ScriptVersion {
                    script_id: script.id,
                    version: 1,
                    body: "#!/bin/sh\necho {{ app.name }}\n".into(),
                    variables: Vec::new(),
                    timeout_secs: 60,
                    created_at: at,
                },
            )?;
            for (i, id) in ids.iter().enumerate() {
                applications::insert(
                    c,
                    tenant,
                    &Application {
                        id: *id,
                        tenant_id: tenant,
                        project_id: project,
                        name: format!("app-{i}"),
                        description: String::new(),
                        pool_id: None,
                        deployed: false,
                        generation: 0,
                        failures: 0,
                        last_error: None,
                        created_at: at,
                        updated_at: at,
                    },
                )?;
                rules::insert(
                    c,
                    &Rule {
                        id: RuleId::new(),
                        tenant_id: tenant,
                        application_id: *id,
                        name: "on every event".into(),
                        event_type: "appliance.came_alive".into(),
                        filter: RuleFilter::default(),
                        condition: None,
                        cooldown_secs: 0,
                        schedule: None,
                        // the application has no appliances: the step starts, renders for no one, ends
                        steps: vec![Step {
                            action: Action::RunScript {
                                script_id: script.id,
                                version: None,
                                target: Target::All,
                                variables: Default::default(),
                            },
                            timeout_secs: 60,
                            retries: 0,
                            on_failure: OnFailure::Stop,
                        }],
                        enabled: true,
                        origin: RuleOrigin::User,
                        last_fired_at: None,
                        created_at: at,
                        updated_at: at,
                    },
                )?;
            }
            Ok(())
        })
        .await?;
    Ok((tenant, apps))
}

/// Metric evaluation on one core: 10,000 (rule, appliance) windows of 60 s, one sample per
/// appliance per second for 100 s, each followed by an evaluation of its condition.
fn rule_evaluation() {
    use orchestrator::automation::metrics::{Hold, Window, evaluate};
    let cond = common::api::Condition {
        metric: "cpu_pct".into(),
        aggregate: common::api::Aggregate::Avg,
        window_secs: 60,
        comparator: common::api::Comparator::Gt,
        threshold: 80.0,
        for_secs: 30,
    };
    let watched = 10_000;
    let mut state: Vec<(Window, Hold)> = vec![Default::default(); watched];
    let t0 = now();
    let started = Instant::now();
    let mut fired = 0u64;
    let mut samples = 0u64;
    for second in 0..100i64 {
        let at = t0 + chrono::Duration::seconds(second);
        for (i, (w, h)) in state.iter_mut().enumerate() {
            // each appliance around a level of its own, with some noise: the hot ones fire
            let v = (i % 100) as f64 + (second % 7) as f64;
            w.push(at, v);
            w.prune(at, cond.window_secs);
            if evaluate(h, w, &cond, at).is_some() {
                fired += 1;
            }
            samples += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rule evaluation: {samples} samples in {secs:.2} s: {:.0} samples/s on one core ({fired} firings; goal ≥ 100,000/s)",
        samples as f64 / secs
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rule_evaluation();
    let dir = tempfile::tempdir()?;
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .filter(|a| !a.is_empty() && a != "-")
        .unwrap_or_else(|| format!("sqlite://{}/automation.db", dir.path().display()));
    let rate: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let store = Store::open(
        &url,
        &store::PoolOptions {
            max_size: 8,
            ..Default::default()
        },
    )?;
    store::migrate::run(&store)?;
    let (tenant, apps) = fixture(&store).await?;

    let engine = Engine::new(store.clone(), false);
    let stop = tokio_util::sync::CancellationToken::new();
    let engine_task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                match engine.round().await {
                    Ok(true) => {}
                    Ok(false) => tokio::time::sleep(Duration::from_millis(5)).await,
                    Err(e) => eprintln!("round failed: {e}"),
                }
            }
        })
    };

    // the producer: every 10 ms, rate/100 events round-robin over the applications
    let per_tick = (rate / 100).max(1);
    let total = per_tick * 100 * secs as usize;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0;
    while sent < total {
        tick.tick().await;
        let batch: Vec<ApplicationId> = (0..per_tick).map(|i| apps[(sent + i) % APPS]).collect();
        sent += batch.len();
        store
            .write(move |c| -> Result<(), StoreError> {
                for app in &batch {
                    let subject = Subject {
                        application: Some(*app),
                        ..Default::default()
                    };
                    events::record(c, tenant, "appliance.came_alive", &subject, "")?;
                }
                Ok(())
            })
            .await?;
    }
    let produced_in = started.elapsed();
    println!(
        "recorded {sent} events in {:.1} s ({:.0}/s, {APPS} applications)",
        produced_in.as_secs_f64(),
        sent as f64 / produced_in.as_secs_f64()
    );

    // wait for every run to end
    let deadline = Instant::now() + Duration::from_secs(300);
    let all = loop {
        let list = store
            .read(move |c| -> Result<Vec<store::Run>, StoreError> {
                let mut out = Vec::new();
                let mut page = PageRequest::first(500);
                loop {
                    let p = runs::list(c, tenant, None, None, &page)?;
                    out.extend(p.items);
                    match p.next_after {
                        Some(a) => page.after = Some(a),
                        None => return Ok(out),
                    }
                }
            })
            .await?;
        let done = list
            .iter()
            .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Failed))
            .count();
        if done >= sent || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drained_in = started.elapsed();
    stop.cancel();
    engine_task.await?;

    let at: HashMap<common::EventId, chrono::DateTime<chrono::Utc>> = store
        .read(move |c| -> Result<_, StoreError> {
            let mut out = HashMap::new();
            let mut page = PageRequest::first(500);
            loop {
                let p = events::list(c, tenant, None, &page)?;
                for e in p.items {
                    out.insert(e.id, e.at);
                }
                match p.next_after {
                    Some(a) => page.after = Some(a),
                    None => return Ok(out),
                }
            }
        })
        .await?;
    let mut latency: Vec<f64> = all
        .iter()
        .filter_map(|r| {
            let start = r.steps.first()?.started_at?;
            let t = at.get(&r.event_id)?;
            Some((start - *t).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    latency.sort_by(f64::total_cmp);
    println!(
        "{} runs ended of {sent} events; all ended {:.1} s after the first event",
        all.iter()
            .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Failed))
            .count(),
        drained_in.as_secs_f64()
    );
    println!(
        "event → first step started: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal p99 ≤ 1000 ms)",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
