//! The list reducer every page uses: first load, "load more" over the cursor, and in-place updates
//! after a create, an edit or a delete — with its loading, empty and failed states.

use common::api::{
    ApplianceResponse, ApplicationResponse, AssignmentResponse, HostResponse, Page, PoolResponse,
    ProjectResponse, RuleResponse, RunResponse, ScriptResponse, TenantResponse, UserResponse,
};
use common::{
    ApplianceId, ApplicationId, HostId, PoolId, ProjectId, RuleId, RunId, ScriptId, TenantId,
    UserId,
};
use std::rc::Rc;
use yew::Reducible;

/// Items that have an identity within their list.
pub trait Keyed {
    type Key: Clone + PartialEq + std::fmt::Debug;
    fn key(&self) -> Self::Key;
}

impl Keyed for TenantResponse {
    type Key = TenantId;
    fn key(&self) -> TenantId {
        self.id
    }
}
impl Keyed for UserResponse {
    type Key = UserId;
    fn key(&self) -> UserId {
        self.id
    }
}
impl Keyed for ProjectResponse {
    type Key = ProjectId;
    fn key(&self) -> ProjectId {
        self.id
    }
}
impl Keyed for AssignmentResponse {
    type Key = UserId;
    fn key(&self) -> UserId {
        self.user_id
    }
}

macro_rules! keyed_by_id {
    ($($t:ty => $k:ty),* $(,)?) => {$(
        impl Keyed for $t {
            type Key = $k;
            fn key(&self) -> $k {
                self.id
            }
        }
    )*};
}

keyed_by_id!(
    ApplicationResponse => ApplicationId,
    ApplianceResponse => ApplianceId,
    ScriptResponse => ScriptId,
    RuleResponse => RuleId,
    RunResponse => RunId,
    PoolResponse => PoolId,
    HostResponse => HostId,
);

/// The state of the "load more" button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum More {
    Idle,
    Loading,
    Failed(String),
}

