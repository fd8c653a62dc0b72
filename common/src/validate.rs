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
    if value.chars().count() > NAME_MAX {
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

/// The file name of an image inside its pool's image directory: one path component of
/// `[A-Za-z0-9._+-]`, 1 to 255 bytes, not starting with a dot (so never `.`, `..` or hidden), no
/// separator. Whatever reaches a hypervisor host is this name joined to the operator's directory.
pub fn image_file(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=255).contains(&value.len())
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if !ok {
        return Err(err(
            "invalid_file_name",
            "must be a plain file name of 1 to 255 letters, digits, '.', '_', '+' or '-', not starting with '.'".into(),
        ));
    }
    Ok(())
}

/// A pool's image directory on its hosts: an absolute, normalised path (no `.`, `..` or empty
/// components, no trailing slash) of `[A-Za-z0-9._+-/]`, at most 512 bytes.
pub fn image_dir(value: &str) -> Result<(), ValidationError> {
    let ok = value.len() <= 512
        && value.len() > 1
        && value.starts_with('/')
        && !value.ends_with('/')
        && value[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.starts_with('.'))
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-/".contains(c));
    if !ok {
        return Err(err(
            "invalid_directory",
            "must be an absolute path without '.', '..', hidden or empty components, of letters, digits, '.', '_', '+', '-' and '/'".into(),
        ));
    }
    Ok(())
}

/// A Linux network interface name (a bridge): 1 to 15 characters of letters, digits, '_', '-' and
/// '.', not starting with '.'.
pub fn bridge_name(value: &str) -> Result<(), ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 15
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !ok {
        return Err(err(
            "invalid_interface",
            "must be 1 to 15 letters, digits, '_', '-' or '.', not starting with '.'".into(),
        ));
    }
    Ok(())
}

/// The IPv4 network of a guest range: `ADDRESS/PREFIX`, the network's own address, prefix 16..=30.
pub fn parse_guest_cidr(value: &str) -> Option<ipnet::Ipv4Net> {
    let net: ipnet::Ipv4Net = value.parse().ok()?;
    ((16..=30).contains(&net.prefix_len()) && net.network() == net.addr()).then_some(net)
}

pub fn guest_cidr(value: &str) -> Result<(), ValidationError> {
    if parse_guest_cidr(value).is_none() {
        return Err(err(
            "invalid_cidr",
            "must be an IPv4 network as ADDRESS/PREFIX with its network address and a prefix of 16 to 30, e.g. 10.77.0.0/24".into(),
        ));
    }
    Ok(())
}

/// Where guests reach the agent API: an `http://` or `https://` URL of at most 200 characters,
/// without credentials, query or fragment, of letters, digits and `-._~:/[]%` only (it goes on a
/// guest's kernel command line, where a quote or a blank would split it).
pub fn agent_url(value: &str) -> Result<(), ValidationError> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    let ok = value.len() <= 200
        && rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty()
                && !r.contains(['@', '?', '#'])
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c))
        });
    if !ok {
        return Err(err(
            "invalid_url",
            "must be an http:// or https:// URL with a host, without credentials, query or fragment".into(),
        ));
    }
    Ok(())
}

/// A SHA-256 digest as 64 lowercase hexadecimal digits.
pub fn sha256_hex(value: &str) -> Result<(), ValidationError> {
    if value.len() != 64 || !value.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(err(
            "invalid_sha256",
            "must be 64 lowercase hexadecimal digits".into(),
        ));
    }
    Ok(())
}

/// A metric or script name: 1 to 64 of `[a-z0-9_.-]`, starting with a letter.
pub fn identifier(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !ok {
        return Err(err(
            "invalid_identifier",
            "must be 1 to 64 lowercase letters, digits, '_', '.' or '-', starting with a letter"
                .into(),
        ));
    }
    Ok(())
}

