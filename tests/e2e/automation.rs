//! Automation end to end on the simulated pool: the HAProxy example (app servers added to and removed
//! from the load balancer's configuration as the app layer scales), install scripts, rules and their
//! runs, idempotent delivery, resumption after a crash, step timeouts, webhooks, schedules, secrets,
//! bad input, and the agent's reach.

use crate::fixtures::{application, group, layer, resize, running};
use diesel::RunQueryDsl;
use scaleinfra_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The id of a global template by name.
async fn template(app: &TestApp, token: &str, name: &str) -> String {
    let r = app.get(token, "/api/v1/templates?limit=100").await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The servers (`name ip`) a rendered HAProxy configuration lists.
fn servers(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("server")).then(|| {
                let name = w.next().unwrap_or_default();
                let addr = w.next().unwrap_or_default();
                let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
                format!("{name} {ip}")
            })
        })
        .collect()
}

/// The newest succeeded job of `script_name` on an appliance.
async fn last_job(app: &TestApp, token: &str, appliance: &str, script_name: &str) -> Option<Value> {
    let r = app
        .get(
            token,
            &format!("/api/v1/appliances/{appliance}/jobs?limit=100"),
        )
        .await;
    r.body["items"]
        .as_array()?
        .iter()
        .find(|j| j["script_name"] == script_name && j["status"] == "succeeded")
        .cloned()
}

fn live_app_servers(all: &[Value], group: &str) -> BTreeSet<String> {
    all.iter()
        .filter(|a| a["group_id"] == group && a["state"] == "running")
        .map(|a| {
            format!(
                "{} {}",
                a["name"].as_str().unwrap(),
                a["ip"].as_str().unwrap()
            )
        })
        .collect()
}

/// A tenant's application with one HAProxy in layer "lb" and a PHP group (1 to `max`) in `app_layer`.
struct Shop {
    t: TenantFixture,
    a: String,
    lb: String,
    web: String,
    php: String,
}

async fn shop(app: &TestApp, app_layer: &str, max: u32) -> Shop {
    let op = app.operator().await;
    let t = app.tenant(&op, "webshop").await;
    let token = &t.admin.token;
    let project = app.project(&t.admin, "Shop").await;
    let a = application(app, token, &project, "Store").await;
    let lb_layer = layer(app, token, &a, "lb").await;
    let app_layer = layer(app, token, &a, app_layer).await;
    let haproxy = template(app, token, "HAProxy load balancer").await;
    let php = template(app, token, "PHP app server").await;
    let lb = group(app, token, &lb_layer, "haproxy", &haproxy, 1, 1).await;
    let web = group(app, token, &app_layer, "php", &php, 1, max).await;
    Shop { t, a, lb, web, php }
}

#[tokio::test]
async fn app_servers_join_and_leave_the_load_balancer_as_the_app_layer_scales() {
    let app = TestApp::spawn().await;
    let Shop { t, a, lb, web, .. } = shop(&app, "app", 5).await;
    let s = &t.admin;

    // the default wiring is there, visible and editable
    let rules = app
        .get(&s.token, &format!("/api/v1/applications/{a}/rules"))
        .await;
    let defaults: Vec<&Value> = rules.body["items"].as_array().unwrap().iter().collect();
    assert_eq!(defaults.len(), 4, "{}", rules.text);
    assert!(defaults.iter().all(|r| r["origin"] == "default"));
    let events: BTreeSet<&str> = defaults
        .iter()
        .map(|r| r["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        BTreeSet::from([
            "appliance.came_alive",
            "appliance.configured",
            "appliance.terminated",
            "appliance.went_down"
        ])
    );

    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let lbs = running(&app, &s.token, &a, Some(&lb), 1).await;
    let lb_id = lbs[0]["id"].as_str().unwrap().to_owned();
    running(&app, &s.token, &a, Some(&web), 1).await;
    // the load balancer was configured by its install script
    let install = last_job(&app, &s.token, &lb_id, "install-haproxy").await;
    assert!(
        install.is_some(),
        "the HAProxy appliance ran its install script"
    );

    // scale the app layer 1 → 3
    resize(&app, &s.token, &web, 3).await;
    let three = running(&app, &s.token, &a, Some(&web), 3).await;
    let want = live_app_servers(&three, &web);
    assert_eq!(want.len(), 3);
    app.eventually(
        30,
        "the load balancer lists the three app servers",
        || async {
            let job = last_job(&app, &s.token, &lb_id, "haproxy-add-app-servers").await?;
            (servers(job["script"].as_str()?) == want).then_some(())
        },
    )
    .await;

    // scale in to two: the group terminates one, and the remove chain lists the two left (a
    // terminated appliance of a group kept at three would be replaced at once)
    resize(&app, &s.token, &web, 2).await;
    let two = running(&app, &s.token, &a, Some(&web), 2).await;
    let left = live_app_servers(&two, &web);
    assert_eq!(left.len(), 2);
    assert!(left.is_subset(&want));
    app.eventually(
        30,
        "the load balancer lists the two app servers left",
        || async {
            let job = last_job(&app, &s.token, &lb_id, "haproxy-remove-app-server").await?;
            (servers(job["script"].as_str()?) == left).then_some(())
        },
    )
    .await;
    // every run of the default rules succeeded, each step with its output
    let runs = app
        .eventually(30, "every run ended", || async {
            let r = app
                .get(
                    &s.token,
                    &format!("/api/v1/applications/{a}/runs?limit=100"),
                )
                .await;
            let runs = r.body["items"].as_array()?.clone();
            runs.iter()
                .all(|r| matches!(r["status"].as_str(), Some("succeeded" | "failed")))
                .then_some(runs)
        })
        .await;
    assert!(
        runs.len() >= 4,
        "three came alive, one terminated: {runs:?}"
    );
    for r in runs {
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["steps"][0]["status"], "succeeded");
        assert_eq!(
            r["steps"][0]["jobs"].as_array().unwrap().len(),
            1,
            "one load balancer"
        );
    }
}

