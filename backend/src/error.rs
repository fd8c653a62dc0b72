//! The ONE place errors become HTTP: every failure leaves as RFC 9457 problem+json with a stable `code`.
//! 5xx bodies carry no internals; their cause goes to `tracing`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error::JsonPayloadError};
use common::{FieldError, Problem};
use store::StoreError;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// Correct credentials, but the account or its tenant may not log in.
    #[error("login refused: {0}")]
    LoginRefused(&'static str),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The request is valid but the object's state refuses it (e.g. disabling the last admin).
    #[error("{code}: {detail}")]
    InvalidState { code: &'static str, detail: String },
    /// The change would take the tenant over one of its quotas.
    #[error("quota {quota} exceeded")]
    Quota {
        quota: &'static str,
        limit: u64,
        requested: u64,
    },
    /// The tenant (or the application) holds as many of these as it may.
    #[error("limit of {limit} {what} reached")]
    Limit { what: &'static str, limit: u64 },
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// The object is gone for good (an agent of a terminated appliance).
    #[error("gone: {0}")]
    Gone(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The path exists, with other methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    /// A background loop of this process is down (readiness).
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("store error")]
    Store(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => ApiError::Conflict { field: what },
            StoreError::Pool(_) | StoreError::Busy(_) => ApiError::Unavailable(e),
            StoreError::LiveAppliances(_) => ApiError::InvalidState {
                code: "live_appliances",
                detail: "appliances that are not terminated remain; undeploy first".into(),
            },
            other => ApiError::Store(other),
        }
    }
}

impl From<orchestrator::agent_api::AgentError> for ApiError {
    fn from(e: orchestrator::agent_api::AgentError) -> Self {
        use orchestrator::agent_api::AgentError;
        match e {
            AgentError::InvalidToken => ApiError::Unauthenticated("invalid agent token"),
            AgentError::Revoked => {
                ApiError::Gone("this appliance is no longer active; stop the agent")
            }
            AgentError::Invalid(v) => v.into(),
            AgentError::NotUp => ApiError::Conflict { field: "appliance" },
            AgentError::RateLimited { retry_after_secs } => {
                ApiError::RateLimited { retry_after_secs }
            }
            AgentError::Store(s) => s.into(),
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(e: validator::ValidationErrors) -> Self {
        ApiError::Validation(common::validate::field_errors(&e))
    }
}

impl ApiError {
    /// One invalid field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code().as_u16();
        match self {
            ApiError::Unauthenticated(why) => {
                Problem::new(status, "unauthenticated", "Authentication required").with_detail(*why)
            }
            ApiError::LoginRefused(code) => Problem::new(status, code, "Login refused")
                .with_detail(match *code {
                    "account_disabled" => "this account is disabled",
                    "tenant_suspended" => "this account's organisation is suspended",
                    _ => "login refused",
                }),
            ApiError::Forbidden => Problem::new(status, "forbidden", "Forbidden")
                .with_detail("your role does not allow this action"),
            ApiError::NotFound => Problem::new(status, "not_found", "Not found"),
            ApiError::Validation(errors) => {
                let mut p = Problem::new(status, "validation_failed", "Validation failed")
                    .with_detail("one or more fields are invalid");
                p.errors = errors.clone();
                p
            }
            ApiError::Conflict { field } => {
                let mut p = Problem::new(status, "conflict", "Conflict")
                    .with_detail(format!("{field} is already taken"));
                p.errors = vec![FieldError {
                    field: (*field).to_owned(),
                    code: "taken".into(),
                    message: "is already taken".into(),
                }];
                p
            }
            ApiError::InvalidState { code, detail } => {
                Problem::new(status, code, "Conflict").with_detail(detail.clone())
            }
            ApiError::Quota {
                quota,
                limit,
                requested,
            } => {
                let mut p =
                    Problem::new(status, "quota_exceeded", "Quota exceeded").with_detail(format!(
                        "this would use {requested} against the tenant's {quota} quota of {limit}"
                    ));
                p.errors = vec![FieldError {
                    field: format!("quota.{quota}"),
                    code: "quota_exceeded".into(),
                    message: format!("would use {requested} of {limit}"),
                }];
                p
            }
            ApiError::Limit { what, limit } => {
                let mut p = Problem::new(status, "limit_reached", "Limit reached")
                    .with_detail(format!("at most {limit} {what} are allowed"));
                p.errors = vec![FieldError {
                    field: format!("limit.{what}"),
                    code: "limit_reached".into(),
                    message: format!("at most {limit}"),
                }];
                p
            }
            ApiError::RateLimited { retry_after_secs } => {
                Problem::new(status, "rate_limited", "Too many requests")
                    .with_detail(format!("try again in {retry_after_secs} s"))
            }
            ApiError::Gone(d) => Problem::new(status, "gone", "Gone").with_detail(*d),
            ApiError::BadRequest(d) => {
                Problem::new(status, "bad_request", "Bad request").with_detail(d)
            }
            ApiError::MethodNotAllowed(allowed) => {
                Problem::new(status, "method_not_allowed", "Method not allowed")
                    .with_detail(format!("this path answers {}", allowed.join(", ")))
            }
            ApiError::PayloadTooLarge => {
                Problem::new(status, "payload_too_large", "Payload too large")
                    .with_detail("the request body exceeds the size limit")
            }
            ApiError::UnsupportedMediaType => {
                Problem::new(status, "unsupported_media_type", "Unsupported media type")
                    .with_detail("send the body as application/json")
            }
            ApiError::Unavailable(_) => Problem::new(status, "unavailable", "Service unavailable")
                .with_detail("the database is unreachable or busy; try again shortly"),
            ApiError::NotReady(why) => {
                Problem::new(status, "not_ready", "Not ready").with_detail(why.clone())
            }
            ApiError::Store(_) | ApiError::Internal(_) => {
                Problem::new(status, "internal", "Internal server error")
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) | ApiError::LoginRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Validation(_) | ApiError::Quota { .. } | ApiError::Limit { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } | ApiError::InvalidState { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %store::Chain(self), "request failed");
        }
        let mut resp = HttpResponse::build(status);
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthenticated(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::MethodNotAllowed(allowed) => {
                if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                    resp.insert_header((header::ALLOW, v));
                }
            }
            ApiError::Unavailable(_) | ApiError::NotReady(_) => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

/// Body errors: malformed JSON → 400, wrong types or unknown fields → 422, too large → 413,
/// wrong content type → 415.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::field("body", "invalid", e.to_string())
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("malformed JSON: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// Query-string errors: 422 naming the query.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::field("query", "invalid", err.to_string()).into()
}

/// Path errors: an id that does not parse cannot exist, so it answers 404 like a missing one.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_a_problem_with_its_status() {
        let table: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::Unauthenticated("x"), 401, "unauthenticated"),
            (
                ApiError::LoginRefused("tenant_suspended"),
                401,
                "tenant_suspended",
            ),
            (ApiError::Forbidden, 403, "forbidden"),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::field("email", "email", "bad"),
                422,
                "validation_failed",
            ),
            (ApiError::Conflict { field: "email" }, 409, "conflict"),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::internal(anyhow::anyhow!("secret detail")),
                500,
                "internal",
            ),
        ];
        for (err, status, code) in table {
            let p = err.problem();
            assert_eq!(p.status, status, "{err:?}");
            assert_eq!(p.code, code, "{err:?}");
            assert_eq!(err.status_code().as_u16(), status);
            assert!(!p.detail.unwrap_or_default().contains("secret detail"));
        }
    }

    #[test]
    fn a_busy_database_is_a_503_to_retry() {
        let e = ApiError::from(StoreError::Busy(std::time::Duration::from_secs(5)));
        assert_eq!(e.problem().code, "unavailable");
        let resp = e.error_response();
        assert_eq!(resp.status().as_u16(), 503);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn store_conflicts_name_the_field() {
        let e = ApiError::from(StoreError::Conflict { what: "slug" });
        assert_eq!(e.problem().errors[0].field, "slug");
    }
}
