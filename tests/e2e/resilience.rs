//! Crash-resume and several orchestrators: kill the orchestrator between (and inside) the steps of a
//! deploy, again and again; run two orchestrators on one database. Either way the result converges with
//! no duplicate and no orphan VM.

use crate::fixtures::{application, group, layer, running, template};
use orchestrator::drivers::Drivers;
use orchestrator::drivers::libvirt::{LibvirtConfig, LibvirtDriver};
use orchestrator::{Orchestrator, OrchestratorError};
use scaleinfra_tests::*;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn drivers(app: &TestApp) -> Drivers {
    Drivers::new(
        app.state.sim.clone(),
        LibvirtDriver::new(LibvirtConfig::default()),
    )
}

fn config(
    app: &TestApp,
    owner: &str,
    crash_after: Option<u32>,
) -> orchestrator::OrchestratorConfig {
    let mut c = backend::app::orchestrator_config(&app.config);
    c.owner = owner.into();
    c.lease = Duration::from_millis(300);
    c.crash_after = crash_after;
    c
}

/// Every domain on the simulated hosts belongs to exactly one live appliance, was defined exactly once,
/// and every appliance that should have a domain has one.
async fn assert_no_duplicates_or_orphans(app: &TestApp, token: &str, applications: &[String]) {
    let sim = app.state.sim.clone().unwrap();
    let mut live = HashSet::new();
    for a in applications {
        for x in crate::fixtures::appliances(app, token, a).await {
            live.insert(format!("si-{}", x["id"].as_str().unwrap()));
        }
    }
    let domains: Vec<String> = sim.all_domains().into_iter().map(|(_, d, _)| d).collect();
    let unique: HashSet<&String> = domains.iter().collect();
    assert_eq!(
        unique.len(),
        domains.len(),
        "a domain exists twice: {domains:?}"
    );
    for d in &domains {
        assert!(live.contains(d), "orphan VM {d}");
        assert_eq!(sim.times_defined(d), 1, "{d} was defined more than once");
    }
    assert_eq!(domains.len(), live.len(), "appliances without a domain");
}

async fn two_group_app(
    app: &TestApp,
    admin: &Session,
    project: &str,
    name: &str,
    sizes: (u32, u32),
) -> (String, String, String) {
    let t = &admin.token;
    let tpl = template(app, admin, &format!("{name} tpl"), 1, 256).await;
    let a = application(app, t, project, name).await;
    let l1 = layer(app, t, &a, "front").await;
    let l2 = layer(app, t, &a, "back").await;
    let g1 = group(app, t, &l1, "front", &tpl, sizes.0, 10).await;
    let g2 = group(app, t, &l2, "back", &tpl, sizes.1, 10).await;
    (a, g1, g2)
}

