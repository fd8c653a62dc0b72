//! The cross-tenant sweep: for every route that takes an id, tenant B's admin, user and finance users
//! get for tenant A's objects exactly what they get for ids that do not exist (404 where their role is
//! admitted), on reads and on writes — and nothing of A changes.

use crate::fixtures::{Deployed, deploy_one};
use crate::matrix::{fill, method, openapi, operations};
use scaleinfra_tests::*;
use serde_json::{Value, json};

/// Everything of tenant A that B could try to touch, read through A's own eyes (volatile fields such as
/// heartbeats left out).
async fn snapshot(
    app: &TestApp,
    op: &Session,
    a: &TenantFixture,
    project: &str,
    user: &str,
    d: &Deployed,
) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/tenants/{}", a.id),
        format!("/api/v1/tenants/{}/users?limit=500", a.id),
        format!("/api/v1/tenants/{}/projects?limit=500", a.id),
    ] {
        out.push(app.get(&op.token, &path).await.body);
    }
    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/projects/{project}/members"),
        format!("/api/v1/users/{user}"),
        format!("/api/v1/users/{user}/projects"),
        format!("/api/v1/templates/{}", d.template),
        format!("/api/v1/applications/{}", d.application),
        format!("/api/v1/groups/{}", d.group),
        format!("/api/v1/cloudscripts/{}", d.script),
        format!("/api/v1/cloudscripts/{}/versions", d.script),
        format!("/api/v1/rules/{}", d.rule),
        format!("/api/v1/runs/{}", d.run),
        format!("/api/v1/jobs/{}", d.job),
    ] {
        let r = app.get(&a.admin.token, &path).await;
        r.assert_status(200);
        out.push(r.body);
    }
    let r = app
        .get(
            &a.admin.token,
            &format!("/api/v1/appliances/{}", d.appliance),
        )
        .await;
    out.push(json!([r.body["state"], r.body["name"], r.body["group_id"]]));
    let tid: common::TenantId = a.id.parse().unwrap();
    let audit = app
        .store
        .read(move |c| store::repo::audit::count(c, Some(tid)))
        .await
        .unwrap();
    out.push(json!(audit));
    out
}

/// A body that would change something if it were applied.
fn hostile_body(m: &str, path: &str, global_template: &str) -> Option<Value> {
    let p = path.trim_start_matches("/api/v1");
    match (m, p) {
        ("PATCH", p) if p.starts_with("/users/") => {
            Some(json!({"name": "hijacked by B", "disabled": true}))
        }
        ("PATCH", _) => Some(json!({"name": "hijacked by B"})),
        ("PUT", p) if p.ends_with("/desired") => Some(json!({"desired": 0})),
        ("PUT", p) if p.ends_with("/load") => Some(json!({"load_pct": 99})),
        ("POST", p) if p.ends_with("/layers") => Some(json!({"name": "evil"})),
        ("POST", p) if p.ends_with("/groups") => {
            Some(json!({"name": "evil", "template_id": global_template,
            "size": {"desired": 1, "min": 0, "max": 2}}))
        }
        ("POST", p) if p.ends_with("/applications") => Some(json!({"name": "evil"})),
        ("POST", p) if p.ends_with("/versions") => Some(json!({"body": "#!/bin/sh\nrm -rf /\n"})),
        ("POST", p) if p.ends_with("/render") => {
            Some(json!({"appliance_id": "00000000-0000-7000-8000-000000000000"}))
        }
        ("POST", p) if p.ends_with("/run") => {
            Some(json!({"appliance_ids": ["00000000-0000-7000-8000-000000000000"]}))
        }
        ("POST", p) if p.ends_with("/rules") => Some(json!({"name": "evil",
            "event_type": "appliance.came_alive",
            "steps": [{"action": {"type": "email", "to": ["b@beta.test"], "subject": "s", "body": "b"}}]})),
        ("POST" | "PUT", _) => Some(json!({})),
        _ => None,
    }
}

