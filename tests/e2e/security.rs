//! Regression tests of the security review (issue 7): each fails on the code before its fix.

use crate::fixtures::sim_image;
use scaleinfra_tests::*;
use serde_json::json;

/// A tenant admin's template can name no host path: the old path fields are unknown, and images are
/// registry entries of the right kind, chosen by id.
#[tokio::test]
async fn a_tenant_template_cannot_name_a_host_file() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let flavor = json!({"vcpus": 1, "memory_mib": 256, "disk_gib": 1});
    for (field, path) in [
        (
            "base_image",
            "/var/lib/libvirt/scaleinfra/si-0190-other-tenant.qcow2",
        ),
        ("kernel", "/etc/shadow"),
        ("initrd", "/root/.ssh/id_rsa"),
    ] {
        let r = app
            .post(
                t,
                "/api/v1/templates",
                json!({
                    "name": "evil", "role": "static", field: path, "flavor": flavor
                }),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        assert!(r.text.contains(field), "{}", r.text);
    }
    let disk = sim_image(&app, t).await;
    // the registry's entries must be used as what they are
    let r = app
        .post(
            t,
            "/api/v1/templates",
            json!({
                "name": "evil", "role": "static", "kernel_image_id": disk, "flavor": flavor
            }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        [("kernel_image_id".into(), "wrong_kind".into())]
    );
    let r = app
        .post(
            t,
            "/api/v1/templates",
            json!({
                "name": "evil", "role": "static", "image_id": uuid::Uuid::now_v7(), "flavor": flavor
            }),
        )
        .await;
    assert_eq!(r.field_errors(), [("image_id".into(), "unknown".into())]);
    let r = app
        .post(
            t,
            "/api/v1/templates",
            json!({"name": "evil", "role": "static", "flavor": flavor}),
        )
        .await;
    assert_eq!(r.field_errors(), [("image_id".into(), "required".into())]);
    // a good one shows ids, never a path
    let r = app
        .post(
            t,
            "/api/v1/templates",
            json!({
                "name": "fine", "role": "static", "image_id": disk, "flavor": flavor
            }),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["image_id"], disk.as_str());
    assert!(!r.text.contains('/'), "no path in {}", r.text);
    // admins see the registry without file names
    let images = app.get(t, "/api/v1/images").await;
    assert!(
        images.body["items"][0].get("file").is_none(),
        "{}",
        images.text
    );
    let images = app.get(&op.token, "/api/v1/images").await;
    assert!(
        images.body["items"][0]["file"].is_string(),
        "{}",
        images.text
    );
    // registering images is the operator's
    let pool = images.body["items"][0]["pool_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let image = |file: &str| {
        json!({"name": format!("img {file}"), "kind": "disk", "format": "qcow2", "file": file,
               "sha256": "a".repeat(64), "size_bytes": 1024})
    };
    app.post(t, &format!("/api/v1/pools/{pool}/images"), image("x.qcow2"))
        .await
        .assert_problem(403, "forbidden");
}

/// Operators register images by file name inside the pool's directory only.
#[tokio::test]
async fn image_files_and_directories_are_checked_where_they_enter() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    for dir in [
        "relative",
        "/var/lib/../../etc",
        "/var/./lib",
        "/",
        "/var/.hidden/images",
    ] {
        let r = app
            .post(
                &op.token,
                "/api/v1/pools",
                json!({"name": format!("p {dir}"), "image_dir": dir}),
            )
            .await;
        assert_eq!(
            r.field_errors(),
            [("image_dir".into(), "invalid_directory".into())],
            "{dir}"
        );
    }
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({"name": "kvm", "image_dir": "/srv/images"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["image_dir"], "/srv/images");
    let pool = r.body["id"].as_str().unwrap().to_owned();
    let register = |file: &str, kind: &str, format: &str| {
        json!({"name": format!("img {file}"), "kind": kind, "format": format, "file": file,
               "sha256": "a".repeat(64), "size_bytes": 1024})
    };
    for file in [
        "../../etc/shadow",
        "/etc/shadow",
        "sub/dir.qcow2",
        ".hidden",
        "..",
        "a b",
    ] {
        let r = app
            .post(
                &op.token,
                &format!("/api/v1/pools/{pool}/images"),
                register(file, "disk", "qcow2"),
            )
            .await;
        assert_eq!(
            r.field_errors(),
            [("file".into(), "invalid_file_name".into())],
            "{file}"
        );
    }
    let r = app
        .post(
            &op.token,
            &format!("/api/v1/pools/{pool}/images"),
            register("vmlinuz", "kernel", "qcow2"),
        )
        .await;
    assert_eq!(r.field_errors(), [("format".into(), "not_raw".into())]);
    let mut bad_sum = register("base.qcow2", "disk", "qcow2");
    bad_sum["sha256"] = json!("not-a-digest");
    let r = app
        .post(&op.token, &format!("/api/v1/pools/{pool}/images"), bad_sum)
        .await;
    assert_eq!(
        r.field_errors(),
        [("sha256".into(), "invalid_sha256".into())]
    );
    let r = app
        .post(
            &op.token,
            &format!("/api/v1/pools/{pool}/images"),
            register("base.qcow2", "disk", "qcow2"),
        )
        .await;
    r.assert_status(201);
    let image = r.body["id"].as_str().unwrap().to_owned();
    // the same file twice in a pool is refused
    let mut again = register("base.qcow2", "disk", "qcow2");
    again["name"] = json!("another name");
    app.post(&op.token, &format!("/api/v1/pools/{pool}/images"), again)
        .await
        .assert_problem(409, "conflict");
    // a pool with images cannot go; an image a template uses cannot go
    app.delete(&op.token, &format!("/api/v1/pools/{pool}"))
        .await
        .assert_problem(409, "pool_not_empty");
    let r = app
        .post(
            &op.token,
            "/api/v1/templates",
            json!({
                "name": "on kvm", "role": "static", "image_id": image,
                "flavor": {"vcpus": 1, "memory_mib": 256, "disk_gib": 1}
            }),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["pool_id"], pool.as_str());
    app.delete(&op.token, &format!("/api/v1/images/{image}"))
        .await
        .assert_problem(409, "image_in_use");
}

/// Deleting a project or a tenant whose applications run is refused until they are undeployed and
/// every appliance terminated; the database itself refuses to orphan a live appliance.
#[tokio::test]
async fn deleting_what_runs_is_refused_until_undeployed() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let d = crate::fixtures::deploy_one(&app, &acme.admin, &project).await;
    app.delete(t, &format!("/api/v1/projects/{project}"))
        .await
        .assert_problem(409, "project_deployed");
    app.delete(&op.token, &format!("/api/v1/tenants/{}", acme.id))
        .await
        .assert_problem(409, "tenant_deployed");
    // behind the API's back, the database refuses too
    let id: common::ApplicationId = d.application.parse().unwrap();
    let tenant: common::TenantId = acme.id.parse().unwrap();
    let r = app
        .store
        .write(move |c| store::repo::applications::delete(c, tenant, id))
        .await;
    assert!(
        matches!(r, Err(store::StoreError::LiveAppliances(_))),
        "{r:?}"
    );
    // the appliance still runs, still seen by its tenant
    let a = app
        .get(t, &format!("/api/v1/appliances/{}", d.appliance))
        .await;
    assert_eq!(a.body["state"], "running");
    // undeployed and terminated, the project (and then the tenant) can go
    app.post(
        t,
        &format!("/api/v1/applications/{}/undeploy", d.application),
        json!({}),
    )
    .await
    .assert_status(202);
    app.eventually(20, "the appliance terminated", || async {
        let a = app
            .get(t, &format!("/api/v1/appliances/{}", d.appliance))
            .await;
        (a.body["state"] == "terminated").then_some(())
    })
    .await;
    app.delete(t, &format!("/api/v1/projects/{project}"))
        .await
        .assert_status(204);
    app.delete(&op.token, &format!("/api/v1/tenants/{}", acme.id))
        .await
        .assert_status(204);
}

