//! `use_live`: follow an application's live stream while mounted. The reading loop owns the view
//! (`state::live::LiveView`) and hands the page a copy after each chunk that changed it; it
//! reconnects as `state::live::reconnect` decides, with `Last-Event-ID`, and stops on unmount.

use crate::api::ApiClient;
use crate::state::live::{Applied, Ended, LiveView, Reconnect, reconnect};
use common::ApplicationId;
use common::api::frame_kind;
use common::sse::Parser;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use yew::platform::spawn_local;
use yew::platform::time::sleep;
use yew::prelude::*;

/// A frame larger than this is not waited for: the stream is dropped and opened again.
const FRAME_MAX: usize = 4 << 20;

/// The state of the link, for the page to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveLink {
    Connecting,
    Live,
    /// Closed; trying again.
    Reconnecting,
    /// Given up, saying why.
    Stopped(String),
}

#[derive(Clone, PartialEq)]
pub struct LiveHandle {
    pub view: Rc<LiveView>,
    pub link: LiveLink,
}

/// Follow the stream of `id`; `on_application` is called when the application's record may have
/// changed (a snapshot, an appliance added or gone, a scaling event).
#[hook]
pub fn use_live(client: ApiClient, id: ApplicationId, on_application: Callback<()>) -> LiveHandle {
    let view = use_state(|| Rc::new(LiveView::default()));
    let link = use_state(|| LiveLink::Connecting);
    {
        let (view, link) = (view.setter(), link.setter());
        use_effect_with(id, move |id| {
            let stop = Rc::new(Cell::new(false));
            let abort = web_sys::AbortController::new().ok();
            let task = Follow {
                client,
                id: *id,
                view,
                link,
                on_application,
                stop: stop.clone(),
                abort: abort.clone(),
            };
            spawn_local(task.run());
            move || {
                stop.set(true);
                if let Some(a) = abort {
                    a.abort();
                }
            }
        });
    }
    LiveHandle {
        view: (*view).clone(),
        link: (*link).clone(),
    }
}

struct Follow {
    client: ApiClient,
    id: ApplicationId,
    view: UseStateSetter<Rc<LiveView>>,
    link: UseStateSetter<LiveLink>,
    on_application: Callback<()>,
    stop: Rc<Cell<bool>>,
    abort: Option<web_sys::AbortController>,
}

impl Follow {
    async fn run(self) {
        let Some(abort) = self.abort.clone() else {
            self.link.set(LiveLink::Stopped(
                "This browser cannot follow live changes.".into(),
            ));
            return;
        };
        let signal = abort.signal();
        let mut view = LiveView::default();
        let (mut failures, mut last_id, mut retry) = (0u32, None::<String>, None::<u64>);
        loop {
            let ended = match self
                .client
                .open_stream(self.id, last_id.as_deref(), &signal)
                .await
            {
                Err(e) => e,
                Ok(body) => {
                    let mut parser = Parser::new();
                    loop {
                        let next = body.next().await;
                        if self.stop.get() {
                            // unmounted while reading: apply nothing more
                            return;
                        }
                        let text = match next {
                            Err(()) => break Ended::Network,
                            Ok(None) => break Ended::Closed,
                            Ok(Some(t)) => t,
                        };
                        let (mut changed, mut app, mut end) = (false, false, None);
                        for f in parser.feed(&text) {
                            if f.event == frame_kind::SNAPSHOT {
                                failures = 0;
                                self.link.set(LiveLink::Live);
                            }
                            match view.apply(&f) {
                                Ok(Applied::Nothing) => {}
                                Ok(Applied::Changed) => changed = true,
                                Ok(Applied::Application) => (changed, app) = (true, true),
                                Ok(Applied::End(r)) => end = Some(r),
                                Err(e) => web_sys::console::warn_1(&e.into()),
                            }
                        }
                        if let Some(l) = parser.last_id() {
                            last_id = Some(l.to_owned());
                        }
                        retry = parser.retry().or(retry);
                        if changed {
                            self.view.set(Rc::new(view.clone()));
                        }
                        if app {
                            self.on_application.emit(());
                        }
                        if let Some(r) = end {
                            break Ended::End(r);
                        }
                        if parser.buffered() > FRAME_MAX {
                            break Ended::Closed;
                        }
                    }
                }
            };
            if self.stop.get() {
                return;
            }
            view.disconnected();
            self.view.set(Rc::new(view.clone()));
            match reconnect(ended, failures, retry, js_sys::Math::random()) {
                Reconnect::Refresh => {
                    self.link.set(LiveLink::Reconnecting);
                    if self.client.refresh_session().await.is_err() {
                        // the session is over (the app shows the login) or the server is away
                        sleep(Duration::from_millis(retry.unwrap_or(2_000))).await;
                    }
                }
                Reconnect::After(ms) => {
                    self.link.set(LiveLink::Reconnecting);
                    sleep(Duration::from_millis(ms)).await;
                }
                Reconnect::Stop(why) => {
                    self.link.set(LiveLink::Stopped(why));
                    return;
                }
            }
            if self.stop.get() {
                return;
            }
            failures = failures.saturating_add(1);
        }
    }
}
