//! The image registry: operators register the images of a pool's image directory; admins see them to
//! build private templates on.

pub mod routes;
pub mod service;
