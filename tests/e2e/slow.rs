//! The slow tier: a real libvirtd (qemu:///system, TCG, inside the test network namespace) boots tiny
//! real appliances — a Debian kernel and a busybox initramfs carrying the agent, Debian's haproxy and
//! socat, built by infra/guest/build.sh. One comes alive through the agent over restricted user-mode
//! networking, reports metrics, and is destroyed on undeploy; a load balancer and app servers on a
//! pool's bridge network serve HTTP through a real HAProxy as the app layer scales out and in. Run by
//! scripts/test after it starts libvirtd and builds the guest (`SITEST_GUEST_DIR`); ignored in a
//! plain `cargo test`.

use crate::fixtures::{appliances, application, group, layer, resize};
use scaleinfra_tests::*;
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "slow tier: needs libvirtd and the guest built by infra/guest/build.sh (scripts/test runs it)"]
async fn a_real_tcg_guest_comes_alive_through_its_agent() {
    let guest = std::env::var("SITEST_GUEST_DIR").expect(
        "SITEST_GUEST_DIR must name the folder infra/guest/build.sh wrote (scripts/test sets it)",
    );
    // the guest reaches this server's agent API only, through the guestfwd of restricted user-mode
    // networking from 10.0.2.100 to the host's loopback
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|c| {
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.agent_url = format!("http://10.0.2.100:{port}");
        c.sim_hosts = 0;
        c.heartbeat_ms = 1000;
        c.heartbeat_timeout_secs = 30;
        c.boot_timeout_secs = 240;
        c.host_check_ms = 2000;
        c.host_down_after = 5;
    })
    .await;
    // libvirtd and its guests live in the test network namespace: the guestfwd reaches this port on
    // the namespace's loopback, forwarded here
    let here = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    netns::forward(&netns::name(), here, here).await.unwrap();
    let op = app.operator().await;
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({"name": "kvm", "image_dir": guest}),
        )
        .await;
    r.assert_status(201);
    let pool = r.body["id"].as_str().unwrap().to_owned();
    app.post(&op.token, &format!("/api/v1/pools/{pool}/hosts"), json!({
        "name": "localhost", "uri": "qemu:///system", "capacity": {"vcpus": 2, "memory_mib": 2048, "disk_gib": 10}
    }))
    .await
    .assert_status(201);
    // the guest's kernel and initramfs, registered in the pool's image directory with their checksums
    let (kernel, initrd) = guest_images(&app, &op.token, &pool, &guest).await;
    let tpl = tiny_template(
        &app,
        &op.token,
        (&kernel, &initrd),
        ("Tiny guest", "static"),
        &[80],
        &[],
    )
    .await;
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let a = application(&app, t, &project, "Real").await;
    let l = layer(&app, t, &a, "web").await;
    group(&app, t, &l, "web", &tpl, 1, 1).await;
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);

    // booted under TCG (kvm refused on this machine is tried first and falls back), announced itself
    let up = app
        .eventually(240, "the real guest to come alive", || async {
            let all = appliances(&app, t, &a).await;
            let first = all.first().cloned()?;
            assert_ne!(first["state"], "failed", "{first}");
            (first["state"] == "running").then_some(first)
        })
        .await;
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(
        up["ip"], "10.0.2.15",
        "the address the agent reports from inside the guest"
    );
    let ev = app
        .get(t, &format!("/api/v1/applications/{a}/events"))
        .await;
    assert!(
        ev.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "appliance.came_alive" && e["appliance_id"] == id.as_str())
    );
    let driver = orchestrator::drivers::libvirt::LibvirtDriver::new(Default::default());
    let hv: std::sync::Arc<dyn orchestrator::drivers::Hypervisor> = std::sync::Arc::new(driver);
    let listed = hv.list("qemu:///system").await.unwrap();
    assert!(
        listed.iter().any(|d| d.name == format!("si-{id}")
            && d.state == orchestrator::drivers::DomainState::Running)
    );
    // the agent reports real metrics from /proc
    let m = app
        .eventually(60, "metrics from the guest", || async {
            let r = app.get(t, &format!("/api/v1/appliances/{id}")).await;
            r.body["metrics"]
                .as_object()
                .map(|_| r.body["metrics"].clone())
        })
        .await;
    assert!(m["mem_total_mib"].as_u64().unwrap() > 100, "{m}");
    // restricted user-mode networking: the guest reached the agent API through its one forward,
    // and nothing of the host's loopback through the gateway (the guest probes this server's port)
    assert_eq!(m["custom"]["host_loopback_open"], 0.0, "{m}");

    // undeploy destroys and undefines the domain
    app.post(t, &format!("/api/v1/applications/{a}/undeploy"), json!({}))
        .await
        .assert_status(202);
    app.eventually(60, "the domain to be gone", || async {
        let listed = hv.list("qemu:///system").await.unwrap();
        (!listed.iter().any(|d| d.name == format!("si-{id}"))).then_some(())
    })
    .await;
    let r = app.get(t, &format!("/api/v1/appliances/{id}")).await;
    assert_eq!(r.body["state"], "terminated");
}

