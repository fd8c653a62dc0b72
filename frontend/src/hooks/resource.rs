//! `use_resource`: one object loaded through the client when the page mounts, again when its
//! dependency changes or on `reload`. Only the answer of the latest load is kept (an older one that
//! arrives late is dropped), and a failed reload keeps the last good value beside its error, so a page
//! that refreshes never turns into an error page over one lost answer. When the dependency changes,
//! the value of the one before is dropped at once.

use super::use_reload;
use crate::api::ApiError;
use futures::future::LocalBoxFuture;
use std::cell::Cell;
use std::rc::Rc;
use yew::platform::spawn_local;
use yew::prelude::*;

/// What a resource holds: nothing yet, its value, the error of its last load, or both.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource<T> {
    pub value: Option<T>,
    pub error: Option<ApiError>,
}

/// A resource and how to load it again.
pub struct ResourceHandle<T> {
    pub current: Resource<T>,
    pub reload: Callback<()>,
}

/// An answer, or another object to load (what was shown belongs to the one before).
pub enum ResourceAction<T> {
    Answer(Result<T, ApiError>),
    Other,
}

impl<T: Clone + PartialEq> Reducible for Resource<T> {
    type Action = ResourceAction<T>;
    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ResourceAction::Answer(Ok(v)) => {
                next.value = Some(v);
                next.error = None;
            }
            ResourceAction::Answer(Err(e)) => next.error = Some(e),
            ResourceAction::Other => {
                next.value = None;
                next.error = None;
            }
        }
        Rc::new(next)
    }
}

#[hook]
pub fn use_resource<T, D, F>(dep: D, fetch: F) -> ResourceHandle<T>
where
    T: Clone + PartialEq + 'static,
    D: PartialEq + Clone + 'static,
    F: Fn(D) -> LocalBoxFuture<'static, Result<T, ApiError>> + 'static,
{
    let state = use_reducer(|| Resource {
        value: None,
        error: None,
    });
    let (revision, reload) = use_reload();
    let latest = use_memo((), |_| Rc::new(Cell::new(0u64)));
    let shown = use_mut_ref(|| None::<D>);
    {
        let (answers, latest) = (state.dispatcher(), (*latest).clone());
        use_effect_with((dep, revision), move |(dep, _)| {
            // another object: the last one's value is not shown under its address meanwhile
            if shown.borrow().as_ref().is_some_and(|d| d != dep) {
                answers.dispatch(ResourceAction::Other);
            }
            *shown.borrow_mut() = Some(dep.clone());
            let this = latest.get() + 1;
            latest.set(this);
            let work = fetch(dep.clone());
            spawn_local(async move {
                let answer = work.await;
                if latest.get() == this {
                    answers.dispatch(ResourceAction::Answer(answer));
                }
            });
        });
    }
    ResourceHandle {
        current: (*state).clone(),
        reload,
    }
}
