//! The main flows: operator creates a tenant, its admin creates users and projects and assigns them,
//! users see exactly their projects.

use scaleinfra_tests::*;
use serde_json::json;

#[tokio::test]
async fn tenant_admin_user_project_assignment_flow() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let other = app.tenant(&op, "globex").await;
    let user = app.user(&acme.admin, "user").await;
    let p1 = app.project(&acme.admin, "Web shop").await;
    let _p2 = app.project(&acme.admin, "Intranet").await;
    let foreign = app.project(&other.admin, "Globex site").await;

    // before assignment the user sees nothing
    let r = app.get(&user.token, "/api/v1/projects").await;
    r.assert_status(200);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0));
    app.get(&user.token, &format!("/api/v1/projects/{p1}"))
        .await
        .assert_problem(404, "not_found");

    app.assign(&acme.admin, &p1, &user.id).await;
    let r = app.get(&user.token, "/api/v1/projects").await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Web shop"]);
    app.get(&user.token, &format!("/api/v1/projects/{p1}"))
        .await
        .assert_status(200);
    app.get(&user.token, &format!("/api/v1/projects/{foreign}"))
        .await
        .assert_problem(404, "not_found");

    // the admin sees both of its projects and not the other tenant's
    let r = app.get(&acme.admin.token, "/api/v1/projects").await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));

    // members and the user's projects agree
    let r = app
        .get(&acme.admin.token, &format!("/api/v1/projects/{p1}/members"))
        .await;
    assert_eq!(r.body["items"][0]["user_id"], json!(user.id));
    let r = app
        .get(
            &acme.admin.token,
            &format!("/api/v1/users/{}/projects", user.id),
        )
        .await;
    assert_eq!(r.body["items"][0]["project_id"], json!(p1));

    // assigning again is idempotent (200, not 201)
    app.put(
        &acme.admin.token,
        &format!("/api/v1/projects/{p1}/members/{}", user.id),
    )
    .await
    .assert_status(200);

    // rename, unassign, delete
    let r = app
        .patch(
            &acme.admin.token,
            &format!("/api/v1/projects/{p1}"),
            json!({"name": "Shop"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["name"], "Shop");
    app.delete(
        &acme.admin.token,
        &format!("/api/v1/projects/{p1}/members/{}", user.id),
    )
    .await
    .assert_status(204);
    app.delete(
        &acme.admin.token,
        &format!("/api/v1/projects/{p1}/members/{}", user.id),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        app.get(&user.token, "/api/v1/projects").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    app.delete(&acme.admin.token, &format!("/api/v1/projects/{p1}"))
        .await
        .assert_status(204);
    app.get(&acme.admin.token, &format!("/api/v1/projects/{p1}"))
        .await
        .assert_problem(404, "not_found");

    // every change left an audit entry in acme's log, and none in globex's
    let r = app.get(&acme.admin.token, "/api/v1/audit?limit=500").await;
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "tenant.create",
        "user.create",
        "project.create",
        "project.assign",
        "project.rename",
        "project.unassign",
        "project.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant_id"] == json!(acme.id))
    );
}