#[tokio::test]
async fn a_failing_install_script_fails_the_appliance_with_its_output() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let t = app.tenant(&op, "broken").await;
    let s = &t.admin;
    let project = app.project(s, "P").await;
    let a = application(&app, &s.token, &project, "A").await;
    let l = layer(&app, &s.token, &a, "db").await;
    let mysql = template(&app, &s.token, "MySQL").await;
    group(&app, &s.token, &l, "db", &mysql, 1, 1).await;
    app.call(
        reqwest::Method::PUT,
        "/api/v1/sim/faults",
        Some(&op.token),
        Some(json!({"fail_boots": false, "fail_scripts": true, "slow": 1.0})),
    )
    .await
    .assert_status(200);
    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let failed = app
        .eventually(30, "the appliance failed", || async {
            let all = crate::fixtures::appliances(&app, &s.token, &a).await;
            all.into_iter().find(|x| x["state"] == "failed")
        })
        .await;
    assert!(
        failed["state_reason"]
            .as_str()
            .unwrap()
            .contains("install-mysql"),
        "{failed}"
    );
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
        .find(|e| e["type"] == "appliance.config_failed")
        .cloned()
        .unwrap_or_else(|| panic!("no config_failed event in {}", events.text));
    let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["script"], "install-mysql");
    assert!(
        detail["stderr"]
            .as_str()
            .unwrap()
            .contains("simulated failure")
    );
}

/// Tenant, application and a rule on `appliance.came_alive` whose steps `steps` makes from a
/// CloudScript's id; deployed and running: (admin, application, rule, appliance).
async fn with_rule(
    app: &TestApp,
    slug: &str,
    steps: impl FnOnce(&str) -> Value,
) -> (Session, String, String, String) {
    let op = app.operator().await;
    let t = app.tenant(&op, slug).await;
    let s = t.admin.clone();
    let project = app.project(&s, "P").await;
    let a = application(app, &s.token, &project, "A").await;
    let l = layer(app, &s.token, &a, "web").await;
    let tpl = crate::fixtures::template(app, &s, "Tiny", 1, 256).await;
    group(app, &s.token, &l, "web", &tpl, 1, 4).await;
    let script = crate::fixtures::script(app, &s.token).await;
    let r = app
        .post(
            &s.token,
            &format!("/api/v1/applications/{a}/rules"),
            json!({"name": "r", "event_type": "appliance.came_alive", "steps": steps(&script)}),
        )
        .await;
    r.assert_status(201);
    let rule = r.body["id"].as_str().unwrap().to_owned();
    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let up = running(app, &s.token, &a, None, 1).await;
    (s, a, rule, up[0]["id"].as_str().unwrap().to_owned())
}

fn greet(script: &str) -> Value {
    json!([{"action": {"type": "run_script", "script_id": script,
        "target": {"kind": "event_appliance"}, "variables": {"greeting": "{{ app.name }} says hi"}}}])
}

