//! Form errors: problem+json field errors (and the same rules checked locally before sending) placed
//! next to the inputs they name; whatever names no input of the form goes into the form's banner.

use crate::api::ApiError;
use common::FieldError;
use std::collections::BTreeMap;

/// The errors one form shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: BTreeMap<String, String>,
    /// The banner above the form's button.
    pub general: Option<String>,
}

impl FormErrors {
    /// Place `errors` of a form whose inputs are named by the API field paths in `inputs`.
    pub fn from_field_errors(
        errors: &[FieldError],
        inputs: &[&str],
        general: Option<String>,
    ) -> Self {
        let mut out = FormErrors {
            fields: BTreeMap::new(),
            general,
        };
        let mut stray = Vec::new();
        for e in errors {
            if inputs.contains(&e.field.as_str()) {
                out.fields
                    .entry(e.field.clone())
                    .and_modify(|m| {
                        m.push_str("; ");
                        m.push_str(&e.message);
                    })
                    .or_insert_with(|| e.message.clone());
            } else {
                stray.push(format!("{}: {}", e.field, e.message));
            }
        }
        if !stray.is_empty() {
            let extra = stray.join("; ");
            out.general = Some(match out.general.take() {
                Some(g) => format!("{g} {extra}"),
                None => extra,
            });
        }
        out
    }

    /// The errors of a failed call: field errors beside their inputs, the rest in the banner.
    pub fn from_api(err: &ApiError, inputs: &[&str]) -> Self {
        match err {
            ApiError::Problem { problem, .. } if !problem.errors.is_empty() => {
                let placed = problem
                    .errors
                    .iter()
                    .all(|e| inputs.contains(&e.field.as_str()));
                // When every error sits beside its input the banner only points at them.
                let general = if placed {
                    Some("Some fields need attention.".to_owned())
                } else {
                    Some(err.message())
                };
                Self::from_field_errors(&problem.errors, inputs, general)
            }
            other => FormErrors {
                fields: BTreeMap::new(),
                general: Some(other.message()),
            },
        }
    }

    /// The outcome of a local check (`state::checks`) before sending: nothing found, or the errors.
    pub fn check(found: Vec<FieldError>, inputs: &[&str]) -> Result<(), Self> {
        if found.is_empty() {
            Ok(())
        } else {
            Err(Self::from_field_errors(
                &found,
                inputs,
                Some("Some fields need attention.".to_owned()),
            ))
        }
    }

    /// The message beside the input named `field`.
    pub fn field(&self, field: &str) -> Option<String> {
        self.fields.get(field).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// Forget the errors of every input whose path starts with `prefix` (a step that moved or changed).
    pub fn clear_prefix(&mut self, prefix: &str) {
        self.fields.retain(|k, _| !k.starts_with(prefix));
    }

    /// Forget the error of one input (the user is editing it).
    pub fn clear_field(&mut self, field: &str) {
        self.fields.remove(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::api::{CreateTenantRequest, NewAdmin};

    fn fe(field: &str, message: &str) -> FieldError {
        FieldError {
            field: field.into(),
            code: "x".into(),
            message: message.into(),
        }
    }

    #[test]
    fn server_field_errors_land_beside_their_inputs() {
        let body = r#"{"type":"x","title":"Invalid input","status":422,"code":"validation_failed",
          "errors":[{"field":"admin.email","code":"email","message":"must be a valid email address"},
                    {"field":"slug","code":"invalid_slug","message":"bad slug"},
                    {"field":"slug","code":"taken","message":"is taken"}]}"#;
        let err = ApiError::from_response(422, body, None);
        let f = FormErrors::from_api(&err, &["name", "slug", "admin.email"]);
        assert_eq!(
            f.field("admin.email").as_deref(),
            Some("must be a valid email address")
        );
        assert_eq!(f.field("slug").as_deref(), Some("bad slug; is taken"));
        assert_eq!(f.field("name"), None);
        assert_eq!(f.general.as_deref(), Some("Some fields need attention."));
    }

    #[test]
    fn errors_naming_no_input_go_to_the_banner() {
        let f = FormErrors::from_field_errors(
            &[
                fe("quotas.max_vcpus", "is out of range"),
                fe("name", "must not be blank"),
            ],
            &["name"],
            None,
        );
        assert_eq!(f.field("name").as_deref(), Some("must not be blank"));
        assert_eq!(
            f.general.as_deref(),
            Some("quotas.max_vcpus: is out of range")
        );
    }

    #[test]
    fn a_conflict_names_its_field() {
        let body = r#"{"type":"x","title":"Conflict","status":409,"code":"conflict","detail":"taken",
          "errors":[{"field":"email","code":"taken","message":"is already in use"}]}"#;
        let mut f = FormErrors::from_api(&ApiError::from_response(409, body, None), &["email"]);
        assert_eq!(f.field("email").as_deref(), Some("is already in use"));
        f.clear_field("email");
        assert_eq!(f.field("email"), None);
        let mut steps = FormErrors::from_field_errors(
            &[
                fe("steps[0].retries", "x"),
                fe("steps[1].retries", "y"),
                fe("name", "z"),
            ],
            &["steps[0].retries", "steps[1].retries", "name"],
            None,
        );
        steps.clear_prefix("steps[0].");
        assert_eq!(steps.field("steps[0].retries"), None);
        assert!(steps.field("steps[1].retries").is_some() && steps.field("name").is_some());
        assert!(!f.is_empty(), "the banner stays until the next submit");
    }

    #[test]
    fn problems_without_fields_and_network_errors_fill_the_banner() {
        let f = FormErrors::from_api(&ApiError::Network("down".into()), &["email"]);
        assert!(
            f.general
                .as_deref()
                .is_some_and(|g| g.contains("cannot be reached"))
        );
        let body = r#"{"type":"x","title":"Too many","status":429,"code":"rate_limited"}"#;
        let f = FormErrors::from_api(&ApiError::from_response(429, body, Some("12")), &["email"]);
        assert_eq!(
            f.general.as_deref(),
            Some("Too many attempts. Try again in 12 seconds.")
        );
    }

    #[test]
    fn local_checks_use_the_servers_rules_and_paths() {
        let req = CreateTenantRequest {
            name: " ".into(),
            slug: "Bad Slug".into(),
            quotas: None,
            admin: NewAdmin {
                email: "nope".into(),
                name: "Alice".into(),
                password: "short".into(),
            },
        };
        let inputs = [
            "name",
            "slug",
            "admin.email",
            "admin.name",
            "admin.password",
        ];
        let Err(f) = FormErrors::check(crate::state::checks::tenant(&req), &inputs) else {
            panic!("an invalid request passed")
        };
        for field in ["name", "slug", "admin.email", "admin.password"] {
            assert!(f.field(field).is_some(), "{field}: {f:?}");
        }
        assert_eq!(f.field("admin.name"), None);
        assert_eq!(
            f.field("admin.password").as_deref(),
            Some("must be at least 12 characters")
        );
    }
}
