//! The store's own worker pool (see ADR 5), on the engine of the run (`SITEST_DB=sqlite|postgres`, as
//! the rest of the suite): a job that panics, a transaction whose rollback fails, shutdown with jobs
//! still queued, a queue that sheds work it cannot start in time, and a job that drops the last store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use scaleinfra_store::{PoolOptions, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A fresh database of the run's engine, dropped (PostgreSQL) or deleted (SQLite) afterwards.
struct Fresh {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Fresh {
    fn new() -> Fresh {
        match std::env::var("SITEST_DB").as_deref() {
            Ok("postgres") | Ok("postgresql") | Ok("pg") => {
                let admin = std::env::var("SITEST_PG_URL").expect("SITEST_PG_URL");
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let template = scaleinfra_store::admin::ensure_template(&admin).unwrap();
                let url = scaleinfra_store::admin::create_from_template(&admin, &name, &template)
                    .unwrap();
                Fresh {
                    url,
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("w.db").display());
                Fresh {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
        }
    }

    fn open(&self, max_size: u32, timeout: Duration) -> Store {
        let store = Store::open(
            &self.url,
            &PoolOptions {
                max_size,
                connect_timeout: timeout,
            },
        )
        .unwrap();
        scaleinfra_store::migrate::run(&store).unwrap();
        store
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            let _ = scaleinfra_store::admin::drop_database(admin, name);
        }
    }
}

fn table(store: &Store) {
    store
        .write_blocking(|c| {
            c.batch_execute("CREATE TABLE n (v INTEGER NOT NULL)")
                .map_err(StoreError::from)
        })
        .unwrap();
}

fn count(store: &Store) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = store.conn().unwrap();
    diesel::sql_query("SELECT COUNT(*) AS n FROM n")
        .get_result::<Count>(&mut *c)
        .unwrap()
        .n
}

fn insert(i: i64) -> impl FnOnce(&mut scaleinfra_store::DbConn) -> Result<(), StoreError> {
    move |c| {
        c.batch_execute(&format!("INSERT INTO n VALUES ({i})"))
            .map_err(StoreError::from)
    }
}

#[tokio::test]
async fn a_job_that_panics_is_an_error_for_its_caller_only_and_writes_nothing() {
    let db = Fresh::new();
    // one connection: the next job gets the very connection the panic left behind
    let store = db.open(1, Duration::from_secs(5));
    table(&store);
    let r: Result<(), StoreError> = store
        .write(|c| {
            c.batch_execute("INSERT INTO n VALUES (1)")?;
            panic!("a bug half-way through a transaction");
        })
        .await;
    assert!(matches!(r, Err(StoreError::Worker)), "{r:?}");
    let r: Result<(), StoreError> = store.read(|_| panic!("a bug in a read")).await;
    assert!(matches!(r, Err(StoreError::Worker)), "{r:?}");
    store.write(insert(2)).await.unwrap();
    // the half-done insert is gone, the later one committed, and the workers serve on
    assert_eq!(count(&store), 1);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_transaction_whose_rollback_fails_discards_its_connection() {
    let db = Fresh::new();
    let store = db.open(1, Duration::from_secs(5));
    table(&store);
    let r: Result<(), StoreError> = store
        .write(|c| {
            c.batch_execute("INSERT INTO n VALUES (1)")?;
            // break the transaction so its rollback cannot run: PostgreSQL loses the session,
            // SQLite has no transaction left to roll back
            let sabotage = match c {
                scaleinfra_store::DbConn::Pg(_) => "SELECT pg_terminate_backend(pg_backend_pid())",
                scaleinfra_store::DbConn::Sqlite(_) => "COMMIT",
            };
            let _ = c.batch_execute(sabotage);
            Err(StoreError::Stale)
        })
        .await;
    assert!(r.is_err(), "{r:?}");
    // the next job does not get a connection stuck inside a transaction or dead: it works
    store.write(insert(2)).await.unwrap();
    store.ping().await.unwrap();
    let n = count(&store);
    assert!(
        n == 1 || n == 2,
        "the second insert committed (the first only where the sabotage committed it): {n}"
    );
}

#[tokio::test]
async fn jobs_queued_when_every_clone_is_dropped_still_complete() {
    let db = Fresh::new();
    let store = db.open(2, Duration::from_secs(30));
    table(&store);
    // a hundred callers queue behind two workers; each drops its clone when its job is done, the
    // test drops its own at once: the last drop closes the queue and joins the workers only after
    // every queued job ran
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.write(insert(i)).await })
        })
        .collect();
    drop(store);
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let again = db.open(1, Duration::from_secs(5));
    assert_eq!(count(&again), 100);
}

#[tokio::test]
async fn a_job_queued_longer_than_the_timeout_is_refused_not_run() {
    let db = Fresh::new();
    let timeout = Duration::from_millis(50);
    let store = db.open(1, timeout);
    table(&store);
    // the only worker is held until we say so
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let held = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .read(move |_| {
                    started.send(()).ok();
                    wait.recv().ok();
                    Ok::<_, StoreError>(())
                })
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.try_recv().is_err() {
        assert!(Instant::now() < deadline, "the worker never started");
        tokio::task::yield_now().await;
    }
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let late = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write(move |_| {
                    flag.store(true, Ordering::SeqCst);
                    Ok::<_, StoreError>(())
                })
                .await
        }
    });
    // let the queued write grow older than the timeout, then free the worker
    let queued = Instant::now();
    while queued.elapsed() <= timeout * 4 {
        tokio::task::yield_now().await;
    }
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    let r = late.await.unwrap();
    assert!(matches!(r, Err(StoreError::Busy(_))), "{r:?}");
    assert!(!ran.load(Ordering::SeqCst), "a refused job must not run");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_job_that_drops_the_last_store_does_not_wait_for_itself() {
    let db = Fresh::new();
    let store = db.open(2, Duration::from_secs(5));
    table(&store);
    let inner = store.clone();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // the caller stops waiting (its future is dropped) while the job still runs …
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        store.write(move |c| {
            insert(7)(c)?;
            wait.recv().ok();
            // … so this clone is the last one: dropping it must not join this very thread
            drop(inner);
            done_tx.send(()).ok();
            Ok::<_, StoreError>(())
        }),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the job was meant to outlive its caller"
    );
    drop(store);
    go.send(()).unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the job finished after dropping the last store");
    // the job signals before its transaction commits: the row is there once the commit is
    let again = db.open(1, Duration::from_secs(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&again) == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(count(&again), 1);
}
