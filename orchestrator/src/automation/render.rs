//! Script Variables: a CloudScript's text is a minijinja template rendered against the context
//! `{tenant, project, app, layers, layer, group, appliance, event, vars, now}` plus `layer(name)`.
//! Rendering is strict (an unknown name is an error, never empty text) and bounded (fuel, output
//! size). Pure: the context is built elsewhere (see `context`).

use common::api::{VarType, VariableDecl};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as JValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most text a render may produce.
pub const OUTPUT_MAX: usize = 1024 * 1024;
/// Template instructions a render may run (bounds loops).
const FUEL: u64 = 500_000;
/// Names the context gives a script, besides `vars` and minijinja's own functions.
const CONTEXT_NAMES: [&str; 10] = [
    "tenant",
    "project",
    "app",
    "layers",
    "layer",
    "group",
    "appliance",
    "event",
    "now",
    "vars",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplianceCtx {
    pub id: String,
    pub name: String,
    pub ip: Option<String>,
    pub state: String,
    pub layer: String,
    pub group: String,
    pub role: String,
    pub template: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCtx {
    pub name: String,
    /// The layer's live appliances (configuring or running, with an address), by name.
    pub appliances: Vec<ApplianceCtx>,
    pub ips: Vec<String>,
    pub count: usize,
}

impl LayerCtx {
    pub fn new(name: &str, mut appliances: Vec<ApplianceCtx>) -> LayerCtx {
        appliances.sort_by(|a, b| a.name.cmp(&b.name));
        let ips = appliances.iter().filter_map(|a| a.ip.clone()).collect();
        LayerCtx {
            name: name.to_owned(),
            count: appliances.len(),
            appliances,
            ips,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCtx {
    pub id: String,
    pub name: String,
    pub template: String,
    pub role: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCtx {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub at: String,
    pub detail: String,
    pub appliance: Option<ApplianceCtx>,
}

/// What a script sees (without `vars`, which come from its declared variables).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub tenant: Named,
    pub project: Named,
    pub app: Named,
    pub layers: Vec<LayerCtx>,
    pub layer: Option<LayerCtx>,
    pub group: Option<GroupCtx>,
    pub appliance: Option<ApplianceCtx>,
    pub event: Option<EventCtx>,
    pub now: String,
}

impl Context {
    /// A context with one appliance in a layer `app`, for checking scripts when they are saved.
    pub fn sample() -> Context {
        let a = ApplianceCtx {
            id: "00000000-0000-0000-0000-000000000001".into(),
            name: "app-1".into(),
            ip: Some("10.0.0.11".into()),
            state: "running".into(),
            layer: "app".into(),
            group: "app".into(),
            role: "app_server".into(),
            template: "PHP app server".into(),
        };
        let layer = LayerCtx::new("app", vec![a.clone()]);
        let named = |name: &str| Named {
            id: "00000000-0000-0000-0000-000000000000".into(),
            name: name.into(),
        };
        Context {
            tenant: named("tenant"),
            project: named("project"),
            app: named("app"),
            layers: vec![layer.clone()],
            layer: Some(layer),
            group: Some(GroupCtx {
                id: a.id.clone(),
                name: "app".into(),
                template: a.template.clone(),
                role: a.role.clone(),
                desired: 1,
                min: 1,
                max: 4,
            }),
            event: Some(EventCtx {
                id: a.id.clone(),
                type_: "appliance.came_alive".into(),
                at: "2026-01-01T00:00:00Z".into(),
                detail: String::new(),
                appliance: Some(a.clone()),
            }),
            appliance: Some(a),
            now: "2026-01-01T00:00:00Z".into(),
        }
    }
}

/// Why a script or a variable's value does not render.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct RenderError {
    /// `body` or `variables.<name>`.
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

impl RenderError {
    fn var(name: &str, message: impl Into<String>) -> RenderError {
        RenderError {
            field: format!("variables.{name}"),
            line: None,
            message: message.into(),
        }
    }

    fn template(field: &str, e: &Error) -> RenderError {
        let message = match (e.kind(), e.detail()) {
            (ErrorKind::OutOfFuel, _) => "the template runs too long (a loop without end?)".into(),
            (_, Some(d)) => format!("{}: {d}", e.kind()),
            (k, None) => k.to_string(),
        };
        RenderError {
            field: field.to_owned(),
            line: e.line(),
            message,
        }
    }
}

/// A rendered script: its text and environment with secrets in clear (for the agent only), and the
/// secret values to mask everywhere else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub script: String,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<String>,
}

impl Rendered {
    pub fn masked_script(&self) -> String {
        mask(&self.script, &self.secrets)
    }

    pub fn masked_env(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), mask(v, &self.secrets)))
            .collect()
    }
}

/// `text` with every secret value replaced by [`common::api::MASK`] (longest first, so a secret
/// containing another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    sorted.into_iter().fold(text.to_owned(), |t, s| {
        t.replace(s.as_str(), common::api::MASK)
    })
}