#[tokio::test]
async fn operator_sees_every_tenant_and_manages_their_lifecycle() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let p = app.project(&acme.admin, "Shop").await;

    let r = app.get(&op.token, "/api/v1/tenants").await;
    let slugs: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["provider", "acme"]);
    let r = app
        .get(&op.token, &format!("/api/v1/tenants/{}/projects", acme.id))
        .await;
    assert_eq!(r.body["items"][0]["id"], json!(p));
    let r = app
        .get(&op.token, &format!("/api/v1/tenants/{}/users", acme.id))
        .await;
    assert_eq!(r.body["items"][0]["email"], "admin@acme.test");

    let r = app.patch(&op.token, &format!("/api/v1/tenants/{}", acme.id),
        json!({"name": "Acme Corp", "quotas": {"max_vcpus": 8, "max_memory_mib": 16384, "max_appliances": 4}})).await;
    r.assert_status(200);
    assert_eq!(r.body["quotas"]["max_vcpus"], 8);

    // the provider tenant can be neither suspended nor deleted
    let provider = op.tenant_id.clone();
    app.post(
        &op.token,
        &format!("/api/v1/tenants/{provider}/suspend"),
        json!({}),
    )
    .await
    .assert_problem(409, "provider_tenant");
    app.delete(&op.token, &format!("/api/v1/tenants/{provider}"))
        .await
        .assert_problem(409, "provider_tenant");

    // duplicate slug
    let r = app
        .post(
            &op.token,
            "/api/v1/tenants",
            json!({"name": "Again", "slug": "acme",
        "admin": {"email": "x@again.test", "name": "X", "password": STRONG_PASSWORD}}),
        )
        .await;
    r.assert_problem(409, "conflict");
    assert_eq!(
        r.field_errors(),
        vec![("slug".to_string(), "taken".to_string())]
    );

    // delete cascades: the admin's token stops working, the tenant is gone
    app.delete(&op.token, &format!("/api/v1/tenants/{}", acme.id))
        .await
        .assert_status(204);
    app.get(&op.token, &format!("/api/v1/tenants/{}", acme.id))
        .await
        .assert_problem(404, "not_found");
    app.get(&acme.admin.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    app.try_login("admin@acme.test", STRONG_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn admins_keep_control_of_their_tenant() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let me = format!("/api/v1/users/{}", acme.admin.id);

    // no self-lockout
    app.patch(&acme.admin.token, &me, json!({"disabled": true}))
        .await
        .assert_problem(409, "self_lockout");
    app.patch(&acme.admin.token, &me, json!({"role": "user"}))
        .await
        .assert_problem(409, "self_lockout");
    // renaming oneself is fine
    app.patch(&acme.admin.token, &me, json!({"name": "Chief"}))
        .await
        .assert_status(200);

    // a second admin may demote the first; the demoted admin's token dies at once
    let admin2 = app.user(&acme.admin, "admin").await;
    let r = app.patch(&admin2.token, &me, json!({"role": "user"})).await;
    r.assert_status(200);
    assert_eq!(r.body["role"], "user");
    app.get(&acme.admin.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    let demoted = app.login("admin@acme.test", STRONG_PASSWORD).await;
    app.get(&demoted.token, "/api/v1/users")
        .await
        .assert_problem(403, "forbidden");
    // the remaining admin cannot lock itself out either
    let admin2_path = format!("/api/v1/users/{}", admin2.id);
    app.patch(&admin2.token, &admin2_path, json!({"disabled": true}))
        .await
        .assert_problem(409, "self_lockout");

    // roles must fit the tenant kind
    let r = app.post(&admin2.token, "/api/v1/users", json!({"email": "o@acme.test", "name": "O", "role": "operator", "password": STRONG_PASSWORD})).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        vec![("role".to_string(), "not_allowed".to_string())]
    );
}

#[tokio::test]
async fn finance_users_read_money_not_projects() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let fin = app.user(&acme.admin, "finance").await;
    let p = app.project(&acme.admin, "Shop").await;
    app.get(&fin.token, "/api/v1/projects")
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .put(
            &acme.admin.token,
            &format!("/api/v1/projects/{p}/members/{}", fin.id),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        app.get(&fin.token, "/api/v1/auth/me").await.body["role"],
        "finance"
    );
}

#[tokio::test]
async fn lists_are_paginated_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.project(&acme.admin, &format!("p{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/projects?limit=3&cursor={c}"),
            None => "/api/v1/projects?limit=3".to_string(),
        };
        let r = app.get(&acme.admin.token, &path).await;
        r.assert_status(200);
        pages += 1;
        for p in r.body["items"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    app.get(&acme.admin.token, "/api/v1/projects?limit=0")
        .await
        .assert_problem(422, "validation_failed");
    app.get(&acme.admin.token, "/api/v1/projects?limit=501")
        .await
        .assert_problem(422, "validation_failed");
    app.get(&acme.admin.token, "/api/v1/projects?cursor=%%%")
        .await
        .assert_problem(422, "validation_failed");
    // other query parameters are ignored (the document cannot forbid them), an empty cursor is the
    // first page
    let all = app
        .get(&acme.admin.token, "/api/v1/projects?limit=500")
        .await;
    let r = app
        .get(
            &acme.admin.token,
            "/api/v1/projects?limit=500&bogus=1&cursor=",
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body, all.body);
    // a path that exists answers 405 with Allow to another method
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/projects",
            Some(&acme.admin.token),
            None,
        )
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    app.call(
        reqwest::Method::PUT,
        "/api/v1/nothing-here",
        Some(&acme.admin.token),
        None,
    )
    .await
    .assert_problem(404, "not_found");
}
