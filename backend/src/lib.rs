//! ScaleInfra's backend: the composition root and the HTTP API (`/api/v1`). Each resource has a folder
//! with `routes.rs` (extract input, map output) and `service.rs` (rules and permission checks).

pub mod agent;
pub mod app;
pub mod appliances;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod catalog;
pub mod cloudscripts;
pub mod compute;
pub mod config;
pub mod error;
pub mod health;
pub mod images;
pub mod limits;
pub mod live;
pub mod openapi;
pub mod pagination;
pub mod projects;
pub mod rules;
pub mod sim_cli;
pub mod spa;
pub mod state;
pub mod telemetry;
pub mod tenants;
pub mod users;
