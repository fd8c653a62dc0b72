//! The connection enum over PostgreSQL and SQLite, its r2d2 manager (backend chosen by URL scheme, never
//! by trial), and `Store`, which runs blocking database work off the async executor on its own worker
//! threads.

use crate::StoreError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One database connection of either engine.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which engine a `Store` talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend named by a URL's scheme, and the string to connect with.
    pub fn from_url(url: &str) -> Result<(Backend, String), StoreError> {
        let invalid = |reason| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok((Backend::Postgres, url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| invalid("the scheme must be postgres://, postgresql:// or sqlite://"))?;
        if path.is_empty() {
            return Err(invalid("the sqlite URL names no file"));
        }
        Ok((Backend::Sqlite, path.to_owned()))
    }
}

/// An r2d2 manager that opens the engine named by the URL and prepares SQLite connections
/// (busy timeout before WAL, foreign keys on).
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    target: String,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target)
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::connection::{TransactionManager, TransactionManagerStatus};
        // a connection left inside a transaction (its job panicked half-way) is never handed out again:
        // the next job's "transaction" would only be a savepoint inside it
        let status =
            <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn);
        std::thread::panicking()
            || !matches!(status, TransactionManagerStatus::Valid(v) if v.transaction_depth().is_none())
    }
}

/// Pool sizing.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Connections for PostgreSQL; SQLite is capped at 4 (more only adds lock contention).
    pub max_size: u32,
    /// How long to wait for a connection, and for a worker: a job still queued after this long is
    /// refused with [`StoreError::Busy`] instead of being run late.
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The system of record: a pool plus the rules for using it from async code.
///
/// Database work runs on a fixed set of worker threads, one per pooled connection, fed by a queue:
/// callers beyond the pool's size wait as cheap queued jobs (not as parked threads contending for the
/// pool), and a busy worker takes the next job without going to sleep. When the last clone of the
/// `Store` is dropped, the workers finish the queued jobs and are joined, so no database work outlives
/// the store (a process never exits under a running query).
///
/// SQLite mode is single-process by design: writes are serialised by an in-process lock so concurrent
/// transactions never deadlock on SQLite's lock upgrade; other processes (the CLI) wait on `busy_timeout`.
#[derive(Clone)]
pub struct Store {
    db: Db,
    workers: Arc<Workers>,
    /// SQLite: one write at a time reaches the workers; the others wait here, leaving the workers free
    /// for reads (WAL serves them while a write runs).
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// What a job needs of the store (jobs never hold the workers themselves).
#[derive(Clone)]
struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
    queue_timeout: Duration,
}

/// A unit of database work for the worker threads.
type Job = Box<dyn FnOnce() + Send>;

