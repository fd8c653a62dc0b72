//! The login page: email and password, with the server's refusals (wrong credentials, disabled
//! account, suspended tenant, the rate limit with its wait) in words. When the same email and
//! password open accounts in several organisations, the server asks which: an organisation field
//! appears (and takes the focus).

use crate::components::field::Field;
use crate::components::status::{Banner, Tone};
use crate::hooks::{use_client, use_session};
use crate::state::checks;
use crate::state::form::FormErrors;
use crate::state::session::SessionAction;
use common::api::LoginRequest;
use yew::platform::spawn_local;
use yew::prelude::*;

const INPUTS: [&str; 3] = ["email", "password", "tenant"];

#[derive(Properties, PartialEq)]
pub struct LoginProps {
    /// Why the user is here (the session ended, the server was unreachable).
    #[prop_or_default]
    pub notice: Option<String>,
}

#[function_component(LoginPage)]
pub fn login_page(p: &LoginProps) -> Html {
    let client = use_client();
    let session = use_session();
    let email = use_state(String::new);
    let password = use_state(String::new);
    let tenant = use_state(String::new);
    let ask_tenant = use_state(|| false);
    let errors = use_state(FormErrors::default);
    let busy = use_state(|| false);
    // the organisation field takes the focus when it appears
    use_effect_with(*ask_tenant, |asked| {
        if *asked
            && let Some(el) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("tenant"))
                .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(e).ok())
        {
            let _ = el.focus();
        }
    });
    use_effect_with((), |_| {
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            doc.set_title(&crate::state::nav::title(&crate::app::Route::Login));
        }
    });

    let onsubmit = {
        let (email, password, tenant, ask_tenant, errors, busy) = (
            email.clone(),
            password.clone(),
            tenant.clone(),
            ask_tenant.clone(),
            errors.clone(),
            busy.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let org = tenant.trim().to_lowercase();
            let req = LoginRequest {
                email: email.trim().to_owned(),
                password: (*password).clone(),
                tenant: (*ask_tenant && !org.is_empty()).then_some(org),
            };
            if let Err(f) = FormErrors::check(checks::login(&req), &INPUTS) {
                errors.set(f);
                return;
            }
            busy.set(true);
            errors.set(FormErrors::default());
            let (client, session, errors, busy, ask_tenant) = (
                client.clone(),
                session.dispatcher(),
                errors.clone(),
                busy.clone(),
                ask_tenant.clone(),
            );
            spawn_local(async move {
                match client.login(&req).await {
                    Ok(me) => session.dispatch(SessionAction::LoggedIn(me)),
                    Err(e) => {
                        if e.code() == Some("tenant_required") {
                            ask_tenant.set(true);
                        }
                        errors.set(FormErrors::from_api(&e, &INPUTS));
                        busy.set(false);
                    }
                }
            });
        })
    };
    let edit = |state: UseStateHandle<String>, field: &'static str| {
        let errors = errors.clone();
        Callback::from(move |v: String| {
            state.set(v);
            if errors.field(field).is_some() {
                let mut f = (*errors).clone();
                f.clear_field(field);
                errors.set(f);
            }
        })
    };

    html! {
        <main class="login-page" id="main">
            <section class="card login-card" aria-labelledby="login-title">
                <p class="brand">{ "ScaleInfra" }</p>
                <h1 id="login-title">{ "Sign in" }</h1>
                if let Some(n) = &p.notice {
                    <Banner tone={Tone::Info}>{ n.clone() }</Banner>
                }
                if let Some(g) = &errors.general {
                    <Banner tone={Tone::Error}>{ g.clone() }</Banner>
                }
                <form id="login-form" {onsubmit} novalidate=true>
                    <Field id="email" label="Email" kind="email" autocomplete="username"
                        value={(*email).clone()} oninput={edit(email.clone(), "email")}
                        error={errors.field("email")} />
                    <Field id="password" label="Password" kind="password" autocomplete="current-password"
                        value={(*password).clone()} oninput={edit(password.clone(), "password")}
                        error={errors.field("password")} />
                    if *ask_tenant {
                        <Field id="tenant" label="Organisation (its short name)" kind="text" autocomplete="organization"
                            value={(*tenant).clone()} oninput={edit(tenant.clone(), "tenant")}
                            error={errors.field("tenant")} />
                    }
                    <button type="submit" class="button primary wide" disabled={*busy}>
                        { if *busy { "Signing in…" } else { "Sign in" } }
                    </button>
                </form>
            </section>
        </main>
    }
}
