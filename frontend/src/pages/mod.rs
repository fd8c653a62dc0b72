//! One module per page. Each page loads through the typed client, shows its loading, empty and error
//! states, and places problem+json field errors beside the inputs they name.

pub mod application;
pub mod finance;
pub mod login;
pub mod misc;
pub mod my_projects;
pub mod pools;
pub mod profile;
pub mod project;
pub mod projects;
pub mod script;
pub mod scripts;
pub mod tenants;
pub mod users;
