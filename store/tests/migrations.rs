//! Upgrades keep data: a database as an older release left it, with rows, is migrated to the current
//! schema (on the run's engine; on SQLite migration 6 rebuilds the users table).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use scaleinfra_store::{PoolOptions, Store, StoreError};

fn open() -> (Store, Option<tempfile::TempDir>, Option<(String, String)>) {
    match std::env::var("SITEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => {
            let admin = std::env::var("SITEST_PG_URL").expect("SITEST_PG_URL");
            let name = format!("test_{}", uuid::Uuid::new_v4().simple());
            let url = scaleinfra_store::admin::database_url(&admin, &name);
            let mut c = PgConnection::establish(&admin).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let store = Store::open(&url, &PoolOptions::default()).unwrap();
            (store, None, Some((admin, name)))
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("old.db").display());
            (
                Store::open(&url, &PoolOptions::default()).unwrap(),
                Some(dir),
                None,
            )
        }
    }
}

#[test]
fn an_older_database_with_users_sessions_and_assignments_upgrades_intact() {
    let (store, _dir, pg) = open();
    let applied = scaleinfra_store::migrate::run_up_to(&store, "2026-12-03-000005").unwrap();
    assert_eq!(applied.len(), 5, "{applied:?}");
    store
        .write_blocking(|c| {
            c.batch_execute(
                "INSERT INTO tenants VALUES ('t1','Acme','acme','customer','active',8,8192,8,'2026-01-01 00:00:00','2026-01-01 00:00:00');
                 INSERT INTO users VALUES ('u1','t1','pat@acme.test','Pat','admin','$argon2id$x',FALSE,3,'2026-01-01 00:00:00','2026-01-01 00:00:00');
                 INSERT INTO projects VALUES ('p1','t1','Web','', '2026-01-01 00:00:00','2026-01-01 00:00:00');
                 INSERT INTO project_assignments VALUES ('p1','u1','t1','2026-01-01 00:00:00');
                 INSERT INTO refresh_tokens VALUES ('r1','f1','u1','t1','hash1','2026-01-02 00:00:00','2026-02-01 00:00:00',NULL,NULL);
                 INSERT INTO audit_log VALUES ('a1','t1','u1','pat@acme.test','auth.login','user','u1','{}','10.0.0.1','2026-01-02 00:00:00');",
            )
            .map_err(StoreError::from)
        })
        .unwrap();
    let rest = scaleinfra_store::migrate::run(&store).unwrap();
    assert!(!rest.is_empty());
    let mut c = store.conn().unwrap();
    // the rows are all still there, linked as before
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        token_version: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        project_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        family_id: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        actor_tenant_id: Option<String>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT u.email, u.token_version, pa.project_id, r.family_id, a.actor_tenant_id
         FROM users u JOIN project_assignments pa ON pa.user_id = u.id
         JOIN refresh_tokens r ON r.user_id = u.id JOIN audit_log a ON a.actor_id = u.id",
    )
    .load(&mut *c)
    .unwrap();
    assert_eq!(
        rows,
        vec![Row {
            email: "pat@acme.test".into(),
            token_version: 3,
            project_id: "p1".into(),
            family_id: "f1".into(),
            actor_tenant_id: Some("t1".into()),
        }]
    );
    // the foreign keys still hold and still cascade
    let dangling = c.batch_execute(
        "INSERT INTO project_assignments VALUES ('p1','nobody','t1','2026-01-01 00:00:00')",
    );
    assert!(
        dangling.is_err(),
        "an assignment of a missing user was accepted"
    );
    // an email is now unique per tenant only
    c.batch_execute(
        "INSERT INTO tenants VALUES ('t2','Globex','globex','customer','active',8,8192,8,'2026-01-01 00:00:00','2026-01-01 00:00:00');
         INSERT INTO users VALUES ('u2','t2','pat@acme.test','Pat','admin','$argon2id$x',FALSE,0,'2026-01-01 00:00:00','2026-01-01 00:00:00');",
    )
    .unwrap();
    assert!(
        c.batch_execute("INSERT INTO users VALUES ('u3','t2','pat@acme.test','Pat','user','$argon2id$x',FALSE,0,'2026-01-01 00:00:00','2026-01-01 00:00:00')")
            .is_err()
    );
    c.batch_execute("DELETE FROM users WHERE id = 'u1'")
        .unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let left: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM project_assignments")
        .get_result(&mut *c)
        .unwrap();
    assert_eq!(left.n, 0, "deleting the user cascades to its assignments");
    drop(c);
    drop(store);
    if let Some((admin, name)) = pg {
        scaleinfra_store::admin::drop_database(&admin, &name).unwrap();
    }
}
