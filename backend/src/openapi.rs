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
        (name = "automation", description = "CloudScripts, event rules, their runs and script jobs"),
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

/// Declare every templated path parameter (`/applications/{application_id}`) on each operation that
/// does not declare it itself: a required UUID, described by its name. Handlers take typed ids through
/// `web::Path`, which utoipa does not see; integrators generate clients from this document.
pub fn declare_path_parameters(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{Parameter, ParameterIn};
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Required};
    for (path, item) in api.paths.paths.iter_mut() {
        let names = template_names(path);
        if names.is_empty() {
            continue;
        }
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let params = op.parameters.get_or_insert_with(Vec::new);
            for name in &names {
                let declared = params.iter().any(|p| {
                    matches!(p, RefOr::T(p) if p.name == *name && p.parameter_in == ParameterIn::Path)
                });
                if declared {
                    continue;
                }
                let mut p = Parameter::new(name.clone());
                p.parameter_in = ParameterIn::Path;
                p.required = Required::True;
                p.description = Some(format!(
                    "The id of the {}",
                    name.trim_end_matches("_id").replace('_', " ")
                ));
                p.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                        .into(),
                );
                params.push(RefOr::T(p));
            }
        }
    }
}

/// Document, on every operation that takes a JSON body, the answers any body can get before its
/// fields are looked at: `400` (not JSON), `413` (over `max_body_bytes`), `415` (not
/// `application/json`).
pub fn declare_body_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let answers = [
        ("400", "The body is not JSON"),
        ("413", "The body is larger than the server accepts"),
        ("415", "The body is not `application/json`"),
    ];
    for item in api.paths.paths.values_mut() {
        let ops = [&mut item.put, &mut item.post, &mut item.patch];
        for op in ops.into_iter().flatten() {
            if op.request_body.is_none() {
                continue;
            }
            for (status, description) in answers {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/problem+json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("Problem")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// The `{names}` of a path template.
fn template_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// The methods each documented path answers, to say `405 Method Not Allowed` (with `Allow`) to a
/// request for a path that exists with another method, instead of `404`.
#[derive(Clone, Debug, Default)]
pub struct Methods(Vec<(Vec<String>, Vec<&'static str>)>);

impl Methods {
    pub fn of(api: &utoipa::openapi::OpenApi) -> Methods {
        let mut table = Vec::new();
        for (path, item) in &api.paths.paths {
            let segments = path.split('/').map(str::to_owned).collect();
            let mut methods = Vec::new();
            for (name, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() {
                    methods.push(name);
                }
            }
            table.push((segments, methods));
        }
        Methods(table)
    }

    /// The methods allowed on `path`, if it is a documented path.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let asked: Vec<&str> = path.split('/').collect();
        let mut found: Option<Vec<&'static str>> = None;
        for (segments, methods) in &self.0 {
            let fits = segments.len() == asked.len()
                && segments.iter().zip(&asked).all(|(t, a)| {
                    (t.starts_with('{') && t.ends_with('}') && !a.is_empty()) || t == a
                });
            if fits {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(methods.iter().copied());
            }
        }
        found.map(|mut m| {
            m.sort_unstable();
            m.dedup();
            m
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_paths_answer_405_for_other_methods() {
        let mut api = utoipa::openapi::OpenApiBuilder::new().build();
        let get = utoipa::openapi::path::OperationBuilder::new().build();
        let item =
            utoipa::openapi::path::PathItem::new(utoipa::openapi::HttpMethod::Get, get.clone());
        api.paths
            .paths
            .insert("/api/v1/projects/{project_id}".into(), item.clone());
        let mut both = item;
        both.post = Some(get);
        api.paths.paths.insert("/api/v1/projects".into(), both);
        let m = Methods::of(&api);
        assert_eq!(m.allowed("/api/v1/projects"), Some(vec!["GET", "POST"]));
        assert_eq!(m.allowed("/api/v1/projects/0190-x"), Some(vec!["GET"]));
        assert_eq!(m.allowed("/api/v1/projects/"), None);
        assert_eq!(m.allowed("/api/v1/nothing"), None);
        declare_path_parameters(&mut api);
        let op = api.paths.paths["/api/v1/projects/{project_id}"]
            .get
            .as_ref()
            .unwrap();
        let params = op.parameters.as_ref().unwrap();
        assert_eq!(params.len(), 1);
        assert_eq!(template_names("/a/{x_id}/b/{y_id}"), vec!["x_id", "y_id"]);
    }
}
