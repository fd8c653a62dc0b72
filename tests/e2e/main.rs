//! ScaleInfra's end-to-end suite: the real HTTP stack on a fresh database per test.
//! Run against SQLite (default) or PostgreSQL (`SITEST_DB=postgres`, see scripts/test).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: a failed expectation is a failed test

mod auth;
mod automation;
mod bad_input;
mod chains;
mod fixtures;
mod flows;
mod live;
mod matrix;
mod network;
mod ops;
mod orchestration;
mod races;
mod resilience;
mod roles;
mod security;
mod slow;
mod tenancy;
