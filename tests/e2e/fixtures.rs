//! Fixture builders for applications on the simulated pool.

use scaleinfra_tests::*;
use serde_json::{Value, json};

/// A deployed one-layer application whose single appliance runs.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub template: String,
    pub application: String,
    pub layer: String,
    pub group: String,
    pub appliance: String,
    /// A CloudScript of the admin's tenant (the library's for an operator).
    pub script: String,
    /// A rule of the application that ran the script when the appliance came alive …
    pub rule: String,
    /// … its run …
    pub run: String,
    /// … and the run's script job on the appliance.
    pub job: String,
}

/// A CloudScript greeting its appliance; returns its id.
pub async fn script(app: &TestApp, token: &str) -> String {
    let r = app
        .post(
            token,
            "/api/v1/cloudscripts",
            json!({
                "name": format!("hello-{}", app.unique()),
                "body": "#!/bin/sh\necho {{ vars.greeting }} from {{ appliance.name }}\n",
                "variables": [{"name": "greeting", "type": "string", "default": "hello"}],
                "timeout_secs": 60
            }),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A rule running `script` on the appliance that came alive; returns its id.
pub async fn rule(app: &TestApp, token: &str, application: &str, script: &str) -> String {
    let r = app
        .post(
            token,
            &format!("/api/v1/applications/{application}/rules"),
            json!({
                "name": format!("greet-{}", app.unique()),
                "event_type": "appliance.came_alive",
                "steps": [{"action": {"type": "run_script", "script_id": script,
                    "target": {"kind": "event_appliance"}}}]
            }),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The id of the simulated pool's base disk image (seeded on first start).
pub async fn sim_image(app: &TestApp, token: &str) -> String {
    let r = app.get(token, "/api/v1/images").await;
    r.assert_status(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "disk")
        .and_then(|i| i["id"].as_str())
        .expect("the simulated pool's base image")
        .to_owned()
}

/// A private template of the admin's tenant, on the simulated pool's base image.
pub async fn template(
    app: &TestApp,
    admin: &Session,
    name: &str,
    vcpus: u32,
    memory_mib: u32,
) -> String {
    let image = sim_image(app, &admin.token).await;
    let r = app
        .post(
            &admin.token,
            "/api/v1/templates",
            json!({
                "name": name, "role": "app_server", "image_id": image,
                "flavor": {"vcpus": vcpus, "memory_mib": memory_mib, "disk_gib": 10}, "ports": [80]
            }),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

pub async fn application(app: &TestApp, token: &str, project: &str, name: &str) -> String {
    let r = app
        .post(
            token,
            &format!("/api/v1/projects/{project}/applications"),
            json!({"name": name}),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Add a layer; returns its id.
pub async fn layer(app: &TestApp, token: &str, application: &str, name: &str) -> String {
    let r = app
        .post(
            token,
            &format!("/api/v1/applications/{application}/layers"),
            json!({"name": name}),
        )
        .await;
    r.assert_status(201);
    r.body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Add a group; returns its id.
pub async fn group(
    app: &TestApp,
    token: &str,
    layer: &str,
    name: &str,
    template: &str,
    desired: u32,
    max: u32,
) -> String {
    let r = app
        .post(token, &format!("/api/v1/layers/{layer}/groups"), json!({
            "name": name, "template_id": template, "size": {"desired": desired, "min": 0, "max": max}
        }))
        .await;
    r.assert_status(201);
    let groups: Vec<&Value> = r.body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["groups"].as_array().unwrap().iter())
        .collect();
    groups.iter().find(|g| g["name"] == name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The live appliances of an application.
pub async fn appliances(app: &TestApp, token: &str, application: &str) -> Vec<Value> {
    let r = app
        .get(
            token,
            &format!("/api/v1/applications/{application}/appliances?limit=500"),
        )
        .await;
    r.assert_status(200);
    r.body["items"].as_array().unwrap().clone()
}

/// Wait until the application's appliances of `group` (all groups when `None`) are exactly `n`, all
/// running; returns them. On timeout the failure shows what there was.
pub async fn running(
    app: &TestApp,
    token: &str,
    application: &str,
    group: Option<&str>,
    n: usize,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let all = appliances(app, token, application).await;
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|a| group.is_none_or(|g| a["group_id"] == g))
            .collect();
        if mine.len() == n && mine.iter().all(|a| a["state"] == "running") {
            return mine;
        }
        if tokio::time::Instant::now() > deadline {
            let seen: Vec<String> = mine
                .iter()
                .map(|a| format!("{} {} ({})", a["name"], a["state"], a["state_reason"]))
                .collect();
            panic!("timed out waiting for {n} running appliances; there are: {seen:#?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// A private template, an application with one layer and one group of one appliance, deployed and
/// running.
pub async fn deploy_one(app: &TestApp, admin: &Session, project: &str) -> Deployed {
    let template = template(app, admin, "Tiny web", 1, 512).await;
    let application = application(app, &admin.token, project, "Shop").await;
    let layer = layer(app, &admin.token, &application, "web").await;
    let group = group(app, &admin.token, &layer, "web", &template, 1, 3).await;
    let script = script(app, &admin.token).await;
    let rule = rule(app, &admin.token, &application, &script).await;
    app.post(
        &admin.token,
        &format!("/api/v1/applications/{application}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let up = running(app, &admin.token, &application, None, 1).await;
    let appliance = up[0]["id"].as_str().unwrap().to_owned();
    let (run, job) = app
        .eventually(30, "the rule's run with its job", || async {
            let r = app
                .get(&admin.token, &format!("/api/v1/rules/{rule}/runs"))
                .await;
            let run = &r.body["items"][0];
            let job = run["steps"][0]["jobs"][0].as_str()?;
            (run["status"] == "succeeded")
                .then(|| (run["id"].as_str().unwrap().to_owned(), job.to_owned()))
        })
        .await;
    Deployed {
        template,
        application,
        layer,
        group,
        appliance,
        script,
        rule,
        run,
        job,
    }
}

/// The newest run of a rule, once it has ended.
pub async fn ended_run(app: &TestApp, token: &str, rule: &str) -> Value {
    app.eventually(30, "the rule's run ended", || async {
        let r = app.get(token, &format!("/api/v1/rules/{rule}/runs")).await;
        let run = r.body["items"][0].clone();
        matches!(run["status"].as_str(), Some("succeeded" | "failed")).then_some(run)
    })
    .await
}

/// Set a group's desired size (202).
pub async fn resize(app: &TestApp, token: &str, group: &str, desired: u32) {
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/groups/{group}/desired"),
        Some(token),
        Some(json!({"desired": desired})),
    )
    .await
    .assert_status(202);
}
