//! The role × route matrix, generated from the OpenAPI document: every operation must declare who may
//! call it (its `bearer` scopes name the roles; `{}` marks it public), and the server must enforce
//! exactly that. A new route without a rule fails here.

use reqwest::Method;
use scaleinfra_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The routes that are public on purpose. Adding one means adding it here, deliberately.
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

pub struct Operation {
    pub method: String,
    pub path: String,
    /// `None` for public operations and the agent protocol.
    pub roles: Option<BTreeSet<String>>,
    /// Authenticated by an appliance's agent token, not a user's JWT.
    pub agent: bool,
}

/// Every operation of the document, with its declared roles. Panics on an operation without a rule.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let m = method.to_uppercase();
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{m} {path} declares no security rule"));
            let bearer: Vec<&Value> = security.iter().filter_map(|s| s.get("bearer")).collect();
            let agent = security.iter().any(|s| s.get("agent").is_some());
            if agent {
                assert!(
                    bearer.is_empty() && path.starts_with("/agent/v1/"),
                    "{m} {path}: agent tokens only under /agent/v1"
                );
                ops.push(Operation {
                    method: m,
                    path: path.clone(),
                    roles: None,
                    agent,
                });
                continue;
            }
            let roles = match bearer.as_slice() {
                [] => {
                    assert!(
                        security
                            .iter()
                            .all(|s| s.as_object().is_some_and(|o| o.is_empty())),
                        "{m} {path}: unknown security rule {security:?}"
                    );
                    None
                }
                [scopes] => {
                    let roles: BTreeSet<String> = scopes
                        .as_array()
                        .expect("scopes")
                        .iter()
                        .map(|r| r.as_str().expect("role").to_owned())
                        .collect();
                    assert!(
                        !roles.is_empty(),
                        "{m} {path}: a bearer rule must name its roles"
                    );
                    Some(roles)
                }
                _ => panic!("{m} {path}: several bearer rules"),
            };
            ops.push(Operation {
                method: m,
                path: path.clone(),
                roles,
                agent: false,
            });
        }
    }
    ops
}

/// Fill `{param}`s with `value(name)`.
pub fn fill(path: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').expect("closing brace") + i;
        out.push_str(&value(&rest[i + 1..j]));
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

pub async fn openapi(app: &TestApp) -> Value {
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    r.assert_status(200);
    r.body
}

pub fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).expect("method")
}

pub fn body_for(m: &str) -> Option<Value> {
    matches!(m, "POST" | "PUT" | "PATCH").then(|| json!({}))
}

#[tokio::test]
async fn every_route_enforces_its_declared_roles() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let finance = app.user(&acme.admin, "finance").await;
    let sessions = [
        ("operator", &op),
        ("admin", &acme.admin),
        ("user", &user),
        ("finance", &finance),
    ];

    let ops = operations(&doc);
    assert!(ops.len() >= 70, "only {} operations documented", ops.len());
    let public: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|o| o.roles.is_none() && !o.agent)
        .map(|o| (o.method.clone(), o.path.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = PUBLIC
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(public, expected, "the public routes changed");

    let mut checked = 0;
    for o in &ops {
        let path = fill(&o.path, |_| uuid::Uuid::now_v7().to_string());
        // logout would end the session used below; it is public and tested elsewhere
        if o.path.ends_with("/auth/logout") {
            continue;
        }
        let anon = app
            .call(method(&o.method), &path, None, body_for(&o.method))
            .await;
        if o.agent {
            // the agent protocol takes agent tokens only: no user's JWT gets in
            anon.assert_problem(401, "unauthenticated");
            for (_, s) in &sessions {
                let r = app
                    .call(
                        method(&o.method),
                        &path,
                        Some(&s.token),
                        body_for(&o.method),
                    )
                    .await;
                assert_eq!(
                    r.status, 401,
                    "a user's token reached {} {}: {}",
                    o.method, o.path, r.text
                );
            }
            continue;
        }
        match &o.roles {
            // public: a token changes nothing, and nobody is forbidden
            None => {
                assert_ne!(anon.status, 403, "{} {}: {}", o.method, o.path, anon.text);
                let with_token = app
                    .call(
                        method(&o.method),
                        &path,
                        Some(&acme.admin.token),
                        body_for(&o.method),
                    )
                    .await;
                assert_eq!(with_token.status, anon.status, "{} {}", o.method, o.path);
            }
            Some(_) => {
                assert_eq!(
                    anon.status, 401,
                    "{} {} without a token: {}",
                    o.method, o.path, anon.text
                );
                for (role, s) in &sessions {
                    let r = app
                        .call(
                            method(&o.method),
                            &path,
                            Some(&s.token),
                            body_for(&o.method),
                        )
                        .await;
                    let allowed = o.roles.as_ref().is_some_and(|rs| rs.contains(*role));
                    if allowed {
                        assert!(
                            r.status != 401 && r.status != 403,
                            "{role} should reach {} {}: {} {}",
                            o.method,
                            o.path,
                            r.status,
                            r.text
                        );
                    } else {
                        assert_eq!(
                            r.status, 403,
                            "{role} must be refused {} {}: {}",
                            o.method, o.path, r.text
                        );
                        assert_eq!(r.code(), "forbidden");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 250, "only {checked} role × route checks ran");
    // the sessions are intact after the sweep
    for (_, s) in &sessions {
        app.get(&s.token, "/api/v1/auth/me")
            .await
            .assert_status(200);
    }
}