/// An appliance whose application is gone (left by an older version, before the database refused
/// it) is reported by the sweep as an event for the provider.
#[tokio::test]
async fn the_sweep_reports_appliances_whose_application_is_gone() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "P").await;
    let tpl = crate::fixtures::template(&app, &acme.admin, "t", 1, 256).await;
    let a = crate::fixtures::application(&app, &acme.admin.token, &project, "A").await;
    let l = crate::fixtures::layer(&app, &acme.admin.token, &a, "web").await;
    crate::fixtures::group(&app, &acme.admin.token, &l, "web", &tpl, 1, 1).await;
    app.post(
        &acme.admin.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    let o = orchestrator::Orchestrator::new(
        app.store.clone(),
        orchestrator::drivers::Drivers::new(
            app.state.sim.clone(),
            orchestrator::drivers::libvirt::LibvirtDriver::new(Default::default()),
        ),
        backend::app::orchestrator_config(&app.config),
    )
    .await
    .unwrap();
    // one pass records the appliance (pending); nothing is orphaned yet
    let id: common::ApplicationId = a.parse().unwrap();
    o.reconcile(id).await.unwrap();
    assert_eq!(o.sweep_orphans().await.unwrap(), 0);
    // what an older version allowed: the application deleted under its live appliance
    let drop = match engine() {
        "postgres" => "DROP TRIGGER applications_keep_live_appliances ON applications",
        _ => "DROP TRIGGER applications_keep_live_appliances",
    };
    let sql = format!("{drop}; DELETE FROM applications WHERE id = '{a}'");
    app.store
        .write(move |c| c.batch_execute(&sql).map_err(store::StoreError::from))
        .await
        .unwrap();
    assert_eq!(o.sweep_orphans().await.unwrap(), 1);
    assert_eq!(
        o.sweep_orphans().await.unwrap(),
        1,
        "still there, reported once"
    );
    let events = app.get(&op.token, "/api/v1/events?limit=500").await;
    let reported: Vec<_> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "orchestrator.orphan_appliance")
        .collect();
    assert_eq!(reported.len(), 1, "{}", events.text);
    assert!(reported[0]["detail"].as_str().unwrap().contains(&a));
}

