//! Supervision of the orchestrator's background loops: a loop that panics is logged through `tracing`
//! with its message, marked as restarting (readiness reports it), and restarted after a backoff that
//! grows with consecutive panics; each loop beats as it goes, so a loop that hangs shows as stale.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What readiness knows of one loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopState {
    /// Beating; the last beat was at this instant.
    Running { last_beat: Instant },
    /// It panicked and waits to be restarted.
    Restarting { panics: u32, message: String },
    /// It ended (shutdown, or an injected crash).
    Stopped,
}

/// The state of every supervised loop, by name.
#[derive(Debug, Default)]
pub struct Health(Mutex<BTreeMap<&'static str, LoopState>>);

impl Health {
    fn set(&self, name: &'static str, state: LoopState) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, state);
    }

    /// The loop `name` is alive and working.
    pub fn beat(&self, name: &'static str) {
        self.set(
            name,
            LoopState::Running {
                last_beat: Instant::now(),
            },
        );
    }

    /// Every loop and its state.
    pub fn loops(&self) -> BTreeMap<&'static str, LoopState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `Err` naming the loops that are restarting, stopped, or have not beaten within `stale`.
    pub fn ready(&self, stale: Duration) -> Result<(), String> {
        let bad: Vec<String> = self
            .loops()
            .into_iter()
            .filter_map(|(name, s)| match s {
                LoopState::Running { last_beat } if last_beat.elapsed() <= stale => None,
                LoopState::Running { last_beat } => Some(format!(
                    "{name}: no progress for {} s",
                    last_beat.elapsed().as_secs()
                )),
                LoopState::Restarting { panics, message } => Some(format!(
                    "{name}: restarting after {panics} panics ({message})"
                )),
                LoopState::Stopped => Some(format!("{name}: stopped")),
            })
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

/// Delay before restarting a loop after its `panics`-th consecutive panic: 1 s, 2 s, 4 s … 30 s.
pub fn restart_backoff(panics: u32) -> Duration {
    Duration::from_secs(1u64 << panics.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn wait(&mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Run `make()`'s loop under supervision until it returns; a panic is logged and the loop restarted
/// after [`restart_backoff`]. A loop that ran for a minute before panicking starts its count afresh.
pub async fn supervise<F, Fut, T>(
    health: &Health,
    name: &'static str,
    shutdown: &tokio_util::sync::CancellationToken,
    mut make: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut panics = 0u32;
    loop {
        health.beat(name);
        let started = Instant::now();
        // the loop runs in a task of its own (so a panic is caught); dropping the supervisor — an
        // aborted orchestrator — aborts it too, so no loop outlives its orchestrator
        let mut task = AbortOnDrop(tokio::spawn(make()));
        match task.wait().await {
            Ok(out) => {
                health.set(name, LoopState::Stopped);
                return Some(out);
            }
            Err(e) if e.is_panic() => {
                if started.elapsed() > Duration::from_secs(60) {
                    panics = 0;
                }
                panics += 1;
                let message = panic_message(e.into_panic().as_ref());
                tracing::error!(r#loop = name, panics, panic = %message, "a background loop panicked; restarting it");
                health.set(
                    name,
                    LoopState::Restarting {
                        panics,
                        message: message.clone(),
                    },
                );
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        health.set(name, LoopState::Stopped);
                        return None;
                    }
                    _ = tokio::time::sleep(restart_backoff(panics)) => {}
                }
            }
            Err(_) => {
                // cancelled from outside (the runtime shuts down)
                health.set(name, LoopState::Stopped);
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_and_cap() {
        let got: Vec<u64> = (1..=8).map(|n| restart_backoff(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn readiness_names_the_loops_that_are_not_well() {
        let h = Health::default();
        h.beat("reconcile");
        assert!(h.ready(Duration::from_secs(60)).is_ok());
        h.set(
            "monitor",
            LoopState::Restarting {
                panics: 2,
                message: "boom".into(),
            },
        );
        let e = h.ready(Duration::from_secs(60)).unwrap_err();
        assert!(
            e.contains("monitor: restarting after 2 panics (boom)"),
            "{e}"
        );
        assert!(!e.contains("reconcile"), "{e}");
        assert!(h.ready(Duration::ZERO).unwrap_err().contains("reconcile"));
    }

    #[tokio::test]
    async fn a_panicking_loop_is_restarted_and_its_output_returned() {
        let h = Health::default();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let r = runs.clone();
        let out = supervise(&h, "demo", &shutdown, move || {
            let n = r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("first run fails");
                }
                n
            }
        })
        .await;
        assert_eq!(out, Some(1));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(h.loops().get("demo"), Some(&LoopState::Stopped));
    }
}