#[tokio::test]
async fn killed_orchestrators_resume_without_duplicates_or_orphans() {
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let (a, g1, g2) = two_group_app(&app, &acme.admin, &project, "crashy", (3, 2)).await;
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);

    // orchestrators that die after 2 steps each, until the deploy is done: each run either crashes
    // (there was work) or idles while the deploy finishes (polled, never waited out)
    let done = || async {
        let all = crate::fixtures::appliances(&app, t, &a).await;
        all.len() == 5 && all.iter().all(|x| x["state"] == "running")
    };
    let mut crashes = 0;
    for i in 0..80 {
        if done().await {
            break;
        }
        let o = Orchestrator::new(
            app.store.clone(),
            drivers(&app),
            config(&app, &format!("crashy-{i}"), Some(2)),
        )
        .await
        .unwrap();
        let stop = CancellationToken::new();
        let mut run = tokio::spawn(o.run(stop.clone()));
        tokio::select! {
            r = &mut run => match r {
                Ok(Err(OrchestratorError::Crashed)) => crashes += 1,
                other => panic!("the orchestrator stopped without crashing: {other:?}"),
            },
            _ = app.eventually(60, "a crash or the deploy done", || async {
                done().await.then_some(())
            }) => {
                stop.cancel();
                run.await.unwrap().unwrap();
                break;
            }
        }
    }
    assert!(
        crashes >= 8,
        "only {crashes} crashes: the deploy needs more steps than that"
    );

    // a healthy orchestrator takes over; everything converges with no duplicate and no orphan
    let healthy = Orchestrator::new(
        app.store.clone(),
        drivers(&app),
        config(&app, "healthy", None),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(healthy.run(stop.clone()));
    running(&app, t, &a, Some(&g1), 3).await;
    running(&app, t, &a, Some(&g2), 2).await;
    assert_no_duplicates_or_orphans(&app, t, std::slice::from_ref(&a)).await;
    // and the same on the way down
    stop.cancel();
    task.await.unwrap().unwrap();
    app.post(t, &format!("/api/v1/applications/{a}/undeploy"), json!({}))
        .await
        .assert_status(202);
    for i in 0..80 {
        let o = Orchestrator::new(
            app.store.clone(),
            drivers(&app),
            config(&app, &format!("down-{i}"), Some(3)),
        )
        .await
        .unwrap();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), o.run(CancellationToken::new())).await;
        if crate::fixtures::appliances(&app, t, &a).await.is_empty() {
            break;
        }
    }
    let healthy = Orchestrator::new(
        app.store.clone(),
        drivers(&app),
        config(&app, "healthy-2", None),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(healthy.run(stop.clone()));
    app.eventually(20, "every appliance terminated", || async {
        crate::fixtures::appliances(&app, t, &a)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let sim = app.state.sim.clone().unwrap();
    app.eventually(10, "no domain left", || async {
        sim.all_domains().is_empty().then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn two_orchestrators_on_one_database_never_double_create() {
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let mut apps = Vec::new();
    for i in 0..5 {
        let (a, g1, _) =
            two_group_app(&app, &acme.admin, &project, &format!("app{i}"), (3, 1)).await;
        app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
            .await
            .assert_status(202);
        apps.push((a, g1));
    }
    // two orchestrators, each with its own connection pool, as two processes would have
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for name in ["east", "west"] {
        let store = store::Store::open(
            &app.config.database_url,
            &store::PoolOptions {
                max_size: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let mut cfg = config(&app, name, None);
        cfg.concurrency = 4;
        let o = Orchestrator::new(store, drivers(&app), cfg).await.unwrap();
        tasks.push(tokio::spawn(o.run(stop.clone())));
    }
    let ids: Vec<String> = apps.iter().map(|(a, _)| a.clone()).collect();
    for (a, _) in &apps {
        running(&app, t, a, None, 4).await;
    }
    // scale everything while both run
    for (i, (_, g1)) in apps.iter().enumerate() {
        let desired = if i % 2 == 0 { 5 } else { 1 };
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/groups/{g1}/desired"),
            Some(t),
            Some(json!({"desired": desired})),
        )
        .await
        .assert_status(202);
    }
    for (i, (a, g1)) in apps.iter().enumerate() {
        running(&app, t, a, Some(g1), if i % 2 == 0 { 5 } else { 1 }).await;
    }
    assert_no_duplicates_or_orphans(&app, t, &ids).await;
    stop.cancel();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn released_claims_come_due_as_their_passes_said() {
    use chrono::{Duration as D, Utc};
    use store::repo::unscoped::applications::{
        Release, claim_due, get as get_any, release_all, touch,
    };
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "P").await;
    let mut ids = Vec::new();
    for name in ["calm", "changed", "failing"] {
        let id = application(&app, &acme.admin.token, &project, name).await;
        ids.push(id.parse::<common::ApplicationId>().expect("id"));
    }
    let (calm, changed, failing) = (ids[0], ids[1], ids[2]);
    let claim = |owner: &'static str, at: D| {
        app.store.write(move |c| {
            let now = Utc::now();
            claim_due(c, owner, now + at, now + at + D::minutes(1), 100)
        })
    };
    let claims = claim("east", D::days(1)).await.expect("claim");
    assert_eq!(claims.len(), 3, "{claims:?}");
    // a change lands during the pass
    app.store
        .write(move |c| touch(c, changed))
        .await
        .expect("touch");
    let hour = Utc::now() + D::hours(1);
    let released: Vec<Release> = claims
        .iter()
        .map(|&claim| Release {
            claim,
            next: hour,
            error: (claim.id == failing).then(|| "boom".to_owned()),
        })
        .collect();
    app.store
        .write(move |c| release_all(c, "east", &released))
        .await
        .expect("release");
    // only the changed one is due before the hour
    let due = claim("east", D::minutes(30)).await.expect("claim");
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![changed]);
    let get = |id| app.store.read(move |c| get_any(c, id));
    let failed = get(failing).await.expect("read").expect("exists");
    assert_eq!(
        (failed.failures, failed.last_error.as_deref()),
        (1, Some("boom"))
    );
    assert_eq!(get(calm).await.expect("read").expect("exists").failures, 0);
    // a lease held by someone else is not given back by us, and our outcome is not recorded
    let theirs: Vec<Release> = due
        .iter()
        .map(|&claim| Release {
            claim,
            next: hour,
            error: Some("not mine".to_owned()),
        })
        .collect();
    app.store
        .write(move |c| release_all(c, "west", &theirs))
        .await
        .expect("release");
    let still = get(changed).await.expect("read").expect("exists");
    assert_eq!((still.failures, still.last_error), (0, None));
    assert!(
        claim("west", D::minutes(30))
            .await
            .expect("claim")
            .is_empty(),
        "east still holds its lease"
    );
}

#[tokio::test]
async fn a_write_that_panics_half_way_leaves_nothing_and_the_store_goes_on() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    // one connection, so the next job gets the very connection the panic left behind
    let opts = store::PoolOptions {
        max_size: 1,
        ..Default::default()
    };
    let open = || store::Store::open(&app.config.database_url, &opts).expect("store");
    let rename = |name: &'static str, panic: bool| {
        move |c: &mut store::DbConn| -> Result<(), store::StoreError> {
            c.batch_execute(&format!(
                "UPDATE tenants SET name = '{name}' WHERE kind = 'provider'"
            ))?;
            assert!(!panic, "a bug half-way through a transaction");
            Ok(())
        }
    };
    let s = open();
    let r = s.write(rename("half-way", true)).await;
    assert!(matches!(r, Err(store::StoreError::Worker)), "{r:?}");
    s.write(rename("after", false))
        .await
        .expect("the next write");
    drop(s);
    // what another connection sees: the second write, committed; nothing of the first
    let fresh = open();
    let name = fresh
        .read(|c| {
            use diesel::prelude::*;
            use store::schema::tenants::dsl as t;
            t::tenants
                .filter(t::kind.eq("provider"))
                .select(t::name)
                .first::<String>(c)
                .map_err(store::StoreError::from)
        })
        .await
        .expect("read");
    assert_eq!(name, "after");
}

/// A pass that takes longer than its lease (every driver call is slower than the lease) keeps its
/// application: the lease is renewed while the pass runs, so another orchestrator cannot claim it.
#[tokio::test]
async fn a_pass_longer_than_its_lease_keeps_the_application() {
    use chrono::Utc;
    use store::repo::unscoped::applications::{claim_due, lease_of};
    // (host checks get time enough for the slow calls: only leases are on trial here)
    let app = TestApp::spawn_with(|c| {
        c.orchestrator = false;
        c.host_check_ms = 5000;
    })
    .await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let (a, _, _) = two_group_app(&app, &acme.admin, &project, "slow", (1, 1)).await;
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);
    let id: common::ApplicationId = a.parse().unwrap();
    // every driver call takes about two seconds; the lease is 300 ms
    let sim = app.state.sim.clone().unwrap();
    sim.set_faults(orchestrator::Faults {
        fail_boots: false,
        fail_scripts: false,
        hang_scripts: false,
        slow: 200.0,
    });
    let east = Orchestrator::new(app.store.clone(), drivers(&app), config(&app, "east", None))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(east.clone().run(stop.clone()));
    // east places the appliances, then its next pass boots them: a pass of several slow calls
    app.eventually(20, "east to have placed the appliances", || async {
        let all = crate::fixtures::appliances(&app, t, &a).await;
        all.iter().any(|x| x["state"] == "creating").then_some(())
    })
    .await;
    // more than twice the lease later, that pass still runs; the lease is east's, renewed…
    let since = std::time::Instant::now();
    app.eventually(20, "two leases' time on the clock", || async {
        (since.elapsed() > Duration::from_millis(700)).then_some(())
    })
    .await;
    let (owner, until) = app
        .store
        .read(move |c| lease_of(c, id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.as_deref(), Some("east"));
    assert!(until.unwrap() > Utc::now(), "the lease is current");
    // …so west finds nothing to claim
    let stolen = app
        .store
        .write(|c| {
            let now = Utc::now();
            claim_due(c, "west", now, now + chrono::Duration::seconds(30), 100)
        })
        .await
        .unwrap();
    assert!(
        stolen.iter().all(|c| c.id != id),
        "west claimed an application east is still working on"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

/// Two orchestrators on one database whose driver calls are slower than their lease: every lease is
/// kept through its pass, and no appliance gets two domains.
#[tokio::test]
async fn two_orchestrators_with_slow_hosts_never_double_create() {
    // (host checks get time enough for the slow calls: the hosts are slow, not down)
    let app = TestApp::spawn_with(|c| {
        c.orchestrator = false;
        c.host_check_ms = 2000;
    })
    .await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let mut apps = Vec::new();
    for i in 0..3 {
        let (a, _, _) =
            two_group_app(&app, &acme.admin, &project, &format!("app{i}"), (2, 1)).await;
        app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
            .await
            .assert_status(202);
        apps.push(a);
    }
    let sim = app.state.sim.clone().unwrap();
    sim.set_faults(orchestrator::Faults {
        fail_boots: false,
        fail_scripts: false,
        hang_scripts: false,
        slow: 40.0,
    });
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for name in ["east", "west"] {
        let store = store::Store::open(
            &app.config.database_url,
            &store::PoolOptions {
                max_size: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let o = Orchestrator::new(store, drivers(&app), config(&app, name, None))
            .await
            .unwrap();
        tasks.push(tokio::spawn(o.run(stop.clone())));
    }
    for a in &apps {
        app.eventually(120, "every appliance running", || async {
            let all = crate::fixtures::appliances(&app, t, a).await;
            (all.len() == 3 && all.iter().all(|x| x["state"] == "running")).then_some(())
        })
        .await;
    }
    assert_no_duplicates_or_orphans(&app, t, &apps).await;
    stop.cancel();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

/// A background loop that panics is logged, restarted, and reported by readiness meanwhile.
#[tokio::test]
async fn a_panicking_loop_is_restarted_and_readiness_says_so() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "P").await;
    app.call(reqwest::Method::GET, "/readyz", None, None)
        .await
        .assert_status(200);
    // the next driver call panics: the host monitor's check of a simulated host makes it
    app.state.sim.clone().unwrap().inject_panic();
    let r = app
        .eventually(20, "readiness to report the restarting loop", || async {
            let r = app.call(reqwest::Method::GET, "/readyz", None, None).await;
            (r.status == 503).then_some(r)
        })
        .await;
    r.assert_problem(503, "not_ready");
    assert!(r.text.contains("restarting after 1 panics"), "{}", r.text);
    assert!(r.text.contains("injected panic"), "{}", r.text);
    // restarted after its backoff: ready again, and the orchestrator works
    app.eventually(20, "readiness back", || async {
        let r = app.call(reqwest::Method::GET, "/readyz", None, None).await;
        (r.status == 200).then_some(())
    })
    .await;
    let d = crate::fixtures::deploy_one(&app, &acme.admin, &project).await;
    assert!(!d.appliance.is_empty());
}
