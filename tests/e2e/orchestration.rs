//! The orchestrator end to end on the simulated pool: deploy a three-layer application, scale a group
//! 1 → 5 → 2, kill an appliance, kill a host — with exactly the expected states, events and transitions.

use crate::fixtures::{appliances, application, group, layer, running, template};
use scaleinfra_tests::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

const HAPPY_PATH: [&str; 6] = [
    "pending",
    "placing",
    "creating",
    "booting",
    "configuring",
    "running",
];

async fn transitions(app: &TestApp, token: &str, appliance: &str) -> Vec<(String, String, String)> {
    let r = app
        .get(
            token,
            &format!("/api/v1/appliances/{appliance}/transitions?limit=500"),
        )
        .await;
    r.assert_status(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap_or("").to_owned(),
                t["to"].as_str().unwrap().to_owned(),
                t["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn states(ts: &[(String, String, String)]) -> Vec<&str> {
    ts.iter().map(|t| t.1.as_str()).collect()
}

async fn events(app: &TestApp, token: &str, application: &str) -> Vec<Value> {
    let r = app
        .get(
            token,
            &format!("/api/v1/applications/{application}/events?limit=500"),
        )
        .await;
    r.assert_status(200);
    r.body["items"].as_array().unwrap().clone()
}

fn count(events: &[Value], kind: &str, appliance: Option<&str>) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == kind && appliance.is_none_or(|a| e["appliance_id"] == a))
        .count()
}

