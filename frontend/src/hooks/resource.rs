//! `use_resource`: one object loaded through the client when the page mounts, again when its
//! dependency changes or on `reload`. Only the answer of the latest load is kept (an older one that
//! arrives late is dropped), and a failed reload keeps the last good value beside its error, so a page
//! that refreshes never turns into an error page over one lost answer.

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

impl<T: Clone + PartialEq> Reducible for Resource<T> {
    type Action = Result<T, ApiError>;
    fn reduce(self: Rc<Self>, answer: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match answer {
            Ok(v) => {
                next.value = Some(v);
                next.error = None;
            }
            Err(e) => next.error = Some(e),
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
    {
        let (answers, latest) = (state.dispatcher(), (*latest).clone());
        use_effect_with((dep, revision), move |(dep, _)| {
            let this = latest.get() + 1;
            latest.set(this);
            let work = fetch(dep.clone());
            spawn_local(async move {
                let answer = work.await;
                if latest.get() == this {
                    answers.dispatch(answer);
                }
            });
        });
    }
    ResourceHandle {
        current: (*state).clone(),
        reload,
    }
}