/// The worker threads and the sending end of their queue.
struct Workers {
    queue: Option<crossbeam_channel::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Start `n` worker threads that run queued jobs until the queue is closed.
    fn start(n: u32) -> Result<Workers, StoreError> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        let mut workers = Workers {
            queue: Some(queue),
            threads: Vec::new(),
        };
        for i in 0..n {
            let jobs = jobs.clone();
            let thread = std::thread::Builder::new()
                .name(format!("db-worker-{i}"))
                .spawn(move || {
                    while let Ok(job) = jobs.recv() {
                        // a panicking job drops its reply channel, which its caller sees as an error
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a database job panicked");
                        }
                    }
                })
                .map_err(|source| StoreError::Io {
                    path: "database worker thread".into(),
                    source,
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let queue = self.queue.as_ref().ok_or(StoreError::Worker)?;
        queue.send(job).map_err(|_| StoreError::Worker)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // closing the queue lets each worker finish what is queued, then stop
        self.queue = None;
        let me = std::thread::current().id();
        if self.threads.iter().any(|t| t.thread().id() == me) {
            // a job owned the last clone of its store: it cannot wait for itself, nor for workers that
            // may wait on what it still holds; they end on their own once the queue is empty
            return;
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.backend)
            .finish_non_exhaustive()
    }
}

enum TxError<E> {
    Db(diesel::result::Error),
    App(E),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl Store {
    /// Open a pool on `url` (`postgres://…` or `sqlite://path`). Creates the SQLite file's folder.
    pub fn open(url: &str, opts: &PoolOptions) -> Result<Store, StoreError> {
        let (backend, target) = Backend::from_url(url)?;
        let max_size = match backend {
            Backend::Postgres => opts.max_size.max(1),
            Backend::Sqlite => opts.max_size.clamp(1, 4),
        };
        if backend == Backend::Sqlite
            && let Some(dir) = std::path::Path::new(&target).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            // a checkout must not cost a query; broken connections surface as query errors
            .test_on_check_out(false)
            .connection_timeout(opts.connect_timeout)
            .build(Manager { backend, target })?;
        Ok(Store {
            db: Db {
                pool,
                backend,
                write_lock: Arc::new(Mutex::new(())),
                queue_timeout: opts.connect_timeout,
            },
            workers: Arc::new(Workers::start(max_size)?),
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// (connections open, connections idle, maximum) — for `/metrics`.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.db.pool.state();
        (s.connections, s.idle_connections, self.db.pool.max_size())
    }

    /// Run read-only work on a pooled connection, on a database worker thread.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.db.pool.clone();
        self.run(true, move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
    }

    /// Run `f` in one transaction on a database worker thread: all of it is applied or none of it.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _turn = match self.db.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().await),
            Backend::Postgres => None,
        };
        let db = self.db.clone();
        self.run(false, move || db.transaction(f)).await
    }

    /// Queue `f` for the workers and wait for its result. A read whose caller went away before a
    /// worker reached it is skipped; a job that waited longer than the queue timeout is refused
    /// (overload sheds work instead of answering ever later); otherwise a write runs once queued.
    async fn run<T, E, F>(&self, skip_if_abandoned: bool, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel();
        let (queued, timeout) = (std::time::Instant::now(), self.db.queue_timeout);
        let job: Job = Box::new(move || {
            if skip_if_abandoned && reply.is_closed() {
                return;
            }
            let outcome = if queued.elapsed() > timeout {
                Err(E::from(StoreError::Busy(timeout)))
            } else {
                f()
            };
            let _ = reply.send(outcome);
        });
        self.workers.send(job)?;
        result.await.map_err(|_| StoreError::Worker)?
    }

    /// [`Store::write`] for callers already on a blocking thread (the CLI, migrations, benches).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<StoreError>,
    {
        self.db.transaction(f)
    }

    /// A pooled connection for blocking callers.
    pub fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        Ok(self.db.pool.get()?)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }
}

/// Roll back the manual SQLite transaction on `c`; should that fail, mark `c` broken so the pool
/// discards it rather than hand out a connection still inside a transaction.
/// Run `f` inside the current write transaction as one unit of its own (a SQL savepoint, on both
/// engines): if `f` fails, what it wrote is undone and the rest of the transaction stays. Lets one
/// transaction do many independent pieces of work without one failure losing the others.
pub fn savepoint<T, E, F>(c: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<StoreError>,
{
    c.batch_execute("SAVEPOINT si_unit")
        .map_err(|e| E::from(StoreError::from(e)))?;
    match f(c) {
        Ok(v) => {
            c.batch_execute("RELEASE SAVEPOINT si_unit")
                .map_err(|e| E::from(StoreError::from(e)))?;
            Ok(v)
        }
        Err(e) => {
            c.batch_execute("ROLLBACK TO SAVEPOINT si_unit; RELEASE SAVEPOINT si_unit")
                .map_err(|e| E::from(StoreError::from(e)))?;
            Err(e)
        }
    }
}

fn rollback(c: &mut DbConn) {
    use diesel::connection::TransactionManager;
    if c.batch_execute("ROLLBACK").is_err() {
        <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(c)
            .set_in_error();
    }
}

impl Db {
    /// Run `f` in one transaction on this thread.
    fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<StoreError>,
    {
        let _guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        };
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        if self.backend == Backend::Sqlite {
            // BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that read an older
            // snapshot would fail with SQLITE_BUSY_SNAPSHOT when it tries to write.
            let c = &mut *conn;
            c.batch_execute("BEGIN IMMEDIATE")
                .map_err(|e| E::from(StoreError::from(e)))?;
            // (diesel's transaction manager does not see this transaction: roll back on a panic here)
            let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(c))) {
                Ok(outcome) => outcome,
                Err(panic) => {
                    rollback(c);
                    std::panic::resume_unwind(panic)
                }
            };
            return match outcome {
                Ok(v) => match c.batch_execute("COMMIT") {
                    Ok(()) => Ok(v),
                    Err(e) => {
                        rollback(c);
                        Err(E::from(StoreError::from(e)))
                    }
                },
                Err(e) => {
                    rollback(c);
                    Err(e)
                }
            };
        }
        conn.transaction::<T, TxError<E>, _>(|c| f(c).map_err(TxError::App))
            .map_err(|e| match e {
                TxError::Db(d) => E::from(StoreError::from(d)),
                TxError::App(a) => a,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        let table = [
            ("postgres://u@h/db", Some(Backend::Postgres)),
            ("postgresql://u@h/db", Some(Backend::Postgres)),
            ("sqlite://./data/x.db", Some(Backend::Sqlite)),
            ("sqlite:x.db", Some(Backend::Sqlite)),
            ("sqlite://", None),
            ("mysql://h/db", None),
            ("./plain/path.db", None),
        ];
        for (url, want) in table {
            assert_eq!(Backend::from_url(url).ok().map(|b| b.0), want, "{url}");
        }
        assert_eq!(
            Backend::from_url("sqlite://./d/x.db").ok().map(|b| b.1),
            Some("./d/x.db".into())
        );
    }

    fn sqlite_store(dir: &tempfile::TempDir, max_size: u32) -> Store {
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let opts = PoolOptions {
            max_size,
            ..PoolOptions::default()
        };
        Store::open(&url, &opts).expect("open")
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_workers_go_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir, 1);
        let r: Result<(), StoreError> = store.read(|_| panic!("boom")).await;
        assert!(matches!(r, Err(StoreError::Worker)), "{r:?}");
        // the single worker survived the panic
        store.ping().await.expect("ping after a panic");
    }

