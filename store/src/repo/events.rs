//! Durable domain events (`appliance.came_alive`, `placement.failed`, `host.lost`, …).

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_apps::{Event, EventRow};
use crate::schema::events::dsl as ev;
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::{ApplianceId, ApplicationId, EventId, HostId, TenantId};
use diesel::prelude::*;

/// What an event is about.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub application: Option<ApplicationId>,
    pub appliance: Option<ApplianceId>,
    pub host: Option<HostId>,
}

pub fn record(
    conn: &mut DbConn,
    tenant: TenantId,
    type_: &str,
    subject: &Subject,
    detail: &str,
) -> Result<Event, StoreError> {
    let e = Event {
        id: EventId::new(),
        tenant_id: tenant,
        type_: type_.to_owned(),
        application_id: subject.application,
        appliance_id: subject.appliance,
        host_id: subject.host,
        detail: detail.to_owned(),
        at: now(),
    };
    diesel::insert_into(ev::events)
        .values(EventRow {
            id: e.id.to_string(),
            tenant_id: tenant.to_string(),
            type_: e.type_.clone(),
            application_id: e.application_id.map(|x| x.to_string()),
            appliance_id: e.appliance_id.map(|x| x.to_string()),
            host_id: e.host_id.map(|x| x.to_string()),
            detail: e.detail.clone(),
            at: to_db(e.at),
        })
        .execute(conn)?;
    Ok(e)
}

/// A tenant's events, oldest first, optionally of one application only.
pub fn list(
    conn: &mut DbConn,
    tenant: TenantId,
    application: Option<ApplicationId>,
    page: &PageRequest,
) -> Result<Page<Event>, StoreError> {
    let mut q = ev::events
        .filter(ev::tenant_id.eq(tenant.to_string()))
        .select(EventRow::as_select())
        .order(ev::id.asc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if let Some(app) = application {
        q = q.filter(ev::application_id.eq(app.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(ev::id.gt(after.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Event| x.id.to_string(),
    ))
}

/// Events of a type across tenants (the provider's view, e.g. `host.lost`).
pub fn of_type(conn: &mut DbConn, type_: &str) -> Result<Vec<Event>, StoreError> {
    convert(
        ev::events
            .filter(ev::type_.eq(type_))
            .select(EventRow::as_select())
            .order(ev::id.asc())
            .load(conn)?,
    )
}

/// One of a tenant's events.
pub fn get(conn: &mut DbConn, tenant: TenantId, id: EventId) -> Result<Option<Event>, StoreError> {
    ev::events
        .find(id.to_string())
        .filter(ev::tenant_id.eq(tenant.to_string()))
        .select(EventRow::as_select())
        .first(conn)
        .optional()?
        .map(Event::try_from)
        .transpose()
}
