//! Plain-Rust state of the SPA: reducers and view models with no DOM in them, tested natively.

pub mod checks;
pub mod form;
pub mod list;
pub mod live;
pub mod nav;
pub mod rules;
pub mod runs;
pub mod scripts;
pub mod session;
pub mod views;
