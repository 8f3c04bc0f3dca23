//! Compiling a skill for an org: `${path|modifier…}` substitution from the org's context,
//! `@skill/doc` inlining with cycle detection, and an org-context block.
//!
//! Output is deterministic for a given skill, context and documents, and carries the hash of the
//! context it was compiled with (SHA-256 of the context's canonical JSON), so a stored
//! compilation knows when it is stale.
//!
//! Expressions: `${deal.name}`, `${company_name|capitalize}`, `${contacts|count}`,
//! `${tags|join:", "}`, `${owner|default:"unassigned"}`. Modifiers apply left to right: `upper`,
//! `lower`, `capitalize`, `first`, `last`, `count`, `json`, `join` (default separator `", "`)
//! and `default:"…"` (used when the path is missing or null). A missing path without a default
//! is an error naming the path and its position.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::format::{SkillDoc, reference_at};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::{Error, Result};

mod expression;

use expression::{check_modifiers, expression, modifier_fault, split_pipes};

/// Deepest chain of `@skill/doc` inclusions.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Largest compiled (or request-rendered) skill, in bytes: an org controls its replacement
/// SKILL.md and its context, so a file with many references to a large value must fail here,
/// before the text is built, not take the process's memory.
pub const MAX_COMPILED_BYTES: usize = 1 << 20;

/// Most `${…}` expressions and `@skill/doc` inclusions one compilation expands.
pub const MAX_EXPANSIONS: usize = 10_000;

/// Appends `piece` to `out` unless that would pass [`MAX_COMPILED_BYTES`].
fn push(out: &mut String, piece: &str) -> Result<()> {
    if out.len().saturating_add(piece.len()) > MAX_COMPILED_BYTES {
        return Err(Error::invalid_input(
            "template",
            format!("the compiled skill would be larger than {MAX_COMPILED_BYTES} bytes"),
        ));
    }
    out.push_str(piece);
    Ok(())
}

/// Counts one expansion against [`MAX_EXPANSIONS`].
fn expand(count: &mut usize) -> Result<()> {
    *count += 1;
    if *count > MAX_EXPANSIONS {
        return Err(Error::invalid_input(
            "template",
            format!("more than {MAX_EXPANSIONS} expressions and inclusions to expand"),
        ));
    }
    Ok(())
}

/// A skill compiled for one org.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Compiled {
    /// The org-context block, then the body with every expression and reference resolved,
    /// except expressions left for request time (see [`compile`]).
    pub content: String,
    /// SHA-256 (hex) of the context's canonical JSON.
    pub context_hash: String,
    /// Where in `content` the expressions left for request time are (byte ranges of each
    /// `${…}`), for [`render_request`].
    #[serde(skip)]
    pub deferred: Vec<std::ops::Range<usize>>,
}

/// Where `@skill/doc` text comes from: `(skill, doc)` to the document's text.
type Documents<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// One rendering pass: the values, where documents come from, and which roots wait.
struct Pass<'a> {
    context: &'a Value,
    /// `None` at request time: documents were inlined when the skill was compiled.
    document: Option<Documents<'a>>,
    /// Roots left in place when the context lacks them (the skill's `required_context`).
    deferred: &'a [String],
}

