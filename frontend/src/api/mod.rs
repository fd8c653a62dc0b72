//! The one typed client of the API (`client`, with the automation routes in `automation` and the live
//! streams in `stream`), its error type (`error`), its pure retry decisions (`flow`) and the
//! single-flight token refresh shared by concurrent callers (`single_flight`).

pub mod automation;
pub mod client;
pub mod compute;
pub mod error;
pub mod flow;
pub mod single_flight;
pub mod stream;

pub use client::ApiClient;
pub use error::ApiError;