/// The environment variable of a Script Variable (`backend_port` → `BACKEND_PORT`).
pub fn env_name(var: &str) -> String {
    var.to_ascii_uppercase()
}

fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// `layer` in a script: both the target appliance's own layer (`layer.name`, `layer.ips`, …) and a
/// function that finds any layer by name (`layer("app").ips`). `lenient`: an unknown name gives an
/// empty layer (checking a script saved without an application) instead of an error.
#[derive(Debug)]
struct LayerFn {
    own: Option<JValue>,
    all: Vec<LayerCtx>,
    lenient: bool,
}

impl minijinja::value::Object for LayerFn {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        self.own
            .as_ref()?
            .get_item(key)
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        match &self.own {
            Some(_) => minijinja::value::Enumerator::Str(&["name", "appliances", "ips", "count"]),
            None => minijinja::value::Enumerator::Empty,
        }
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.own.is_some()
    }

    fn call(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        args: &[JValue],
    ) -> Result<JValue, Error> {
        let (name,): (String,) = minijinja::value::from_args(args)?;
        match self.all.iter().find(|l| l.name == name) {
            Some(l) => Ok(JValue::from_serialize(l)),
            None if self.lenient => Ok(JValue::from_serialize(LayerCtx::new(&name, Vec::new()))),
            None => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("the application has no layer named {name:?}"),
            )),
        }
    }
}

/// A strict, bounded environment.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    env
}

/// The template context: `ctx`'s fields, `layer` as a [`LayerFn`], and `vars`.
fn template_context(ctx: &Context, vars: &BTreeMap<String, Value>, lenient: bool) -> JValue {
    let mut map: BTreeMap<String, JValue> = match serde_json::to_value(ctx) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| (k, JValue::from_serialize(v)))
            .collect(),
        _ => BTreeMap::new(),
    };
    map.insert(
        "layer".into(),
        JValue::from_object(LayerFn {
            own: ctx.layer.as_ref().map(JValue::from_serialize),
            all: ctx.layers.clone(),
            lenient,
        }),
    );
    map.insert("vars".into(), JValue::from_serialize(vars));
    JValue::from(map)
}