/// The hash of `context` as compilation records it.
pub fn context_hash(context: &Value) -> String {
    // serde_json's maps are ordered by key, so this text is canonical.
    let canonical = serde_json::to_string(context).unwrap_or_default();
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles `skill` with the org's `context`. `document(skill, doc)` returns the text of
/// another skill's document for `@skill/doc`, or `None` when there is none.
///
/// An expression whose root the skill declares in `metadata.required_context` (`deal`,
/// `contact`, …: what a request supplies) and the org context lacks is checked and left in
/// place; [`render_request`] fills it per request. Any other missing path is an error.
///
/// # Errors
/// [`Error::InvalidSkill`] with one finding (field `body`; the file is the skill's name, or
/// `skill/doc` for a fault inside an included document; line and column count from the start
/// of that body or document; and a stable code): `template_value` for a missing path without a default, `template_document`
/// for a missing document, `template_cycle` for an inclusion cycle, `template_depth` past
/// [`MAX_INCLUDE_DEPTH`], and `template_unclosed`, `template_path` or `template_modifier` for
/// the faults [`crate::skills::parse`] also reports. [`Error::InvalidInput`] with field
/// `template` past [`MAX_COMPILED_BYTES`] or [`MAX_EXPANSIONS`].
pub fn compile(
    skill: &SkillDoc,
    context: &Value,
    document: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Compiled> {
    let mut content = String::new();
    push(&mut content, &org_block(context))?;
    let mut chain = vec![skill.name.clone()];
    let mut deferred = Vec::new();
    let pass = Pass {
        context,
        document: Some(document),
        deferred: &skill.required_context,
    };
    render(
        &skill.body,
        &pass,
        &mut chain,
        &mut content,
        &mut deferred,
        &mut 0,
    )?;
    Ok(Compiled {
        content,
        context_hash: context_hash(context),
        deferred,
    })
}

/// Fills the expressions [`compile`] left for request time (at `deferred` in `content`) from
/// `request`. Nothing else in `content` is read as a template, so org values that happen to
/// contain `${` stay text.
///
/// # Errors
/// [`Error::InvalidSkill`] with a `template_value` finding (file `request`) for a missing path
/// without a default; [`Error::InvalidInput`] with field `template` past a limit.
pub fn render_request(
    content: &str,
    deferred: &[std::ops::Range<usize>],
    request: &Value,
) -> Result<String> {
    let mut out = String::with_capacity(content.len().min(MAX_COMPILED_BYTES));
    let mut rest = 0;
    let mut expansions = 0;
    for span in deferred {
        expand(&mut expansions)?;
        let expr = content
            .get(span.start + 2..span.end.saturating_sub(1))
            .ok_or_else(|| Error::Internal("a deferred span is out of range".into()))?;
        push(&mut out, &content[rest..span.start])?;
        let value = expression(expr, request)
            .map_err(|f| template_error("request", content, span.start, f))?;
        push(&mut out, &value)?;
        rest = span.end;
    }
    push(&mut out, &content[rest..])?;
    Ok(out)
}

/// Parses `text` as a SKILL.md and compiles it with `context` (a JSON object). `documents`
/// maps a skill name to its documents by file name (`{"playbook": {"intro.md": "…"}}`); `null`
/// means none. This is what the bindings' `compile_skill` runs.
///
/// # Errors
/// [`Error::InvalidSkill`] when the file has an error finding; [`Error::InvalidInput`] naming
/// `context` or `documents` when they have the wrong shape, or `template` as [`compile`].
pub fn compile_source(text: &str, context: &Value, documents: &Value) -> Result<Compiled> {
    if !context.is_object() {
        return Err(Error::invalid_input("context", "must be a JSON object"));
    }
    if !(documents.is_null() || documents.is_object()) {
        return Err(Error::invalid_input(
            "documents",
            "must map skill names to objects of document texts",
        ));
    }
    let parsed = super::format::parse("SKILL.md", None, text.as_bytes());
    let Some(skill) = parsed.skill else {
        return Err(Error::InvalidSkill {
            diagnostics: parsed
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == super::format::Severity::Error)
                .collect(),
        });
    };
    let lookup = |name: &str, doc: &str| documents.get(name)?.get(doc)?.as_str().map(str::to_owned);
    compile(&skill, context, &lookup)
}

/// Text of an org's context as the block holds it: `<`, `>` and `&` as XML entities and line
/// breaks as spaces, so no value can close the block or add a line of its own to the prompt.
fn block_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The org-context block: the context's top-level text and numbers, sorted by key, escaped
/// ([`block_text`]).
fn org_block(context: &Value) -> String {
    let Some(map) = context.as_object() else {
        return String::new();
    };
    let lines: Vec<String> = map
        .iter()
        .filter_map(|(key, value)| match value {
            Value::String(s) => Some(format!("- {}: {}", block_text(key), block_text(s))),
            Value::Number(n) => Some(format!("- {}: {n}", block_text(key))),
            Value::Bool(b) => Some(format!("- {}: {b}", block_text(key))),
            _ => None,
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("<org-context>\n{}\n</org-context>\n\n", lines.join("\n"))
}

/// A template fault found while compiling or rendering: an [`Error::InvalidSkill`] with one
/// finding at `at` in `text` (`file` names the skill or `skill/doc` the text came from).
fn template_error(file: &str, text: &str, at: usize, (code, message): Fault) -> Error {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    Error::InvalidSkill {
        diagnostics: vec![Diagnostic {
            code,
            severity: Severity::Error,
            file: file.to_owned(),
            line,
            column,
            field: Some("body".into()),
            message,
        }],
    }
}

/// The file a fault is in: the skill or `skill/doc` whose text is being rendered.
fn file(chain: &[String]) -> &str {
    chain.last().map_or("", String::as_str)
}

/// A template fault's stable code and what is wrong.
pub(super) type Fault = (&'static str, String);

fn render(
    text: &str,
    pass: &Pass<'_>,
    chain: &mut Vec<String>,
    out: &mut String,
    deferred: &mut Vec<std::ops::Range<usize>>,
    expansions: &mut usize,
) -> Result<()> {
    let mut rest = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            let end = find_close(text, i + 2).ok_or_else(|| {
                let fault = ("template_unclosed", "`${` is not closed".to_owned());
                template_error(file(chain), text, i, fault)
            })?;
            push(out, &text[rest..i])?;
            expand(expansions)?;
            let expr = &text[i + 2..end];
            if waits_for_request(expr, pass) {
                check_modifiers(expr)
                    .map_err(|m| template_error(file(chain), text, i, modifier_fault(m)))?;
                deferred.push(out.len()..out.len() + end + 1 - i);
                push(out, &text[i..=end])?;
            } else {
                let value = expression(expr, pass.context)
                    .map_err(|f| template_error(file(chain), text, i, f))?;
                push(out, &value)?;
            }
            i = end + 1;
            rest = i;
        } else if bytes[i] == b'@'
            && let Some(document) = pass.document
            && let Some((skill, doc, len)) = reference_at(text, i)
        {
            push(out, &text[rest..i])?;
            expand(expansions)?;
            include(
                text,
                i,
                (skill, doc),
                pass,
                document,
                chain,
                out,
                deferred,
                expansions,
            )?;
            i += 1 + len;
            rest = i;
        } else {
            i += 1;
        }
    }
    push(out, &text[rest..])?;
    Ok(())
}

/// A template finding [`check_template`] makes: where (a byte offset in the body), the stable
/// code, and what is wrong.
pub(super) type TemplateFinding = (usize, &'static str, String);

/// What can be checked in a body before any context is known: every `${` is closed on its
/// line, names a path, and uses modifiers that exist with quoted arguments. Validation reports
/// these, so a template that cannot compile for any org never reaches a sync.
pub(super) fn check_template(body: &str) -> Vec<TemplateFinding> {
    let mut findings = Vec::new();
    let mut from = 0;
    while let Some(found) = body[from..].find("${") {
        let at = from + found;
        let Some(end) = find_close(body, at + 2) else {
            findings.push((
                at,
                "template_unclosed",
                "`${` is not closed on its line".into(),
            ));
            from = at + 2;
            continue;
        };
        let expr = &body[at + 2..end];
        let path = split_pipes(expr).first().map_or("", |p| p.trim());
        if path.is_empty() {
            findings.push((at, "template_path", "an expression needs a path".into()));
        } else if let Err(message) = check_modifiers(expr) {
            findings.push((at, "template_modifier", message));
        }
        from = end + 1;
    }
    findings
}

/// Whether `expr` reads a root the skill leaves for request time and the context lacks.
fn waits_for_request(expr: &str, pass: &Pass<'_>) -> bool {
    let path = expr.trim_start();
    let root = &path[..path
        .find(|c: char| matches!(c, '.' | '[' | '|') || c.is_whitespace())
        .unwrap_or(path.len())];
    pass.deferred.iter().any(|d| d == root) && pass.context.get(root).is_none_or(Value::is_null)
}

/// The index of the `}` closing an expression that starts at `from`, skipping quoted text.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let mut quoted = false;
    for (offset, c) in text[from..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(from + offset),
            '\n' if !quoted => return None,
            _ => {}
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn include(
    text: &str,
    at: usize,
    (skill, doc): (&str, &str),
    pass: &Pass<'_>,
    document: &dyn Fn(&str, &str) -> Option<String>,
    chain: &mut Vec<String>,
    out: &mut String,
    deferred: &mut Vec<std::ops::Range<usize>>,
    expansions: &mut usize,
) -> Result<()> {
    let key = format!("{skill}/{doc}");
    if chain.contains(&key) {
        let message = format!("`@{key}` includes itself ({} → {key})", chain.join(" → "));
        return Err(template_error(
            file(chain),
            text,
            at,
            ("template_cycle", message),
        ));
    }
    if chain.len() > MAX_INCLUDE_DEPTH {
        let message = format!("inclusions nest deeper than {MAX_INCLUDE_DEPTH}");
        return Err(template_error(
            file(chain),
            text,
            at,
            ("template_depth", message),
        ));
    }
    let Some(body) = document(skill, doc) else {
        let message = format!("`@{key}` names no document");
        return Err(template_error(
            file(chain),
            text,
            at,
            ("template_document", message),
        ));
    };
    chain.push(key);
    let rendered = render(&body, pass, chain, out, deferred, expansions);
    chain.pop();
    rendered
}
