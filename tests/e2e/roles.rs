//! The other half of the role × route matrix: every role a route admits *succeeds* on a real object
//! it may see — every read answers 200, every change 2xx. (The matrix proves the refusals; "not 401 or
//! 403" alone would pass a route that fails for everyone.) The routes come from the OpenAPI document;
//! a change route missing from the table below fails the test.

use crate::fixtures::{Deployed, application, deploy_one, layer, sim_image};
use crate::matrix::{fill, openapi, operations};
use reqwest::Method;
use scaleinfra_tests::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// What one role may see: the ids its routes are called with.
struct World {
    session: Session,
    project: String,
    deployed: Deployed,
    /// A template the role may use (the tenant's own, or for operators a global one).
    template: String,
    /// A user of the role's own tenant.
    user: String,
}

#[track_caller]
fn ok(r: &Resp, what: &str) {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.text);
}

fn id(r: &Resp) -> String {
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", r.text))
        .to_owned()
}

async fn fresh_layer(app: &TestApp, s: &Session, application: &str) -> String {
    layer(app, &s.token, application, &format!("l{}", app.unique())).await
}

async fn fresh_group(app: &TestApp, w: &World, application: &str) -> String {
    let l = fresh_layer(app, &w.session, application).await;
    crate::fixtures::group(
        app,
        &w.session.token,
        &l,
        &format!("g{}", app.unique()),
        &w.template,
        1,
        3,
    )
    .await
}

/// Deploy one more single-appliance application of `template` in `project`; its appliance's id.
async fn deploy_more(app: &TestApp, s: &Session, project: &str, template: &str) -> String {
    let a = application(app, &s.token, project, &format!("more{}", app.unique())).await;
    let l = layer(app, &s.token, &a, "web").await;
    crate::fixtures::group(app, &s.token, &l, "web", template, 1, 1).await;
    ok(
        &app.post(
            &s.token,
            &format!("/api/v1/applications/{a}/deploy"),
            json!({}),
        )
        .await,
        "deploy",
    );
    let up = crate::fixtures::running(app, &s.token, &a, None, 1).await;
    up[0]["id"].as_str().unwrap().to_owned()
}