async fn global_template(app: &TestApp, token: &str, name: &str) -> String {
    let r = app.get(token, "/api/v1/templates?limit=500").await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ids(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn deploy_scale_kill_appliance_kill_host() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "Shop").await;
    let shop = application(&app, t, &project, "Web shop").await;
    let lb_layer = layer(&app, t, &shop, "balancer").await;
    let app_layer = layer(&app, t, &shop, "app").await;
    let db_layer = layer(&app, t, &shop, "database").await;
    let lb = group(
        &app,
        t,
        &lb_layer,
        "haproxy",
        &global_template(&app, t, "HAProxy load balancer").await,
        1,
        1,
    )
    .await;
    let php = group(
        &app,
        t,
        &app_layer,
        "php",
        &global_template(&app, t, "PHP app server").await,
        1,
        10,
    )
    .await;
    let db = group(
        &app,
        t,
        &db_layer,
        "mysql",
        &global_template(&app, t, "MySQL").await,
        1,
        1,
    )
    .await;
    // layers keep their order
    let r = app.get(t, &format!("/api/v1/applications/{shop}")).await;
    let order: Vec<&str> = r.body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["balancer", "app", "database"]);

    // deploy: three appliances walk the happy path, each came alive and was configured once
    app.post(t, &format!("/api/v1/applications/{shop}/deploy"), json!({}))
        .await
        .assert_status(202);
    let up = running(&app, t, &shop, None, 3).await;
    let ev = events(&app, t, &shop).await;
    for a in &up {
        let id = a["id"].as_str().unwrap();
        assert_eq!(states(&transitions(&app, t, id).await), HAPPY_PATH, "{id}");
        assert_eq!(count(&ev, "appliance.came_alive", Some(id)), 1);
        assert_eq!(count(&ev, "appliance.configured", Some(id)), 1);
        assert!(
            a["ip"].as_str().is_some_and(|ip| ip.starts_with("10.77.")),
            "{a}"
        );
    }
    let hosts: HashSet<&str> = up.iter().map(|a| a["host_id"].as_str().unwrap()).collect();
    assert_eq!(
        hosts.len(),
        3,
        "spread placement puts the three on three hosts"
    );
    for g in [&lb, &db] {
        assert_eq!(up.iter().filter(|a| a["group_id"] == g.as_str()).count(), 1);
    }

    // scale the app group 1 → 5: anti-affinity spreads them over the four hosts
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{php}/desired"),
        Some(t),
        Some(json!({"desired": 5})),
    )
    .await
    .assert_status(202);
    let five = running(&app, t, &shop, Some(&php), 5).await;
    let mut per_host: BTreeMap<&str, u32> = BTreeMap::new();
    for a in &five {
        *per_host.entry(a["host_id"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(per_host.len(), 4, "{per_host:?}");
    assert!(per_host.values().all(|n| *n <= 2), "{per_host:?}");
    let r = app.get(t, &format!("/api/v1/groups/{php}")).await;
    assert_eq!(
        (
            r.body["size"]["desired"].as_u64(),
            r.body["running"].as_u64()
        ),
        (Some(5), Some(5))
    );

    // scale 5 → 2: the three newest go, the two oldest stay
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{php}/desired"),
        Some(t),
        Some(json!({"desired": 2})),
    )
    .await
    .assert_status(202);
    let two = running(&app, t, &shop, Some(&php), 2).await;
    let all_five = ids(&five);
    assert_eq!(ids(&two), all_five[..2].to_vec(), "the oldest stay");
    for gone in &all_five[2..] {
        let ts = transitions(&app, t, gone).await;
        let last = ts.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str(), last.2.as_str()),
            ("running", "terminated", "group scaled in")
        );
        assert_eq!(ts.len(), 7, "{ts:?}");
    }

    // kill an appliance: it fails (went down), ServiceEnsure terminates it and starts a replacement
    let victim = two[1]["id"].as_str().unwrap().to_owned();
    app.post(
        &op.token,
        &format!("/api/v1/sim/appliances/{victim}/kill"),
        json!({}),
    )
    .await
    .assert_status(204);
    let replaced = app
        .eventually(20, "a replacement for the killed appliance", || async {
            let now = running(&app, t, &shop, Some(&php), 2).await;
            (!ids(&now).contains(&victim)).then_some(now)
        })
        .await;
    let ts = transitions(&app, t, &victim).await;
    let tail: Vec<(&str, &str, &str)> = ts[6..]
        .iter()
        .map(|x| (x.0.as_str(), x.1.as_str(), x.2.as_str()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("running", "failed", "the domain stopped unexpectedly"),
            ("failed", "terminated", "replaced by ServiceEnsure: failed")
        ]
    );
    let ev = events(&app, t, &shop).await;
    assert_eq!(count(&ev, "appliance.went_down", Some(&victim)), 1);
    let newcomer = ids(&replaced)
        .into_iter()
        .find(|i| !ids(&two).contains(i))
        .unwrap();
    assert_eq!(states(&transitions(&app, t, &newcomer).await), HAPPY_PATH);

    // kill a host: it goes suspect then down, its appliances are lost and replaced elsewhere
    let db_appliance = up.iter().find(|a| a["group_id"] == db.as_str()).unwrap();
    let doomed_host = db_appliance["host_id"].as_str().unwrap().to_owned();
    let before = appliances(&app, t, &shop).await;
    let on_host: Vec<String> = before
        .iter()
        .filter(|a| a["host_id"] == doomed_host.as_str())
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!on_host.is_empty());
    app.post(
        &op.token,
        &format!("/api/v1/sim/hosts/{doomed_host}/kill"),
        json!({}),
    )
    .await
    .assert_status(204);
    app.eventually(20, "the host to be down", || async {
        let r = app
            .get(&op.token, &format!("/api/v1/hosts/{doomed_host}"))
            .await;
        (r.body["state"] == "down").then_some(())
    })
    .await;
    let after = app
        .eventually(
            30,
            "every group back at its desired count, off the dead host",
            || async {
                let all = appliances(&app, t, &shop).await;
                let ok = all.len() == 4
                    && all
                        .iter()
                        .all(|a| a["state"] == "running" && a["host_id"] != doomed_host.as_str());
                ok.then_some(all)
            },
        )
        .await;
    assert_eq!(
        after
            .iter()
            .filter(|a| a["group_id"] == php.as_str())
            .count(),
        2
    );
    let ev = events(&app, t, &shop).await;
    for id in &on_host {
        let ts = transitions(&app, t, id).await;
        let tail: Vec<&str> = ts.iter().rev().take(2).map(|x| x.1.as_str()).collect();
        assert_eq!(tail, ["terminated", "lost"], "{id}: {ts:?}");
        assert_eq!(count(&ev, "host.lost", Some(id)), 1);
    }
    let provider_events = app.get(&op.token, "/api/v1/events?limit=500").await;
    let kinds: Vec<&str> = provider_events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["host_id"] == doomed_host.as_str())
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["host.suspect", "host.lost"]);

    // the host comes back (rebooted, empty): up again, and nothing it held is resurrected
    app.post(
        &op.token,
        &format!("/api/v1/sim/hosts/{doomed_host}/revive"),
        json!({}),
    )
    .await
    .assert_status(204);
    app.eventually(20, "the host to be up", || async {
        let r = app
            .get(&op.token, &format!("/api/v1/hosts/{doomed_host}"))
            .await;
        (r.body["state"] == "up").then_some(())
    })
    .await;

    // undeploy: everything terminates; the hypervisor is left with no domain of ours
    app.post(
        t,
        &format!("/api/v1/applications/{shop}/undeploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    app.eventually(20, "no appliance left", || async {
        appliances(&app, t, &shop).await.is_empty().then_some(())
    })
    .await;
    let sim = app.state.sim.clone().unwrap();
    app.eventually(10, "no domains left", || async {
        sim.all_domains().is_empty().then_some(())
    })
    .await;
    // the whole history stays: every appliance ever created ended terminated, each defined once
    let r = app
        .get(
            t,
            &format!("/api/v1/applications/{shop}/appliances?terminated=true&limit=500"),
        )
        .await;
    let history = r.body["items"].as_array().unwrap();
    assert_eq!(history.len(), 3 + 4 + 1 + on_host.len());
    for a in history {
        assert_eq!(a["state"], "terminated");
        assert_eq!(
            sim.times_defined(&format!("si-{}", a["id"].as_str().unwrap())),
            1
        );
    }
}