/// Emails are unique within a tenant: creating a user reveals nothing about other tenants' users,
/// and an email with accounts in several tenants logs in by naming the tenant.
#[tokio::test]
async fn emails_belong_to_one_tenant_and_reveal_nothing_of_others() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let globex = app.tenant(&op, "globex").await;
    let user = |email: &str, password: &str| json!({"email": email, "name": "Pat", "role": "user", "password": password});
    // an email taken in another tenant is simply free here
    let r = app
        .post(
            &globex.admin.token,
            "/api/v1/users",
            user(&acme.admin.email, STRONG_PASSWORD),
        )
        .await;
    r.assert_status(201);
    // within a tenant it is taken, and says so
    app.post(
        &globex.admin.token,
        "/api/v1/users",
        user(&acme.admin.email, STRONG_PASSWORD),
    )
    .await
    .assert_problem(409, "conflict");
    // the same email and password in two tenants: the login asks which
    app.try_login(&acme.admin.email, STRONG_PASSWORD)
        .await
        .assert_problem(401, "tenant_required");
    for (slug, tenant) in [("acme", &acme.id), ("globex", &globex.id)] {
        let r = app
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(
                    json!({"email": acme.admin.email, "password": STRONG_PASSWORD, "tenant": slug}),
                ),
            )
            .await;
        r.assert_status(200);
        assert_eq!(r.body["me"]["tenant_id"], tenant.as_str());
    }
    // with a different password in the other tenant, the password alone tells them apart
    let r = app
        .post(
            &globex.admin.token,
            "/api/v1/users",
            user("pat@shared.test", "Copper-Lantern-Orbit-58"),
        )
        .await;
    r.assert_status(201);
    app.post(
        &acme.admin.token,
        "/api/v1/users",
        user("pat@shared.test", STRONG_PASSWORD),
    )
    .await
    .assert_status(201);
    let s = app
        .login("pat@shared.test", "Copper-Lantern-Orbit-58")
        .await;
    assert_eq!(s.tenant_id, globex.id);
}

