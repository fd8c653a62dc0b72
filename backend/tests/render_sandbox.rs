//! Renders in `scaleinfra render-worker` processes: a template that builds a huge value or burns CPU
//! ends in a clear error for that render only, and the next render works. (Run in process, these
//! templates would take the test's memory or minutes.)

#![allow(clippy::expect_used)] // a test: a worker that cannot start fails it

use orchestrator::automation::render::Context;
use orchestrator::automation::sandbox::{self, Limits};
use serde_json::json;
use std::collections::BTreeMap;

/// Doubles a string forty times: a terabyte, in a few template instructions.
const DOUBLING: &str = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}";

fn install() {
    sandbox::install(
        env!("CARGO_BIN_EXE_scaleinfra").into(),
        Limits {
            memory_mib: 128,
            cpu_secs: 1,
        },
    )
    .expect("the render worker starts");
}

fn decl(name: &str) -> common::api::VariableDecl {
    common::api::VariableDecl {
        name: name.into(),
        type_: common::api::VarType::String,
        default: None,
        required: false,
        secret: false,
        description: String::new(),
    }
}

#[test]
fn a_render_past_the_memory_limit_fails_alone_and_the_next_one_works() {
    install();
    let e = sandbox::check_script(DOUBLING, &[]).expect_err("the doubling is stopped");
    assert!(e.message.contains("more memory"), "{e}");
    assert_eq!(e.field, "body");
    // a variable's value is an expression too: bounded the same way, named by its variable
    let supplied = BTreeMap::from([("text".to_owned(), json!(DOUBLING))]);
    let e = sandbox::check_values(&[decl("text")], &supplied, &Context::sample(), false)
        .expect_err("the doubling is stopped");
    assert!(e.message.contains("more memory"), "{e}");
    assert_eq!(e.field, "variables");
    // the workers that died are replaced: the same renders as in process
    let ok = sandbox::render(
        "{{ appliance.name }} {{ layer('app').ips | join(',') }} {{ vars.text }}",
        &[decl("text")],
        &Context::sample(),
        &BTreeMap::from([("text".to_owned(), json!("{{ appliance.ip }}"))]),
    )
    .expect("a plain script renders");
    assert_eq!(ok.script, "app-1 10.0.0.11 10.0.0.11");
    assert_eq!(ok.env["TEXT"], "10.0.0.11");
    // the errors the renderer itself finds come back as they are
    let e = sandbox::check_script("a\n{{ nope }}", &[]).expect_err("unknown name");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("unknown variable nope"), "{e}");
}

#[test]
fn a_render_past_the_cpu_limit_fails_alone() {
    install();
    // a few instructions per iteration (within fuel), a long string rewritten in each
    let slow = "{% for i in range(40000) %}{% set _ = ('x' * 1000000) | replace('x', 'yy') %}{% endfor %}done";
    let e = sandbox::check_script(slow, &[]).expect_err("the loop is stopped");
    assert!(e.message.contains("CPU time"), "{e}");
    assert!(sandbox::check_script("{{ 1 + 1 }}", &[]).is_ok());
}

#[test]
fn concurrent_renders_each_get_their_own_answer() {
    install();
    let threads: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let r = sandbox::render(
                    &format!("{{{{ {i} * 2 }}}}"),
                    &[],
                    &Context::sample(),
                    &BTreeMap::new(),
                )
                .expect("renders");
                assert_eq!(r.script, (i * 2).to_string());
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no render panics");
    }
}