#[tokio::test]
async fn sizes_quotas_and_placement_failures() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let tiny = template(&app, &acme.admin, "Tiny", 1, 512).await;
    let a = application(&app, t, &project, "A").await;
    let l = layer(&app, t, &a, "web").await;

    // sizes
    let bad = app
        .post(
            t,
            &format!("/api/v1/layers/{l}/groups"),
            json!({"name": "g", "template_id": tiny, "size": {"desired": 3, "min": 4, "max": 2}}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.field_errors(),
        vec![
            ("size.desired".to_string(), "above_max".to_string()),
            ("size.min".to_string(), "min_above_desired".to_string())
        ]
    );
    let g = group(&app, t, &l, "web", &tiny, 2, 4).await;
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/groups/{g}/desired"),
            Some(t),
            Some(json!({"desired": 5})),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        vec![("desired".to_string(), "out_of_bounds".to_string())]
    );
    let unknown = app.post(t, &format!("/api/v1/layers/{l}/groups"), json!({"name": "x", "template_id": uuid::Uuid::now_v7(), "size": {"desired": 1, "min": 0, "max": 1}})).await;
    assert_eq!(
        unknown.field_errors(),
        vec![("template_id".to_string(), "unknown".to_string())]
    );

    // quotas: deploying past max_appliances is refused and deploys nothing
    app.patch(
        &op.token,
        &format!("/api/v1/tenants/{}", acme.id),
        json!({"quotas": {"max_vcpus": 64, "max_memory_mib": 10_000_000, "max_appliances": 3}}),
    )
    .await
    .assert_status(200);
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{g}/desired"),
        Some(t),
        Some(json!({"desired": 4})),
    )
    .await
    .assert_status(202);
    let r = app
        .post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await;
    r.assert_problem(422, "quota_exceeded");
    assert_eq!(
        r.field_errors(),
        vec![(
            "quota.max_appliances".to_string(),
            "quota_exceeded".to_string()
        )]
    );
    assert_eq!(
        app.get(t, &format!("/api/v1/applications/{a}")).await.body["deployed"],
        false
    );
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{g}/desired"),
        Some(t),
        Some(json!({"desired": 3})),
    )
    .await
    .assert_status(202);
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);
    // growing a deployed group past the quota is refused too
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/groups/{g}/desired"),
            Some(t),
            Some(json!({"desired": 4})),
        )
        .await;
    r.assert_problem(422, "quota_exceeded");
    running(&app, t, &a, None, 3).await;

    // a flavor no host can hold fails placement with the reason, and an event says why
    let huge = template(&app, &acme.admin, "Huge", 2, 500_000).await;
    let l2 = layer(&app, t, &a, "big").await;
    let g2 = group(&app, t, &l2, "big", &huge, 0, 1).await;
    app.patch(
        &op.token,
        &format!("/api/v1/tenants/{}", acme.id),
        json!({"quotas": {"max_vcpus": 64, "max_memory_mib": 10_000_000, "max_appliances": 10}}),
    )
    .await
    .assert_status(200);
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{g2}/desired"),
        Some(t),
        Some(json!({"desired": 1})),
    )
    .await
    .assert_status(202);
    let failed = app
        .eventually(20, "the huge appliance to fail placement", || async {
            let r = app
                .get(
                    t,
                    &format!("/api/v1/applications/{a}/appliances?terminated=true&limit=500"),
                )
                .await;
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| {
                    x["group_id"] == g2.as_str()
                        && x["state"] != "pending"
                        && x["state"] != "placing"
                })
                .cloned()
        })
        .await;
    assert_eq!(
        failed["state_reason"], "no host fits 2 vCPU / 500000 MiB / 10 GiB: 4 short of memory",
        "{failed}"
    );
    let ev = events(&app, t, &a).await;
    assert!(count(&ev, "placement.failed", None) >= 1);
    let pf = ev.iter().find(|e| e["type"] == "placement.failed").unwrap();
    assert_eq!(
        pf["detail"],
        "no host fits 2 vCPU / 500000 MiB / 10 GiB: 4 short of memory"
    );

    // a deployed application cannot be deleted
    app.delete(t, &format!("/api/v1/applications/{a}"))
        .await
        .assert_problem(409, "application_deployed");
}

