//! Hooks of the pages: the client and the session from context, and `use_list` (a paged list loaded
//! through the client into the `state::list` reducer), and `use_ticker` (a callback every period while
//! mounted).

pub mod draft;
mod list;
mod live;
mod resource;
mod ticker;

pub use list::{ListHandle, use_list};
pub use live::{LiveHandle, LiveLink, use_live};
pub use resource::{Resource, ResourceHandle, use_resource};
pub use ticker::{use_reload, use_ticker};

use crate::api::ApiClient;
use crate::state::session::Session;
use common::api::MeResponse;
use yew::prelude::*;

/// The session reducer, shared through context.
pub type SessionHandle = UseReducerHandle<Session>;

/// The typed API client of the app.
#[hook]
pub fn use_client() -> ApiClient {
    use_context::<ApiClient>().unwrap_or_else(|| ApiClient::new("/api/v1"))
}

/// The session (the app provides it; a page outside the app sees a signed-out session).
#[hook]
pub fn use_session() -> SessionHandle {
    let fallback = use_reducer(|| Session::Anonymous { notice: None });
    use_context::<SessionHandle>().unwrap_or(fallback)
}

/// The signed-in user (pages behind the shell always have one).
#[hook]
pub fn use_me() -> Option<MeResponse> {
    use_session().me().cloned()
}
