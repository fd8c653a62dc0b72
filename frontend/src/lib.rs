//! ScaleInfra's single-page app: a Yew (client-side rendering) portal over the `/api/v1` API.
//!
//! Layout: `app` (the `Route` enum, the router and the session), `api` (the one typed client),
//! `state` (reducers and view models: plain Rust, tested natively), `hooks`, `components`, `pages`.
//! Everything compiles on the host too, so `cargo test --lib` runs the pure modules' tests natively.

pub mod api;
pub mod app;
pub mod components;
pub mod hooks;
pub mod pages;
pub mod state;

/// The wasm entry point: mount the app on `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}
