//! The CloudScript editor (a monospace textarea beside a gutter of line numbers, the line an error names
//! marked) and the read-only view of scripts and output.

use crate::components::field::{described_by, textarea_input};
use crate::state::scripts::line_numbers;
use yew::prelude::*;

fn gutter(text: &str, mark: Option<usize>) -> Html {
    html! {
        <pre class="gutter" aria-hidden="true">
            { for line_numbers(text).split('\n').enumerate().map(|(i, n)| {
                let class = (Some(i + 1) == mark).then_some("marked");
                html! { <span class={classes!(class)}>{ n.to_owned() }{ "\n" }</span> }
            }) }
        </pre>
    }
}

#[derive(Properties, PartialEq)]
pub struct CodeEditorProps {
    pub id: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    pub oninput: Callback<String>,
    #[prop_or_default]
    pub error: Option<String>,
    /// The line the error names, marked in the gutter.
    #[prop_or_default]
    pub mark_line: Option<usize>,
    #[prop_or_default]
    pub readonly: bool,
    #[prop_or_default]
    pub hint: Option<AttrValue>,
}

/// A code textarea that grows with its text; the frame scrolls the gutter and the text together, so
/// the numbers stay beside their lines without any scroll syncing.
#[function_component(CodeEditor)]
pub fn code_editor(p: &CodeEditorProps) -> Html {
    let oninput = textarea_input(&p.oninput);
    let id = p.id.to_string();
    let rows = p.value.split('\n').count().max(4) + 1;
    let described = described_by(&id, p.error.is_some(), p.hint.is_some());
    html! {
        <div class={classes!("field", "code-field", p.error.as_ref().map(|_| "has-error"))}>
            <label for={id.clone()}>{ p.label.clone() }</label>
            if let Some(h) = &p.hint { <p class="hint" id={format!("{id}-hint")}>{ h.clone() }</p> }
            <div class="code-frame">
                { gutter(&p.value, p.mark_line) }
                <textarea id={id.clone()} name={id.clone()} class="code" value={p.value.clone()} {oninput}
                    rows={rows.to_string()} wrap="off" spellcheck="false" autocomplete="off"
                    autocapitalize="off" readonly={p.readonly}
                    aria-invalid={p.error.as_ref().map(|_| "true")} aria-describedby={described} />
            </div>
            if let Some(e) = &p.error { <p class="field-error" id={format!("{id}-error")}>{ e.clone() }</p> }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct CodeViewProps {
    pub text: AttrValue,
    /// What the text is, for screen readers ("Rendered script").
    pub label: AttrValue,
    #[prop_or(true)]
    pub numbered: bool,
}

/// Read-only text in the editor's type: a rendered script, a job's output.
#[function_component(CodeView)]
pub fn code_view(p: &CodeViewProps) -> Html {
    html! {
        <div class="code-frame view" role="region" aria-label={p.label.clone()} tabindex="0">
            if p.numbered { { gutter(&p.text, None) } }
            <pre class="code">{ p.text.clone() }</pre>
        </div>
    }
}
