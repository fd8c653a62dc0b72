//! One operation in flight at a time, shared by every caller that asks while it runs: the token refresh
//! goes through here, so concurrent 401s cause exactly one `POST /auth/refresh` (a second refresh with
//! the already-rotated cookie would look like token reuse and end the session).

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

type Flight<T> = Shared<LocalBoxFuture<'static, T>>;

/// Runs at most one future at a time; callers arriving meanwhile await the same result.
pub struct SingleFlight<T: Clone + 'static> {
    inflight: Rc<RefCell<Option<Flight<T>>>>,
}

impl<T: Clone + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            inflight: Rc::new(RefCell::new(None)),
        }
    }
}

impl<T: Clone + 'static> SingleFlight<T> {
    /// Join the flight in progress, or start one with `start` (called only when none is running).
    /// The flight is forgotten once it completes, so the next call starts afresh.
    pub fn run<F, Fut>(&self, start: F) -> impl Future<Output = T> + 'static
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + 'static,
    {
        if let Some(flight) = self.inflight.borrow().as_ref() {
            return flight.clone();
        }
        let slot = Rc::downgrade(&self.inflight);
        let work = start();
        let flight = async move {
            let out = work.await;
            if let Some(slot) = slot.upgrade() {
                slot.borrow_mut().take();
            }
            out
        }
        .boxed_local()
        .shared();
        *self.inflight.borrow_mut() = Some(flight.clone());
        flight
    }

    /// Whether a flight is in progress.
    pub fn is_running(&self) -> bool {
        self.inflight.borrow().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;
    use std::cell::Cell;

    #[test]
    fn concurrent_callers_share_one_flight_and_the_next_call_starts_a_new_one() {
        let sf: Rc<SingleFlight<u32>> = Rc::new(SingleFlight::default());
        let starts = Rc::new(Cell::new(0));
        let results = Rc::new(RefCell::new(Vec::new()));
        let (tx, rx) = oneshot::channel::<u32>();
        let rx = RefCell::new(Some(rx));

        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        for _ in 0..3 {
            let starts = starts.clone();
            let results = results.clone();
            let fut = sf.run(|| {
                starts.set(starts.get() + 1);
                let rx = rx.borrow_mut().take();
                async move {
                    match rx {
                        Some(rx) => rx.await.unwrap_or(0),
                        None => 999, // a second start would show up as 999
                    }
                }
            });
            spawner
                .spawn_local(async move {
                    let v = fut.await;
                    results.borrow_mut().push(v);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        assert_eq!(starts.get(), 1, "one flight for three callers");
        assert!(sf.is_running());
        assert!(
            results.borrow().is_empty(),
            "nobody finished before the flight"
        );

        tx.send(42).unwrap();
        pool.run_until_stalled();
        assert_eq!(*results.borrow(), vec![42, 42, 42]);
        assert!(!sf.is_running(), "a finished flight is forgotten");

        let again = sf.run(|| {
            starts.set(starts.get() + 1);
            async { 7 }
        });
        assert_eq!(pool.run_until(again), 7);
        assert_eq!(starts.get(), 2);
    }
}
