//! What a call of the API can end in, besides success: a problem+json answer, a network failure, a
//! body we could not read, or a session that could not be refreshed. Also the human wording of each.

use common::Problem;

/// An API call that did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The server answered with an error status; `retry_after` is its `Retry-After` (seconds), if any.
    Problem {
        problem: Box<Problem>,
        retry_after: Option<u64>,
    },
    /// The request never got an answer (server down, connection refused, offline).
    Network(String),
    /// The answer could not be read as the type the route documents.
    Decode(String),
    /// A 401 survived the refresh: the session is over and the user must log in again.
    SessionExpired,
}

impl ApiError {
    /// Turn a non-2xx answer into an error: the problem+json body when there is one, otherwise a problem
    /// made from the status alone (a proxy's HTML page, an empty body).
    pub fn from_response(status: u16, body: &str, retry_after: Option<&str>) -> Self {
        let problem = serde_json::from_str::<Problem>(body)
            .ok()
            .filter(|p| !p.code.is_empty())
            .unwrap_or_else(|| {
                Problem::new(status, &fallback_code(status), &fallback_title(status))
            });
        ApiError::Problem {
            problem: Box::new(problem),
            retry_after: retry_after.and_then(|v| v.trim().parse::<u64>().ok()),
        }
    }

    /// The problem's stable code, if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Problem { problem, .. } => Some(problem.code.as_str()),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Problem { problem, .. } => Some(problem.status),
            _ => None,
        }
    }

    /// A sentence for people, shown in the form's or the page's error banner.
    pub fn message(&self) -> String {
        match self {
            ApiError::Problem {
                problem,
                retry_after,
            } => problem_message(problem, *retry_after),
            ApiError::Network(_) => {
                "The server cannot be reached. Check your connection and try again.".into()
            }
            ApiError::Decode(_) => "The server sent an answer this page does not understand. \
                 Reload the page; if it persists, tell your operator."
                .into(),
            ApiError::SessionExpired => "Your session has ended. Please log in again.".into(),
        }
    }
}

fn problem_message(p: &Problem, retry_after: Option<u64>) -> String {
    match p.code.as_str() {
        "rate_limited" => match retry_after {
            Some(1) => "Too many attempts. Try again in 1 second.".into(),
            Some(s) => format!("Too many attempts. Try again in {s} seconds."),
            None => "Too many attempts. Wait a moment and try again.".into(),
        },
        "invalid_credentials" => "The email or password is wrong.".into(),
        "account_disabled" => "This account is disabled. Ask your administrator.".into(),
        "tenant_suspended" => {
            "Your organisation's access is suspended. Contact your provider.".into()
        }
        "tenant_required" => {
            "This email opens accounts in several organisations: enter the organisation too.".into()
        }
        "unauthenticated" => "Your session has ended. Please log in again.".into(),
        "forbidden" => "Your role does not allow this.".into(),
        "not_found" => "It does not exist, or you cannot see it.".into(),
        "validation_failed" if !p.errors.is_empty() => "Some fields need attention.".into(),
        "unavailable" => "The service is temporarily unavailable. Try again shortly.".into(),
        _ => match &p.detail {
            Some(d) if !d.is_empty() => format!("{}: {d}", p.title),
            _ => p.title.clone(),
        },
    }
}

fn fallback_code(status: u16) -> String {
    match status {
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "http_error",
    }
    .into()
}

fn fallback_title(status: u16) -> String {
    match status {
        500..=599 => format!("The server failed (HTTP {status})"),
        _ => format!("The request failed (HTTP {status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_bodies_are_read_with_their_field_errors() {
        let body = r#"{"type":"urn:scaleinfra:problem:validation_failed","title":"Invalid input",
            "status":422,"code":"validation_failed",
            "errors":[{"field":"admin.email","code":"email","message":"must be a valid email address"}]}"#;
        let e = ApiError::from_response(422, body, None);
        assert_eq!(e.code(), Some("validation_failed"));
        let ApiError::Problem { problem, .. } = &e else {
            panic!("not a problem: {e:?}")
        };
        assert_eq!(
            problem.field_message("admin.email"),
            Some("must be a valid email address")
        );
        assert_eq!(e.message(), "Some fields need attention.");
    }

    #[test]
    fn rate_limit_message_names_the_wait_from_retry_after() {
        let body = r#"{"type":"x","title":"Too many requests","status":429,"code":"rate_limited"}"#;
        let e = ApiError::from_response(429, body, Some("7"));
        assert_eq!(e.message(), "Too many attempts. Try again in 7 seconds.");
        let one = ApiError::from_response(429, body, Some(" 1 "));
        assert_eq!(one.message(), "Too many attempts. Try again in 1 second.");
        let none = ApiError::from_response(429, body, Some("soon"));
        assert_eq!(
            none.message(),
            "Too many attempts. Wait a moment and try again."
        );
    }

    #[test]
    fn non_problem_bodies_become_problems_from_the_status() {
        let e = ApiError::from_response(502, "<html>Bad gateway</html>", None);
        assert_eq!(e.code(), Some("server_error"));
        assert_eq!(e.status(), Some(502));
        assert_eq!(e.message(), "The server failed (HTTP 502)");
        assert_eq!(
            ApiError::from_response(404, "", None).code(),
            Some("not_found")
        );
    }

    #[test]
    fn login_refusals_have_their_own_words() {
        for (code, needle) in [
            ("invalid_credentials", "email or password is wrong"),
            ("account_disabled", "disabled"),
            ("tenant_suspended", "suspended"),
            ("tenant_required", "several organisations"),
        ] {
            let body = format!(r#"{{"type":"x","title":"t","status":401,"code":"{code}"}}"#);
            let msg = ApiError::from_response(401, &body, None).message();
            assert!(msg.contains(needle), "{code}: {msg}");
        }
    }

    #[test]
    fn other_problems_show_title_and_detail() {
        let body = r#"{"type":"x","title":"Conflict","status":409,"code":"last_admin","detail":"the last admin cannot be disabled"}"#;
        assert_eq!(
            ApiError::from_response(409, body, None).message(),
            "Conflict: the last admin cannot be disabled"
        );
    }
}
