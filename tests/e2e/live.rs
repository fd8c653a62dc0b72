//! The live stream of an application (`GET /applications/{id}/stream`): the snapshot that opens it,
//! changes in order per appliance, tenancy, resuming with `Last-Event-ID`, and a stalled client
//! dropped while the others go on.

use crate::fixtures::{application, group, layer, resize, running, template};
use common::api::{ApplianceChange, EventResponse, StreamEnd, StreamSnapshot, frame_kind};
use common::sse::{Frame, Parser};
use scaleinfra_tests::*;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout_at};

/// A reader of one stream.
struct Stream {
    resp: reqwest::Response,
    parser: Parser,
    utf8: Utf8Chunks,
    frames: VecDeque<Frame>,
}

impl Stream {
    async fn open(app: &TestApp, token: &str, application: &str, last_id: Option<&str>) -> Stream {
        let resp = Self::request(app, token, application, last_id).await;
        assert_eq!(resp.status(), 200, "the stream opens");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            resp,
            parser: Parser::new(),
            utf8: Utf8Chunks::default(),
            frames: VecDeque::new(),
        }
    }

    async fn request(
        app: &TestApp,
        token: &str,
        application: &str,
        last_id: Option<&str>,
    ) -> reqwest::Response {
        let mut rb = app
            .client
            .get(app.url(&format!("/api/v1/applications/{application}/stream")))
            .bearer_auth(token);
        if let Some(id) = last_id {
            rb = rb.header("Last-Event-ID", id);
        }
        rb.send().await.expect("stream request")
    }

    /// The next frame, or `None` when none comes before `deadline`.
    async fn next_before(&mut self, deadline: Instant) -> Option<Frame> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Some(f);
            }
            match timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(chunk) => {
                    let chunk = chunk.expect("stream read").expect("the stream stays open");
                    let text = self.utf8.push(&chunk);
                    self.frames.extend(self.parser.feed(&text));
                }
            }
        }
    }

    async fn next(&mut self, what: &str) -> Frame {
        let deadline = Instant::now() + Duration::from_secs(20);
        self.next_before(deadline)
            .await
            .unwrap_or_else(|| panic!("no frame within 20 s waiting for {what}"))
    }

    async fn snapshot(&mut self) -> StreamSnapshot {
        let f = self.next("the snapshot").await;
        assert_eq!(
            f.event,
            frame_kind::SNAPSHOT,
            "the stream opens with a snapshot"
        );
        serde_json::from_str(&f.data).unwrap()
    }

    /// Frames until `done` says the ones read so far are enough.
    async fn until(&mut self, what: &str, mut done: impl FnMut(&[Frame]) -> bool) -> Vec<Frame> {
        let mut got = Vec::new();
        while !done(&got) {
            got.push(self.next(what).await);
        }
        got
    }
}

fn changes(frames: &[Frame]) -> Vec<ApplianceChange> {
    frames
        .iter()
        .filter(|f| f.event == frame_kind::APPLIANCE)
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect()
}

fn events(frames: &[Frame]) -> Vec<EventResponse> {
    frames
        .iter()
        .filter(|f| f.event == frame_kind::EVENT)
        .map(|f| serde_json::from_str(&f.data).unwrap())
        .collect()
}

/// Appliances whose latest change in `frames` shows them running, by id.
fn running_in(frames: &[Frame]) -> Vec<String> {
    let mut last: HashMap<String, String> = HashMap::new();
    for c in changes(frames) {
        last.insert(c.appliance_id.to_string(), c.to.as_str().to_owned());
    }
    last.into_iter()
        .filter(|(_, s)| s == "running")
        .map(|(id, _)| id)
        .collect()
}

/// The states an appliance went through, as the REST API stores them.
async fn stored_states(app: &TestApp, token: &str, appliance: &str) -> Vec<String> {
    let r = app
        .get(
            token,
            &format!("/api/v1/appliances/{appliance}/transitions"),
        )
        .await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap().to_owned())
        .collect()
}