/// A list as a page shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum ListState<T> {
    Loading,
    Failed(String),
    Ready {
        items: Vec<T>,
        next_cursor: Option<String>,
        more: More,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListAction<T: Keyed> {
    /// The first page arrived (replaces what was there).
    Loaded(Page<T>),
    Failed(String),
    MoreRequested,
    MoreLoaded(Page<T>),
    MoreFailed(String),
    /// A created or changed item: replaced where it is, or appended (lists are in creation order).
    Upsert(T),
    Remove(T::Key),
    /// Start over (a retry after a failure).
    Reload,
    /// The first page read again (a periodic refresh). When it is the whole list (no next page) it
    /// replaces the list. Otherwise its items come first, in its order, then the items loaded before
    /// that it no longer holds (older ones, or pages loaded with "Load more", whose cursor stays).
    /// Before the list is ready it is the first load.
    Refreshed(Page<T>),
}

impl<T: Keyed + Clone + PartialEq> ListState<T> {
    pub fn apply(&self, action: ListAction<T>) -> Self {
        use ListAction as A;
        match (self, action) {
            (_, A::Loaded(page)) => ListState::Ready {
                items: page.items,
                next_cursor: page.next_cursor,
                more: More::Idle,
            },
            (_, A::Failed(msg)) => ListState::Failed(msg),
            (
                ListState::Ready {
                    items,
                    next_cursor,
                    more,
                },
                A::Refreshed(page),
            ) if page.next_cursor.is_some() => {
                let fresh: Vec<T::Key> = page.items.iter().map(Keyed::key).collect();
                let kept: Vec<T> = items
                    .iter()
                    .filter(|i| !fresh.contains(&i.key()))
                    .cloned()
                    .collect();
                // with more than the first page loaded, the cursor of the last one still holds
                let next = if kept.is_empty() {
                    page.next_cursor
                } else {
                    next_cursor.clone()
                };
                let mut all = page.items;
                all.extend(kept);
                ListState::Ready {
                    items: all,
                    next_cursor: next,
                    more: more.clone(),
                }
            }
            // a first page with nothing after it is the whole list (what was deleted goes)
            (_, A::Refreshed(page)) => ListState::Ready {
                items: page.items,
                next_cursor: page.next_cursor,
                more: More::Idle,
            },
            (_, A::Reload) => ListState::Loading,
            (
                ListState::Ready {
                    items, next_cursor, ..
                },
                A::MoreRequested,
            ) => ListState::Ready {
                items: items.clone(),
                next_cursor: next_cursor.clone(),
                more: More::Loading,
            },
            (ListState::Ready { items, .. }, A::MoreLoaded(page)) => {
                let mut items = items.clone();
                for item in page.items {
                    upsert(&mut items, item);
                }
                ListState::Ready {
                    items,
                    next_cursor: page.next_cursor,
                    more: More::Idle,
                }
            }
            (
                ListState::Ready {
                    items, next_cursor, ..
                },
                A::MoreFailed(msg),
            ) => ListState::Ready {
                items: items.clone(),
                next_cursor: next_cursor.clone(),
                more: More::Failed(msg),
            },
            (
                ListState::Ready {
                    items,
                    next_cursor,
                    more,
                },
                A::Upsert(item),
            ) => {
                let mut items = items.clone();
                upsert(&mut items, item);
                ListState::Ready {
                    items,
                    next_cursor: next_cursor.clone(),
                    more: more.clone(),
                }
            }
            (
                ListState::Ready {
                    items,
                    next_cursor,
                    more,
                },
                A::Remove(key),
            ) => ListState::Ready {
                items: items.iter().filter(|i| i.key() != key).cloned().collect(),
                next_cursor: next_cursor.clone(),
                more: more.clone(),
            },
            // Anything else while not ready changes nothing (the first load will bring it).
            (state, _) => state.clone(),
        }
    }

    /// The items, empty unless loaded.
    pub fn items(&self) -> &[T] {
        match self {
            ListState::Ready { items, .. } => items,
            _ => &[],
        }
    }

    /// Loaded, and nothing in it.
    pub fn is_empty(&self) -> bool {
        matches!(self, ListState::Ready { items, .. } if items.is_empty())
    }

    /// The cursor of the next page, if there is one.
    pub fn next_cursor(&self) -> Option<String> {
        match self {
            ListState::Ready { next_cursor, .. } => next_cursor.clone(),
            _ => None,
        }
    }
}

fn upsert<T: Keyed>(items: &mut Vec<T>, item: T) {
    let key = item.key();
    match items.iter_mut().find(|i| i.key() == key) {
        Some(slot) => *slot = item,
        None => items.push(item),
    }
}

impl<T: Keyed + Clone + PartialEq + 'static> Reducible for ListState<T> {
    type Action = ListAction<T>;

    fn reduce(self: Rc<Self>, action: ListAction<T>) -> Rc<Self> {
        let next = self.apply(action);
        if next == *self { self } else { Rc::new(next) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn project(name: &str) -> ProjectResponse {
        ProjectResponse {
            id: ProjectId::new(),
            tenant_id: TenantId::new(),
            name: name.into(),
            description: String::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn page(items: Vec<ProjectResponse>, next: Option<&str>) -> Page<ProjectResponse> {
        Page {
            items,
            next_cursor: next.map(str::to_owned),
        }
    }

    fn names(s: &ListState<ProjectResponse>) -> Vec<String> {
        s.items().iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn load_then_more_then_last_page() {
        let (a, b, c) = (project("a"), project("b"), project("c"));
        let s = ListState::Loading;
        assert!(!s.is_empty(), "loading is not empty");
        let s = s.apply(ListAction::Loaded(page(
            vec![a.clone(), b.clone()],
            Some("n1"),
        )));
        assert_eq!(s.next_cursor().as_deref(), Some("n1"));
        let s = s.apply(ListAction::MoreRequested);
        assert!(matches!(
            s,
            ListState::Ready {
                more: More::Loading,
                ..
            }
        ));
        // an item seen twice (created meanwhile) is not duplicated
        let s = s.apply(ListAction::MoreLoaded(page(vec![b, c], None)));
        assert_eq!(names(&s), ["a", "b", "c"]);
        assert_eq!(s.next_cursor(), None);
        assert!(matches!(
            s,
            ListState::Ready {
                more: More::Idle,
                ..
            }
        ));
    }

    #[test]
    fn upsert_replaces_in_place_or_appends_and_remove_deletes() {
        let (a, b) = (project("a"), project("b"));
        let s =
            ListState::Loading.apply(ListAction::Loaded(page(vec![a.clone(), b.clone()], None)));
        let mut renamed = a.clone();
        renamed.name = "a2".into();
        let s = s.apply(ListAction::Upsert(renamed));
        assert_eq!(names(&s), ["a2", "b"]);
        let s = s.apply(ListAction::Upsert(project("c")));
        assert_eq!(names(&s), ["a2", "b", "c"]);
        let s = s.apply(ListAction::Remove(a.id));
        assert_eq!(names(&s), ["b", "c"]);
        let s = s
            .apply(ListAction::Remove(b.id))
            .apply(ListAction::Remove(s.items()[1].id));
        assert!(s.is_empty());
    }

    #[test]
    fn a_refresh_puts_the_first_page_first_and_keeps_what_was_loaded_beyond_it() {
        let (a, b, c, d) = (project("a"), project("b"), project("c"), project("d"));
        // newest first: b, a on the first page, c loaded with "Load more", no further page
        let s = ListState::Loading
            .apply(ListAction::Loaded(page(
                vec![b.clone(), a.clone()],
                Some("n1"),
            )))
            .apply(ListAction::MoreLoaded(page(vec![c.clone()], None)));
        // d is new, b changed: the refreshed first page is d, b (a moved to the second page)
        let mut b2 = b.clone();
        b2.name = "b2".into();
        let s = s.apply(ListAction::Refreshed(page(vec![d.clone(), b2], Some("m1"))));
        assert_eq!(names(&s), ["d", "b2", "a", "c"]);
        assert_eq!(s.next_cursor(), None, "the last loaded page's cursor stays");
        // a first page with no page after it is the whole list: what is not in it was deleted
        let s = s.apply(ListAction::Refreshed(page(
            vec![d.clone(), a.clone()],
            None,
        )));
        assert_eq!(names(&s), ["d", "a"]);
        // before the first load it is the first load
        let s = ListState::Loading.apply(ListAction::Refreshed(page(vec![c], None)));
        assert_eq!(names(&s), ["c"]);
    }

    #[test]
    fn failures_and_reloads() {
        let s: ListState<ProjectResponse> =
            ListState::Loading.apply(ListAction::Failed("down".into()));
        assert_eq!(s, ListState::Failed("down".into()));
        assert!(s.items().is_empty() && !s.is_empty());
        // an upsert before the list arrived is ignored; the reload starts over
        assert_eq!(s.apply(ListAction::Upsert(project("x"))), s);
        assert_eq!(s.apply(ListAction::Reload), ListState::Loading);
        let ready =
            ListState::Loading.apply(ListAction::Loaded(page(vec![project("a")], Some("n"))));
        let s = ready
            .apply(ListAction::MoreRequested)
            .apply(ListAction::MoreFailed("oops".into()));
        assert!(matches!(&s, ListState::Ready { more: More::Failed(m), .. } if m == "oops"));
        assert_eq!(names(&s), ["a"]);
        assert_eq!(
            s.next_cursor().as_deref(),
            Some("n"),
            "the cursor is kept for a retry"
        );
    }
}
