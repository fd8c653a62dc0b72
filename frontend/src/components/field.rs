//! Labelled inputs with their error beside them (`aria-invalid` and `aria-describedby` point at it).

use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FieldProps {
    /// The element id; also names the error (`{id}-error`) and hint (`{id}-hint`).
    pub id: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    pub oninput: Callback<String>,
    #[prop_or_default]
    pub error: Option<String>,
    #[prop_or(AttrValue::Static("text"))]
    pub kind: AttrValue,
    #[prop_or_default]
    pub autocomplete: Option<AttrValue>,
    #[prop_or_default]
    pub hint: Option<AttrValue>,
    #[prop_or(true)]
    pub required: bool,
    #[prop_or_default]
    pub disabled: bool,
}

/// The `aria-describedby` of an input: its hint, then its error.
pub fn described_by(id: &str, error: bool, hint: bool) -> Option<String> {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{id}-hint"));
    }
    if error {
        ids.push(format!("{id}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn below(id: &str, error: &Option<String>, hint: &Option<AttrValue>) -> Html {
    html! {
        <>
            if let Some(h) = hint {
                <p class="hint" id={format!("{id}-hint")}>{ h.clone() }</p>
            }
            if let Some(e) = error {
                <p class="field-error" id={format!("{id}-error")}>{ e.clone() }</p>
            }
        </>
    }
}

/// An `<input>` with its label.
#[function_component(Field)]
pub fn field(p: &FieldProps) -> Html {
    let oninput = {
        let cb = p.oninput.clone();
        Callback::from(move |e: InputEvent| {
            cb.emit(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let id = p.id.to_string();
    html! {
        <div class={classes!("field", p.error.as_ref().map(|_| "has-error"))}>
            <label for={id.clone()}>{ p.label.clone() }</label>
            <input id={id.clone()} name={id.clone()} type={p.kind.clone()} value={p.value.clone()}
                {oninput} required={p.required} disabled={p.disabled}
                autocomplete={p.autocomplete.clone()}
                aria-invalid={p.error.as_ref().map(|_| "true")}
                aria-describedby={described_by(&id, p.error.is_some(), p.hint.is_some())} />
            { below(&id, &p.error, &p.hint) }
        </div>
    }
}

/// A textarea's `oninput` that hands on its text.
pub fn textarea_input(cb: &Callback<String>) -> Callback<InputEvent> {
    let cb = cb.clone();
    Callback::from(move |e: InputEvent| {
        cb.emit(e.target_unchecked_into::<HtmlTextAreaElement>().value())
    })
}

#[derive(Properties, PartialEq)]
pub struct TextAreaProps {
    pub id: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    pub oninput: Callback<String>,
    #[prop_or_default]
    pub error: Option<String>,
    #[prop_or_default]
    pub hint: Option<AttrValue>,
}

/// A `<textarea>` with its label (optional input).
#[function_component(TextArea)]
pub fn text_area(p: &TextAreaProps) -> Html {
    let oninput = textarea_input(&p.oninput);
    let id = p.id.to_string();
    html! {
        <div class={classes!("field", p.error.as_ref().map(|_| "has-error"))}>
            <label for={id.clone()}>{ p.label.clone() }</label>
            <textarea id={id.clone()} name={id.clone()} rows="3" value={p.value.clone()} {oninput}
                aria-invalid={p.error.as_ref().map(|_| "true")}
                aria-describedby={described_by(&id, p.error.is_some(), p.hint.is_some())} />
            { below(&id, &p.error, &p.hint) }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct SelectProps {
    pub id: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    /// `(value, label)` pairs.
    pub options: Vec<(String, String)>,
    pub onchange: Callback<String>,
    #[prop_or_default]
    pub error: Option<String>,
    #[prop_or_default]
    pub hint: Option<AttrValue>,
    #[prop_or_default]
    pub disabled: bool,
}

/// A `<select>` with its label.
#[function_component(Select)]
pub fn select(p: &SelectProps) -> Html {
    let onchange = {
        let cb = p.onchange.clone();
        Callback::from(move |e: Event| {
            cb.emit(e.target_unchecked_into::<HtmlSelectElement>().value())
        })
    };
    let id = p.id.to_string();
    html! {
        <div class={classes!("field", p.error.as_ref().map(|_| "has-error"))}>
            <label for={id.clone()}>{ p.label.clone() }</label>
            <select id={id.clone()} name={id.clone()} {onchange} disabled={p.disabled}
                aria-invalid={p.error.as_ref().map(|_| "true")}
                aria-describedby={described_by(&id, p.error.is_some(), p.hint.is_some())}>
                { for p.options.iter().map(|(v, l)| html! {
                    <option value={v.clone()} selected={*v == *p.value}>{ l.clone() }</option>
                }) }
                // a value none of the options has (a layer renamed since, a list still loading) is
                // shown as it is, so what the form sends is what it shows
                if !p.value.is_empty() && !p.options.iter().any(|(v, _)| *v == *p.value) {
                    <option value={p.value.clone()} selected=true>{ format!("{} (not found)", p.value) }</option>
                }
            </select>
            { below(&id, &p.error, &p.hint) }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct CheckProps {
    pub id: AttrValue,
    pub label: AttrValue,
    pub checked: bool,
    pub onchange: Callback<bool>,
    #[prop_or_default]
    pub disabled: bool,
}

/// A checkbox with its label after it.
#[function_component(Check)]
pub fn check(p: &CheckProps) -> Html {
    let onchange = {
        let cb = p.onchange.clone();
        Callback::from(move |e: Event| {
            cb.emit(e.target_unchecked_into::<HtmlInputElement>().checked())
        })
    };
    html! {
        <div class="field check">
            <input id={p.id.clone()} name={p.id.clone()} type="checkbox" checked={p.checked} {onchange}
                disabled={p.disabled} />
            <label for={p.id.clone()}>{ p.label.clone() }</label>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::described_by;

    #[test]
    fn described_by_names_hint_then_error() {
        assert_eq!(described_by("email", false, false), None);
        assert_eq!(
            described_by("email", true, false).as_deref(),
            Some("email-error")
        );
        assert_eq!(
            described_by("pw", true, true).as_deref(),
            Some("pw-hint pw-error")
        );
    }
}
