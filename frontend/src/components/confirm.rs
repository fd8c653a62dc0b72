//! A button that asks once more before a consequential action (suspend, delete): the second step shows
//! "Yes, …" and "Cancel" in place, no modal dialog, so it stays in the keyboard order.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ConfirmProps {
    /// The first button's text, such as "Delete".
    pub label: AttrValue,
    /// The question, such as "Delete Web shop?".
    pub question: AttrValue,
    pub onconfirm: Callback<()>,
    #[prop_or_default]
    pub busy: bool,
    #[prop_or_default]
    pub danger: bool,
}

#[function_component(ConfirmButton)]
pub fn confirm_button(p: &ConfirmProps) -> Html {
    let asking = use_state(|| false);
    let yes_ref = use_node_ref();
    {
        // Move the focus to "Yes" when the question appears, so Enter confirms and Tab reaches "Cancel".
        let yes_ref = yes_ref.clone();
        use_effect_with(*asking, move |asking| {
            if *asking && let Some(el) = yes_ref.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let class = if p.danger {
        "button danger"
    } else {
        "button secondary"
    };
    if *asking {
        let confirm = {
            let asking = asking.clone();
            let cb = p.onconfirm.clone();
            Callback::from(move |_: MouseEvent| {
                asking.set(false);
                cb.emit(());
            })
        };
        let cancel = {
            let asking = asking.clone();
            Callback::from(move |_: MouseEvent| asking.set(false))
        };
        html! {
            <span class="confirm" role="group" aria-label={p.question.clone()}>
                <span class="question">{ p.question.clone() }</span>
                <button type="button" class={class} ref={yes_ref} onclick={confirm}>
                    { format!("Yes, {}", p.label.to_lowercase()) }
                </button>
                <button type="button" class="button secondary" onclick={cancel}>{ "Cancel" }</button>
            </span>
        }
    } else {
        let ask = Callback::from(move |_: MouseEvent| asking.set(true));
        html! {
            <button type="button" class={class} onclick={ask} disabled={p.busy}>
                { if p.busy { "Working…".to_owned() } else { p.label.to_string() } }
            </button>
        }
    }
}
