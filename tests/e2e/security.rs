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
