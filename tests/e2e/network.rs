//! A pool's guest network on the simulated pool: IPAM hands every appliance an address of the pool's
//! range (never one held, never the gateway), the guest's own claim does not replace it, Script
//! Variables see these addresses, termination releases them, a full range fails placement with a
//! reason, and a network in use cannot change.

use crate::fixtures::{appliances, application, group, layer, resize, running, template};
use scaleinfra_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

async fn sim_pool(app: &TestApp, token: &str) -> String {
    let r = app.get(token, "/api/v1/pools").await;
    r.body["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn set_network(app: &TestApp, token: &str, pool: &str, cidr: &str) -> Resp {
    app.patch(
        token,
        &format!("/api/v1/pools/{pool}"),
        json!({"network": {"bridge": "sibr0", "cidr": cidr, "gateway": null,
                          "agent_url": "http://10.88.0.1:8080"}}),
    )
    .await
}

fn ips(all: &[Value]) -> BTreeSet<Ipv4Addr> {
    all.iter()
        .map(|a| a["ip"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn held(app: &TestApp, token: &str, pool: &str) -> BTreeSet<Ipv4Addr> {
    let r = app
        .get(token, &format!("/api/v1/pools/{pool}/addresses?limit=100"))
        .await;
    r.assert_status(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["address"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// For `slug`, a new tenant, an application on the sim pool with one group of `desired` (at most
/// `max`), deployed: its admin, the application and the group.
async fn web_app(
    app: &TestApp,
    op: &Session,
    slug: &str,
    desired: u32,
    max: u32,
) -> (Session, String, String) {
    let t = app.tenant(op, slug).await;
    let s = t.admin.clone();
    let project = app.project(&s, "P").await;
    let a = application(app, &s.token, &project, "Web").await;
    let l = layer(app, &s.token, &a, "app").await;
    let tpl = template(app, &s, "small", 1, 512).await;
    let g = group(app, &s.token, &l, "web", &tpl, desired, max).await;
    app.post(
        &s.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    (s, a, g)
}

#[tokio::test]
async fn appliances_get_addresses_of_their_pools_network_and_give_them_back() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let pool = sim_pool(&app, &op.token).await;
    let r = set_network(&app, &op.token, &pool, "10.88.0.0/24").await;
    r.assert_status(200);
    assert_eq!(r.body["network"]["gateway"], Value::Null);
    assert_eq!(r.body["addresses_total"], 253, "254 hosts less the gateway");
    assert_eq!(r.body["addresses_in_use"], 0);

    let (admin, a, g) = web_app(&app, &op, "acme", 3, 5).await;
    let s = &admin;
    let three = running(&app, &s.token, &a, Some(&g), 3).await;
    let first = ips(&three);
    let net: ipnet::Ipv4Net = "10.88.0.0/24".parse().unwrap();
    assert_eq!(first.len(), 3, "three different addresses: {three:?}");
    for ip in &first {
        assert!(net.contains(ip), "{ip} is in the pool's network");
        assert_ne!(
            *ip,
            Ipv4Addr::new(10, 88, 0, 1),
            "the gateway is never handed out"
        );
        assert_ne!(*ip, Ipv4Addr::new(10, 88, 0, 0));
    }
    assert_eq!(held(&app, &op.token, &pool).await, first);
    let r = app.get(&op.token, &format!("/api/v1/pools/{pool}")).await;
    assert_eq!(r.body["addresses_in_use"], 3);

    // the network cannot change under appliances that hold its addresses
    set_network(&app, &op.token, &pool, "10.89.0.0/24")
        .await
        .assert_problem(409, "network_in_use");

    // scale in to one: the two terminated give their addresses back in the same move
    resize(&app, &s.token, &g, 1).await;
    let one = running(&app, &s.token, &a, Some(&g), 1).await;
    let kept = ips(&one);
    assert!(kept.is_subset(&first));
    app.eventually(30, "the two addresses released", || async {
        (held(&app, &op.token, &pool).await == kept).then_some(())
    })
    .await;
    // out again: fresh addresses first, the released ones wait
    resize(&app, &s.token, &g, 3).await;
    let again = running(&app, &s.token, &a, Some(&g), 3).await;
    let now = ips(&again);
    assert_eq!(now.len(), 3);
    let released: BTreeSet<_> = first.difference(&kept).copied().collect();
    assert!(
        now.is_disjoint(&released),
        "released addresses are not handed out while fresh ones remain: {now:?} {released:?}"
    );
    assert_eq!(held(&app, &op.token, &pool).await, now);
}

#[tokio::test]
async fn a_full_range_fails_placement_and_a_released_address_serves_again() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let pool = sim_pool(&app, &op.token).await;
    // a /30 with its gateway: one address for guests
    set_network(&app, &op.token, &pool, "10.88.0.0/30")
        .await
        .assert_status(200);
    let (admin, a, g) = web_app(&app, &op, "acme", 1, 2).await;
    let s = &admin;
    let one = running(&app, &s.token, &a, Some(&g), 1).await;
    assert_eq!(one[0]["ip"], "10.88.0.2");

    // a second appliance finds no address: its placement fails, saying why
    resize(&app, &s.token, &g, 2).await;
    let why = app
        .eventually(30, "the placement to fail", || async {
            let r = app
                .get(
                    &s.token,
                    &format!("/api/v1/applications/{a}/events?limit=100"),
                )
                .await;
            r.body["items"]
                .as_array()?
                .iter()
                .find(|e| e["type"] == "placement.failed")
                .cloned()
        })
        .await;
    assert!(
        why.to_string()
            .contains("no free address left in 10.88.0.0/30"),
        "{why}"
    );
    assert_eq!(held(&app, &op.token, &pool).await.len(), 1);

    // both go (the failed one too, or it would keep its place in the group): the released address,
    // the only one left, serves the next appliance
    let first = one[0]["id"].as_str().unwrap().to_owned();
    let unplaced = why["appliance_id"].as_str().unwrap().to_owned();
    resize(&app, &s.token, &g, 1).await;
    for id in [&first, &unplaced] {
        let r = app
            .post(
                &s.token,
                &format!("/api/v1/appliances/{id}/terminate"),
                json!({}),
            )
            .await;
        // (the scale-in may have terminated the failed one first)
        if r.status != 202 {
            r.assert_problem(409, "invalid_state");
            assert!(r.text.contains("is terminated"), "{}", r.text);
        }
    }
    let next = app
        .eventually(60, "a new appliance on the released address", || async {
            let all = appliances(&app, &s.token, &a).await;
            all.into_iter().find(|x| {
                x["id"] != first.as_str() && x["id"] != unplaced.as_str() && x["state"] == "running"
            })
        })
        .await;
    assert_eq!(next["ip"], "10.88.0.2");
}

#[tokio::test]
async fn a_pool_network_is_validated() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let url = "http://10.0.0.1:8080";
    let bad = [
        (
            json!({"bridge": "", "cidr": "10.0.0.0/24", "agent_url": url}),
            "network.bridge",
        ),
        (
            json!({"bridge": "a-very-long-bridge", "cidr": "10.0.0.0/24", "agent_url": url}),
            "network.bridge",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.1/24", "agent_url": url}),
            "network.cidr",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/8", "agent_url": url}),
            "network.cidr",
        ),
        (
            json!({"bridge": "br0", "cidr": "fe80::/64", "agent_url": url}),
            "network.cidr",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/24", "gateway": "10.0.1.1", "agent_url": url}),
            "network.gateway",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/24", "gateway": "10.0.0.255", "agent_url": url}),
            "network.gateway",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/24", "agent_url": "ftp://x"}),
            "network.agent_url",
        ),
        (
            // a guest's address, not the gateway's
            json!({"bridge": "br0", "cidr": "10.0.0.0/24", "agent_url": "http://10.0.0.9:8080"}),
            "network.agent_url",
        ),
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/24", "agent_url": "http://10.0.0.1/\" si.ip=1.1.1.1/8"}),
            "network.agent_url",
        ),
    ];
    for (network, field) in bad {
        let r = app
            .post(
                &op.token,
                "/api/v1/pools",
                json!({"name": "n", "network": network}),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        let fields: Vec<String> = r.field_errors().into_iter().map(|f| f.0).collect();
        assert_eq!(fields, [field], "{network}: {}", r.text);
    }
    let pools = app.get(&op.token, "/api/v1/pools").await;
    assert_eq!(
        pools.body["items"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
    let r = app
        .post(&op.token, "/api/v1/pools", json!({"name": "n", "network": {
            "bridge": "br0", "cidr": "10.0.0.0/24", "gateway": "10.0.0.254", "agent_url": "http://10.0.0.254:8080"
        }}))
        .await;
    r.assert_status(201);
    assert_eq!(r.body["network"]["gateway"], "10.0.0.254");
    assert_eq!(r.body["addresses_total"], 253);
    let id = r.body["id"].as_str().unwrap().to_owned();
    // a bridge carries one pool network (its guests would pass each other's filters as "outside
    // the range"), even with a range of its own; another bridge may carry another
    let overlap =
        json!({"bridge": "br0", "cidr": "10.1.0.0/24", "agent_url": "http://10.1.0.1:8080"});
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({"name": "o", "network": overlap}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].0, "network.bridge", "{}", r.text);
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({"name": "o", "network": {
            "bridge": "br1", "cidr": "10.0.0.128/25", "agent_url": url}}),
        )
        .await;
    r.assert_status(201);
    let other = r.body["id"].as_str().unwrap().to_owned();
    // a change is validated the same way and changes nothing when refused
    for (network, field) in [
        (
            json!({"bridge": "br0", "cidr": "10.0.0.0/16", "agent_url": url}),
            "network.bridge",
        ),
        (
            json!({"bridge": "br1", "cidr": "10.0.0.0/24", "gateway": "10.0.9.1", "agent_url": url}),
            "network.gateway",
        ),
    ] {
        let r = app
            .patch(
                &op.token,
                &format!("/api/v1/pools/{other}"),
                json!({"network": network}),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.field_errors()[0].0, field, "{network}: {}", r.text);
    }
    let r = app.get(&op.token, &format!("/api/v1/pools/{other}")).await;
    assert_eq!(r.body["network"]["cidr"], "10.0.0.128/25");
    assert_eq!(r.body["network"]["bridge"], "br1");
    // null takes the network away again (nothing holds its addresses)
    let r = app
        .patch(
            &op.token,
            &format!("/api/v1/pools/{id}"),
            json!({"network": null}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["network"], Value::Null);
    assert_eq!(r.body["addresses_total"], 0);
}

/// Once the application has `want` running appliances: every host with one of its guests lets them
/// reach exactly the application's addresses (a host it left keeps an unused filter).
async fn filters_follow(
    app: &TestApp,
    sim: &orchestrator::drivers::sim::SimCloud,
    (operator, token): (&str, &str),
    a: &str,
    want: usize,
) -> BTreeSet<Ipv4Addr> {
    let guests = running(app, token, a, None, want).await;
    let ours = ips(&guests);
    let mut hosts = BTreeSet::new();
    for g in &guests {
        let h = app
            .get(
                operator,
                &format!("/api/v1/hosts/{}", g["host_id"].as_str().unwrap()),
            )
            .await;
        hosts.insert(h.body["uri"].as_str().unwrap().to_owned());
    }
    let id: common::ApplicationId = a.parse().unwrap();
    app.eventually(30, "the filters to follow the application", || async {
        let per_host = sim.peers_of(id);
        hosts
            .iter()
            .all(|h| {
                per_host
                    .get(h)
                    .is_some_and(|p| p.iter().copied().collect::<BTreeSet<_>>() == ours)
            })
            .then_some(ours.clone())
    })
    .await
}

/// The filter each host enforces: an application's guests reach each other's addresses and no
/// other application's, another tenant's included, and it follows the application as it scales.
#[tokio::test]
async fn each_application_reaches_only_its_own_guests() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let pool = sim_pool(&app, &op.token).await;
    set_network(&app, &op.token, &pool, "10.88.0.0/24")
        .await
        .assert_status(200);
    let sim = app.state.sim.clone().unwrap();
    let mut deployed = Vec::new();
    for slug in ["acme", "globex"] {
        let (s, a, g) = web_app(&app, &op, slug, 3, 5).await;
        running(&app, &s.token, &a, Some(&g), 3).await;
        deployed.push((s, a, g));
    }
    let (acme, globex) = (&deployed[0], &deployed[1]);
    let a_ips = filters_follow(&app, &sim, (&op.token, &acme.0.token), &acme.1, 3).await;
    let g_ips = filters_follow(&app, &sim, (&op.token, &globex.0.token), &globex.1, 3).await;
    assert!(a_ips.is_disjoint(&g_ips), "{a_ips:?} {g_ips:?}");
    // scale in: the terminated one is nobody's peer any more; out again: the new one is everyone's
    resize(&app, &acme.0.token, &acme.2, 1).await;
    let one = filters_follow(&app, &sim, (&op.token, &acme.0.token), &acme.1, 1).await;
    assert_eq!(one.len(), 1);
    resize(&app, &acme.0.token, &acme.2, 2).await;
    filters_follow(&app, &sim, (&op.token, &acme.0.token), &acme.1, 2).await;
    assert_eq!(
        filters_follow(&app, &sim, (&op.token, &globex.0.token), &globex.1, 3).await,
        g_ips,
        "the other untouched"
    );
}