#[tokio::test]
async fn appliance_actions_and_the_agent_token() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let d = crate::fixtures::deploy_one(&app, &acme.admin, &project).await;
    let id: common::ApplianceId = d.appliance.parse().unwrap();

    // the agent's token reaches the agent API and nothing of the tenant API
    let token = app.state.agent.key.issue(id);
    let jobs = app
        .raw(
            app.client
                .get(app.url("/agent/v1/jobs"))
                .bearer_auth(&token),
        )
        .await;
    jobs.assert_status(200);
    assert_eq!(jobs.body["jobs"], json!([]));
    for path in [
        "/api/v1/projects",
        "/api/v1/auth/me",
        &format!("/api/v1/appliances/{id}"),
    ] {
        app.get(&token, path)
            .await
            .assert_problem(401, "unauthenticated");
    }
    let forged = format!("{id}.AAAA");
    app.raw(
        app.client
            .get(app.url("/agent/v1/jobs"))
            .bearer_auth(&forged),
    )
    .await
    .assert_problem(401, "unauthenticated");
    // metrics reported over HTTP show on the appliance once the agent API's buffer is written (the
    // simulated agent of the same appliance reports too: the latest report wins, so report again
    // until ours is the one shown)
    let m = json!({"cpu_pct": 42.5, "load1": 0.4, "mem_used_mib": 200, "mem_total_mib": 512, "net_rx_bytes": 1, "net_tx_bytes": 2, "custom": {"queue": 7.0}});
    app.eventually(20, "the reported metrics shown", || async {
        app.raw(
            app.client
                .post(app.url("/agent/v1/metrics"))
                .bearer_auth(&token)
                .json(&m),
        )
        .await
        .assert_status(204);
        app.state.agent.flush().await.unwrap();
        let r = app.get(t, &format!("/api/v1/appliances/{id}")).await;
        (r.body["metrics"]["custom"]["queue"] == 7.0).then_some(())
    })
    .await;

    // stop → stopped, start → running again, reboot → running again
    let act = |verb: &'static str| {
        let (app, t, id) = (&app, t.clone(), id);
        async move {
            app.post(&t, &format!("/api/v1/appliances/{id}/{verb}"), json!({}))
                .await
        }
    };
    act("start").await.assert_problem(409, "invalid_state");
    act("stop").await.assert_status(202);
    app.eventually(20, "stopped", || async {
        (app.get(t, &format!("/api/v1/appliances/{id}")).await.body["state"] == "stopped")
            .then_some(())
    })
    .await;
    act("start").await.assert_status(202);
    app.eventually(20, "running after start", || async {
        (app.get(t, &format!("/api/v1/appliances/{id}")).await.body["state"] == "running")
            .then_some(())
    })
    .await;
    act("reboot").await.assert_status(202);
    app.eventually(20, "running after reboot", || async {
        let ts = transitions(&app, t, &d.appliance).await;
        (states(&ts).iter().filter(|s| **s == "running").count() == 3
            && ts.last().unwrap().1 == "running")
            .then_some(())
    })
    .await;
    let ts = transitions(&app, t, &d.appliance).await;
    assert_eq!(
        states(&ts),
        [
            "pending",
            "placing",
            "creating",
            "booting",
            "configuring",
            "running",
            "stopping",
            "stopped",
            "booting",
            "configuring",
            "running",
            "booting",
            "configuring",
            "running"
        ]
    );
    // terminate: the group replaces it; the old token is refused with 410
    act("terminate").await.assert_status(202);
    app.eventually(20, "terminated", || async {
        (app.get(t, &format!("/api/v1/appliances/{id}")).await.body["state"] == "terminated")
            .then_some(())
    })
    .await;
    let r = app
        .raw(
            app.client
                .get(app.url("/agent/v1/jobs"))
                .bearer_auth(&token),
        )
        .await;
    r.assert_problem(410, "gone");
    running(&app, t, &d.application, None, 1).await;
}

