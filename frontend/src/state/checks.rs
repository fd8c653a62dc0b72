//! The server's input rules, checked in the browser before a form is sent, with the same field paths and
//! messages. The rules are `common::validate`'s own functions; only the email shape is re-stated here
//! (the WHATWG rule `validator` implements with `regex` and `idna`, which would add about 430 KB to
//! the wasm). Where this check is more lenient (international domains, address literals), the server's
//! 422 still lands beside the field.

use common::FieldError;
use common::api::{
    ChangePasswordRequest, CreateProjectRequest, CreateTenantRequest, CreateUserRequest,
    LoginRequest,
};
use common::validate;
use validator::ValidationError;

/// Field errors collected over one form.
#[derive(Default)]
struct Found(Vec<FieldError>);

impl Found {
    fn rule(mut self, field: &str, r: Result<(), ValidationError>) -> Self {
        if let Err(e) = r {
            self.0.push(FieldError {
                field: field.to_owned(),
                code: e.code.to_string(),
                message: e
                    .message
                    .map_or_else(|| e.code.to_string(), |m| m.to_string()),
            });
        }
        self
    }

    fn fail(self, field: &str, code: &'static str, message: &str) -> Self {
        self.rule(
            field,
            Err(ValidationError::new(code).with_message(message.to_owned().into())),
        )
    }

    fn email(self, field: &str, value: &str) -> Self {
        if value.chars().count() > 254 {
            self.fail(field, "length", "must be at most 254 characters")
        } else if !is_email(value) {
            self.fail(field, "email", "must be a valid email address")
        } else {
            self
        }
    }
}