/// A customer's audit log shows what provider staff did by their role, never who they are or where
/// they came from; operators see everything.
#[tokio::test]
async fn customers_see_provider_staff_by_role_only() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    app.patch(
        &op.token,
        &format!("/api/v1/tenants/{}", acme.id),
        json!({"name": "Acme Renamed"}),
    )
    .await
    .assert_status(200);
    let mine = app.get(&acme.admin.token, "/api/v1/audit?limit=500").await;
    let items = mine.body["items"].as_array().unwrap();
    let by_staff: Vec<_> = items
        .iter()
        .filter(|e| e["action"] == "tenant.update")
        .collect();
    assert_eq!(by_staff.len(), 1, "{}", mine.text);
    assert_eq!(by_staff[0]["actor_role"], "operator");
    assert!(by_staff[0]["actor_id"].is_null() && by_staff[0]["actor_email"].is_null());
    assert!(by_staff[0]["source_ip"].is_null());
    assert!(!mine.text.contains(OPERATOR_EMAIL), "{}", mine.text);
    // the tenant's own admin is shown as themself
    let own: Vec<_> = items
        .iter()
        .filter(|e| e["action"] == "auth.login")
        .collect();
    assert!(
        own.iter()
            .all(|e| e["actor_email"] == acme.admin.email.as_str())
    );
    // operators see the person
    let all = app.get(&op.token, "/api/v1/audit?limit=500").await;
    assert!(
        all.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| { e["action"] == "tenant.update" && e["actor_email"] == OPERATOR_EMAIL })
    );
}

/// Password changes are limited per user, and argon2 work is bounded process-wide.
#[tokio::test]
async fn password_changes_are_rate_limited_per_user() {
    let app = TestApp::spawn_with(|c| c.password_changes_per_hour = 2).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let other = app.user(&acme.admin, "user").await;
    let change = |token: String| {
        let app = &app;
        async move {
            app.call(
                reqwest::Method::POST,
                "/api/v1/auth/password",
                Some(&token),
                Some(json!({"current_password": "wrong-but-long-enough", "new_password": "Quartz-Meadow-Falcon-88"})),
            )
            .await
        }
    };
    change(user.token.clone())
        .await
        .assert_problem(422, "validation_failed");
    change(user.token.clone())
        .await
        .assert_problem(422, "validation_failed");
    let r = change(user.token.clone()).await;
    r.assert_problem(429, "rate_limited");
    assert!(r.headers.get("retry-after").is_some());
    // another user is not affected
    change(other.token.clone())
        .await
        .assert_problem(422, "validation_failed");
    // every permit of the hashing pool is back once the calls are done
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(app.state.hasher.available(), cores);
}

