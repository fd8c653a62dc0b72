//! Applications in projects: layers, appliance groups, deploy and scale.

pub mod groups;
pub mod routes;
pub mod service;
