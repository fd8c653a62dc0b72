//! Loading, empty and error states, the banners of forms, and the frame every list is shown in.

use crate::state::list::{ListState, More};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LoadingProps {
    /// What is loading, for the sentence ("Loading tenants…").
    pub what: AttrValue,
}

/// A polite live region that says what is loading.
#[function_component(Loading)]
pub fn loading(p: &LoadingProps) -> Html {
    html! {
        <p class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>{ format!("Loading {}…", p.what) }
        </p>
    }
}

/// The kinds of banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Error,
    Success,
    Info,
}

#[derive(Properties, PartialEq)]
pub struct BannerProps {
    pub tone: Tone,
    pub children: Html,
}

/// A message above a form or a list; errors are announced at once (`role="alert"`).
#[function_component(Banner)]
pub fn banner(p: &BannerProps) -> Html {
    let (class, role) = match p.tone {
        Tone::Error => ("banner error", "alert"),
        Tone::Success => ("banner success", "status"),
        Tone::Info => ("banner info", "status"),
    };
    html! { <div class={class} role={role}>{ p.children.clone() }</div> }
}

/// A list in its states: loading, failed (with a retry), empty (with `empty`), or its items drawn by
/// `body`, followed by a "Load more" button while there is a next page.
pub fn list_frame<T: Clone + PartialEq>(
    state: &ListState<T>,
    what: &'static str,
    empty: Html,
    on_retry: Callback<()>,
    on_more: Callback<()>,
    body: impl FnOnce(&[T]) -> Html,
) -> Html {
    match state {
        ListState::Loading => html! { <Loading {what} /> },
        ListState::Failed(msg) => html! {
            <Banner tone={Tone::Error}>
                <p>{ format!("The {what} could not be loaded: {msg}") }</p>
                <button type="button" class="button secondary" onclick={on_retry.reform(|_| ())}>{ "Try again" }</button>
            </Banner>
        },
        ListState::Ready { items, .. } if items.is_empty() => {
            html! { <div class="empty">{ empty }</div> }
        }
        ListState::Ready {
            items,
            next_cursor,
            more,
        } => html! {
            <>
                { body(items) }
                if next_cursor.is_some() {
                    <div class="more">
                        if let More::Failed(m) = more {
                            <p class="field-error" role="alert">{ m.clone() }</p>
                        }
                        <button type="button" class="button secondary" disabled={*more == More::Loading}
                            onclick={on_more.reform(|_| ())}>
                            { if *more == More::Loading { "Loading…" } else { "Load more" } }
                        </button>
                    </div>
                }
            </>
        },
    }
}