/// Behind a trusted proxy the client is the rightmost address it did not add: a client-sent
/// `X-Forwarded-For` entry is never taken for the client.
#[tokio::test]
async fn the_client_ip_is_the_one_the_trusted_proxy_saw() {
    for (trusted, want) in [
        (vec!["127.0.0.1".to_owned()], "203.0.113.5"),
        (vec![], "127.0.0.1"),
    ] {
        let app = TestApp::spawn_with(|c| c.trusted_proxies = trusted.clone()).await;
        let r = app
            .raw(
                app.client
                    .post(app.url("/api/v1/auth/login"))
                    // the client forged the left entry; the proxy (this test, on loopback) appended
                    // the address it saw
                    .header("x-forwarded-for", "6.6.6.6, 203.0.113.5")
                    .json(&json!({"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})),
            )
            .await;
        r.assert_status(200);
        let token = r.body["access_token"].as_str().unwrap();
        let audit = app.get(token, "/api/v1/audit?limit=500").await;
        let login = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["action"] == "auth.login")
            .cloned()
            .unwrap();
        assert_eq!(login["source_ip"], want, "trusted {trusted:?}");
    }
}

/// A tenant holds at most so many projects, applications, templates and CloudScripts, an application
/// so many layers, groups and event rules; creations under a cap still work.
#[tokio::test]
async fn tenants_hold_what_their_caps_allow() {
    let app = TestApp::spawn_with(|c| {
        c.limits = backend::limits::Limits {
            projects_per_tenant: 2,
            applications_per_tenant: 2,
            templates_per_tenant: 1,
            layers_per_application: 1,
            groups_per_application: 1,
            scripts_per_tenant: 1,
            rules_per_application: 1,
        }
    })
    .await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let refused = |r: &Resp, what: &str| {
        r.assert_problem(422, "limit_reached");
        assert_eq!(
            r.field_errors(),
            [(format!("limit.{what}"), "limit_reached".to_owned())]
        );
    };
    let p1 = app.project(&acme.admin, "one").await;
    app.project(&acme.admin, "two").await;
    refused(
        &app.post(t, "/api/v1/projects", json!({"name": "three"}))
            .await,
        "projects",
    );
    let tpl = crate::fixtures::template(&app, &acme.admin, "t", 1, 256).await;
    let image = sim_image(&app, t).await;
    let r = app
        .post(
            t,
            "/api/v1/templates",
            json!({"name": "t2", "role": "static", "image_id": image,
            "flavor": {"vcpus": 1, "memory_mib": 256, "disk_gib": 1}}),
        )
        .await;
    refused(&r, "templates");
    let a = crate::fixtures::application(&app, t, &p1, "A").await;
    crate::fixtures::application(&app, t, &p1, "B").await;
    let r = app
        .post(
            t,
            &format!("/api/v1/projects/{p1}/applications"),
            json!({"name": "C"}),
        )
        .await;
    refused(&r, "applications");
    let l = crate::fixtures::layer(&app, t, &a, "web").await;
    let r = app
        .post(
            t,
            &format!("/api/v1/applications/{a}/layers"),
            json!({"name": "db"}),
        )
        .await;
    refused(&r, "layers");
    crate::fixtures::group(&app, t, &l, "g1", &tpl, 1, 1).await;
    let r = app
        .post(
            t,
            &format!("/api/v1/layers/{l}/groups"),
            json!({"name": "g2", "template_id": tpl,
            "size": {"desired": 1, "min": 0, "max": 1}}),
        )
        .await;
    refused(&r, "groups");
    let script = crate::fixtures::script(&app, t).await;
    let r = app
        .post(
            t,
            "/api/v1/cloudscripts",
            json!({"name": "two", "body": "echo"}),
        )
        .await;
    refused(&r, "cloudscripts");
    crate::fixtures::rule(&app, t, &a, &script).await;
    let r = app
        .post(t, &format!("/api/v1/applications/{a}/rules"), json!({"name": "two",
            "event_type": "appliance.came_alive",
            "steps": [{"action": {"type": "run_script", "script_id": script, "target": {"kind": "all"}}}]}))
        .await;
    refused(&r, "rules");
    // another tenant has caps of its own
    let globex = app.tenant(&op, "globex").await;
    app.project(&globex.admin, "one").await;
}

/// Agents: what they report is bounded, their calls are rate-limited per appliance, heartbeats of
/// steady appliances are written in batches that reach the database within a flush (with the time
/// they arrived, never moving back), and a terminated appliance's agent is turned away even while it
/// was known running.
#[tokio::test]
async fn agent_calls_are_bounded_buffered_and_turned_away_when_terminated() {
    use store::repo::appliances;
    // no orchestrator and no simulated agent: the only voice is this test's
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let tpl = crate::fixtures::template(&app, &acme.admin, "t", 1, 256).await;
    let a = crate::fixtures::application(&app, t, &project, "A").await;
    let l = crate::fixtures::layer(&app, t, &a, "web").await;
    let g = crate::fixtures::group(&app, t, &l, "web", &tpl, 1, 1).await;
    let id = common::ApplianceId::new();
    let at = store::time::now();
    let running = store::Appliance {
        id,
        tenant_id: acme.id.parse().unwrap(),
        application_id: a.parse().unwrap(),
        group_id: g.parse().unwrap(),
        template_id: tpl.parse().unwrap(),
        name: "web-1".into(),
        state: common::ApplianceState::Running,
        state_reason: "test".into(),
        state_since: at,
        target: store::Target::Run,
        host_id: None,
        ip: None,
        flavor: common::api::Flavor {
            vcpus: 1,
            memory_mib: 256,
            disk_gib: 1,
        },
        last_heartbeat_at: None,
        created_at: at,
        updated_at: at,
    };
    let row = running.clone();
    app.store
        .write(move |c| appliances::insert(c, &row))
        .await
        .unwrap();
    let token = app.state.agent.key.issue(id);
    let call = |path: &'static str, body: serde_json::Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.raw(
                app.client
                    .post(app.url(&format!("/agent/v1/{path}")))
                    .bearer_auth(&token)
                    .json(&body),
            )
            .await
        }
    };
    let heard = || async {
        app.store
            .read(move |c| store::repo::unscoped::appliances::get(c, id))
            .await
            .unwrap()
            .unwrap()
            .last_heartbeat_at
    };
    // an address that is not an address, a hostname with a newline
    call(
        "announce",
        json!({"agent_version": "1", "hostname": "a", "ip": "10.0.2.15; rm -rf /"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    call(
        "announce",
        json!({"agent_version": "1", "hostname": "a\nb", "ip": null}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // a heartbeat is buffered, then written with the next flush at the time it arrived
    let before = store::time::now();
    call("heartbeat", json!({"uptime_secs": 5}))
        .await
        .assert_status(204);
    app.state.agent.flush().await.unwrap();
    let seen = heard().await.expect("the heartbeat reached the database");
    assert!(seen >= before, "{seen} {before}");
    // and the time never moves back (a late batch from another replica)
    let older = seen - chrono::Duration::seconds(30);
    app.store
        .write(move |c| store::repo::unscoped::appliances::heartbeats(c, &[(id, older)]))
        .await
        .unwrap();
    assert_eq!(heard().await, Some(seen));
    // terminated behind the buffer's back: the agent is turned away once a flush learns of it
    let r2 = running.clone();
    app.store
        .write(move |c| {
            appliances::transition(c, &r2, common::ApplianceState::Terminated, "test").map(|_| ())
        })
        .await
        .unwrap();
    app.eventually(20, "the agent turned away", || async {
        let r = call("heartbeat", json!({"uptime_secs": 6})).await;
        app.state.agent.flush().await.unwrap();
        (r.status == 410).then_some(())
    })
    .await;
    // a flood from one appliance is cut off (before its token's appliance is even looked up)
    let flood = app.state.agent.key.issue(common::ApplianceId::new());
    let mut limited = false;
    for _ in 0..100 {
        let r = app
            .raw(
                app.client
                    .post(app.url("/agent/v1/heartbeat"))
                    .bearer_auth(&flood)
                    .json(&json!({"uptime_secs": 1})),
            )
            .await;
        if r.status == 429 {
            assert!(r.headers.get("retry-after").is_some());
            limited = true;
            break;
        }
    }
    assert!(
        limited,
        "100 calls at once from one appliance were never limited"
    );
}

/// The agent-only listener (what guests reach) serves the agent protocol and nothing else of the API.
#[tokio::test]
async fn the_agent_listener_serves_the_agent_protocol_only() {
    let app = TestApp::spawn_with(|c| c.agent_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let agent = app.agent_base.clone().expect("the agent listener");
    let get = |path: &'static str| {
        let (app, agent) = (&app, agent.clone());
        async move { app.raw(app.client.get(format!("{agent}{path}"))).await }
    };
    // the protocol answers (and wants an agent token)
    get("/agent/v1/jobs")
        .await
        .assert_problem(401, "unauthenticated");
    // nothing else does
    for path in [
        "/api/v1/auth/me",
        "/api/openapi.json",
        "/metrics",
        "/readyz",
        "/",
    ] {
        get(path).await.assert_problem(404, "not_found");
    }
    let op = app.operator().await;
    let r = app
        .raw(
            app.client
                .post(format!("{agent}/api/v1/auth/login"))
                .json(&json!({"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})),
        )
        .await;
    r.assert_problem(404, "not_found");
    // the main listener still serves everything
    app.get(&op.token, "/api/v1/auth/me")
        .await
        .assert_status(200);
}