async fn undispatched(app: &TestApp) -> i64 {
    app.store
        .read(|c| {
            use diesel::prelude::*;
            store::schema::events::table
                .filter(store::schema::events::dispatched.eq(false))
                .count()
                .get_result(c)
                .map_err(store::StoreError::from)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_event_delivered_again_makes_no_second_run() {
    let app = TestApp::spawn().await;
    let (s, _a, rule, appliance) = with_rule(&app, "twice", greet).await;
    let run = crate::fixtures::ended_run(&app, &s.token, &rule).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let job = &run["steps"][0]["jobs"][0];
    let j = app
        .get(&s.token, &format!("/api/v1/jobs/{}", job.as_str().unwrap()))
        .await;
    assert!(
        j.body["script"]
            .as_str()
            .unwrap()
            .contains("echo A says hi from"),
        "a variable's expression rendered against the context: {}",
        j.text
    );
    // deliver every event again, as after a crash before the dispatch committed
    app.store
        .write(|c| {
            diesel::sql_query("UPDATE events SET dispatched = FALSE")
                .execute(c)
                .map_err(store::StoreError::from)
        })
        .await
        .unwrap();
    app.eventually(30, "the events are dispatched again", || async {
        (undispatched(&app).await == 0).then_some(())
    })
    .await;
    let runs = app
        .get(&s.token, &format!("/api/v1/rules/{rule}/runs?limit=100"))
        .await;
    assert_eq!(
        runs.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        runs.text
    );
    let jobs = app
        .get(
            &s.token,
            &format!("/api/v1/appliances/{appliance}/jobs?limit=100"),
        )
        .await;
    assert_eq!(
        jobs.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        jobs.text
    );
}

async fn rules_of(app: &TestApp, token: &str, a: &str) -> Vec<Value> {
    let r = app
        .get(token, &format!("/api/v1/applications/{a}/rules"))
        .await;
    r.body["items"].as_array().unwrap().clone()
}

/// Each default rule is made once: one a user removed stays removed, and one added by a later version
/// (here the fourth, for an application wired when there were three) reaches an application on its
/// next group change. Its layer name is a literal: `{{` in the name is text, not a template.
#[tokio::test]
async fn defaults_are_made_once_and_a_later_one_reaches_older_applications() {
    let app = TestApp::spawn().await;
    let Shop { t, a, lb, php, .. } = shop(&app, r#"app "{{ x }}""#, 3).await;
    let s = &t.admin;
    let fourth = "Give a configured load balancer the app servers";
    let find = |all: &[Value]| all.iter().find(|r| r["name"] == fourth).cloned();
    let made = rules_of(&app, &s.token, &a).await;
    assert_eq!(made.len(), 4);
    let id = find(&made).unwrap()["id"].as_str().unwrap().to_owned();
    app.delete(&s.token, &format!("/api/v1/rules/{id}"))
        .await
        .assert_status(204);
    // another group change wires again: the removed default is not made again
    let extra = layer(&app, &s.token, &a, "more").await;
    group(&app, &s.token, &extra, "php2", &php, 1, 1).await;
    assert_eq!(
        rules_of(&app, &s.token, &a).await.len(),
        3,
        "a removed default stays removed"
    );

    // an application wired when there were three defaults (as the migration leaves it)
    let app_id = a.clone();
    app.store
        .write(move |c| {
            use diesel::prelude::*;
            use store::schema::applications::dsl as ap;
            diesel::update(ap::applications.filter(ap::id.eq(app_id)))
                .set(ap::defaults_wired.eq(3))
                .execute(c)
                .map_err(store::StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(
        rules_of(&app, &s.token, &a).await.len(),
        3,
        "nothing is made until the application changes"
    );
    let later = layer(&app, &s.token, &a, "later").await;
    group(&app, &s.token, &later, "php3", &php, 1, 1).await;
    let all = rules_of(&app, &s.token, &a).await;
    assert_eq!(all.len(), 4, "the later default comes once");
    let rule = find(&all).expect("the fourth default");

    // it hands the load balancer the app layer by its literal name
    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let lbs = running(&app, &s.token, &a, Some(&lb), 1).await;
    let lb_id = lbs[0]["id"].as_str().unwrap().to_owned();
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    let job = app
        .eventually(60, "the fourth rule's job on the load balancer", || async {
            let runs = app
                .get(&s.token, &format!("/api/v1/rules/{rule_id}/runs"))
                .await;
            let run_ids: Vec<Value> = runs.body["items"]
                .as_array()?
                .iter()
                .map(|r| r["id"].clone())
                .collect();
            let jobs = app
                .get(
                    &s.token,
                    &format!("/api/v1/appliances/{lb_id}/jobs?limit=100"),
                )
                .await;
            jobs.body["items"]
                .as_array()?
                .iter()
                .find(|j| run_ids.contains(&j["run_id"]) && j["status"] == "succeeded")
                .cloned()
        })
        .await;
    let script = job["script"].as_str().unwrap();
    assert!(
        script.contains(r#"BACKEND_LAYER='app "{{ x }}"'"#),
        "the layer's name, as it is: {script}"
    );
}
