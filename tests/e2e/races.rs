//! Races of the security review (issue 7, items 2 and 4), on whichever engine the run uses: a stale
//! read-modify-write must never undo another writer's change, and a tenant-wide rule checked before a
//! write must still hold after two such writes ran at once.

use crate::fixtures::{application, group, layer, template};
use scaleinfra_tests::*;
use serde_json::json;

/// A user looping password changes while an admin disables them: the disable sticks. (The password
/// change used to read the user, hash for a while, and write the whole stale row back.)
#[tokio::test]
async fn a_password_change_never_undoes_a_disable() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let admin = &acme.admin;
    for round in 0..4 {
        let bob = app.user(admin, "user").await;
        let change = app.call(
            reqwest::Method::POST,
            "/api/v1/auth/password",
            Some(&bob.token),
            Some(json!({"current_password": STRONG_PASSWORD,
                        "new_password": format!("Quartz-Meadow-Falcon-{round}7")})),
        );
        let bob_path = format!("/api/v1/users/{}", bob.id);
        let disable = app.patch(&admin.token, &bob_path, json!({"disabled": true}));
        let (changed, disabled) = tokio::join!(change, disable);
        disabled.assert_status(200);
        // the password change either ran first, or saw the disable and refused
        assert!(
            [200, 401].contains(&changed.status.as_u16()),
            "{}",
            changed.text
        );
        let now = app
            .get(&admin.token, &format!("/api/v1/users/{}", bob.id))
            .await;
        assert_eq!(
            now.body["disabled"], true,
            "round {round}: the disable was undone"
        );
        // and no session of the disabled user works, the fresh one of a password change included
        if changed.status == 200 {
            let fresh = changed.body["access_token"].as_str().unwrap();
            app.get(fresh, "/api/v1/auth/me")
                .await
                .assert_problem(401, "unauthenticated");
        }
        app.get(&bob.token, "/api/v1/auth/me")
            .await
            .assert_problem(401, "unauthenticated");
    }
}

/// Two admins disabling each other at once: one wins, the tenant keeps an enabled admin.
#[tokio::test]
async fn two_admins_disabling_each_other_leave_one() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let mut boss = acme.admin.clone();
    for _ in 0..4 {
        let a = app.user(&boss, "admin").await;
        let b = app.user(&boss, "admin").await;
        // the fixture's first admin steps aside, so a and b are the only two enabled admins
        app.patch(
            &a.token,
            &format!("/api/v1/users/{}", acme.admin.id),
            json!({"disabled": true}),
        )
        .await
        .assert_status(200);
        let (path_a, path_b) = (
            format!("/api/v1/users/{}", a.id),
            format!("/api/v1/users/{}", b.id),
        );
        let (ra, rb) = tokio::join!(
            app.patch(&a.token, &path_b, json!({"disabled": true})),
            app.patch(&b.token, &path_a, json!({"disabled": true})),
        );
        let statuses = [ra.status.as_u16(), rb.status.as_u16()];
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, 1, "exactly one disable wins: {} / {}", ra.text, rb.text);
        let users = app
            .get(
                &op.token,
                &format!("/api/v1/tenants/{}/users?limit=500", acme.id),
            )
            .await;
        let enabled_admins = users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["disabled"] == false)
            .count();
        assert_eq!(enabled_admins, 1);
        // hand the tenant back to the fixture's admin for the next round
        let winner = if ra.status == 200 { &a } else { &b };
        app.patch(
            &winner.token,
            &format!("/api/v1/users/{}", acme.admin.id),
            json!({"disabled": false}),
        )
        .await
        .assert_status(200);
        boss = app.login(&acme.admin.email, STRONG_PASSWORD).await;
        // and the winner steps aside: the next round starts with one enabled admin again
        app.patch(
            &boss.token,
            &format!("/api/v1/users/{}", winner.id),
            json!({"disabled": true}),
        )
        .await
        .assert_status(200);
    }
}

