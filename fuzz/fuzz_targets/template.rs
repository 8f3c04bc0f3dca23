//! Any text as a skill body through the template compiler and the request-time render: each
//! must return content or a template error (a limit or a `template_*` finding), never panic or hang (inclusion cycles included).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn context() -> &'static Value {
    static CONTEXT: OnceLock<Value> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        json!({
            "company_name": "acme", "n": 3, "ok": true, "none": null,
            "tags": ["a", "b", {"c": [1, 2]}], "deal": {"name": "renewal", "contacts": ["Dana", "Lee"]},
        })
    })
}

fn documents(skill: &str, doc: &str) -> Option<String> {
    match (skill, doc) {
        ("docs", "a.md") => Some("A ${company_name} @docs/b.md".into()),
        ("docs", "b.md") => Some("B @docs/a.md".into()),
        ("docs", "plain.md") => Some("plain ${tags|join:\"-\"}".into()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let mut skill = keel::skills::SkillDoc::minimal("fuzz", "d", body);
    skill.required_context = vec!["request".into(), "user".into()];
    match keel::skills::compile(&skill, context(), &documents) {
        Ok(compiled) => {
            for span in &compiled.deferred {
                assert!(compiled.content.is_char_boundary(span.start));
                assert!(compiled.content[span.clone()].starts_with("${"));
            }
            let request = json!({"request": {"id": 7}, "user": "sam"});
            match keel::skills::render_request(&compiled.content, &compiled.deferred, &request) {
                Ok(_) => {}
                Err(err) => assert!(is_template_error(&err), "{err}"),
            }
        }
        Err(err) => assert!(is_template_error(&err), "{err}"),
    }
});

/// A limit (`invalid_input` on `template`) or a template fault (`invalid_skill` on `body`, with
/// its finding's code).
fn is_template_error(err: &keel::Error) -> bool {
    match err.code() {
        "invalid_input" => err.field() == Some("template"),
        "invalid_skill" => err.diagnostics()[0].code.starts_with("template_"),
        _ => false,
    }
}