/// Every item of a list is an [`identifier`].
pub fn identifiers(values: &[String]) -> Result<(), ValidationError> {
    values.iter().try_for_each(|v| identifier(v))
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

/// The schemas of rules a plain `#[schema(...)]` cannot say (OpenAPI document only).
#[cfg(feature = "openapi")]
mod schemas {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::schema::{KnownFormat, SchemaFormat};

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    /// `labels`: at most 32, keys of `[a-z0-9._-]{1,63}`, values up to 255 characters.
    pub fn labels_schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(32))
            .property_names(Some(
                string()
                    .min_length(Some(1))
                    .max_length(Some(63))
                    .pattern(Some(r"^[a-z0-9._-]+$")),
            ))
            .additional_properties(Some(string().max_length(Some(255))))
            .into()
    }

    /// [`labels_schema`], or null (a change that leaves them).
    pub fn labels_or_null_schema() -> Schema {
        OneOfBuilder::new()
            .item(labels_schema())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    fn identifiers(max: usize) -> Schema {
        ArrayBuilder::new()
            .max_items(Some(max))
            .items(
                string()
                    .min_length(Some(1))
                    .max_length(Some(64))
                    .pattern(Some(r"^[a-z][a-z0-9_.-]*$")),
            )
            .into()
    }

    pub fn identifiers_32_schema() -> Schema {
        identifiers(32)
    }

    pub fn identifiers_64_schema() -> Schema {
        identifiers(64)
    }

    /// An IPv4 or IPv6 address (or none).
    pub fn ip_schema() -> Schema {
        OneOfBuilder::new()
            .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv4))))
            .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    /// Custom metrics: at most 64, named like identifiers.
    pub fn custom_metrics_schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(crate::agent::CUSTOM_METRICS_MAX))
            .property_names(Some(
                string()
                    .min_length(Some(1))
                    .max_length(Some(64))
                    .pattern(Some(r"^[a-z][a-z0-9_.-]*$")),
            ))
            .additional_properties(Some(ObjectBuilder::new().schema_type(Type::Number)))
            .into()
    }
}
#[cfg(feature = "openapi")]
pub use schemas::*;

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

    #[test]
    fn image_files_are_single_plain_components() {
        let table = [
            ("debian-12.qcow2", true),
            ("vmlinuz-6.1.0+deb12", true),
            ("a", true),
            ("", false),
            (".", false),
            ("..", false),
            (".hidden.qcow2", false),
            ("../etc/shadow", false),
            ("sub/dir.qcow2", false),
            ("/etc/shadow", false),
            ("with space", false),
            ("tab\t", false),
            ("back\\slash", false),
            ("nul\0", false),
            ("percent%2e%2e", false),
            ("é.qcow2", false),
        ];
        for (v, ok) in table {
            assert_eq!(image_file(v).is_ok(), ok, "{v:?}");
        }
        assert!(image_file(&"x".repeat(255)).is_ok());
        assert!(image_file(&"x".repeat(256)).is_err());
    }

    #[test]
    fn image_dirs_are_absolute_and_normalised() {
        let table = [
            ("/var/lib/scaleinfra/images", true),
            ("/srv/img-2", true),
            ("/", false),
            ("", false),
            ("relative/images", false),
            ("/var/lib/../../etc", false),
            ("/var/./lib", false),
            ("/var//lib", false),
            ("/var/lib/", false),
            ("/var/.hidden", false),
            ("/var/lib images", false),
        ];
        for (v, ok) in table {
            assert_eq!(image_dir(v).is_ok(), ok, "{v:?}");
        }
    }

    #[test]
    fn agent_urls_stay_one_kernel_parameter() {
        let table = [
            ("http://10.77.0.1:8080", true),
            ("https://agent.example.com/base", true),
            ("http://[fd00::1]:8080/", true),
            ("ftp://10.77.0.1", false),
            ("http://", false),
            ("http://u:p@10.77.0.1", false),
            ("http://10.77.0.1/?a=1", false),
            ("http://10.77.0.1/\"x", false),
            ("http://10.77.0.1/ si.ip=1.2.3.4/8", false),
            ("http://10.77.0.1/$(id)", false),
            ("http://10.77.0.1/`id`", false),
            ("http://10.77.0.1/*", false),
        ];
        for (v, ok) in table {
            assert_eq!(agent_url(v).is_ok(), ok, "{v}");
        }
    }

    #[test]
    fn digests_and_identifiers() {
        assert!(sha256_hex(&"a".repeat(64)).is_ok());
        assert!(sha256_hex(&"A".repeat(64)).is_err());
        assert!(sha256_hex(&"a".repeat(63)).is_err());
        assert!(sha256_hex(&"g".repeat(64)).is_err());
        let table = [
            ("http_requests", true),
            ("cpu.pct", true),
            ("a", true),
            ("", false),
            ("1abc", false),
            ("Upper", false),
            ("with space", false),
            ("semi;colon", false),
        ];
        for (v, ok) in table {
            assert_eq!(identifier(v).is_ok(), ok, "{v:?}");
        }
        assert!(identifier(&"a".repeat(65)).is_err());
        assert!(identifiers(&["ok".into(), "Bad".into()]).is_err());
    }
}
