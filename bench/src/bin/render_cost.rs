//! What rendering in worker processes costs: the library's "add app server IPs to HAProxy" script
//! rendered for a load balancer whose app layer has 3 or 50 appliances, in process and through
//! `scaleinfra render-worker` (the product's way), one caller and then two at once. Prints the time
//! per render (p50, p99) and renders per second. Asserts nothing.
//! Usage: render-cost PATH_TO_SCALEINFRA [RENDERS]

use orchestrator::automation::render::{self, ApplianceCtx, Context, LayerCtx};
use orchestrator::automation::sandbox::{self, Limits};
use scaleinfra_bench::percentile;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

fn context(apps: usize) -> anyhow::Result<Context> {
    let mut c = Context::sample();
    let base = c
        .appliance
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the sample has no appliance"))?;
    let app = (1..=apps)
        .map(|i| ApplianceCtx {
            name: format!("php-{i}"),
            ip: Some(format!("10.0.{}.{}", i / 250, 10 + i % 240)),
            ..base.clone()
        })
        .collect();
    c.layers = vec![LayerCtx::new("lb", Vec::new()), LayerCtx::new("app", app)];
    Ok(c)
}

fn measure(
    label: &str,
    callers: usize,
    renders: usize,
    f: impl Fn() -> Result<render::Rendered, render::RenderError> + Sync,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut times: Vec<f64> = std::thread::scope(|s| -> anyhow::Result<Vec<f64>> {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                s.spawn(|| {
                    (0..renders / callers)
                        .map(|_| {
                            let t = Instant::now();
                            f()?;
                            Ok(t.elapsed().as_secs_f64() * 1e6)
                        })
                        .collect::<Result<Vec<_>, render::RenderError>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let times = h
                .join()
                .map_err(|_| anyhow::anyhow!("a caller panicked"))??;
            all.extend(times);
        }
        Ok(all)
    })?;
    let wall = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    println!(
        "{label:<34} callers {callers}  p50 {:>7.0} µs  p99 {:>7.0} µs  {:>7.0} renders/s",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.len() as f64 / wall
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let exe = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: render-cost PATH_TO_SCALEINFRA [RENDERS]"))?;
    let renders: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(4000);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/cloudscripts");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/library.json"))?)?;
    let entry = manifest
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "haproxy-add-app-servers"))
        .ok_or_else(|| anyhow::anyhow!("the library has no haproxy-add-app-servers"))?;
    let body = std::fs::read_to_string(format!("{dir}/haproxy-add-app-servers.sh"))?;
    let decls: Vec<common::api::VariableDecl> = serde_json::from_value(entry["variables"].clone())?;
    let supplied = BTreeMap::from([("backend_layer".to_owned(), json!("app"))]);
    let contexts = [(3, context(3)?), (50, context(50)?)];
    for (n, ctx) in &contexts {
        measure(&format!("in process, {n} app servers"), 1, renders, || {
            render::render(&body, &decls, ctx, &supplied)
        })?;
    }
    sandbox::install(exe.into(), Limits::default())?;
    for callers in [1, 2] {
        for (n, ctx) in &contexts {
            measure(
                &format!("in workers, {n} app servers"),
                callers,
                renders,
                || sandbox::render(&body, &decls, ctx, &supplied),
            )?;
        }
    }
    Ok(())
}