/// Wait for an appliance to reach `state`.
async fn appliance_is(app: &TestApp, token: &str, appliance: &str, state: &str) {
    app.eventually(30, &format!("{appliance} {state}"), || async {
        let r = app
            .get(token, &format!("/api/v1/appliances/{appliance}"))
            .await;
        (r.body["state"] == state).then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_admitted_role_succeeds_on_real_objects() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let user = app.user(&acme.admin, "user").await;
    let finance = app.user(&acme.admin, "finance").await;
    let doc = openapi(&app).await;
    let pools = app.get(&op.token, "/api/v1/pools").await;
    let pool = pools.body["items"][0]["id"].as_str().unwrap().to_owned();
    let hosts = app
        .get(&op.token, &format!("/api/v1/pools/{pool}/hosts"))
        .await;
    let host = hosts.body["items"][0]["id"].as_str().unwrap().to_owned();
    let image = sim_image(&app, &op.token).await;
    let global = app.get(&op.token, "/api/v1/templates").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // the operator works in the provider's tenant, the admin and the user in acme's
    let op_project = app.project(&op, "Operations").await;
    let op_deployed = deploy_one(&app, &op, &op_project).await;
    let project = app.project(&acme.admin, "Shop").await;
    app.assign(&acme.admin, &project, &user.id).await;
    let deployed = deploy_one(&app, &acme.admin, &project).await;
    let mut worlds: BTreeMap<&str, World> = BTreeMap::new();
    worlds.insert(
        "operator",
        World {
            session: op.clone(),
            project: op_project,
            template: global.clone(),
            deployed: op_deployed,
            user: op.id.clone(),
        },
    );
    for (role, s) in [("admin", &acme.admin), ("user", &user)] {
        worlds.insert(
            role,
            World {
                session: s.clone(),
                project: project.clone(),
                template: deployed.template.clone(),
                deployed: deployed.clone(),
                user: user.id.clone(),
            },
        );
    }
    let sessions: BTreeMap<&str, &Session> = [
        ("operator", &op),
        ("admin", &acme.admin),
        ("user", &user),
        ("finance", &finance),
    ]
    .into_iter()
    .collect();

    // ------------------------------------------------------------ every read
    let mut reads = 0;
    let ops = operations(&doc);
    for o in ops.iter().filter(|o| o.method == "GET" && !o.agent) {
        let Some(roles) = &o.roles else { continue };
        for role in roles {
            let s = sessions[role.as_str()];
            let w = worlds.get(role.as_str());
            let path = fill(&o.path, |p| {
                let w = w.unwrap_or_else(|| panic!("{role} reads {} with a {p}", o.path));
                match p {
                    "tenant_id" => acme.id.clone(),
                    "project_id" => w.project.clone(),
                    "user_id" => w.user.clone(),
                    "template_id" => w.template.clone(),
                    "application_id" => w.deployed.application.clone(),
                    "layer_id" => w.deployed.layer.clone(),
                    "group_id" => w.deployed.group.clone(),
                    "appliance_id" => w.deployed.appliance.clone(),
                    "pool_id" => pool.clone(),
                    "host_id" => host.clone(),
                    "image_id" => image.clone(),
                    "script_id" => w.deployed.script.clone(),
                    "version" => "1".into(),
                    "rule_id" => w.deployed.rule.clone(),
                    "run_id" => w.deployed.run.clone(),
                    "job_id" => w.deployed.job.clone(),
                    other => panic!("no {other} for {}", o.path),
                }
            });
            let r = app.get(&s.token, &path).await;
            assert_eq!(r.status, 200, "{role} reads {path}: {}", r.text);
            reads += 1;
        }
    }

    // ------------------------------------------------------------ every change
    let mut changed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut done = |m: &str, p: &str| {
        changed.insert((m.to_owned(), p.to_owned()));
    };
    let u = || app.unique();
    // tenants, pools, hosts, images, the simulator: operators
    let t = &op.token;
    let r = app
        .post(t, "/api/v1/tenants", json!({"name": "Fresh", "slug": format!("fresh-{}", u()),
            "admin": {"email": format!("a{}@fresh.test", u()), "name": "A", "password": STRONG_PASSWORD}}))
        .await;
    ok(&r, "create a tenant");
    let fresh = r.body["tenant"]["id"].as_str().unwrap().to_owned();
    done("POST", "/api/v1/tenants");
    ok(
        &app.patch(
            t,
            &format!("/api/v1/tenants/{}", acme.id),
            json!({"name": "Acme Inc"}),
        )
        .await,
        "rename a tenant",
    );
    done("PATCH", "/api/v1/tenants/{tenant_id}");
    ok(
        &app.post(t, &format!("/api/v1/tenants/{fresh}/suspend"), json!({}))
            .await,
        "suspend",
    );
    done("POST", "/api/v1/tenants/{tenant_id}/suspend");
    ok(
        &app.post(t, &format!("/api/v1/tenants/{fresh}/reactivate"), json!({}))
            .await,
        "reactivate",
    );
    done("POST", "/api/v1/tenants/{tenant_id}/reactivate");
    ok(
        &app.delete(t, &format!("/api/v1/tenants/{fresh}")).await,
        "delete a tenant",
    );
    done("DELETE", "/api/v1/tenants/{tenant_id}");
    let r = app
        .post(t, "/api/v1/pools", json!({"name": format!("pool{}", u())}))
        .await;
    ok(&r, "create a pool");
    let p2 = id(&r);
    done("POST", "/api/v1/pools");
    ok(
        &app.patch(
            t,
            &format!("/api/v1/pools/{p2}"),
            json!({"strategy": "pack"}),
        )
        .await,
        "change a pool",
    );
    done("PATCH", "/api/v1/pools/{pool_id}");
    let host_body = |n: u32| {
        json!({"name": format!("h{n}"), "uri": format!("sim://h{n}"),
        "capacity": {"vcpus": 4, "memory_mib": 4096, "disk_gib": 10}})
    };
    let r = app
        .post(t, &format!("/api/v1/pools/{p2}/hosts"), host_body(u()))
        .await;
    ok(&r, "add a host");
    let h2 = id(&r);
    done("POST", "/api/v1/pools/{pool_id}/hosts");
    ok(
        &app.patch(
            t,
            &format!("/api/v1/hosts/{h2}"),
            json!({"labels": {"rack": "a1"}}),
        )
        .await,
        "label a host",
    );
    done("PATCH", "/api/v1/hosts/{host_id}");
    ok(
        &app.post(t, &format!("/api/v1/sim/hosts/{h2}/kill"), json!({}))
            .await,
        "kill a simulated host",
    );
    done("POST", "/api/v1/sim/hosts/{host_id}/kill");
    ok(
        &app.post(t, &format!("/api/v1/sim/hosts/{h2}/revive"), json!({}))
            .await,
        "revive it",
    );
    done("POST", "/api/v1/sim/hosts/{host_id}/revive");
    ok(
        &app.delete(t, &format!("/api/v1/hosts/{h2}")).await,
        "delete a host",
    );
    done("DELETE", "/api/v1/hosts/{host_id}");
    let r = app
        .post(
            t,
            &format!("/api/v1/pools/{p2}/images"),
            json!({"name": "img", "kind": "disk",
            "format": "qcow2", "file": "img.qcow2", "sha256": "a".repeat(64), "size_bytes": 1}),
        )
        .await;
    ok(&r, "register an image");
    done("POST", "/api/v1/pools/{pool_id}/images");
    ok(
        &app.delete(t, &format!("/api/v1/images/{}", id(&r))).await,
        "remove an image",
    );
    done("DELETE", "/api/v1/images/{image_id}");
    ok(
        &app.delete(t, &format!("/api/v1/pools/{p2}")).await,
        "delete a pool",
    );
    done("DELETE", "/api/v1/pools/{pool_id}");
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sim/faults",
            Some(t),
            Some(json!({"fail_boots": false, "slow": 1.0})),
        )
        .await;
    ok(&r, "set the simulator's faults");
    done("PUT", "/api/v1/sim/faults");
    let victim = deploy_more(&app, &op, &worlds["operator"].project, &global).await;
    ok(
        &app.post(
            t,
            &format!("/api/v1/sim/appliances/{victim}/kill"),
            json!({}),
        )
        .await,
        "kill a simulated appliance",
    );
    done("POST", "/api/v1/sim/appliances/{appliance_id}/kill");

    // projects, users and templates: operators (in the provider's tenant) and admins
    for role in ["operator", "admin"] {
        let w = &worlds[role];
        let t = &w.session.token;
        let r = app
            .post(t, "/api/v1/projects", json!({"name": format!("p{}", u())}))
            .await;
        ok(&r, &format!("{role} creates a project"));
        let p = id(&r);
        ok(
            &app.patch(
                t,
                &format!("/api/v1/projects/{p}"),
                json!({"description": "d"}),
            )
            .await,
            role,
        );
        // a member to assign: a user of acme, another operator of the provider
        let member_role = if role == "operator" {
            "operator"
        } else {
            "user"
        };
        let member = app.user(&w.session, member_role).await;
        let r = app
            .put(t, &format!("/api/v1/projects/{p}/members/{}", member.id))
            .await;
        ok(&r, &format!("{role} assigns"));
        ok(
            &app.delete(t, &format!("/api/v1/projects/{p}/members/{}", member.id))
                .await,
            role,
        );
        ok(
            &app.delete(t, &format!("/api/v1/projects/{p}")).await,
            &format!("{role} deletes a project"),
        );
        let new_role = if role == "operator" {
            "finance"
        } else {
            "user"
        };
        let r = app
            .post(
                t,
                "/api/v1/users",
                json!({"email": format!("n{}@roles.test", u()), "name": "N",
                "role": new_role, "password": STRONG_PASSWORD}),
            )
            .await;
        ok(&r, &format!("{role} creates a user"));
        ok(
            &app.patch(
                t,
                &format!("/api/v1/users/{}", id(&r)),
                json!({"name": "Renamed"}),
            )
            .await,
            role,
        );
        let r = app
            .post(
                t,
                "/api/v1/templates",
                json!({"name": format!("t{}", u()), "role": "static",
                "image_id": image, "flavor": {"vcpus": 1, "memory_mib": 256, "disk_gib": 1}}),
            )
            .await;
        ok(&r, &format!("{role} adds a template"));
        ok(
            &app.delete(t, &format!("/api/v1/templates/{}", id(&r)))
                .await,
            role,
        );
    }
    for (m, p) in [
        ("POST", "/api/v1/projects"),
        ("PATCH", "/api/v1/projects/{project_id}"),
        ("PUT", "/api/v1/projects/{project_id}/members/{user_id}"),
        ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}"),
        ("DELETE", "/api/v1/projects/{project_id}"),
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/{user_id}"),
        ("POST", "/api/v1/templates"),
        ("DELETE", "/api/v1/templates/{template_id}"),
    ] {
        done(m, p);
    }

    // applications, layers, groups, appliances: everyone who works on projects
    for role in ["operator", "admin", "user"] {
        let w = &worlds[role];
        let t = &w.session.token;
        let a = application(&app, t, &w.project, &format!("a{}", u())).await;
        ok(
            &app.patch(
                t,
                &format!("/api/v1/applications/{a}"),
                json!({"description": "d"}),
            )
            .await,
            role,
        );
        let l = fresh_layer(&app, &w.session, &a).await;
        ok(
            &app.patch(
                t,
                &format!("/api/v1/layers/{l}"),
                json!({"name": format!("l{}", u())}),
            )
            .await,
            role,
        );
        ok(
            &app.delete(t, &format!("/api/v1/layers/{l}")).await,
            &format!("{role} deletes a layer"),
        );
        let g = fresh_group(&app, w, &a).await;
        ok(
            &app.patch(
                t,
                &format!("/api/v1/groups/{g}"),
                json!({"service_ensure": false}),
            )
            .await,
            role,
        );
        let r = app
            .call(
                Method::PUT,
                &format!("/api/v1/groups/{g}/desired"),
                Some(t),
                Some(json!({"desired": 2})),
            )
            .await;
        ok(&r, &format!("{role} scales"));
        let r = app
            .call(
                Method::PUT,
                &format!("/api/v1/groups/{g}/load"),
                Some(t),
                Some(json!({"load_pct": 20})),
            )
            .await;
        ok(&r, &format!("{role} sets the load"));
        ok(
            &app.delete(t, &format!("/api/v1/groups/{g}")).await,
            &format!("{role} deletes a group"),
        );
        ok(
            &app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
                .await,
            role,
        );
        ok(
            &app.post(t, &format!("/api/v1/applications/{a}/undeploy"), json!({}))
                .await,
            role,
        );
        ok(
            &app.delete(t, &format!("/api/v1/applications/{a}")).await,
            &format!("{role} deletes an application"),
        );
        // the appliance's actions, in an order its states allow
        let x = if role == "user" {
            // the admin's appliance is the user's too (same project): the user gets one of its own
            deploy_more(&app, &w.session, &w.project, &w.template).await
        } else {
            w.deployed.appliance.clone()
        };
        ok(
            &app.post(t, &format!("/api/v1/appliances/{x}/stop"), json!({}))
                .await,
            &format!("{role} stops"),
        );
        appliance_is(&app, t, &x, "stopped").await;
        ok(
            &app.post(t, &format!("/api/v1/appliances/{x}/start"), json!({}))
                .await,
            &format!("{role} starts"),
        );
        appliance_is(&app, t, &x, "running").await;
        ok(
            &app.post(t, &format!("/api/v1/appliances/{x}/reboot"), json!({}))
                .await,
            &format!("{role} reboots"),
        );
        appliance_is(&app, t, &x, "running").await;
        ok(
            &app.post(t, &format!("/api/v1/appliances/{x}/terminate"), json!({}))
                .await,
            &format!("{role} terminates"),
        );
    }
    for (m, p) in [
        ("POST", "/api/v1/projects/{project_id}/applications"),
        ("PATCH", "/api/v1/applications/{application_id}"),
        ("DELETE", "/api/v1/applications/{application_id}"),
        ("POST", "/api/v1/applications/{application_id}/deploy"),
        ("POST", "/api/v1/applications/{application_id}/undeploy"),
        ("POST", "/api/v1/applications/{application_id}/layers"),
        ("PATCH", "/api/v1/layers/{layer_id}"),
        ("DELETE", "/api/v1/layers/{layer_id}"),
        ("POST", "/api/v1/layers/{layer_id}/groups"),
        ("PATCH", "/api/v1/groups/{group_id}"),
        ("DELETE", "/api/v1/groups/{group_id}"),
        ("PUT", "/api/v1/groups/{group_id}/desired"),
        ("PUT", "/api/v1/groups/{group_id}/load"),
        ("POST", "/api/v1/appliances/{appliance_id}/stop"),
        ("POST", "/api/v1/appliances/{appliance_id}/start"),
        ("POST", "/api/v1/appliances/{appliance_id}/reboot"),
        ("POST", "/api/v1/appliances/{appliance_id}/terminate"),
    ] {
        done(m, p);
    }

    // CloudScripts and rules: everyone who works on projects (operators on the library)
    for role in ["operator", "admin", "user"] {
        let w = &worlds[role];
        let t = &w.session.token;
        // users run their tenant's scripts; admins (and operators, for the library) change them
        let owner = if role == "user" { &acme.admin.token } else { t };
        let sc = crate::fixtures::script(&app, owner).await;
        let r = app
            .post(
                owner,
                &format!("/api/v1/cloudscripts/{sc}/versions"),
                json!({"body": "#!/bin/sh\necho v2 {{ vars.greeting }}\n",
                    "variables": [{"name": "greeting", "type": "string", "default": "hi"}]}),
            )
            .await;
        ok(&r, &format!("{role} saves a version"));
        assert_eq!(r.body["latest_version"], 2);
        // the appliances above are terminated by now: a fresh one
        let appliance = deploy_more(&app, &w.session, &w.project, &w.template).await;
        let r = app
            .post(
                t,
                &format!("/api/v1/cloudscripts/{sc}/render"),
                json!({"appliance_id": appliance, "variables": {"greeting": "howdy"}}),
            )
            .await;
        ok(&r, &format!("{role} renders"));
        assert!(
            r.body["script"].as_str().unwrap().contains("echo v2 howdy"),
            "{}",
            r.text
        );
        let r = app
            .post(
                t,
                &format!("/api/v1/cloudscripts/{sc}/run"),
                json!({"appliance_ids": [appliance]}),
            )
            .await;
        ok(&r, &format!("{role} runs a script"));
        let rl = crate::fixtures::rule(&app, t, &w.deployed.application, &sc).await;
        ok(
            &app.patch(t, &format!("/api/v1/rules/{rl}"), json!({"enabled": false}))
                .await,
            &format!("{role} changes a rule"),
        );
        ok(
            &app.delete(t, &format!("/api/v1/rules/{rl}")).await,
            &format!("{role} removes a rule"),
        );
        ok(
            &app.delete(owner, &format!("/api/v1/cloudscripts/{sc}"))
                .await,
            &format!("{role}'s script deleted"),
        );
    }
    for (m, p) in [
        ("POST", "/api/v1/cloudscripts"),
        ("POST", "/api/v1/cloudscripts/{script_id}/versions"),
        ("POST", "/api/v1/cloudscripts/{script_id}/render"),
        ("POST", "/api/v1/cloudscripts/{script_id}/run"),
        ("DELETE", "/api/v1/cloudscripts/{script_id}"),
        ("POST", "/api/v1/applications/{application_id}/rules"),
        ("PATCH", "/api/v1/rules/{rule_id}"),
        ("DELETE", "/api/v1/rules/{rule_id}"),
    ] {
        done(m, p);
    }

    // everyone changes their own password (fresh sessions: a change ends the others)
    for role in ["operator", "admin", "user", "finance"] {
        let admin_of = if role == "operator" { &op } else { &acme.admin };
        let who = app.user(admin_of, role).await;
        let r = app
            .post(
                &who.token,
                "/api/v1/auth/password",
                json!({"current_password": STRONG_PASSWORD,
                "new_password": "Quartz-Meadow-Falcon-88"}),
            )
            .await;
        ok(&r, &format!("{role} changes its password"));
    }
    done("POST", "/api/v1/auth/password");

    // the table covers every change route with a role rule (the public and agent ones are tested
    // where they live)
    let expected: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|o| o.method != "GET" && o.roles.is_some() && !o.agent)
        .map(|o| (o.method.clone(), o.path.clone()))
        .collect();
    assert_eq!(changed, expected, "change routes without a success check");
    assert!(reads >= 50, "only {reads} reads succeeded");
}
