//! Finance: the entry page of billing. The billing issue fills it with usage, invoices and exports.

use crate::hooks::use_me;
use yew::prelude::*;

#[function_component(FinancePage)]
pub fn finance_page() -> Html {
    let tenant = use_me().map(|m| m.tenant_name).unwrap_or_default();
    html! {
        <section aria-labelledby="page-title">
            <div class="page-head"><h1 id="page-title">{ "Billing" }</h1></div>
            <div class="empty">
                <p><strong>{ format!("No usage or invoices for {tenant} yet.") }</strong></p>
                <p>{ "Hourly usage, invoices and their exports will appear here once metering runs." }</p>
            </div>
        </section>
    }
}
