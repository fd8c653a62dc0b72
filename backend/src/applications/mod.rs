//! Applications in projects: layers, appliance groups, deploy and scale, appliances and their events.

pub mod appliances;
pub mod groups;
pub mod quota;
pub mod routes;
pub mod routes_appliances;
pub mod service;