/// The WHATWG "valid e-mail address" shape, as the server's `validator` checks it (lenient on
/// international domains and address literals, which the server then judges).
pub fn is_email(value: &str) -> bool {
    let Some((user, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let user_ok = !user.is_empty()
        && user.chars().count() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') {
        domain.len() > 2
    } else if !domain.is_ascii() {
        !domain.is_empty() && !domain.contains(char::is_whitespace)
    } else {
        domain.chars().count() <= 255 && domain.split('.').all(label_ok)
    };
    user_ok && domain_ok
}

pub fn login(r: &LoginRequest) -> Vec<FieldError> {
    let found = Found::default().email("email", &r.email);
    let found = if r.password.is_empty() {
        found.fail("password", "length", "enter your password")
    } else {
        found
    };
    found.0
}

pub fn tenant(r: &CreateTenantRequest) -> Vec<FieldError> {
    Found::default()
        .rule("name", validate::name(&r.name))
        .rule("slug", validate::slug(&r.slug))
        .rule("admin.name", validate::name(&r.admin.name))
        .email("admin.email", &r.admin.email)
        .rule("admin.password", validate::password(&r.admin.password))
        .0
}

pub fn user(r: &CreateUserRequest) -> Vec<FieldError> {
    Found::default()
        .rule("name", validate::name(&r.name))
        .email("email", &r.email)
        .rule("password", validate::password(&r.password))
        .0
}

pub fn project(r: &CreateProjectRequest) -> Vec<FieldError> {
    Found::default()
        .rule("name", validate::name(&r.name))
        .rule("description", validate::description(&r.description))
        .0
}

pub fn project_name(name: &str) -> Vec<FieldError> {
    Found::default().rule("name", validate::name(name)).0
}

/// The password change, and that `confirm` repeats the new password.
pub fn password_change(r: &ChangePasswordRequest, confirm: &str) -> Vec<FieldError> {
    let found = Found::default();
    let found = if r.current_password.is_empty() {
        found.fail("current_password", "length", "enter your current password")
    } else {
        found
    };
    let found = found.rule("new_password", validate::password(&r.new_password));
    if r.new_password != confirm {
        found
            .fail("confirm", "mismatch", "does not match the new password")
            .0
    } else {
        found.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Role;
    use common::api::NewAdmin;
    use validator::Validate;

    fn fields(errors: &[FieldError]) -> Vec<String> {
        let mut f: Vec<_> = errors.iter().map(|e| e.field.clone()).collect();
        f.sort();
        f.dedup();
        f
    }

    /// The fields the server's own `Validate` derive flags.
    fn server<T: Validate>(req: &T) -> Vec<String> {
        match req.validate() {
            Ok(()) => Vec::new(),
            Err(e) => fields(&validate::field_errors(&e)),
        }
    }

    const EMAILS: [(&str, bool); 14] = [
        ("alice@acme.example", true),
        ("a.b+tag@sub.acme.example", true),
        ("o'hara@x.io", true),
        ("admin@localhost", true),
        ("", false),
        ("plain", false),
        ("@acme.example", false),
        ("alice@", false),
        ("alice@-acme.example", false),
        ("alice@acme..example", false),
        ("al ice@acme.example", false),
        ("alice@acme.example.", false),
        ("alice@acme_example.com", false),
        ("\"quoted\"@acme.example", false),
    ];

    #[test]
    fn email_shape_agrees_with_the_server() {
        for (email, ok) in EMAILS {
            assert_eq!(is_email(email), ok, "{email:?}");
            let req = LoginRequest {
                email: email.into(),
                password: "x".into(),
                tenant: None,
            };
            assert_eq!(req.validate().is_ok(), ok, "server on {email:?}");
        }
    }

    #[test]
    fn tenant_checks_flag_the_fields_the_server_flags() {
        let good = CreateTenantRequest {
            name: "Acme Hosting".into(),
            slug: "acme".into(),
            quotas: None,
            admin: NewAdmin {
                email: "alice@acme.example".into(),
                name: "Alice".into(),
                password: "Velvet-Harbor-Lantern-93".into(),
            },
        };
        let mut variants = vec![good.clone()];
        let mut v = good.clone();
        v.name = " ".into();
        v.slug = "Bad Slug".into();
        variants.push(v);
        let mut v = good.clone();
        v.admin.email = "nope".into();
        v.admin.password = "short".into();
        v.admin.name = "x".repeat(101);
        variants.push(v);
        let mut v = good;
        v.slug = "-ab".into();
        v.admin.email = format!("{}@acme.example", "a".repeat(65));
        variants.push(v);
        for req in variants {
            assert_eq!(fields(&tenant(&req)), server(&req), "{req:?}");
        }
    }

    #[test]
    fn user_project_and_login_checks_agree_with_the_server() {
        let users = [
            ("Bob", "bob@acme.example", "Saffron-Glacier-Piston-71"),
            ("", "bob@", "short"),
            ("Bob\u{7}", "bob@acme.example", &"p".repeat(129)),
        ];
        for (name, email, password) in users {
            let req = CreateUserRequest {
                email: email.into(),
                name: name.into(),
                role: Role::User,
                password: password.into(),
            };
            assert_eq!(fields(&user(&req)), server(&req), "{req:?}");
        }
        for (name, description) in [("Web shop", ""), ("", "x"), ("ok", &"d".repeat(2001))] {
            let req = CreateProjectRequest {
                name: name.into(),
                description: description.into(),
            };
            assert_eq!(fields(&project(&req)), server(&req), "{req:?}");
            assert_eq!(
                fields(&project_name(name)).is_empty(),
                validate::name(name).is_ok()
            );
        }
        for (email, password) in [("a@b.c", "x"), ("a@b.c", ""), ("nope", "x")] {
            let req = LoginRequest {
                email: email.into(),
                password: password.into(),
                tenant: None,
            };
            assert_eq!(fields(&login(&req)), server(&req), "{req:?}");
        }
    }

    #[test]
    fn password_change_checks_the_confirmation_too() {
        let req = ChangePasswordRequest {
            current_password: "old".into(),
            new_password: "Velvet-Harbor-Lantern-93".into(),
        };
        assert!(password_change(&req, "Velvet-Harbor-Lantern-93").is_empty());
        assert_eq!(fields(&password_change(&req, "other")), ["confirm"]);
        let weak = ChangePasswordRequest {
            current_password: String::new(),
            new_password: "short".into(),
        };
        assert_eq!(
            fields(&password_change(&weak, "short")),
            ["current_password", "new_password"]
        );
        assert_eq!(fields(&password_change(&weak, "short")), server(&weak));
    }
}