#[tokio::test]
async fn unknown_domains_are_reported_never_destroyed() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let sim = app.state.sim.clone().unwrap();
    sim.plant_domain("sim-2", "someone-elses-vm");
    app.eventually(20, "the unknown domain to be reported", || async {
        let r = app.get(&op.token, "/api/v1/events?limit=500").await;
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "orchestrator.unknown_domain")
            .cloned()
    })
    .await;
    assert!(
        sim.all_domains()
            .iter()
            .any(|(h, d, _)| h == "sim-2" && d == "someone-elses-vm")
    );
}

#[tokio::test]
async fn hosts_and_pools_are_managed_by_operators() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let r = app.post(&op.token, "/api/v1/pools", json!({"name": "east", "strategy": "pack", "overcommit": {"cpu_pct": 200, "ram_pct": 100, "disk_pct": 100}})).await;
    r.assert_status(201);
    let pool = r.body["id"].as_str().unwrap().to_owned();
    let host = json!({"name": "kvm-east-1", "uri": "sim://kvm-east-1", "capacity": {"vcpus": 8, "memory_mib": 16384, "disk_gib": 200}, "labels": {"rack": "r1"}});
    let r = app
        .post(
            &op.token,
            &format!("/api/v1/pools/{pool}/hosts"),
            host.clone(),
        )
        .await;
    r.assert_status(201);
    let h = r.body["id"].as_str().unwrap().to_owned();
    app.post(&op.token, &format!("/api/v1/pools/{pool}/hosts"), host)
        .await
        .assert_problem(409, "conflict");
    let bad = json!({"name": "x", "uri": "http://nope", "capacity": {"vcpus": 0, "memory_mib": 1, "disk_gib": 1}, "labels": {"Bad Key": "v"}});
    let r = app
        .post(&op.token, &format!("/api/v1/pools/{pool}/hosts"), bad)
        .await;
    let fields: Vec<String> = r.field_errors().into_iter().map(|f| f.0).collect();
    assert_eq!(
        fields,
        ["capacity.memory_mib", "capacity.vcpus", "labels", "uri"]
    );
    app.delete(&op.token, &format!("/api/v1/pools/{pool}"))
        .await
        .assert_problem(409, "pool_not_empty");
    let r = app
        .patch(
            &op.token,
            &format!("/api/v1/hosts/{h}"),
            json!({"state": "maintenance"}),
        )
        .await;
    assert_eq!(r.body["state"], "maintenance");
    app.patch(
        &op.token,
        &format!("/api/v1/hosts/{h}"),
        json!({"state": "down"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.delete(&op.token, &format!("/api/v1/hosts/{h}"))
        .await
        .assert_status(204);
    app.delete(&op.token, &format!("/api/v1/pools/{pool}"))
        .await
        .assert_status(204);
}