/// Concurrent scale-ups of a deployed application never take the tenant past its quota.
#[tokio::test]
async fn concurrent_scale_ups_stay_within_the_quota() {
    let app = TestApp::spawn_with(|c| c.orchestrator = false).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    app.patch(
        &op.token,
        &format!("/api/v1/tenants/{}", acme.id),
        json!({"quotas": {"max_vcpus": 64, "max_memory_mib": 10_000_000, "max_appliances": 6}}),
    )
    .await
    .assert_status(200);
    let project = app.project(&acme.admin, "P").await;
    let tpl = template(&app, &acme.admin, "tiny", 1, 256).await;
    let a = application(&app, t, &project, "A").await;
    let l = layer(&app, t, &a, "web").await;
    let mut groups = Vec::new();
    for i in 0..4 {
        groups.push(group(&app, t, &l, &format!("g{i}"), &tpl, 1, 10).await);
    }
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);
    // 4 deployed, quota 6: each of four scale-ups to 3 asks for 2 more; at most one fits
    let paths: Vec<String> = groups
        .iter()
        .map(|g| format!("/api/v1/groups/{g}/desired"))
        .collect();
    let calls = paths.iter().map(|p| {
        app.call(
            reqwest::Method::PUT,
            p,
            Some(t),
            Some(json!({"desired": 3})),
        )
    });
    let answers = futures_util::future::join_all(calls).await;
    let accepted = answers.iter().filter(|r| r.status == 202).count();
    for r in &answers {
        if r.status != 202 {
            r.assert_problem(422, "quota_exceeded");
        }
    }
    assert_eq!(accepted, 1, "one scale-up fits the quota");
    let mut total = 0;
    for g in &groups {
        total += app.get(t, &format!("/api/v1/groups/{g}")).await.body["size"]["desired"]
            .as_u64()
            .unwrap();
    }
    assert!(
        total <= 6,
        "the tenant asks for {total} appliances, over its quota of 6"
    );
}

/// The host monitor never writes back a host it read before an operator changed it: a host put in
/// maintenance stays there while its checks keep failing.
#[tokio::test]
async fn the_host_monitor_never_reverts_an_operators_state() {
    let app = TestApp::spawn_with(|c| {
        c.host_down_after = 1000;
        c.host_check_ms = 50;
    })
    .await;
    let op = app.operator().await;
    let sim = app.state.sim.clone().unwrap();
    // every driver call takes ~0.5 s: a round reads the hosts, waits on them, then judges
    sim.set_faults(orchestrator::Faults {
        fail_boots: false,
        fail_scripts: false,
        hang_scripts: false,
        slow: 50.0,
    });
    let pools = app.get(&op.token, "/api/v1/pools").await;
    let pool = pools.body["items"][0]["id"].as_str().unwrap().to_owned();
    let hosts = app
        .get(&op.token, &format!("/api/v1/pools/{pool}/hosts"))
        .await;
    let ids: Vec<String> = hosts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    let (target, witness) = (&ids[0], &ids[1]);
    for id in [target, witness] {
        app.post(
            &op.token,
            &format!("/api/v1/sim/hosts/{id}/kill"),
            json!({}),
        )
        .await
        .assert_status(204);
    }
    let missed = |id: String| {
        let store = app.store.clone();
        async move {
            let id: common::HostId = id.parse().unwrap();
            store
                .read(move |c| store::repo::hosts::get(c, id))
                .await
                .unwrap()
                .unwrap()
                .missed_checks
        }
    };
    app.eventually(30, "the dead hosts to be suspect", || async {
        (missed(target.clone()).await >= 1).then_some(())
    })
    .await;
    for _ in 0..3 {
        // put it in maintenance while a round is in flight, then let two more rounds judge it
        app.patch(
            &op.token,
            &format!("/api/v1/hosts/{target}"),
            json!({"state": "maintenance"}),
        )
        .await
        .assert_status(200);
        let seen = missed(witness.clone()).await;
        app.eventually(30, "two more monitor rounds", || async {
            (missed(witness.clone()).await >= seen + 2).then_some(())
        })
        .await;
        let h = app.get(&op.token, &format!("/api/v1/hosts/{target}")).await;
        assert_eq!(
            h.body["state"], "maintenance",
            "the monitor reverted the operator's state"
        );
        app.patch(
            &op.token,
            &format!("/api/v1/hosts/{target}"),
            json!({"state": "up"}),
        )
        .await
        .assert_status(200);
        app.eventually(30, "the monitor to see it fail again", || async {
            (missed(target.clone()).await >= 1).then_some(())
        })
        .await;
    }
}