/// An application of the admin's with one group of `n` running appliances; (application, group).
async fn deployed(app: &TestApp, admin: &Session, project: &str, n: u32) -> (String, String) {
    let t = template(app, admin, &format!("Tiny {}", app.unique()), 1, 256).await;
    let a = application(
        app,
        &admin.token,
        project,
        &format!("Live {}", app.unique()),
    )
    .await;
    let l = layer(app, &admin.token, &a, "web").await;
    let g = group(app, &admin.token, &l, "web", &t, n, 40).await;
    app.post(
        &admin.token,
        &format!("/api/v1/applications/{a}/deploy"),
        json!({}),
    )
    .await
    .assert_status(202);
    running(app, &admin.token, &a, None, n as usize).await;
    (a, g)
}

#[tokio::test]
async fn a_stream_opens_with_a_snapshot_then_sends_each_change_in_order_to_its_tenant_only() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let globex = app.tenant(&op, "globex").await;
    let project = app.project(&acme.admin, "shop").await;
    let (application, group_id) = deployed(&app, &acme.admin, &project, 1).await;
    let other_project = app.project(&globex.admin, "web").await;
    let (other_app, _) = deployed(&app, &globex.admin, &other_project, 1).await;

    let opened = chrono::Utc::now();
    let mut s = Stream::open(&app, &acme.admin.token, &application, None).await;
    let snap = s.snapshot().await;
    assert_eq!(snap.appliances.len(), 1);
    let first = snap.appliances[0].id;
    assert_eq!(snap.appliances[0].state.as_str(), "running");
    let mut theirs = Stream::open(&app, &globex.admin.token, &other_app, None).await;
    assert_eq!(theirs.snapshot().await.appliances.len(), 1);

    resize(&app, &acme.admin.token, &group_id, 3).await;
    let frames = s
        .until("two new appliances running", |f| running_in(f).len() == 2)
        .await;
    // each appliance's changes come in order: every one starts where the one before ended
    let mut by: HashMap<String, Vec<ApplianceChange>> = HashMap::new();
    for c in changes(&frames) {
        if c.appliance_id == first {
            // at least once: a change just before the snapshot may come again (the grace window)
            assert!(c.at <= opened, "the first appliance did not change: {c:?}");
            continue;
        }
        by.entry(c.appliance_id.to_string()).or_default().push(c);
    }
    assert_eq!(by.len(), 2, "the two new appliances");
    for (id, cs) in &by {
        assert_eq!(cs[0].from, None, "{id} starts at its creation");
        for w in cs.windows(2) {
            assert_eq!(w[1].from, Some(w[0].to), "{id}: {cs:#?}");
            assert!(w[0].id < w[1].id, "{id}: ids grow");
        }
        let last = cs.last().unwrap();
        let row = last
            .appliance
            .as_ref()
            .expect("the appliance after its change");
        assert_eq!(row.state.as_str(), "running");
        assert_eq!(row.application_id.to_string(), application);
        // what the REST API says happened is what the stream said
        let stored = stored_states(&app, &acme.admin.token, id).await;
        let streamed: Vec<String> = cs.iter().map(|c| c.to.as_str().to_owned()).collect();
        assert_eq!(streamed, stored, "{id}");
    }
    // the came-alive events of both arrive as event frames
    let rest: Vec<Frame> = s
        .until("both came_alive events", |f| {
            events(&frames)
                .iter()
                .chain(events(f).iter())
                .filter(|e| e.type_ == "appliance.came_alive")
                .count()
                >= 2
        })
        .await;
    for e in events(&frames).iter().chain(events(&rest).iter()) {
        assert_eq!(
            e.application_id.map(|x| x.to_string()),
            Some(application.clone())
        );
    }

    // the other tenant's stream, open all along, got nothing of it
    let quiet = theirs
        .next_before(Instant::now() + Duration::from_millis(500))
        .await;
    assert!(
        quiet
            .as_ref()
            .is_none_or(|f| f.event != frame_kind::APPLIANCE && f.event != frame_kind::EVENT),
        "another tenant's changes leaked: {quiet:?}"
    );

    // an event of the provider's own that names the tenant's application (a host's refusal, with
    // the driver's words) reaches no tenant stream; the tenant's next event does
    let app_id: common::ApplicationId = application.parse().unwrap();
    let provider: common::TenantId = op.tenant_id.parse().unwrap();
    let tenant: common::TenantId = acme.id.parse().unwrap();
    let subject = store::repo::events::Subject {
        application: Some(app_id),
        ..Default::default()
    };
    let (s1, s2) = (subject.clone(), subject);
    app.store
        .write(move |c| {
            store::repo::events::record(
                c,
                provider,
                "orchestrator.appliance_refused",
                &s1,
                "driver: secret",
            )?;
            store::repo::events::record(c, tenant, "probe.after", &s2, "{}")
        })
        .await
        .unwrap();
    let probe = s
        .until("the tenant's probe event", |f| {
            events(f).iter().any(|e| e.type_ == "probe.after")
        })
        .await;
    assert!(
        events(&probe)
            .iter()
            .all(|e| e.type_ != "orchestrator.appliance_refused"),
        "a provider-only event reached the tenant: {probe:#?}"
    );

    // another tenant's application answers like a missing one; so does one a user is not assigned to
    let foreign = Stream::request(&app, &globex.admin.token, &application, None).await;
    assert_eq!(foreign.status(), 404);
    let missing = Stream::request(
        &app,
        &globex.admin.token,
        &common::ApplicationId::new().to_string(),
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    let user = app.user(&acme.admin, "user").await;
    let unassigned = Stream::request(&app, &user.token, &application, None).await;
    assert_eq!(unassigned.status(), 404);
    app.assign(&acme.admin, &project, &user.id).await;
    let mut assigned = Stream::open(&app, &user.token, &application, None).await;
    assert_eq!(assigned.snapshot().await.appliances.len(), 3);
    let anonymous = app
        .client
        .get(app.url(&format!("/api/v1/applications/{application}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let finance = app.user(&acme.admin, "finance").await;
    let r = Stream::request(&app, &finance.token, &application, None).await;
    assert_eq!(r.status(), 403, "finance sees no applications");
    app.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_replays_what_it_missed_after_a_fresh_snapshot() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "shop").await;
    let (application, group_id) = deployed(&app, &acme.admin, &project, 1).await;

    let mut s = Stream::open(&app, &acme.admin.token, &application, None).await;
    let first = s.snapshot().await.appliances[0].id.to_string();
    resize(&app, &acme.admin.token, &group_id, 2).await;
    let seen = s
        .until("the second appliance running", |f| running_in(f).len() == 1)
        .await;
    let second = running_in(&seen)[0].clone();
    let last_id = s.parser.last_id().expect("frames carry ids").to_owned();
    drop(s);

    // while nobody listens, a third appliance comes and runs
    resize(&app, &acme.admin.token, &group_id, 3).await;
    let now = running(&app, &acme.admin.token, &application, None, 3).await;
    let third = now
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .find(|id| *id != first && *id != second)
        .expect("the appliance made while away");
    let mut s = Stream::open(&app, &acme.admin.token, &application, Some(&last_id)).await;
    let snap = s.snapshot().await;
    assert_eq!(snap.appliances.len(), 3, "the snapshot is of now");
    assert!(
        snap.appliances
            .iter()
            .all(|a| a.state.as_str() == "running")
    );
    // the replay follows at once: every transition of the appliance made while away
    let want = stored_states(&app, &acme.admin.token, &third).await;
    let replay = s
        .until("the replay of the third appliance", |f| {
            changes(f)
                .iter()
                .filter(|c| c.appliance_id.to_string() == third)
                .count()
                == want.len()
        })
        .await;
    let got: Vec<String> = changes(&replay)
        .iter()
        .filter(|c| c.appliance_id.to_string() == third)
        .map(|c| c.to.as_str().to_owned())
        .collect();
    assert_eq!(got, want, "in order, none missing");
    // what comes again from before the last id comes from the grace window only
    let from = backend::live::window::ms_of(&last_id).unwrap() - app.config.stream_grace_ms;
    for f in &replay {
        if let Some(id) = &f.id {
            assert!(backend::live::window::ms_of(id).unwrap() >= from, "{f:?}");
        }
    }
    assert!(
        changes(&replay).iter().all(|c| c.appliance.is_none()),
        "a replay carries no rows: the snapshot is newer"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_client_is_dropped_and_the_others_keep_getting_every_change() {
    let app = TestApp::spawn_with(|c| c.stream_buffer = 4).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "shop").await;
    let (application, group_id) = deployed(&app, &acme.admin, &project, 1).await;

    // a client that asks and then never reads, with the smallest receive window it can have
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(1024).unwrap();
    let addr = app.base.strip_prefix("http://").unwrap().parse().unwrap();
    let mut stalled = sock.connect(addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "GET /api/v1/applications/{application}/stream HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {}\r\n\r\n",
                acme.admin.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut reader = Stream::open(&app, &acme.admin.token, &application, None).await;
    reader.snapshot().await;
    app.eventually(10, "both streams open", || async {
        (app.state.live.open() == 2).then_some(())
    })
    .await;

    // changes until the stalled one falls behind; the reader sees every one of them
    let mut size = 1;
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.state.live.dropped() == 0 {
        assert!(
            Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        size = if size == 1 { 40 } else { 1 };
        resize(&app, &acme.admin.token, &group_id, size).await;
        let want = size - 1;
        frames.extend(
            reader
                .until("the group resized", |f| {
                    let live = changes(f)
                        .iter()
                        .filter(|c| c.to.as_str() == "running")
                        .count();
                    let gone = changes(f)
                        .iter()
                        .filter(|c| c.to.as_str() == "terminated")
                        .count();
                    if want > 0 {
                        live >= want as usize
                    } else {
                        gone >= 11
                    }
                })
                .await,
        );
    }
    assert_eq!(app.state.live.dropped(), 1, "the reader was never dropped");
    assert_eq!(
        app.state.live.open(),
        1,
        "the dropped stream's place is free again"
    );
    // and it still hears what comes next
    resize(
        &app,
        &acme.admin.token,
        &group_id,
        if size == 1 { 2 } else { 1 },
    )
    .await;
    let after = reader
        .until("a change after the drop", |f| !changes(f).is_empty())
        .await;
    assert!(!changes(&after).is_empty());
    drop(stalled);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_ends_with_a_reason_when_the_server_stops() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "shop").await;
    let a = application(&app, &acme.admin.token, &project, "Empty").await;
    let mut s = Stream::open(&app, &acme.admin.token, &a, None).await;
    assert!(s.snapshot().await.appliances.is_empty());
    app.state.live.closing.cancel();
    let end = s.next("the end frame").await;
    assert_eq!(end.event, frame_kind::END);
    let end: StreamEnd = serde_json::from_str(&end.data).unwrap();
    assert_eq!(end.reason, "shutdown");
    app.stop().await;
}

#[tokio::test]
async fn a_stream_on_one_replica_shows_what_another_replicas_orchestrator_did() {
    let app = TestApp::spawn().await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "shop").await;
    let (application, group_id) = deployed(&app, &acme.admin, &project, 1).await;
    // an API replica on the same database, without an orchestrator or a pool of its own
    let api = app
        .replica(|c| {
            c.orchestrator = false;
            c.sim_hosts = 0;
        })
        .await;
    let mut s = Stream::open(&api, &acme.admin.token, &application, None).await;
    assert_eq!(s.snapshot().await.appliances.len(), 1);
    resize(&app, &acme.admin.token, &group_id, 2).await;
    let frames = s
        .until("the other replica's new appliance running", |f| {
            running_in(f).len() == 1
        })
        .await;
    let row = changes(&frames)
        .into_iter()
        .rev()
        .find_map(|c| c.appliance)
        .expect("the appliance after its change");
    assert_eq!(row.state.as_str(), "running");
    api.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn an_open_stream_ends_when_its_user_loses_access() {
    let app = TestApp::spawn_with(|c| c.stream_recheck_secs = 1).await;
    let op = app.operator().await;
    let acme = app.tenant(&op, "acme").await;
    let project = app.project(&acme.admin, "shop").await;
    let a = application(&app, &acme.admin.token, &project, "Watched").await;
    let user = app.user(&acme.admin, "user").await;
    app.assign(&acme.admin, &project, &user.id).await;
    let mut s = Stream::open(&app, &user.token, &a, None).await;
    s.snapshot().await;
    // unassigned from the project: the stream notices at its next check
    app.delete(
        &acme.admin.token,
        &format!("/api/v1/projects/{project}/members/{}", user.id),
    )
    .await
    .assert_status(204);
    let end = s
        .until("the end of the stream", |f| {
            f.last().is_some_and(|f| f.event == frame_kind::END)
        })
        .await;
    let end: StreamEnd = serde_json::from_str(&end.last().unwrap().data).unwrap();
    assert_eq!(end.reason, "access_changed");
    // and it cannot open again
    let again = Stream::request(&app, &user.token, &a, None).await;
    assert_eq!(again.status(), 404);
    app.stop().await;
}
