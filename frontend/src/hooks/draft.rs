//! Callbacks that edit a form's draft held in a state: a field typed into (its error cleared), and any
//! change made from a value (an item of a list replaced, added, removed).

use crate::state::form::FormErrors;
use yew::prelude::*;

/// Typing into the input of `field`: `f` puts the text into the draft, and the field's error goes.
pub fn edit<D: Clone + 'static>(
    draft: &UseStateHandle<D>,
    errors: &UseStateHandle<FormErrors>,
    field: &'static str,
    f: fn(&mut D, String),
) -> Callback<String> {
    let (draft, errors) = (draft.clone(), errors.clone());
    Callback::from(move |v: String| {
        let mut d = (*draft).clone();
        f(&mut d, v);
        draft.set(d);
        let mut e = (*errors).clone();
        e.clear_field(field);
        errors.set(e);
    })
}

/// Typing into the input of `field` whose text is a state of its own: the text is kept, and the
/// field's error goes.
pub fn text(
    state: &UseStateHandle<String>,
    errors: &UseStateHandle<FormErrors>,
    field: &'static str,
) -> Callback<String> {
    let (state, errors) = (state.clone(), errors.clone());
    Callback::from(move |v: String| {
        state.set(v);
        let mut e = (*errors).clone();
        e.clear_field(field);
        errors.set(e);
    })
}

/// A change of the draft made from a value: `f(draft, value)`.
pub fn change<D: Clone + 'static, V: 'static>(
    draft: &UseStateHandle<D>,
    f: impl Fn(&mut D, V) + 'static,
) -> Callback<V> {
    let draft = draft.clone();
    Callback::from(move |v: V| {
        let mut d = (*draft).clone();
        f(&mut d, v);
        draft.set(d);
    })
}

/// An item of a list edited in its own row: the row's copy changed by `f`, sent up with its index.
pub fn item<T: Clone + 'static, V: 'static>(
    up: &Callback<(usize, T)>,
    index: usize,
    item: &T,
    f: fn(&mut T, V),
) -> Callback<V> {
    let (up, item) = (up.clone(), item.clone());
    Callback::from(move |v: V| {
        let mut t = item.clone();
        f(&mut t, v);
        up.emit((index, t));
    })
}