#[tokio::test]
async fn tenant_b_cannot_see_or_touch_tenant_a() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let a = app.tenant(&op, "alpha").await;
    let a_user = app.user(&a.admin, "user").await;
    let a_project = app.project(&a.admin, "Alpha shop").await;
    app.assign(&a.admin, &a_project, &a_user.id).await;
    let d = deploy_one(&app, &a.admin, &a_project).await;

    let b = app.tenant(&op, "beta").await;
    let b_user = app.user(&b.admin, "user").await;
    let b_fin = app.user(&b.admin, "finance").await;
    let b_project = app.project(&b.admin, "Beta shop").await;
    app.assign(&b.admin, &b_project, &b_user.id).await;

    let pools = app.get(&op.token, "/api/v1/pools").await;
    let pool = pools.body["items"][0]["id"].as_str().unwrap().to_owned();
    let hosts = app
        .get(&op.token, &format!("/api/v1/pools/{pool}/hosts"))
        .await;
    let host = hosts.body["items"][0]["id"].as_str().unwrap().to_owned();
    let image = crate::fixtures::sim_image(&app, &op.token).await;
    let templates = app.get(&b.admin.token, "/api/v1/templates").await;
    let global = templates.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let before = snapshot(&app, &op, &a, &a_project, &a_user.id, &d).await;
    let doc = openapi(&app).await;
    let mut swept = 0;
    for o in operations(&doc) {
        // agent routes take an appliance's token, not a user's: an appliance reaching another's job
        // is tested in automation.rs
        if !o.path.contains('{') || o.agent {
            continue;
        }
        // images are the provider's, shown to every tenant's admins without their files: no tenant
        // owns one, so there is no other tenant's image to hide (operator-only routes are swept)
        if o.path.starts_with("/api/v1/images/") && o.method == "GET" {
            continue;
        }
        let a_path = fill(&o.path, |p| match p {
            "tenant_id" => a.id.clone(),
            "project_id" => a_project.clone(),
            "user_id" => a_user.id.clone(),
            "template_id" => d.template.clone(),
            "application_id" => d.application.clone(),
            "layer_id" => d.layer.clone(),
            "group_id" => d.group.clone(),
            "appliance_id" => d.appliance.clone(),
            "pool_id" => pool.clone(),
            "host_id" => host.clone(),
            "image_id" => image.clone(),
            "script_id" => d.script.clone(),
            "version" => "1".into(),
            "rule_id" => d.rule.clone(),
            "run_id" => d.run.clone(),
            "job_id" => d.job.clone(),
            other => panic!("the sweep does not know the id {other} of {}", o.path),
        });
        let missing_path = fill(&o.path, |_| uuid::Uuid::now_v7().to_string());
        for (role, s) in [("admin", &b.admin), ("user", &b_user), ("finance", &b_fin)] {
            let body = hostile_body(&o.method, &o.path, &global);
            let foreign = app
                .call(method(&o.method), &a_path, Some(&s.token), body.clone())
                .await;
            let missing = app
                .call(method(&o.method), &missing_path, Some(&s.token), body)
                .await;
            assert_eq!(
                (foreign.status, &foreign.body),
                (missing.status, &missing.body),
                "{role} of B on {} {}: A's object must answer like a missing one",
                o.method,
                o.path
            );
            let admitted = o.roles.as_ref().is_some_and(|r| r.contains(role));
            if admitted {
                foreign.assert_problem(404, "not_found");
            } else {
                foreign.assert_problem(403, "forbidden");
            }
            swept += 1;
        }
    }
    assert!(swept >= 120, "only {swept} checks");
    let after = snapshot(&app, &op, &a, &a_project, &a_user.id, &d).await;
    assert_eq!(before, after, "tenant A changed");
    // B's own objects still work for B
    app.get(&b_user.token, &format!("/api/v1/projects/{b_project}"))
        .await
        .assert_status(200);
}
