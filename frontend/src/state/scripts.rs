//! The CloudScript editor's draft (text fields as typed) and how it becomes a request, with the same
//! field paths as the server's 422; Script Variable values as typed (`value_from_text`), which the
//! preview, the run and the rule steps share; and the editor's line numbers.

use common::FieldError;
use common::api::{
    CreateScriptRequest, MASK, ScriptResponse, ScriptVersionRequest, ScriptVersionResponse,
    VarType, VariableDecl,
};
use common::validate::field_errors;
use serde_json::Value;
use std::collections::BTreeMap;
use validator::Validate;

/// What a new script starts with.
pub const NEW_BODY: &str = "#!/bin/sh\nset -eu\n";

fn error(field: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code: code.into(),
        message: message.into(),
    }
}

/// Whether a value is a template expression, rendered against the context before it is typed.
pub fn is_expression(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// A variable's value as typed: nothing (the default applies), an expression (sent as a string), or a
/// value of the variable's type. A list is split on commas and blanks, as the server splits it.
pub fn value_from_text(type_: VarType, text: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if is_expression(t) || t == MASK {
        return Ok(Some(Value::String(t.to_owned())));
    }
    match type_ {
        VarType::String => Ok(Some(Value::String(text.to_owned()))),
        VarType::Int => t
            .parse::<i64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| "must be a whole number".to_owned()),
        VarType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Value::Bool(true))),
            "false" => Ok(Some(Value::Bool(false))),
            _ => Err("must be true or false".to_owned()),
        },
        VarType::List => Ok(Some(Value::Array(
            t.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ))),
    }
}

/// A value as the form shows it (lists joined with ", ").
pub fn value_to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// What the input of a variable's value says under it: its type and its default, or that it is
/// required.
pub fn value_hint(d: &VariableDecl) -> String {
    match &d.default {
        Some(_) if d.secret => format!("{}; default set (secret)", d.type_.as_str()),
        Some(v) => format!("{}; default {}", d.type_.as_str(), value_to_text(v)),
        None if d.required => format!("{}; required", d.type_.as_str()),
        None => d.type_.as_str().to_owned(),
    }
}

/// The values of a form of variables (`name → text`) for the declared variables, with errors at
/// `{prefix}.{name}`; blank ones are left out (their defaults apply).
pub fn values(
    decls: &[VariableDecl],
    texts: &BTreeMap<String, String>,
    prefix: &str,
) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, text) in texts {
        let type_ = decls
            .iter()
            .find(|d| &d.name == name)
            .map_or(VarType::String, |d| d.type_);
        match value_from_text(type_, text) {
            Ok(Some(v)) => {
                out.insert(name.clone(), v);
            }
            Ok(None) => {}
            Err(m) => errors.push(error(format!("{prefix}.{name}"), "invalid_value", m)),
        }
    }
    for d in decls.iter().filter(|d| d.required && d.default.is_none()) {
        if !out.contains_key(&d.name) {
            errors.push(error(
                format!("{prefix}.{}", d.name),
                "required",
                "is required",
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One declared variable as the form holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarDraft {
    pub name: String,
    pub type_: VarType,
    pub default: String,
    pub required: bool,
    pub secret: bool,
    pub description: String,
    /// The name of the stored secret whose default shows as the mask: the server keeps it only for
    /// a secret variable of that name.
    pub kept: Option<String>,
}

impl Default for VarDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            type_: VarType::String,
            default: String::new(),
            required: false,
            secret: false,
            description: String::new(),
            kept: None,
        }
    }
}

/// The editor's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptDraft {
    pub name: String,
    pub description: String,
    pub body: String,
    pub timeout: String,
    pub variables: Vec<VarDraft>,
}

impl Default for ScriptDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            body: NEW_BODY.to_owned(),
            timeout: "300".to_owned(),
            variables: Vec::new(),
        }
    }
}

/// The field names of a script form, for placing errors.
pub fn inputs(draft: &ScriptDraft) -> Vec<String> {
    let mut out: Vec<String> = ["name", "description", "body", "timeout_secs", "variables"]
        .map(str::to_owned)
        .to_vec();
    for i in 0..draft.variables.len() {
        for f in ["name", "default", "description"] {
            out.push(format!("variables[{i}].{f}"));
        }
    }
    out
}

impl ScriptDraft {
    /// The form of a script's version (to edit it into the next one).
    pub fn of(script: &ScriptResponse, v: &ScriptVersionResponse) -> Self {
        Self {
            name: script.name.clone(),
            description: script.description.clone(),
            body: v.body.clone(),
            timeout: v.timeout_secs.to_string(),
            variables: v
                .variables
                .iter()
                .map(|d| VarDraft {
                    name: d.name.clone(),
                    type_: d.type_,
                    default: d.default.as_ref().map(value_to_text).unwrap_or_default(),
                    required: d.required,
                    secret: d.secret,
                    description: d.description.clone(),
                    kept: (d.secret && d.default.is_some()).then(|| d.name.clone()),
                })
                .collect(),
        }
    }

