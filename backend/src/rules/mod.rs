//! Event rules of applications with their chains of actions, the runs they made, and script jobs.

pub mod routes;
pub mod service;
