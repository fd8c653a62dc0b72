//! Profile: who I am, and changing my password (which signs out my other sessions).

use crate::components::field::Field;
use crate::components::status::{Banner, Tone};
use crate::hooks::{draft, use_client, use_me};
use crate::state::checks;
use crate::state::form::FormErrors;
use crate::state::views::role_label;
use common::api::ChangePasswordRequest;
use yew::platform::spawn_local;
use yew::prelude::*;

const INPUTS: [&str; 3] = ["current_password", "new_password", "confirm"];

#[function_component(ProfilePage)]
pub fn profile_page() -> Html {
    let client = use_client();
    let me = use_me();
    let current = use_state(String::new);
    let new = use_state(String::new);
    let confirm = use_state(String::new);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    let done = use_state(|| false);
    let Some(me) = me else {
        return Html::default();
    };
    let set =
        |state: &UseStateHandle<String>, field: &'static str| draft::text(state, &errors, field);
    let onsubmit = {
        let (current, new, confirm, errors, busy, done) = (
            current.clone(),
            new.clone(),
            confirm.clone(),
            errors.clone(),
            busy.clone(),
            done.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            done.set(false);
            let req = ChangePasswordRequest {
                current_password: (*current).clone(),
                new_password: (*new).clone(),
            };
            if let Err(f) = FormErrors::check(checks::password_change(&req, &confirm), &INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (client, errors, busy, done) =
                (client.clone(), errors.clone(), busy.clone(), done.clone());
            let (current, new, confirm) = (current.clone(), new.clone(), confirm.clone());
            spawn_local(async move {
                match client.change_password(&req).await {
                    Ok(()) => {
                        done.set(true);
                        current.set(String::new());
                        new.set(String::new());
                        confirm.set(String::new());
                    }
                    Err(e) => errors.set(FormErrors::from_api(&e, &INPUTS)),
                }
                busy.set(false);
            });
        })
    };
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head"><h1 id="page-title">{ "Profile" }</h1></div>
            <dl class="card details">
                <dt>{ "Name" }</dt><dd>{ me.name.clone() }</dd>
                <dt>{ "Email" }</dt><dd>{ me.email.clone() }</dd>
                <dt>{ "Role" }</dt><dd>{ role_label(me.role) }</dd>
                <dt>{ "Organisation" }</dt><dd>{ me.tenant_name.clone() }</dd>
            </dl>
            <form class="card form-grid" {onsubmit} novalidate=true aria-labelledby="pw-title">
                <h2 id="pw-title">{ "Change password" }</h2>
                if *done {
                    <Banner tone={Tone::Success}>{ "Password changed. Your other sessions were signed out." }</Banner>
                }
                if let Some(g) = &errors.general {
                    <Banner tone={Tone::Error}>{ g.clone() }</Banner>
                }
                <Field id="current_password" label="Current password" kind="password" autocomplete="current-password"
                    value={(*current).clone()} oninput={set(&current, "current_password")} error={errors.field("current_password")} />
                <Field id="new_password" label="New password" kind="password" autocomplete="new-password"
                    value={(*new).clone()} oninput={set(&new, "new_password")} error={errors.field("new_password")}
                    hint="At least 12 characters; hard to guess." />
                <Field id="confirm" label="Repeat the new password" kind="password" autocomplete="new-password"
                    value={(*confirm).clone()} oninput={set(&confirm, "confirm")} error={errors.field("confirm")} />
                <div class="form-actions">
                    <button type="submit" class="button primary" disabled={*busy}>
                        { if *busy { "Changing…" } else { "Change password" } }
                    </button>
                </div>
            </form>
        </section>
    }
}