/// The tiny guest's kernel and initramfs registered in `pool`; their image ids.
async fn guest_images(app: &TestApp, token: &str, pool: &str, dir: &str) -> (String, String) {
    let mut ids = Vec::new();
    for (name, kind, file) in [
        ("Tiny kernel", "kernel", "vmlinuz"),
        ("Tiny initramfs", "initrd", "initramfs.cpio.gz"),
    ] {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let sha = orchestrator::drivers::images::sha256_of(&bytes[..]).unwrap();
        let r = app
            .post(
                token,
                &format!("/api/v1/pools/{pool}/images"),
                json!({
                    "name": name, "kind": kind, "format": "raw", "file": file,
                    "sha256": sha, "size_bytes": bytes.len()
                }),
            )
            .await;
        r.assert_status(201);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    (ids[0].clone(), ids[1].clone())
}

/// A template of the tiny guest (1 vCPU, 192 MiB) booting `images` (kernel, initrd).
async fn tiny_template(
    app: &TestApp,
    token: &str,
    (kernel, initrd): (&str, &str),
    (name, role): (&str, &str),
    ports: &[u16],
    install_scripts: &[&str],
) -> String {
    let r = app
        .post(
            token,
            "/api/v1/templates",
            json!({
                "name": name, "role": role,
                "kernel_image_id": kernel, "initrd_image_id": initrd,
                "flavor": {"vcpus": 1, "memory_mib": 192, "disk_gib": 1}, "ports": ports,
                "install_scripts": install_scripts
            }),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// `GET /` of `addr` from inside the test network namespace.
async fn get_in_ns(addr: std::net::SocketAddr) -> Result<String, String> {
    tokio::task::spawn_blocking(move || netns::http_get(&netns::name(), addr, "/"))
        .await
        .unwrap()
}

/// Wait until `GET /` through the load balancer at `front` answers `name`; on timeout fail with the
/// last answer and the load balancer's jobs and their output.
async fn until_served(
    app: &TestApp,
    token: &str,
    lb: &str,
    front: std::net::SocketAddr,
    name: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let answer = get_in_ns(front).await;
        if answer.as_deref() == Ok(name) {
            return;
        }
        if std::time::Instant::now() > deadline {
            let jobs = app
                .get(token, &format!("/api/v1/appliances/{lb}/jobs?limit=100"))
                .await;
            let mut seen = Vec::new();
            for j in jobs.body["items"].as_array().into_iter().flatten() {
                let one = app
                    .get(
                        token,
                        &format!("/api/v1/jobs/{}", j["id"].as_str().unwrap()),
                    )
                    .await;
                seen.push(format!(
                    "{} {} exit {}:\n{}\n{}",
                    j["script_name"],
                    j["status"],
                    one.body["exit_code"],
                    one.body["stdout"],
                    one.body["stderr"]
                ));
            }
            panic!(
                "HAProxy at {front} never answered {name}; last answer {answer:?}; jobs of the load balancer:\n{}",
                seen.join("\n")
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The appliances of `group` in `state`.
fn in_state(all: &[Value], group: &str, state: &str) -> Vec<Value> {
    all.iter()
        .filter(|a| a["group_id"] == group && a["state"] == state)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow tier: needs libvirtd in the test network namespace and the guest built by infra/guest/build.sh (scripts/test runs it)"]
async fn requests_through_a_real_haproxy_follow_the_app_layer_as_it_scales() {
    let guest = std::env::var("SITEST_GUEST_DIR").expect(
        "SITEST_GUEST_DIR must name the folder infra/guest/build.sh wrote (scripts/test sets it)",
    );
    let ns = netns::name();
    netns::clear_guests_on("sibr0");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|c| {
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.sim_hosts = 0;
        c.heartbeat_ms = 1000;
        c.heartbeat_timeout_secs = 60;
        c.boot_timeout_secs = 300;
        c.host_check_ms = 2000;
        c.host_down_after = 5;
    })
    .await;
    // guests on the bridge reach the agent API at the bridge's address, forwarded to this server
    let bridge_ip = std::net::Ipv4Addr::new(10, 77, 0, 1);
    netns::forward(&ns, (bridge_ip, port).into(), ([127, 0, 0, 1], port).into())
        .await
        .unwrap();
    let op = app.operator().await;
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({
                "name": "kvm-bridged", "image_dir": guest,
                "network": {"bridge": "sibr0", "cidr": "10.77.0.0/24", "gateway": "10.77.0.1",
                            "agent_url": format!("http://10.77.0.1:{port}")}
            }),
        )
        .await;
    r.assert_status(201);
    let pool = r.body["id"].as_str().unwrap().to_owned();
    app.post(&op.token, &format!("/api/v1/pools/{pool}/hosts"), json!({
        "name": "localhost", "uri": "qemu:///system", "capacity": {"vcpus": 4, "memory_mib": 2048, "disk_gib": 10}
    }))
    .await
    .assert_status(201);
    let (kernel, initrd) = guest_images(&app, &op.token, &pool, &guest).await;
    // the load balancer: the provider's template, configured by the library's install-haproxy
    let images = (kernel.as_str(), initrd.as_str());
    let lb_tpl = tiny_template(
        &app,
        &op.token,
        images,
        ("Tiny HAProxy", "load_balancer"),
        &[80],
        &["install-haproxy"],
    )
    .await;

    // the app servers: the tenant's template, whose install script serves the appliance's name
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    app.post(t, "/api/v1/cloudscripts", json!({
        "name": "serve-name",
        "body": "#!/bin/sh\nset -eu\nmkdir -p /www\nprintf '%s\\n' '{{ appliance.name }}' > /www/index.html\npidof httpd >/dev/null || httpd -p 80 -h /www\n",
        "timeout_secs": 60
    }))
    .await
    .assert_status(201);
    let app_tpl = tiny_template(
        &app,
        t,
        images,
        ("Tiny app", "app_server"),
        &[80],
        &["serve-name"],
    )
    .await;
    let project = app.project(&acme.admin, "P").await;
    let a = application(&app, t, &project, "Shop").await;
    let lb_layer = layer(&app, t, &a, "lb").await;
    let app_layer = layer(&app, t, &a, "app").await;
    let lb = group(&app, t, &lb_layer, "haproxy", &lb_tpl, 1, 1).await;
    let web = group(&app, t, &app_layer, "web", &app_tpl, 1, 2).await;
    // another tenant's guest on the same bridge, which must reach none of acme's
    let globex = app.tenant(&op, "globex").await;
    let gt = &globex.admin.token;
    let probe_tpl = tiny_template(&app, gt, images, ("Tiny probe", "other"), &[], &[]).await;
    let gp = app.project(&globex.admin, "P").await;
    let ga = application(&app, gt, &gp, "Probe").await;
    let gl = layer(&app, gt, &ga, "probe").await;
    group(&app, gt, &gl, "probe", &probe_tpl, 1, 1).await;
    app.post(gt, &format!("/api/v1/applications/{ga}/deploy"), json!({}))
        .await
        .assert_status(202);
    let started = std::time::Instant::now();
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);

    let up = |group: String, n: usize| {
        let (app, a) = (&app, a.clone());
        async move {
            app.eventually(300, "the real guests to run", || async {
                let all = appliances(app, t, &a).await;
                for x in &all {
                    assert_ne!(x["state"], "failed", "{x}");
                }
                let running = in_state(&all, &group, "running");
                (running.len() == n).then_some(running)
            })
            .await
        }
    };
    let lbs = up(lb.clone(), 1).await;
    let first = up(web.clone(), 1).await;
    let lb_ip: std::net::Ipv4Addr = lbs[0]["ip"].as_str().unwrap().parse().unwrap();
    let net: ipnet::Ipv4Net = "10.77.0.0/24".parse().unwrap();
    assert!(
        net.contains(&lb_ip),
        "the load balancer's address is IPAM's: {lb_ip}"
    );
    let front = std::net::SocketAddr::from((lb_ip, 80));
    let first_name = first[0]["name"].as_str().unwrap().to_owned();
    let booted = started.elapsed();
    let lb_id = lbs[0]["id"].as_str().unwrap().to_owned();
    until_served(&app, t, &lb_id, front, &first_name).await;
    let served = started.elapsed();

    // the other tenant's guest reaches the gateway (the agent API) but neither acme's load
    // balancer nor its app server, which share its bridge: each application has its own filter
    let probe = app
        .eventually(300, "the other tenant's guest to run", || async {
            let all = appliances(&app, gt, &ga).await;
            all.into_iter().find(|x| x["state"] == "running")
        })
        .await;
    let targets = [
        format!("10.77.0.1:{port}"),
        format!("{lb_ip}:80"),
        format!("{}:80", first[0]["ip"].as_str().unwrap()),
    ];
    let mut body = String::from("#!/bin/sh\n");
    for u in &targets {
        body.push_str(&format!(
            "if socat -u OPEN:/dev/null TCP:{u},connect-timeout=3 2>&1; then echo \"REACHED {u}\"; \
             else echo \"BLOCKED {u}\"; fi\n"
        ));
    }
    let r = app
        .post(
            gt,
            "/api/v1/cloudscripts",
            json!({"name": "probe", "body": body, "timeout_secs": 60}),
        )
        .await;
    r.assert_status(201);
    let script = r.body["id"].as_str().unwrap().to_owned();
    let probe_id = probe["id"].as_str().unwrap().to_owned();
    app.post(
        gt,
        &format!("/api/v1/cloudscripts/{script}/run"),
        json!({"appliance_ids": [probe_id]}),
    )
    .await
    .assert_status(202);
    let out = app
        .eventually(120, "the probe to run", || async {
            let r = app
                .get(gt, &format!("/api/v1/appliances/{probe_id}/jobs?limit=10"))
                .await;
            r.body["items"]
                .as_array()?
                .iter()
                .find(|j| j["script_name"] == "probe" && j["status"] == "succeeded")
                .map(|j| j["stdout"].as_str().unwrap_or_default().to_owned())
        })
        .await;
    assert!(out.contains(&format!("REACHED {}", targets[0])), "{out}");
    assert!(out.contains(&format!("BLOCKED {}", targets[1])), "{out}");
    assert!(out.contains(&format!("BLOCKED {}", targets[2])), "{out}");
    // (blocked means no answer at all: a refusal would have come from the target)
    assert!(!out.to_lowercase().contains("refused"), "{out}");

    // scale out: once the new appliance came alive and was added, requests reach it
    let out_at = std::time::Instant::now();
    resize(&app, t, &web, 2).await;
    let two = up(web.clone(), 2).await;
    let second_name = two
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .find(|n| *n != first_name)
        .unwrap();
    until_served(&app, t, &lb_id, front, &second_name).await;
    let scaled_out = out_at.elapsed();

    // scale in under load: no request fails, and once the removal ran none reaches the removed one
    let load = netns::Load::start(&ns, front, "/");
    // (both serve when the scale-in starts)
    app.eventually(60, "the load to reach both app servers", || async {
        let seen = load.answers();
        (seen.iter().any(|r| r.as_deref() == Ok(first_name.as_str()))
            && seen
                .iter()
                .any(|r| r.as_deref() == Ok(second_name.as_str())))
        .then_some(())
    })
    .await;
    let in_at = std::time::Instant::now();
    resize(&app, t, &web, 1).await;
    let left = up(web.clone(), 1).await;
    let (kept, gone) = if left[0]["name"] == first_name.as_str() {
        (first_name.clone(), second_name.clone())
    } else {
        (second_name.clone(), first_name.clone())
    };
    app.eventually(180, "the removal to run on the load balancer", || async {
        let r = app
            .get(t, &format!("/api/v1/appliances/{lb_id}/jobs?limit=100"))
            .await;
        r.body["items"]
            .as_array()?
            .iter()
            .any(|j| j["script_name"] == "haproxy-remove-app-server" && j["status"] == "succeeded")
            .then_some(())
    })
    .await;
    let during = tokio::task::spawn_blocking(move || load.stop())
        .await
        .unwrap();
    let failed: Vec<&String> = during.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the scale-in: {failed:?}",
        failed.len(),
        during.len()
    );
    assert!(during.len() >= 5, "the load ran: {during:?}");
    let by_gone = during
        .iter()
        .filter(|r| r.as_deref() == Ok(gone.as_str()))
        .count();
    assert!(
        by_gone > 0,
        "the removed app server served until the scale-in"
    );
    eprintln!(
        "figures: both guests running {booted:.1?} after deploy, served through HAProxy at \
         {served:.1?}; scale-out served after {scaled_out:.1?}; scale-in removal ran after \
         {:.1?}, {} requests during it, {by_gone} answered by the removed one, none failed",
        in_at.elapsed(),
        during.len()
    );
    for _ in 0..20 {
        let answer = get_in_ns(front).await.unwrap();
        assert_eq!(
            answer, kept,
            "after the removal only {kept} serves, never {gone}"
        );
    }

    app.post(t, &format!("/api/v1/applications/{a}/undeploy"), json!({}))
        .await
        .assert_status(202);
    app.eventually(120, "every appliance terminated", || async {
        let all = appliances(&app, t, &a).await;
        all.is_empty().then_some(())
    })
    .await;
    app.post(
        gt,
        &format!("/api/v1/applications/{ga}/undeploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    app.eventually(120, "the probe terminated", || async {
        appliances(&app, gt, &ga).await.is_empty().then_some(())
    })
    .await;
    let r = app.get(&op.token, &format!("/api/v1/pools/{pool}")).await;
    assert_eq!(r.body["addresses_in_use"], 0, "every address released");
}