    /// The next version, or the errors the server would answer (and a few it cannot see: a default
    /// typed as text that is not of its variable's type).
    pub fn version(&self) -> Result<ScriptVersionRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let timeout_secs = self.timeout.trim().parse::<u32>().unwrap_or_else(|_| {
            errors.push(error(
                "timeout_secs",
                "invalid_number",
                "must be a number of seconds",
            ));
            0
        });
        let mut variables = Vec::new();
        for (i, v) in self.variables.iter().enumerate() {
            let default = if v.default.trim() == MASK && v.kept.is_some() {
                if v.secret && v.kept.as_deref() == Some(v.name.trim()) {
                    // The stored secret default, kept by the server.
                    Some(Value::String(MASK.to_owned()))
                } else {
                    errors.push(error(
                        format!("variables[{i}].default"),
                        "masked_default",
                        "type the default again: the stored secret stays with a secret variable of its name",
                    ));
                    None
                }
            } else if is_expression(&v.default) {
                errors.push(error(
                    format!("variables[{i}].default"),
                    "invalid_default",
                    "a default is a value, not an expression (give expressions in rules and runs)",
                ));
                None
            } else {
                value_from_text(v.type_, &v.default).unwrap_or_else(|m| {
                    errors.push(error(
                        format!("variables[{i}].default"),
                        "invalid_default",
                        m,
                    ));
                    None
                })
            };
            variables.push(VariableDecl {
                name: v.name.trim().to_owned(),
                type_: v.type_,
                default,
                required: v.required,
                secret: v.secret,
                description: v.description.trim().to_owned(),
            });
        }
        let req = ScriptVersionRequest {
            body: self.body.clone(),
            variables,
            timeout_secs,
        };
        if errors.is_empty() {
            // A masked secret default is not of an int's type: the server keeps the stored one.
            let mut checked = req.clone();
            for d in checked.variables.iter_mut() {
                if d.default.as_ref().and_then(Value::as_str) == Some(MASK) {
                    d.default = None;
                }
            }
            if let Err(e) = checked.validate() {
                errors.extend(field_errors(&e));
            }
        }
        if errors.is_empty() {
            Ok(req)
        } else {
            Err(errors)
        }
    }

    /// A new script (its version 1).
    pub fn create(&self) -> Result<CreateScriptRequest, Vec<FieldError>> {
        let v = self.version();
        let req = v.as_ref().ok().map(|v| CreateScriptRequest {
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            body: v.body.clone(),
            variables: v.variables.clone(),
            timeout_secs: v.timeout_secs,
        });
        let mut errors = v.err().unwrap_or_default();
        let named = CreateScriptRequest {
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            body: NEW_BODY.to_owned(),
            variables: Vec::new(),
            timeout_secs: 300,
        };
        if let Err(e) = named.validate() {
            errors.extend(field_errors(&e));
        }
        match req {
            Some(r) if errors.is_empty() => Ok(r),
            _ => Err(errors),
        }
    }
}

