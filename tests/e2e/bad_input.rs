//! Bad input gets a clear problem+json and writes nothing.

use reqwest::header::CONTENT_TYPE;
use scaleinfra_tests::*;
use serde_json::json;

/// Rows that any accidental write would add to.
async fn counts(app: &TestApp) -> (i64, i64) {
    let users = app
        .store
        .read(store::repo::unscoped::users::count_all)
        .await
        .unwrap();
    let audit = app
        .store
        .read(|c| store::repo::audit::count(c, None))
        .await
        .unwrap();
    (users, audit)
}

#[tokio::test]
async fn invalid_user_creation_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let taken = app.user(&acme.admin, "user").await;
    let before = counts(&app).await;
    let token = &acme.admin.token;
    let valid = json!({"email": "new@acme.test", "name": "New", "role": "user", "password": STRONG_PASSWORD});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = valid.clone();
        b[k] = v;
        b
    };
    /// (what, body, status, problem code, expected field error)
    type Case<'a> = (
        &'a str,
        serde_json::Value,
        u16,
        &'a str,
        Option<(&'a str, &'a str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "invalid email",
            with("email", json!("not-an-email")),
            422,
            "validation_failed",
            Some(("email", "email")),
        ),
        (
            "weak password",
            with("password", json!("password1234")),
            422,
            "validation_failed",
            Some(("password", "weak")),
        ),
        (
            "short password",
            with("password", json!("Ab1!")),
            422,
            "validation_failed",
            Some(("password", "too_short")),
        ),
        (
            "blank name",
            with("name", json!("   ")),
            422,
            "validation_failed",
            Some(("name", "blank")),
        ),
        (
            "unknown role",
            with("role", json!("root")),
            422,
            "validation_failed",
            Some(("body", "invalid")),
        ),
        (
            "unknown field",
            with("is_admin", json!(true)),
            422,
            "validation_failed",
            Some(("body", "invalid")),
        ),
        (
            "wrong type",
            with("name", json!(42)),
            422,
            "validation_failed",
            Some(("body", "invalid")),
        ),
        (
            "missing field",
            json!({"email": "x@acme.test"}),
            422,
            "validation_failed",
            Some(("body", "invalid")),
        ),
        (
            "duplicate email",
            with("email", json!(taken.email.to_uppercase())),
            409,
            "conflict",
            Some(("email", "taken")),
        ),
    ];
    for (what, body, status, code, field) in cases {
        let r = app.post(token, "/api/v1/users", body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        r.assert_problem(status, code);
        if let Some((f, c)) = field {
            assert!(
                r.field_errors().contains(&(f.to_string(), c.to_string())),
                "{what}: {:?}",
                r.field_errors()
            );
        }
        assert!(r.body["title"].as_str().is_some_and(|t| !t.is_empty()));
    }
    let raw = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .header(CONTENT_TYPE, ct)
            .body(body)
    };
    app.raw(raw("{\"email\": ", "application/json"))
        .await
        .assert_problem(400, "bad_request");
    app.raw(raw("email=x", "application/x-www-form-urlencoded"))
        .await
        .assert_problem(415, "unsupported_media_type");
    app.raw(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .body(valid.to_string()),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    let huge = json!({"email": "big@acme.test", "name": "x".repeat(100_000), "role": "user", "password": STRONG_PASSWORD});
    app.post(token, "/api/v1/users", huge)
        .await
        .assert_problem(413, "payload_too_large");

    assert_eq!(
        counts(&app).await,
        before,
        "a refused request wrote something"
    );
}

#[tokio::test]
async fn invalid_tenant_creation_is_atomic() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let before = counts(&app).await;
    let body = |slug: &str, email: &str, pw: &str| json!({"name": "T", "slug": slug, "admin": {"email": email, "name": "A", "password": pw}});
    let r = app
        .post(
            &op.token,
            "/api/v1/tenants",
            body("Bad Slug", "a@b.test", STRONG_PASSWORD),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        vec![("slug".to_string(), "invalid_slug".to_string())]
    );
    let r = app
        .post(&op.token, "/api/v1/tenants", body("fresh", "nope", "short"))
        .await;
    assert_eq!(
        r.field_errors(),
        vec![
            ("admin.email".to_string(), "email".to_string()),
            ("admin.password".to_string(), "too_short".to_string())
        ]
    );
    // the slug is taken: neither the tenant nor its admin is created
    let r = app
        .post(
            &op.token,
            "/api/v1/tenants",
            body(&acme.slug, "someone@fresh.test", STRONG_PASSWORD),
        )
        .await;
    r.assert_problem(409, "conflict");
    assert_eq!(r.field_errors()[0].0, "slug");
    let r = app.get(&op.token, "/api/v1/tenants").await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    let r = app
        .post(
            &op.token,
            "/api/v1/tenants",
            json!({"name": "T", "slug": "q", "admin": {}, "quotas": {"max_vcpus": -1}}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn project_rules() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let p = app.project(&acme.admin, "Shop").await;
    let before = counts(&app).await;
    app.post(
        &acme.admin.token,
        "/api/v1/projects",
        json!({"name": "Shop"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(&acme.admin.token, "/api/v1/projects", json!({"name": ""}))
        .await
        .assert_problem(422, "validation_failed");
    let r = app
        .post(
            &acme.admin.token,
            "/api/v1/projects",
            json!({"name": "x", "description": "d".repeat(2001)}),
        )
        .await;
    assert_eq!(
        r.field_errors(),
        vec![("description".to_string(), "too_long".to_string())]
    );
    let other = app.project(&acme.admin, "Other").await;
    let _ = other;
    let before2 = counts(&app).await;
    app.patch(
        &acme.admin.token,
        &format!("/api/v1/projects/{p}"),
        json!({"name": "Other"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.patch(
        &acme.admin.token,
        "/api/v1/projects/not-a-uuid",
        json!({"name": "Z"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(counts(&app).await, before2);
    assert_eq!(
        before2.1,
        before.1 + 1,
        "only the one valid create was audited"
    );
}
