//! The first start: the provider tenant and its first operator. Also the CLI's password reset.

use crate::auth::service::normalize_email;
use crate::auth::{password, refresh};
use crate::error::{ApiError, ApiResult};
use common::api::Quotas;
use common::{Role, TenantId, TenantKind, TenantStatus, UserId};
use serde_json::json;
use store::repo::unscoped;
use store::repo::{audit, refresh_tokens, tenants, users};
use store::time::now;
use store::{Actor, Store, Tenant, User};

pub const DEFAULT_ADMIN_EMAIL: &str = "admin@scaleinfra.local";

/// The first operator's credentials, printed once.
#[derive(Debug)]
pub struct Bootstrapped {
    pub email: String,
    /// Present when the password was generated (and must be shown to the person starting the server).
    pub generated_password: Option<String>,
}

/// A strong random password (24 base64url characters).
pub fn generate_password() -> ApiResult<String> {
    let t = refresh::generate().map_err(ApiError::internal)?;
    Ok(t.chars().take(24).collect())
}

/// Create the provider tenant and its first operator unless the provider tenant exists.
/// Returns `None` when the installation was already bootstrapped.
pub async fn ensure_provider(
    store: &Store,
    email: Option<&str>,
    password_in: Option<&str>,
) -> ApiResult<Option<Bootstrapped>> {
    if store.read(tenants::provider).await?.is_some() {
        return Ok(None);
    }
    let email = normalize_email(email.unwrap_or(DEFAULT_ADMIN_EMAIL));
    let (pw, generated) = match password_in {
        Some(p) => (p.to_owned(), None),
        None => {
            let g = generate_password()?;
            (g.clone(), Some(g))
        }
    };
    password::check_strength("admin_password", &pw, &[&email])?;
    let hash = password::Hasher::new(1).hash(pw).await?;
    let at = now();
    let tenant = Tenant {
        id: TenantId::new(),
        name: "Provider".into(),
        slug: "provider".into(),
        kind: TenantKind::Provider,
        status: TenantStatus::Active,
        // the largest quotas a tenant can have (the provider's own applications are not limited)
        quotas: Quotas {
            max_vcpus: 1_000_000,
            max_memory_mib: 1_000_000_000,
            max_appliances: 1_000_000,
        },
        created_at: at,
        updated_at: at,
    };
    let user = User {
        id: UserId::new(),
        tenant_id: tenant.id,
        email: email.clone(),
        name: "Operator".into(),
        role: Role::Operator,
        password_hash: hash,
        disabled: false,
        token_version: 0,
        created_at: at,
        updated_at: at,
    };
    let created = store
        .write(move |c| -> ApiResult<bool> {
            // re-check inside the transaction: two processes may race on first start
            if tenants::provider(c)?.is_some() {
                return Ok(false);
            }
            tenants::insert(c, &tenant)?;
            users::insert(c, tenant.id, &user)?;
            audit::Entry::new(tenant.id, &Actor::system(), "tenant.bootstrap")
                .object("tenant", tenant.id)
                .record(c)?;
            audit::Entry::new(tenant.id, &Actor::system(), "user.create")
                .object("user", user.id)
                .detail(json!({"role": "operator"}))
                .record(c)?;
            Ok(true)
        })
        .await?;
    Ok(created.then_some(Bootstrapped {
        email,
        generated_password: generated,
    }))
}

/// Set a user's password (from the CLI); ends its sessions. Returns the generated password if none given.
pub async fn reset_password(
    store: &Store,
    email: &str,
    tenant_slug: Option<&str>,
    password_in: Option<&str>,
) -> ApiResult<Option<String>> {
    let email = normalize_email(email);
    let lookup = email.clone();
    let mut accounts = store
        .read(move |c| unscoped::users::by_email(c, &lookup))
        .await?;
    if let Some(slug) = tenant_slug {
        accounts.retain(|(_, t)| t.slug == slug);
    }
    let (user, tenant) = match accounts.len() {
        0 => return Err(ApiError::NotFound),
        1 => accounts.remove(0),
        _ => {
            return Err(ApiError::field(
                "tenant",
                "ambiguous",
                "this email has accounts in several tenants: name the tenant",
            ));
        }
    };
    let (pw, generated) = match password_in {
        Some(p) => (p.to_owned(), None),
        None => {
            let g = generate_password()?;
            (g.clone(), Some(g))
        }
    };
    password::check_strength("password", &pw, &[&email, &user.name])?;
    let hash = password::Hasher::new(1).hash(pw).await?;
    store
        .write(move |c| -> ApiResult<()> {
            // only the password column (and the token version) change: nothing else is written back
            users::set_password(c, tenant.id, user.id, &hash)?;
            refresh_tokens::revoke_user(c, user.id, now())?;
            audit::Entry::new(tenant.id, &Actor::system(), "user.password_reset")
                .object("user", user.id)
                .record(c)?;
            Ok(())
        })
        .await?;
    Ok(generated)
}
