//! `use_list`: loads the first page of a list when the page mounts (or when its dependency changes),
//! loads more over the cursor, and lets the page apply its own creates, edits and deletes.

use crate::api::ApiError;
use crate::components::status::list_frame;
use crate::state::list::{Keyed, ListAction, ListState};
use common::api::Page;
use futures::future::LocalBoxFuture;
use std::rc::Rc;
use yew::platform::spawn_local;
use yew::prelude::*;

type Fetch<T> = Rc<dyn Fn(Option<String>) -> LocalBoxFuture<'static, Result<Page<T>, ApiError>>>;

/// A list and the ways to change it.
pub struct ListHandle<T: Keyed + Clone + PartialEq + 'static> {
    pub state: UseReducerHandle<ListState<T>>,
    fetch: Fetch<T>,
}

impl<T: Keyed + Clone + PartialEq + 'static> Clone for ListHandle<T> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            fetch: self.fetch.clone(),
        }
    }
}

/// Equal while the list is the same (so a handle can be a component's property).
impl<T: Keyed + Clone + PartialEq + 'static> PartialEq for ListHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl<T: Keyed + Clone + PartialEq + 'static> ListHandle<T> {
    /// Load the first page again.
    pub fn reload(&self) {
        self.state.dispatch(ListAction::Reload);
        let state = self.state.dispatcher();
        let work = (self.fetch)(None);
        spawn_local(async move {
            state.dispatch(match work.await {
                Ok(page) => ListAction::Loaded(page),
                Err(e) => ListAction::Failed(e.message()),
            });
        });
    }

    /// Load the first page again without showing the loading state (a periodic refresh): the list
    /// stays as it is until the answer comes, and a failed refresh keeps it (the next one retries).
    pub fn refresh(&self) {
        let state = self.state.dispatcher();
        let work = (self.fetch)(None);
        spawn_local(async move {
            if let Ok(page) = work.await {
                state.dispatch(ListAction::Loaded(page));
            }
        });
    }

    /// Load the next page, if there is one.
    pub fn more(&self) {
        let Some(cursor) = self.state.next_cursor() else {
            return;
        };
        self.state.dispatch(ListAction::MoreRequested);
        let state = self.state.dispatcher();
        let work = (self.fetch)(Some(cursor));
        spawn_local(async move {
            state.dispatch(match work.await {
                Ok(page) => ListAction::MoreLoaded(page),
                Err(e) => ListAction::MoreFailed(e.message()),
            });
        });
    }

    /// The list in its frame (`components::status::list_frame`): loading, failed with a retry, `empty`,
    /// or its items drawn by `body` with "Load more" while there is a next page.
    pub fn frame(&self, what: &'static str, empty: Html, body: impl FnOnce(&[T]) -> Html) -> Html {
        let (retry, more) = (self.clone(), self.clone());
        list_frame(
            &self.state,
            what,
            empty,
            Callback::from(move |_| retry.reload()),
            Callback::from(move |_| more.more()),
            body,
        )
    }

    /// A created or changed item.
    pub fn upsert(&self, item: T) {
        self.state.dispatch(ListAction::Upsert(item));
    }

    pub fn remove(&self, key: T::Key) {
        self.state.dispatch(ListAction::Remove(key));
    }
}

/// A list loaded by `fetch(cursor)`, first when mounted and again whenever `dep` changes.
#[hook]
pub fn use_list<T, D, F>(dep: D, fetch: F) -> ListHandle<T>
where
    T: Keyed + Clone + PartialEq + 'static,
    D: PartialEq + Clone + 'static,
    F: Fn(Option<String>) -> LocalBoxFuture<'static, Result<Page<T>, ApiError>> + 'static,
{
    let state = use_reducer(|| ListState::Loading);
    let handle = ListHandle {
        state,
        fetch: Rc::new(fetch),
    };
    {
        let handle = handle.clone();
        use_effect_with(dep, move |_| handle.reload());
    }
    handle
}