/// A writer that refuses to grow past [`OUTPUT_MAX`]: a render stops there, however it got so long.
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > OUTPUT_MAX {
            return Err(std::io::Error::other("output limit"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_text(
    env: &Environment<'static>,
    field: &str,
    source: &str,
    ctx: &JValue,
) -> Result<String, RenderError> {
    let too_long = || RenderError {
        field: field.to_owned(),
        line: None,
        message: format!("renders to more than {OUTPUT_MAX} bytes"),
    };
    let tmpl = env
        .template_from_str(source)
        .map_err(|e| RenderError::template(field, &e))?;
    let mut out = Bounded(Vec::new());
    match tmpl.render_captured_to(ctx, &mut out) {
        Ok(_) => String::from_utf8(out.0).map_err(|_| too_long()),
        Err(e) if e.kind() == ErrorKind::WriteFailure => Err(too_long()),
        Err(e) => Err(RenderError::template(field, &e)),
    }
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A rendered string value as a variable of type `t`.
fn coerce(name: &str, t: VarType, s: &str) -> Result<Value, RenderError> {
    // the value is not repeated in the message: it may be a secret
    let bad = || RenderError::var(name, format!("the value is not a {}", t.as_str()));
    Ok(match t {
        VarType::String => Value::String(s.to_owned()),
        VarType::Int => Value::from(s.trim().parse::<i64>().map_err(|_| bad())?),
        VarType::Bool => match s.trim() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" | "" => Value::Bool(false),
            _ => return Err(bad()),
        },
        VarType::List => Value::Array(
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|x| !x.is_empty())
                .map(|x| Value::String(x.to_owned()))
                .collect(),
        ),
    })
}

fn zero(t: VarType) -> Value {
    match t {
        VarType::String => Value::String(String::new()),
        VarType::Int => Value::from(0),
        VarType::Bool => Value::Bool(false),
        VarType::List => Value::Array(Vec::new()),
    }
}

/// The values of a script's variables: what the caller supplied (strings may be expressions over
/// the context, rendered first), else the defaults. Undeclared names, missing required values and
/// wrong types are errors.
pub fn resolve(
    decls: &[VariableDecl],
    supplied: &BTreeMap<String, Value>,
    ctx: &Context,
    lenient_layers: bool,
) -> Result<BTreeMap<String, Value>, RenderError> {
    // a NUL cannot be stored (PostgreSQL text) nor passed in an environment
    if let Some((name, _)) = supplied
        .iter()
        .find(|(_, v)| v.to_string().contains("\\u0000"))
    {
        return Err(RenderError::var(name, "must not contain NUL characters"));
    }
    if let Some(unknown) = supplied
        .keys()
        .find(|k| !decls.iter().any(|d| &d.name == *k))
    {
        return Err(RenderError::var(
            unknown,
            "the script declares no such variable",
        ));
    }
    let env = environment();
    let jctx = template_context(ctx, &BTreeMap::new(), lenient_layers);
    let mut out = BTreeMap::new();
    for d in decls {
        let field = format!("variables.{}", d.name);
        let value = match supplied.get(&d.name).or(d.default.as_ref()) {
            None | Some(Value::Null) if d.required => {
                return Err(RenderError::var(&d.name, "is required and has no default"));
            }
            None | Some(Value::Null) => zero(d.type_),
            Some(Value::String(s)) if is_template(s) => {
                let text = render_text(&env, &field, s, &jctx)
                    .map_err(|e| explain_value(&env, s, d.secret, e))?;
                coerce(&d.name, d.type_, &text)?
            }
            Some(Value::String(s)) if d.type_ != VarType::String => coerce(&d.name, d.type_, s)?,
            Some(v) if d.type_.admits(v) => v.clone(),
            Some(_) => {
                return Err(RenderError::var(
                    &d.name,
                    format!("must be a {}", d.type_.as_str()),
                ));
            }
        };
        out.insert(d.name.clone(), value);
    }
    Ok(out)
}

/// A value's expression that failed to render: when it names what its context lacks (`vars` among
/// them: values are rendered before the script's variables exist), say which name, unless the value
/// is a secret (an error never repeats a secret's text).
fn explain_value(
    env: &Environment<'static>,
    source: &str,
    secret: bool,
    e: RenderError,
) -> RenderError {
    if secret {
        // minijinja's words can quote the template (`filter x is unknown`): a secret's are not shown
        return RenderError {
            message: "the value does not render (its text is secret, so it is not repeated)".into(),
            ..e
        };
    }
    let Ok(tmpl) = env.template_from_str(source) else {
        return e;
    };
    let named = unknown_name(env, &tmpl, |var| {
        Err(format!(
            "a value cannot use vars.{var}: values are rendered before the script's variables exist"
        ))
    });
    match named {
        Some((_, message)) => RenderError { message, ..e },
        None => e,
    }
}

/// Render a script for one appliance.
pub fn render(
    body: &str,
    decls: &[VariableDecl],
    ctx: &Context,
    supplied: &BTreeMap<String, Value>,
) -> Result<Rendered, RenderError> {
    render_with(body, decls, ctx, supplied, false)
}

fn render_with(
    body: &str,
    decls: &[VariableDecl],
    ctx: &Context,
    supplied: &BTreeMap<String, Value>,
    lenient_layers: bool,
) -> Result<Rendered, RenderError> {
    let vars = resolve(decls, supplied, ctx, lenient_layers)?;
    let env = environment();
    let full = template_context(ctx, &vars, lenient_layers);
    let script = render_text(&env, "body", body, &full)?;
    let secrets = decls
        .iter()
        .filter(|d| d.secret)
        .filter_map(|d| vars.get(&d.name).map(env_value))
        .filter(|s| !s.is_empty())
        .collect();
    let env = vars
        .iter()
        .map(|(k, v)| (env_name(k), env_value(v)))
        .collect();
    Ok(Rendered {
        script,
        env,
        secrets,
    })
}

/// The first line of `body` that mentions `name` (for errors the static analysis finds).
fn line_of(body: &str, name: &str) -> Option<usize> {
    body.lines().position(|l| l.contains(name)).map(|i| i + 1)
}

/// The first name a template uses that its context will not give: what to look for in its text and the
/// message. `var` judges each `vars.<name>`.
fn unknown_name(
    env: &Environment<'static>,
    tmpl: &minijinja::Template<'_, '_>,
    var: impl Fn(&str) -> Result<(), String>,
) -> Option<(String, String)> {
    let globals: BTreeSet<String> = env.globals().map(|(k, _)| k.to_owned()).collect();
    let mut used: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
    used.sort();
    used.into_iter().find_map(|path| {
        let mut parts = path.split('.');
        let top = parts.next().unwrap_or_default();
        if top == "vars" {
            let name = parts.next()?;
            var(name).err().map(|m| (format!("vars.{name}"), m))
        } else if !CONTEXT_NAMES.contains(&top) && !globals.contains(top) {
            Some((
                top.to_owned(),
                format!(
                    "unknown variable {top}: a script sees {} and vars.<name>",
                    CONTEXT_NAMES.join(", ")
                ),
            ))
        } else {
            None
        }
    })
}

/// Check a script when it is saved: it parses, it uses only names the context gives and variables it
/// declares, and it renders against a sample context with sample values for its variables.
pub fn check_script(body: &str, decls: &[VariableDecl]) -> Result<(), RenderError> {
    let env = environment();
    let tmpl = env
        .template_from_str(body)
        .map_err(|e| RenderError::template("body", &e))?;
    if let Some((needle, message)) = unknown_name(&env, &tmpl, |var| {
        decls
            .iter()
            .any(|d| d.name == var)
            .then_some(())
            .ok_or_else(|| {
                format!("unknown variable vars.{var}: declare it in the script's variables")
            })
    }) {
        return Err(RenderError {
            field: "body".into(),
            line: line_of(body, &needle),
            message,
        });
    }
    let sample: BTreeMap<String, Value> = decls
        .iter()
        .filter(|d| d.default.is_none())
        .map(|d| {
            let v = match d.type_ {
                VarType::String => Value::String("sample".into()),
                VarType::Int => Value::from(1),
                VarType::Bool => Value::Bool(true),
                VarType::List => Value::Array(vec![Value::String("sample".into())]),
            };
            (d.name.clone(), v)
        })
        .collect();
    render_with(body, decls, &Context::sample(), &sample, true).map(|_| ())
}

/// The interpreter a script's shebang names (`/bin/sh` without one).
pub fn interpreter(body: &str) -> String {
    body.strip_prefix("#!")
        .and_then(|rest| rest.lines().next())
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(name: &str, t: VarType) -> VariableDecl {
        VariableDecl {
            name: name.into(),
            type_: t,
            default: None,
            required: false,
            secret: false,
            description: String::new(),
        }
    }

    fn ctx_with_app_layer(n: usize) -> Context {
        let mut c = Context::sample();
        let apps = (1..=n)
            .map(|i| ApplianceCtx {
                name: format!("php-{i}"),
                ip: Some(format!("10.0.0.{}", 10 + i)),
                ..c.appliance.clone().unwrap()
            })
            .collect();
        let layer = LayerCtx::new("app", apps);
        c.layers = vec![LayerCtx::new("lb", Vec::new()), layer];
        c
    }

    #[test]
    fn the_context_and_its_helpers_render() {
        let c = ctx_with_app_layer(3);
        let table = [
            ("{{ layer('app').count }}", "3"),
            (
                "{{ layer('app').ips | join(',') }}",
                "10.0.0.11,10.0.0.12,10.0.0.13",
            ),
            (
                "{% for a in layer('app').appliances %}{{ a.name }}={{ a.ip }} {% endfor %}",
                "php-1=10.0.0.11 php-2=10.0.0.12 php-3=10.0.0.13 ",
            ),
            ("{{ appliance.name }} {{ appliance.ip }}", "app-1 10.0.0.11"),
            (
                "{{ event.appliance.name }} {{ event.type }}",
                "app-1 appliance.came_alive",
            ),
            (
                "{{ tenant.name }}/{{ project.name }}/{{ app.name }}",
                "tenant/project/app",
            ),
            ("{{ layers | length }} {{ now }}", "2 2026-01-01T00:00:00Z"),
            ("{{ layer('lb').count }}", "0"),
            // `layer` alone is the target's own layer
            ("{{ layer.name }} {{ layer.count }}", "app 1"),
        ];
        for (src, want) in table {
            let r = render(src, &[], &c, &BTreeMap::new()).unwrap();
            assert_eq!(r.script, want, "{src}");
        }
    }

    #[test]
    fn unknown_names_layers_and_syntax_errors_are_refused_with_their_line() {
        let c = ctx_with_app_layer(1);
        let e = render("ok\n{{ nope }}", &[], &c, &BTreeMap::new()).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("body", Some(2)));
        let e = render("{{ layer('db').ips }}", &[], &c, &BTreeMap::new()).unwrap_err();
        assert!(e.message.contains("no layer named \"db\""), "{e}");
        let e = render("a\nb\n{% for x in %}", &[], &c, &BTreeMap::new()).unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = render(
            "{% for x in range(10000) %}{% for y in range(10000) %}{% endfor %}{% endfor %}",
            &[],
            &c,
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.message.contains("too long"), "{e}");
        // output stops at the bound as it is written
        let e = render(
            "{% for x in range(100) %}{{ 'x' * 100000 }}{% endfor %}",
            &[],
            &c,
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.message.contains("renders to more than"), "{e}");
    }

    #[test]
    fn saving_checks_names_against_the_declared_variables() {
        let port = decl("port", VarType::Int);
        assert!(
            check_script(
                "#!/bin/sh\necho {{ vars.port }} {{ layer('x').count }}",
                std::slice::from_ref(&port)
            )
            .is_ok()
        );
        let e = check_script(
            "#!/bin/sh\n\necho {{ vars.prot }}",
            std::slice::from_ref(&port),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("vars.prot"), "{e}");
        let e = check_script("echo {{ hostname }}", &[]).unwrap_err();
        assert!(e.message.contains("unknown variable hostname"), "{e}");
        // minijinja's own functions are not unknown names
        assert!(check_script("{% for i in range(3) %}{{ i }}{% endfor %}", &[]).is_ok());
        // an int used as a list fails the sample render
        assert!(check_script("{% for x in vars.port %}{% endfor %}", &[port]).is_err());
    }

    #[test]
    fn variables_resolve_with_defaults_types_and_expressions() {
        let c = ctx_with_app_layer(2);
        let mut port = decl("port", VarType::Int);
        port.default = Some(json!(80));
        let mut servers = decl("servers", VarType::List);
        servers.required = true;
        let flag = decl("tls", VarType::Bool);
        let decls = vec![port, servers, flag];
        let supplied = BTreeMap::from([(
            "servers".to_owned(),
            json!("{{ layer('app').ips | join(',') }}"),
        )]);
        let r = render(
            "{{ vars.port }} {{ vars.servers | length }} {{ vars.tls }}",
            &decls,
            &c,
            &supplied,
        )
        .unwrap();
        // minijinja prints booleans as Jinja does; the environment has them as true/false
        assert_eq!(r.script, "80 2 False");
        assert_eq!(r.env["TLS"], "false");
        assert_eq!(r.env["SERVERS"], "10.0.0.11 10.0.0.12");
        assert_eq!(r.env["PORT"], "80");
        let table: [(&str, Value, &str); 6] = [
            ("servers", json!(null), "is required"),
            // an expression naming what its context lacks says which name
            ("servers", json!("{{ vars.port }}"), "cannot use vars.port"),
            (
                "servers",
                json!("{{ hostname }}"),
                "unknown variable hostname",
            ),
            ("port", json!("eighty"), "the value is not a int"),
            ("tls", json!(3), "must be a bool"),
            ("colour", json!("red"), "declares no such variable"),
        ];
        let nul = BTreeMap::from([("servers".to_owned(), json!("a\u{0}b"))]);
        let e = render("x", &decls, &c, &nul).unwrap_err();
        assert!(e.message.contains("NUL"), "{e}");
        for (name, v, want) in table {
            let mut s = supplied.clone();
            s.insert(name.to_owned(), v);
            let e = render("x", &decls, &c, &s).unwrap_err();
            assert_eq!(e.field, format!("variables.{name}"));
            assert!(e.message.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn secrets_are_masked_in_what_is_shown() {
        let mut pw = decl("password", VarType::String);
        pw.secret = true;
        let supplied = BTreeMap::from([("password".to_owned(), json!("hunter2-hunter2"))]);
        let r = render(
            "mysql -p{{ vars.password }}",
            &[pw],
            &Context::sample(),
            &supplied,
        )
        .unwrap();
        assert_eq!(r.script, "mysql -phunter2-hunter2");
        assert_eq!(r.masked_script(), "mysql -p********");
        assert_eq!(r.masked_env()["PASSWORD"], "********");
        assert_eq!(mask("a hunter2-hunter2 b", &r.secrets), "a ******** b");
        assert_eq!(
            mask("abcd abc", &["abc".into(), "abcd".into()]),
            "******** ********"
        );
    }

    #[test]
    fn the_shebang_names_the_interpreter() {
        assert_eq!(
            interpreter("#!/usr/bin/env python3\nprint(1)"),
            "/usr/bin/env python3"
        );
        assert_eq!(interpreter("echo hi"), "/bin/sh");
        assert_eq!(interpreter("#!\necho"), "/bin/sh");
    }

    /// Text that looks like templates: pieces of Jinja syntax, names of the context, literals.
    fn template_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("{{ ".to_owned()),
            Just(" }}".to_owned()),
            Just("{% for a in layer('app').appliances %}".to_owned()),
            Just("{% endfor %}".to_owned()),
            Just("{% if event %}".to_owned()),
            Just("{% endif %}".to_owned()),
            Just("{% set x = ".to_owned()),
            Just(" %}".to_owned()),
            Just("vars.port".to_owned()),
            Just("layer.ips | join(',')".to_owned()),
            Just("appliance.name".to_owned()),
            Just(" ~ ".to_owned()),
            Just(" * 3".to_owned()),
            Just("range(5)".to_owned()),
            Just("'x'".to_owned()),
            "[a-z_.()|{}%# '\"0-9\n-]{0,12}",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 400, ..Default::default() })]

        /// Whatever text is saved as a script or given as a variable's value, checking and rendering
        /// it answers Ok or a RenderError: never a panic, never unbounded output.
        #[test]
        fn any_text_checks_and_renders_without_panicking(body in template_text(), value in template_text()) {
            let mut port = decl("port", VarType::Int);
            port.default = Some(serde_json::json!(80));
            let text = decl("text", VarType::String);
            let decls = vec![port, text];
            let _ = check_script(&body, &decls);
            let supplied = BTreeMap::from([("text".to_owned(), serde_json::Value::String(value))]);
            if let Ok(r) = render(&body, &decls, &Context::sample(), &supplied) {
                proptest::prop_assert!(r.script.len() <= OUTPUT_MAX);
            }
        }

        /// Any text as a rule's event type or schedule is accepted or refused, never a panic.
        #[test]
        fn any_text_as_event_type_or_schedule(s in "\\PC{0,40}") {
            let _ = common::api::event_type(&s);
            let _ = crate::automation::engine::next_fire(&s, store::time::now());
        }
    }
}
