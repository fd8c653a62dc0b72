//! `use_list`: loads the first page of a list when the page mounts (or when its dependency changes),
//! loads more over the cursor, and lets the page apply its own creates, edits and deletes.

use crate::api::ApiError;
use crate::components::status::list_frame;
use crate::state::list::{Keyed, ListAction, ListState};
use common::api::Page;
use futures::future::LocalBoxFuture;
use std::cell::Cell;
use std::rc::Rc;
use yew::platform::spawn_local;
use yew::prelude::*;

type Fetch<T> = Rc<dyn Fn(Option<String>) -> LocalBoxFuture<'static, Result<Page<T>, ApiError>>>;

/// A list and the ways to change it.
pub struct ListHandle<T: Keyed + Clone + PartialEq + 'static> {
    pub state: UseReducerHandle<ListState<T>>,
    fetch: Fetch<T>,
    /// Moved on by every (re)load: answers of an earlier one are dropped, so an older answer never
    /// replaces a newer list (a dependency that changed twice, a refresh overtaken by a reload).
    generation: Rc<Cell<u64>>,
    /// A refresh is under way (ticks do not pile up behind a slow answer).
    refreshing: Rc<Cell<bool>>,
    /// Moved on by every local edit (upsert, remove): a refresh that was asked before one is older
    /// than the list and is dropped (the next tick reads again).
    edits: Rc<Cell<u64>>,
}

impl<T: Keyed + Clone + PartialEq + 'static> Clone for ListHandle<T> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            fetch: self.fetch.clone(),
            generation: self.generation.clone(),
            refreshing: self.refreshing.clone(),
            edits: self.edits.clone(),
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
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.state.dispatch(ListAction::Reload);
        let (state, current) = (self.state.dispatcher(), self.generation.clone());
        let work = (self.fetch)(None);
        spawn_local(async move {
            let action = match work.await {
                Ok(page) => ListAction::Loaded(page),
                Err(e) => ListAction::Failed(e.message()),
            };
            if current.get() == generation {
                state.dispatch(action);
            }
        });
    }

    /// Load the first page again without showing the loading state (a periodic refresh): the list
    /// stays as it is until the answer comes, and a failed refresh keeps it (the next one retries).
    pub fn refresh(&self) {
        if self.refreshing.replace(true) {
            return;
        }
        let (generation, edits) = (self.generation.get(), self.edits.get());
        let (state, current, refreshing, edited) = (
            self.state.dispatcher(),
            self.generation.clone(),
            self.refreshing.clone(),
            self.edits.clone(),
        );
        let work = (self.fetch)(None);
        spawn_local(async move {
            let answer = work.await;
            refreshing.set(false);
            if let Ok(page) = answer
                && current.get() == generation
                && edited.get() == edits
            {
                state.dispatch(ListAction::Refreshed(page));
            }
        });
    }

    /// Load the next page, if there is one.
    pub fn more(&self) {
        let Some(cursor) = self.state.next_cursor() else {
            return;
        };
        self.state.dispatch(ListAction::MoreRequested);
        let generation = self.generation.get();
        let (state, current) = (self.state.dispatcher(), self.generation.clone());
        let work = (self.fetch)(Some(cursor));
        spawn_local(async move {
            let action = match work.await {
                Ok(page) => ListAction::MoreLoaded(page),
                Err(e) => ListAction::MoreFailed(e.message()),
            };
            // a page of the list as it was before a reload does not belong to the new one
            if current.get() == generation {
                state.dispatch(action);
            }
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
        self.edits.set(self.edits.get() + 1);
        self.state.dispatch(ListAction::Upsert(item));
    }

    pub fn remove(&self, key: T::Key) {
        self.edits.set(self.edits.get() + 1);
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
    let generation = use_memo((), |_| Rc::new(Cell::new(0u64)));
    let refreshing = use_memo((), |_| Rc::new(Cell::new(false)));
    let edits = use_memo((), |_| Rc::new(Cell::new(0u64)));
    let handle = ListHandle {
        state,
        fetch: Rc::new(fetch),
        generation: (*generation).clone(),
        refreshing: (*refreshing).clone(),
        edits: (*edits).clone(),
    };
    {
        let handle = handle.clone();
        use_effect_with(dep, move |_| handle.reload());
    }
    handle
}