/// The line numbers of the editor's gutter: one per line of `body`, and one for the line being typed
/// after a final newline.
pub fn line_numbers(body: &str) -> String {
    let n = body.split('\n').count().max(1);
    (1..=n)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line an error message names (`body: line 3: …` reads "line 3"), to mark it in the gutter.
pub fn error_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_read_as_their_variables_type() {
        let table = [
            (VarType::String, " hi ", Ok(Some(json!(" hi ")))),
            (VarType::Int, " 8080 ", Ok(Some(json!(8080)))),
            (
                VarType::Int,
                "80x",
                Err("must be a whole number".to_owned()),
            ),
            (VarType::Bool, "True", Ok(Some(json!(true)))),
            (
                VarType::Bool,
                "yes",
                Err("must be true or false".to_owned()),
            ),
            (VarType::List, "a, b  c,,", Ok(Some(json!(["a", "b", "c"])))),
            (VarType::Int, "   ", Ok(None)),
            (
                VarType::Int,
                "{{ layer('app').count }}",
                Ok(Some(json!("{{ layer('app').count }}"))),
            ),
            (VarType::Int, MASK, Ok(Some(json!(MASK)))),
        ];
        for (t, text, want) in table {
            assert_eq!(value_from_text(t, text), want, "{t:?} {text:?}");
        }
        assert_eq!(value_to_text(&json!(["a", "b"])), "a, b");
        let mut port = decl("port", VarType::Int, false);
        port.default = Some(json!(80));
        assert_eq!(value_hint(&port), "int; default 80");
        port.secret = true;
        assert_eq!(value_hint(&port), "int; default set (secret)");
        assert_eq!(
            value_hint(&decl("name", VarType::String, true)),
            "string; required"
        );
        assert_eq!(value_to_text(&json!(80)), "80");
        assert_eq!(value_to_text(&json!(false)), "false");
    }

    fn decl(name: &str, t: VarType, required: bool) -> VariableDecl {
        VariableDecl {
            name: name.into(),
            type_: t,
            default: None,
            required,
            secret: false,
            description: String::new(),
        }
    }

    #[test]
    fn a_form_of_values_names_each_bad_one_and_each_missing_required_one() {
        let decls = [
            decl("port", VarType::Int, false),
            decl("name", VarType::String, true),
        ];
        let texts = BTreeMap::from([
            ("port".to_owned(), "eighty".to_owned()),
            ("extra".to_owned(), "x".to_owned()),
        ]);
        let errs = values(&decls, &texts, "variables").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["variables.port", "variables.name"]);
        let ok = BTreeMap::from([
            ("port".to_owned(), "80".to_owned()),
            ("name".to_owned(), "web".to_owned()),
            ("blank".to_owned(), " ".to_owned()),
        ]);
        assert_eq!(
            values(&decls, &ok, "variables"),
            Ok(BTreeMap::from([
                ("name".to_owned(), json!("web")),
                ("port".to_owned(), json!(80)),
            ]))
        );
    }

    #[test]
    fn a_draft_becomes_the_request_or_the_servers_errors() {
        let mut d = ScriptDraft {
            name: "greet".into(),
            body: "#!/bin/sh\necho {{ vars.who }}\n".into(),
            timeout: "60".into(),
            ..ScriptDraft::default()
        };
        d.variables.push(VarDraft {
            name: "who".into(),
            default: "world".into(),
            ..VarDraft::default()
        });
        let req = d.create().expect("a valid draft");
        assert_eq!(req.timeout_secs, 60);
        assert_eq!(req.variables[0].default, Some(json!("world")));

        let bad = ScriptDraft {
            name: "Bad Name".into(),
            body: "  ".into(),
            timeout: "soon".into(),
            variables: vec![
                VarDraft {
                    name: "Port".into(),
                    type_: VarType::Int,
                    default: "eighty".into(),
                    ..VarDraft::default()
                },
                VarDraft {
                    name: "ok".into(),
                    default: "{{ now }}".into(),
                    ..VarDraft::default()
                },
            ],
            ..ScriptDraft::default()
        };
        let mut fields: Vec<_> = bad
            .create()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "name",
                "timeout_secs",
                "variables[0].default",
                "variables[1].default"
            ]
        );
        // With the numbers right, the server's own rules speak (body, variable names).
        let fixed = ScriptDraft {
            timeout: "60".into(),
            variables: vec![VarDraft {
                name: "Port".into(),
                type_: VarType::Int,
                default: "80".into(),
                ..VarDraft::default()
            }],
            ..bad
        };
        let mut fields: Vec<_> = fixed
            .version()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["body", "variables[0].name"]);
    }

    #[test]
    fn a_masked_secret_default_is_sent_back_as_the_mask_only_where_the_server_keeps_it() {
        let kept = VarDraft {
            name: "password".into(),
            type_: VarType::Int,
            default: MASK.into(),
            secret: true,
            kept: Some("password".into()),
            ..VarDraft::default()
        };
        let d = ScriptDraft {
            variables: vec![kept.clone()],
            ..ScriptDraft::default()
        };
        let v = d.version().expect("kept");
        assert_eq!(v.variables[0].default, Some(json!(MASK)));
        // renamed, or no longer secret: the mask would be stored as the value (or refused)
        for changed in [
            VarDraft {
                name: "pass".into(),
                ..kept.clone()
            },
            VarDraft {
                secret: false,
                ..kept.clone()
            },
        ] {
            let d = ScriptDraft {
                variables: vec![changed],
                ..ScriptDraft::default()
            };
            let e = d.version().unwrap_err();
            assert_eq!(e[0].field, "variables[0].default");
        }
        // eight stars typed into a variable that never had a stored secret are a value
        let typed = ScriptDraft {
            variables: vec![VarDraft {
                name: "stars".into(),
                default: MASK.into(),
                ..VarDraft::default()
            }],
            ..ScriptDraft::default()
        };
        assert_eq!(
            typed.version().expect("a value").variables[0].default,
            Some(json!(MASK))
        );
    }

    #[test]
    fn gutters_and_error_lines() {
        assert_eq!(line_numbers(""), "1");
        assert_eq!(line_numbers("a"), "1");
        assert_eq!(line_numbers("a\nb\n"), "1\n2\n3");
        assert_eq!(error_line("line 3: unknown variable vars.prot"), Some(3));
        assert_eq!(error_line("body: line 12, column 4"), Some(12));
        assert_eq!(error_line("no line here"), None);
        assert_eq!(error_line("outline "), None);
    }
}