    #[tokio::test]
    async fn callers_beyond_the_pool_size_queue_and_all_complete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir, 2);
        store
            .write(|c| {
                c.batch_execute("CREATE TABLE n (v INTEGER NOT NULL)")
                    .map_err(StoreError::from)
            })
            .await
            .expect("create");
        let calls = (0..200).map(|i| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        c.batch_execute(&format!("INSERT INTO n VALUES ({i})"))
                            .map_err(StoreError::from)
                    })
                    .await
            }
        });
        for r in futures_util::future::join_all(calls).await {
            r.expect("every queued write completes");
        }
        assert_eq!(count(&store), 200);
    }

    fn count(store: &Store) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = store.conn().expect("conn");
        diesel::sql_query("SELECT COUNT(*) AS n FROM n")
            .get_result::<Count>(&mut *c)
            .expect("count")
            .n
    }

    #[test]
    fn dropping_the_store_finishes_the_queued_jobs_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir, 1);
        store
            .write_blocking(|c| {
                c.batch_execute("CREATE TABLE n (v INTEGER NOT NULL)")
                    .map_err(StoreError::from)
            })
            .expect("create");
        for i in 0..50 {
            let db = store.db.clone();
            let job: Job = Box::new(move || {
                db.transaction(|c| {
                    c.batch_execute(&format!("INSERT INTO n VALUES ({i})"))
                        .map_err(StoreError::from)
                })
                .expect("insert");
            });
            store.workers.send(job).expect("queued");
        }
        drop(store);
        assert_eq!(count(&sqlite_store(&dir, 1)), 50);
    }

    #[tokio::test]
    async fn a_job_that_waited_too_long_is_refused_not_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let opts = PoolOptions {
            max_size: 1,
            connect_timeout: Duration::from_millis(20),
        };
        let store = Store::open(&url, &opts).expect("open");
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
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running.try_recv().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never started"
            );
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let late = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |_| {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        Ok::<_, StoreError>(())
                    })
                    .await
            }
        });
        // once the write is queued, let it grow older than the timeout
        let queued_len = || store.workers.queue.as_ref().map_or(0, |q| q.len());
        while queued_len() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the write was never queued"
            );
            tokio::task::yield_now().await;
        }
        let queued = std::time::Instant::now();
        while queued.elapsed() <= opts.connect_timeout {
            tokio::task::yield_now().await;
        }
        go.send(()).expect("release the worker");
        held.await.expect("join").expect("the held read");
        let r = late.await.expect("join");
        assert!(matches!(r, Err(StoreError::Busy(_))), "{r:?}");
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "a refused job must not run"
        );
        // and the store serves again
        store.ping().await.expect("ping");
    }
}
