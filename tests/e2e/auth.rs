//! Authentication: tokens, refresh rotation and reuse detection, immediate invalidation, forged JWTs,
//! the login rate limit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use scaleinfra_tests::*;
use serde_json::{Value, json};

#[tokio::test]
async fn login_issues_an_access_token_and_a_strict_http_only_cookie() {
    let app = TestApp::spawn().await;
    let r = app.try_login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await;
    r.assert_status(200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["me"]["role"], "operator");
    let cookie = r.set_cookie_header("si_refresh").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    // emails are case-insensitive
    app.try_login(&OPERATOR_EMAIL.to_uppercase(), OPERATOR_PASSWORD)
        .await
        .assert_status(200);
    let s = session_of(&r);
    let me = app.get(&s.token, "/api/v1/auth/me").await;
    me.assert_status(200);
    assert_eq!(me.body["email"], OPERATOR_EMAIL);
}

#[tokio::test]
async fn secure_cookie_when_served_over_https() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://portal.example".into())).await;
    let r = app.try_login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await;
    assert!(
        r.set_cookie_header("si_refresh")
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    let a = app.try_login(OPERATOR_EMAIL, "Wrong-Password-123456").await;
    let b = app
        .try_login("nobody@nowhere.test", "Wrong-Password-123456")
        .await;
    a.assert_problem(401, "invalid_credentials");
    b.assert_problem(401, "invalid_credentials");
    assert_eq!(a.body, b.body);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    // no grace: presenting a rotated token again is a reuse at once
    let app = TestApp::spawn_with(|c| c.refresh_reuse_grace_secs = 0).await;
    let s = app.operator().await;
    let r1 = app.refresh(&s.refresh).await;
    r1.assert_status(200);
    let second = r1.set_cookie("si_refresh").unwrap();
    assert_ne!(second, s.refresh);
    let new_token = r1.body["access_token"].as_str().unwrap().to_owned();
    app.get(&new_token, "/api/v1/auth/me")
        .await
        .assert_status(200);

    // presenting the rotated (first) token again is reuse: 401, and the second token dies too
    app.refresh(&s.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    app.refresh(&second)
        .await
        .assert_problem(401, "unauthenticated");
    // so do the access tokens already issued (the user's token version moved on)
    app.get(&new_token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    // another login is a separate family and still works
    let other = app.operator().await;
    app.refresh(&other.refresh).await.assert_status(200);
    // reuse was audited
    let audit = app.get(&other.token, "/api/v1/audit?limit=500").await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "auth.refresh_reuse")
    );
    // garbage and missing cookies
    app.refresh("not-a-token")
        .await
        .assert_problem(401, "unauthenticated");
    app.call(Method::POST, "/api/v1/auth/refresh", None, None)
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let s = app.operator().await;
    let r = app
        .raw(
            app.client
                .post(app.url("/api/v1/auth/logout"))
                .header("cookie", format!("si_refresh={}", s.refresh)),
        )
        .await;
    r.assert_status(204);
    assert!(
        r.set_cookie_header("si_refresh")
            .unwrap()
            .contains("Max-Age=0")
    );
    app.refresh(&s.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    // the access token issued before the logout ends with it
    app.get(&s.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
}

/// Two tabs refreshing with the same cookie at once both get a session; nothing is revoked.
#[tokio::test]
async fn a_concurrent_refresh_from_two_tabs_is_not_a_reuse() {
    let app = TestApp::spawn().await;
    let s = app.operator().await;
    let (a, b) = tokio::join!(app.refresh(&s.refresh), app.refresh(&s.refresh));
    a.assert_status(200);
    b.assert_status(200);
    for r in [&a, &b] {
        let token = r.body["access_token"].as_str().unwrap();
        app.get(token, "/api/v1/auth/me").await.assert_status(200);
        let next = r.set_cookie("si_refresh").unwrap();
        app.refresh(&next).await.assert_status(200);
    }
}

/// However often a session is refreshed, it ends at its absolute lifetime.
#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    use chrono::{Duration, Utc};
    let app = TestApp::spawn().await;
    let s = app.operator().await;
    let r = app.refresh(&s.refresh).await;
    r.assert_status(200);
    let current = r.set_cookie("si_refresh").unwrap();
    // the session began long ago (as if refreshed every day since)
    let hash = backend::auth::refresh::digest(&current);
    let long_ago = Utc::now() - Duration::seconds(app.config.session_max_secs as i64 + 60);
    app.store
        .write(move |c| store::repo::refresh_tokens::set_session_start(c, &hash, long_ago))
        .await
        .unwrap();
    app.refresh(&current)
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let path = "/api/v1/auth/password";
    let r = app.post(&user.token, path, json!({"current_password": "Not-My-Password-1", "new_password": "Saffron-Glacier-Piston-71"})).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        vec![("current_password".to_string(), "incorrect".to_string())]
    );
    let r = app
        .post(
            &user.token,
            path,
            json!({"current_password": STRONG_PASSWORD, "new_password": "password1234"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].0, "new_password");

    let r = app.post(&user.token, path, json!({"current_password": STRONG_PASSWORD, "new_password": "Saffron-Glacier-Piston-71"})).await;
    r.assert_status(200);
    let fresh = r.body["access_token"].as_str().unwrap().to_owned();
    app.get(&user.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    app.refresh(&user.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    app.get(&fresh, "/api/v1/auth/me").await.assert_status(200);
    app.try_login(&user.email, STRONG_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.try_login(&user.email, "Saffron-Glacier-Piston-71")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn disabling_a_user_or_changing_its_role_invalidates_its_tokens_at_once() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let path = format!("/api/v1/users/{}", user.id);

    let r = app
        .patch(&acme.admin.token, &path, json!({"disabled": true}))
        .await;
    r.assert_status(200);
    app.get(&user.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    app.refresh(&user.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    app.try_login(&user.email, STRONG_PASSWORD)
        .await
        .assert_problem(401, "account_disabled");
    app.patch(&acme.admin.token, &path, json!({"disabled": false}))
        .await
        .assert_status(200);
    let again = app.login(&user.email, STRONG_PASSWORD).await;
    app.get(&again.token, "/api/v1/projects")
        .await
        .assert_status(200);

    app.patch(&acme.admin.token, &path, json!({"role": "finance"}))
        .await
        .assert_status(200);
    app.get(&again.token, "/api/v1/auth/me")
        .await
        .assert_problem(401, "unauthenticated");
    let fin = app.login(&user.email, STRONG_PASSWORD).await;
    assert_eq!(fin.role, "finance");
    // a rename alone keeps sessions
    app.patch(&acme.admin.token, &path, json!({"name": "Renamed"}))
        .await
        .assert_status(200);
    app.get(&fin.token, "/api/v1/auth/me")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_suspended_tenant_is_locked_out_at_once_and_back_on_reactivation() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let r = app
        .post(
            &op.token,
            &format!("/api/v1/tenants/{}/suspend", acme.id),
            json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "suspended");
    for token in [&acme.admin.token, &user.token] {
        app.get(token, "/api/v1/auth/me")
            .await
            .assert_problem(401, "unauthenticated");
    }
    app.refresh(&user.refresh)
        .await
        .assert_problem(401, "unauthenticated");
    app.try_login(&user.email, STRONG_PASSWORD)
        .await
        .assert_problem(401, "tenant_suspended");
    app.post(
        &op.token,
        &format!("/api/v1/tenants/{}/reactivate", acme.id),
        json!({}),
    )
    .await
    .assert_status(200);
    app.login(&user.email, STRONG_PASSWORD).await;
}

fn forge(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn claims_of(token: &str) -> Value {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(body).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_expired_or_misdirected_jwts_are_refused() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let good = claims_of(&op.token);
    // sanity: re-signing the same claims with the server's key is accepted
    let resigned = forge(&good, Algorithm::HS256, JWT_SECRET.as_bytes());
    app.get(&resigned, "/api/v1/tenants")
        .await
        .assert_status(200);

    let now = good["iat"].as_u64().unwrap();
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(serde_json::to_vec(&good).unwrap())
    );
    let cases = vec![
        ("alg none", none),
        (
            "wrong key",
            forge(
                &good,
                Algorithm::HS256,
                b"another-secret-another-secret-0123456789",
            ),
        ),
        (
            "HS512 with the right key",
            forge(&good, Algorithm::HS512, JWT_SECRET.as_bytes()),
        ),
        (
            "expired",
            forge(
                &with("exp", json!(now - 120)),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "not yet valid",
            forge(
                &with("nbf", json!(now + 3600)),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong audience",
            forge(
                &with("aud", json!("someone-else")),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "wrong issuer",
            forge(
                &with("iss", json!("evil")),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "old token version",
            forge(
                &with("ver", json!(99)),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        (
            "role escalation",
            forge(
                &with("role", json!("admin")),
                Algorithm::HS256,
                JWT_SECRET.as_bytes(),
            ),
        ),
        ("no exp", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("exp");
            forge(&c, Algorithm::HS256, JWT_SECRET.as_bytes())
        }),
        ("garbage", "abc.def.ghi".to_string()),
    ];
    for (what, token) in cases {
        let r = app.get(&token, "/api/v1/tenants").await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(r.code(), "unauthenticated", "{what}");
    }
    // a malformed Authorization header
    let r = app
        .raw(
            app.client
                .get(app.url("/api/v1/tenants"))
                .header("authorization", "Basic abc"),
        )
        .await;
    r.assert_problem(401, "unauthenticated");
    assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
}

#[tokio::test]
async fn login_is_rate_limited_per_account_and_per_ip() {
    let app = TestApp::spawn_with(|c| {
        c.login_per_account_per_minute = 3;
        c.login_per_ip_per_minute = 7;
    })
    .await;
    for _ in 0..3 {
        app.try_login("victim@example.test", "Wrong-Password-123456")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let r = app
        .try_login("victim@example.test", "Wrong-Password-123456")
        .await;
    r.assert_problem(429, "rate_limited");
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // the limit holds even for the right password of that account…
    let r = app
        .try_login("VICTIM@example.test", "whatever-it-is-1234")
        .await;
    r.assert_problem(429, "rate_limited");
    // …while another account from the same IP still gets through, until the IP limit
    app.try_login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .assert_status(200);
    app.try_login("x@example.test", "Wrong-Password-123456")
        .await
        .assert_problem(401, "invalid_credentials");
    let r = app
        .try_login("y@example.test", "Wrong-Password-123456")
        .await;
    r.assert_problem(429, "rate_limited");
}
