//! Validation rules shared by the API (which enforces them) and the SPA (which shows them early).

use crate::FieldError;
use std::borrow::Cow;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

pub const NAME_MAX: usize = 100;
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;
pub const SLUG_MIN: usize = 3;
pub const SLUG_MAX: usize = 40;
pub const DESCRIPTION_MAX: usize = 2000;

fn err(code: &'static str, message: String) -> ValidationError {
    ValidationError::new(code).with_message(Cow::Owned(message))
}

/// A display name: not blank, at most [`NAME_MAX`] characters, no control characters.
pub fn name(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(err("blank", "must not be blank".into()));
    }
    if trimmed.chars().count() > NAME_MAX {
        return Err(err(
            "too_long",
            format!("must be at most {NAME_MAX} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(err(
            "control_characters",
            "must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// A free-text description: at most [`DESCRIPTION_MAX`] characters.
pub fn description(value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > DESCRIPTION_MAX {
        return Err(err(
            "too_long",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(())
}

/// A URL-safe identifier: lowercase letters, digits and inner hyphens, 3 to 40 characters.
pub fn slug(value: &str) -> Result<(), ValidationError> {
    let n = value.chars().count();
    let shape_ok = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !(SLUG_MIN..=SLUG_MAX).contains(&n) || !shape_ok {
        return Err(err(
            "invalid_slug",
            format!("must be {SLUG_MIN} to {SLUG_MAX} lowercase letters, digits or inner hyphens"),
        ));
    }
    Ok(())
}

/// The shape of a password (its strength is judged by the server, which knows the user's other data).
pub fn password(value: &str) -> Result<(), ValidationError> {
    let n = value.chars().count();
    if n < PASSWORD_MIN {
        return Err(err(
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(err(
            "too_long",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// A hypervisor URI: `sim://NAME`, `test:///…` or a libvirt `qemu…://` URI.
pub fn hypervisor_uri(value: &str) -> Result<(), ValidationError> {
    let ok = [
        "sim://",
        "test://",
        "qemu://",
        "qemu+ssh://",
        "qemu+tcp://",
        "qemu+tls://",
        "qemu+unix://",
    ]
    .iter()
    .any(|p| value.starts_with(p) && value.len() > p.len())
        && value.len() <= 512
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(err(
            "invalid_uri",
            "must be sim://NAME, test:///… or a qemu[+ssh|+tcp|+tls|+unix]:// libvirt URI".into(),
        ));
    }
    Ok(())
}

/// Labels: at most 32, keys 1–63 of `[a-z0-9._-]`, values up to 255 characters.
pub fn labels(value: &std::collections::BTreeMap<String, String>) -> Result<(), ValidationError> {
    let key_ok = |k: &str| {
        (1..=63).contains(&k.len())
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    if value.len() > 32
        || value
            .iter()
            .any(|(k, v)| !key_ok(k) || v.chars().count() > 255)
    {
        return Err(err(
            "invalid_labels",
            "at most 32 labels; keys of 1 to 63 lowercase letters, digits, '.', '_' or '-'; values up to 255 characters".into(),
        ));
    }
    Ok(())
}

/// Flatten validator's nested errors into `FieldError`s with dotted paths (`admin.email`).
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field).then(a.code.cmp(&b.code)));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError {
                        field: path.clone(),
                        code: e.code.to_string(),
                        message: e
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| default_message(&e.code)),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn default_message(code: &str) -> String {
    match code {
        "email" => "must be a valid email address".into(),
        "range" => "is out of range".into(),
        "length" => "has an invalid length".into(),
        other => format!("is invalid ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let table = [
            ("Acme", true),
            ("  padded  ", true),
            ("", false),
            ("   ", false),
            ("tab\tinside", false),
        ];
        for (v, ok) in table {
            assert_eq!(name(v).is_ok(), ok, "{v:?}");
        }
        assert!(name(&"x".repeat(NAME_MAX)).is_ok());
        assert!(name(&"x".repeat(NAME_MAX + 1)).is_err());
    }

    #[test]
    fn slugs() {
        let table = [
            ("acme", true),
            ("acme-2", true),
            ("ac", false),
            ("Acme", false),
            ("-acme", false),
            ("acme-", false),
            ("ac me", false),
            ("acmé", false),
        ];
        for (v, ok) in table {
            assert_eq!(slug(v).is_ok(), ok, "{v:?}");
        }
    }

    #[test]
    fn password_lengths() {
        assert!(password("short").is_err());
        assert!(password(&"a".repeat(PASSWORD_MIN)).is_ok());
        assert!(password(&"a".repeat(PASSWORD_MAX + 1)).is_err());
        // counted in characters, not bytes
        assert!(password(&"é".repeat(PASSWORD_MIN)).is_ok());
    }
}
