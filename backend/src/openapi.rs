//! The OpenAPI 3.1 document: info, the bearer scheme (scopes name the roles a route admits), tags.
//! Paths and schemas are collected from the registered handlers by utoipa-actix-web.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ScaleInfra API",
        description = "The control plane of a multi-tenant KVM cloud. Authenticate with `POST /api/v1/auth/login` and send the access token as `Authorization: Bearer …`. Each operation's `bearer` security requirement lists the roles it admits. Errors are RFC 9457 `application/problem+json` documents with a stable `code`."
    ),
    modifiers(&BearerScheme),
    components(schemas(common::Problem, common::FieldError)),
    tags(
        (name = "auth", description = "Login, token refresh, logout, password"),
        (name = "tenants", description = "Customer tenants (operators)"),
        (name = "users", description = "Users of a tenant (admins)"),
        (name = "projects", description = "Projects and their assignment to users"),
        (name = "audit", description = "Who changed what"),
        (name = "compute", description = "Compute pools and KVM hosts (operators)"),
        (name = "catalog", description = "Appliance templates"),
        (name = "applications", description = "Applications, layers and appliance groups"),
        (name = "appliances", description = "Appliances, their transitions and events"),
        (name = "sim", description = "Fault injection and load in the simulated pool"),
        (name = "agent", description = "The appliance agent protocol (per-appliance tokens)"),
        (name = "ops", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

// The error answers most operations share, documented once; operations list them next to their
// success responses (`responses((status = 200, …), Unauthenticated, Forbidden, NotFound)`) and keep
// inline tuples for errors whose description is their own.

/// 401: no valid access token.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "No valid credentials: a missing, malformed, expired or revoked token",
    content_type = "application/problem+json"
)]
pub struct Unauthenticated(#[allow(dead_code)] common::Problem);

/// 403: the caller's role does not admit the operation.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "The caller's role does not admit this operation",
    content_type = "application/problem+json"
)]
pub struct Forbidden(#[allow(dead_code)] common::Problem);

/// 404: no such object in the caller's tenant (another tenant's objects answer exactly the same).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such object visible to the caller",
    content_type = "application/problem+json"
)]
pub struct NotFound(#[allow(dead_code)] common::Problem);

/// 422: the input is invalid; `errors` names the fields.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 422,
    description = "Invalid input; `errors` lists the fields and what is wrong with each",
    content_type = "application/problem+json"
)]
pub struct Invalid(#[allow(dead_code)] common::Problem);
