//! Health, readiness, metrics, the OpenAPI document and its offline reference page.

use reqwest::Method;
use scaleinfra_tests::*;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "ok"));
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "ready"));
    let op = app.operator().await;
    app.get(&op.token, "/api/v1/tenants")
        .await
        .assert_status(200);
    app.get(
        &op.token,
        &format!("/api/v1/tenants/{}", uuid::Uuid::now_v7()),
    )
    .await
    .assert_status(404);
    let m = app.call(Method::GET, "/metrics", None, None).await.text;
    for needle in [
        r#"http_requests_total{method="GET",route="/api/v1/tenants",status="200"}"#,
        r#"http_requests_total{method="GET",route="/api/v1/tenants/{tenant_id}",status="404"}"#,
        "http_request_duration_seconds_bucket",
        r#"db_pool_connections{state="max"}"#,
    ] {
        assert!(m.contains(needle), "{needle} missing from /metrics:\n{m}");
    }
}

#[tokio::test]
async fn unknown_routes_answer_problem_json() {
    let app = TestApp::spawn().await;
    app.call(Method::GET, "/api/v1/nope", None, None)
        .await
        .assert_problem(404, "not_found");
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff");
}

#[tokio::test]
async fn openapi_is_complete_and_the_reference_works_offline() {
    let app = TestApp::spawn().await;
    let doc = crate::matrix::openapi(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // every operation documents its errors and every referenced schema exists
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "schema {name} is referenced but missing"
        );
    }
    for o in crate::matrix::operations(&doc) {
        let op = &doc["paths"][&o.path][o.method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{} {} has no success response",
            o.method,
            o.path
        );
        if let Some(roles) = &o.roles {
            assert!(
                responses.contains_key("401"),
                "{} {} does not document 401",
                o.method,
                o.path
            );
            if roles.len() < 4 {
                assert!(
                    responses.contains_key("403"),
                    "{} {} does not document 403",
                    o.method,
                    o.path
                );
            }
        }
        if o.path.contains('{') {
            assert!(
                responses.contains_key("404"),
                "{} {} does not document 404",
                o.method,
                o.path
            );
        }
        for (status, response) in responses.iter().filter(|(k, _)| k.starts_with('4')) {
            let problem = &response["content"]["application/problem+json"]["schema"]["$ref"];
            assert_eq!(
                problem, "#/components/schemas/Problem",
                "{} {} documents {status} without a problem+json body",
                o.method, o.path
            );
            assert!(
                !response["description"].as_str().unwrap_or("").is_empty(),
                "{} {} documents {status} without a description",
                o.method,
                o.path
            );
        }
        if ["POST", "PATCH"].contains(&o.method.as_str()) && op.get("requestBody").is_some() {
            assert!(
                responses.contains_key("422"),
                "{} {} does not document 422",
                o.method,
                o.path
            );
        }
    }
    // the reference page and its assets are served locally
    let page = app.call(Method::GET, "/api/docs/", None, None).await;
    page.assert_status(200);
    assert!(page.text.contains("swagger"), "{}", page.text);
    assert!(
        !page.text.contains("https://"),
        "the reference page loads something from outside"
    );
    let init = app
        .call(Method::GET, "/api/docs/swagger-initializer.js", None, None)
        .await;
    init.assert_status(200);
    assert!(init.text.contains("/api/openapi.json"));
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        app.call(Method::GET, &format!("/api/docs/{asset}"), None, None)
            .await
            .assert_status(200);
    }
}
