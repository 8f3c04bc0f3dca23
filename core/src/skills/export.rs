//! A portable copy of a library: files the Agent Skills reference validator accepts, in Keel's
//! layout, each change listed.
//!
//! For every skill: `name` becomes the folder's key (a display name moves to
//! `metadata.display_name`); top-level keys that are not the spec's move under `metadata`;
//! trigger `phrase` becomes `pattern`; `requires_context` joins `required_context`; every
//! collection is written in block style; a `_`-prefixed key loses its `_` (folder, name and
//! every `@_key/` inclusion); `references/*.md` are copied. Nothing else is rewritten: unknown
//! metadata keys and their values are kept, as text. Each file is parsed again with
//! [`ParseOptions::portable`] before it is written, so a change the exporter missed shows up
//! as an error finding in the report.

use std::path::{Path, PathBuf};

use marked_yaml::Node;
use serde::Serialize;

use super::fields::SPEC_KEYS;
use super::format::{
    Diagnostic, ParseOptions, Severity, flow_collections, frontmatter_and_body, parse_with,
};
use super::library::{LibrarySkill, load_library_with};
use crate::error::{Error, Result};

/// One change the export made to a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportChange {
    /// The source SKILL.md.
    pub file: String,
    /// Stable code: `display_name`, `moved_to_metadata`, `block_style`, `trigger_pattern`,
    /// `requires_context`, `reference_key`, `layout`.
    pub code: &'static str,
    /// What changed.
    pub message: String,
}

/// What [`export_portable`] wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    /// Skills written.
    pub skills: usize,
    /// Files written (SKILL.md and documents).
    pub files: usize,
    /// Every change, file by file.
    pub changes: Vec<ExportChange>,
    /// The error findings of the files left out: a file with an error is not exported.
    pub skipped: Vec<Diagnostic>,
    /// Findings of the portable check of the copy: empty when every file is portable.
    pub diagnostics: Vec<Diagnostic>,
}

/// A YAML value as text, kept in its order. A scalar keeps whether it was quoted: a quoted
/// `"1"` stays text for every reader, a plain `1` may be read as a number.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Text(String, bool),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn of(node: &Node) -> Self {
        match node {
            Node::Scalar(s) => Yaml::Text(s.as_str().to_owned(), !s.may_coerce()),
            Node::Sequence(items) => Yaml::List(items.iter().map(Yaml::of).collect()),
            Node::Mapping(map) => Yaml::Map(
                map.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), Yaml::of(v)))
                    .collect(),
            ),
        }
    }

    fn take(map: &mut Vec<(String, Yaml)>, key: &str) -> Option<Yaml> {
        let at = map.iter().position(|(k, _)| k == key)?;
        Some(map.remove(at).1)
    }

    /// Writes `self` in block style at `indent` spaces, after `key: ` or `- `.
    fn emit(&self, out: &mut String, indent: usize) {
        match self {
            Yaml::Text(text, quoted) => {
                out.push(' ');
                out.push_str(&scalar(text, *quoted));
                out.push('\n');
            }
            Yaml::List(items) if items.is_empty() => out.push_str(" \"\"\n"),
            Yaml::Map(entries) if entries.is_empty() => out.push_str(" \"\"\n"),
            Yaml::List(items) => {
                out.push('\n');
                for item in items {
                    out.push_str(&" ".repeat(indent));
                    out.push('-');
                    match item {
                        // A mapping in a list starts on the dash's line.
                        Yaml::Map(entries) if !entries.is_empty() => {
                            emit_entries(entries, out, indent + 2, true);
                        }
                        other => other.emit(out, indent + 2),
                    }
                }
            }
            Yaml::Map(entries) => {
                out.push('\n');
                emit_entries(entries, out, indent, false);
            }
        }
    }
}

/// Writes `key: value` lines; empty collections are left out (`[]` and `{}` are flow style).
fn emit_entries(entries: &[(String, Yaml)], out: &mut String, indent: usize, after_dash: bool) {
    let kept = entries.iter().filter(|(_, v)| match v {
        Yaml::List(items) => !items.is_empty(),
        Yaml::Map(entries) => !entries.is_empty(),
        Yaml::Text(..) => true,
    });
    for (i, (key, value)) in kept.enumerate() {
        if i == 0 && after_dash {
            out.push(' ');
        } else {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&scalar(key, false));
        out.push(':');
        value.emit(out, indent + 2);
    }
}

/// Text as a plain scalar when it was plain and YAML reads it back unchanged, else
/// double-quoted (JSON's string escapes are valid YAML).
fn scalar(text: &str, quoted: bool) -> String {
    let plain = !quoted
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.-/()+".contains(c));
    if plain {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}

/// The portable key of `key`: without a leading `_`.
fn portable_key(key: &str) -> &str {
    key.strip_prefix('_').unwrap_or(key)
}

/// Writes a portable copy of the library at `root` (either layout) into `out` in Keel's layout
/// (`<namespace>/<key>/`), calling `progress(done, total)` after each skill.
///
/// A file with an error finding is left out and its findings listed in
/// [`ExportReport::skipped`].
///
/// # Errors
/// [`Error::InvalidInput`] naming `root` when it cannot be read, or `out` when a file cannot
/// be written.
pub fn export_portable(
    root: &Path,
    out: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<ExportReport> {
    let library = load_library_with(root, ParseOptions::default(), |_, _| {})?;
    let exported: Vec<&LibrarySkill> = library.error_free().collect();
    let renamed: Vec<String> = exported
        .iter()
        .filter(|s| s.doc.name.starts_with('_'))
        .map(|s| s.doc.name.clone())
        .collect();
    let mut report = ExportReport {
        skipped: library
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .cloned()
            .collect(),
        ..ExportReport::default()
    };
    let total = exported.len();
    for (done, skill) in exported.into_iter().enumerate() {
        export_skill(skill, root, out, &renamed, &mut report)?;
        progress(done + 1, total);
    }
    Ok(report)
}

fn export_skill(
    skill: &LibrarySkill,
    root: &Path,
    out: &Path,
    renamed: &[String],
    report: &mut ExportReport,
) -> Result<()> {
    let file = skill.path.display().to_string();
    let mut change = |code: &'static str, message: String| {
        report.changes.push(ExportChange {
            file: file.clone(),
            code,
            message,
        });
    };
    let text = String::from_utf8_lossy(&skill.content);
    let (frontmatter, body) = frontmatter_and_body(&text)
        .ok_or_else(|| Error::Internal(format!("{file}: parsed once, no frontmatter now")))?;
    // Without coercion, a quoted scalar says so (`may_coerce` is false).
    let loader = marked_yaml::LoaderOptions::default().prevent_coercion(true);
    let root_node = marked_yaml::parse_yaml_with_options(0, frontmatter, loader)
        .map_err(|e| Error::Internal(format!("{file}: parsed once, not now: {e}")))?;
    let Yaml::Map(mut top) = Yaml::of(&root_node) else {
        return Err(Error::Internal(format!(
            "{file}: frontmatter is not a mapping"
        )));
    };
    let key = portable_key(&skill.doc.name).to_owned();
    if key != skill.doc.name {
        change(
            "reference_key",
            format!("`{}` is written as `{key}`", skill.doc.name),
        );
    }
    let mut metadata = match Yaml::take(&mut top, "metadata") {
        Some(Yaml::Map(entries)) => entries,
        _ => Vec::new(),
    };
    if let Some(display) = &skill.doc.display_name {
        change(
            "display_name",
            format!("`name: {display}` is now `name: {key}` and `metadata.display_name`"),
        );
        metadata.insert(
            0,
            ("display_name".into(), Yaml::Text(display.clone(), true)),
        );
    }
    let moved: Vec<(String, Yaml)> = top
        .iter()
        .filter(|(k, _)| !SPEC_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    top.retain(|(k, _)| SPEC_KEYS.contains(&k.as_str()));
    for (k, v) in moved {
        change("moved_to_metadata", format!("`{k}` moved under `metadata`"));
        if metadata.iter().all(|(existing, _)| *existing != k) {
            metadata.push((k, v));
        }
    }
    rename_trigger_phrases(&mut metadata, &mut change);
    if let Some(Yaml::List(extra)) = Yaml::take(&mut metadata, "requires_context") {
        change(
            "requires_context",
            "`requires_context` (a misspelling) merged into `required_context`".into(),
        );
        match metadata.iter_mut().find(|(k, _)| k == "required_context") {
            Some((_, Yaml::List(items))) => {
                for item in extra {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
            _ => metadata.push(("required_context".into(), Yaml::List(extra))),
        }
    }
    let mut flows = Vec::new();
    flow_collections(frontmatter, &root_node, &mut flows);
    let flows = flows.len();
    if flows > 0 {
        change(
            "block_style",
            format!("{flows} flow-style collection(s) written one item per line"),
        );
    }
    let in_namespace_folder = skill
        .path
        .strip_prefix(root)
        .ok()
        .and_then(|p| p.components().next())
        .is_some_and(|c| c.as_os_str() == skill.namespace.as_str());
    if !in_namespace_folder {
        change(
            "layout",
            format!("written to `{}/{key}/`", skill.namespace.as_str()),
        );
    }
    let mut yaml = String::new();
    for (k, v) in top {
        let v = if k == "name" {
            Yaml::Text(key.clone(), false)
        } else {
            v
        };
        emit_entries(&[(k, v)], &mut yaml, 0, false);
    }
    if !metadata.is_empty() {
        emit_entries(
            &[("metadata".into(), Yaml::Map(metadata))],
            &mut yaml,
            0,
            false,
        );
    }
    let dir = out.join(skill.namespace.as_str()).join(&key);
    let body = rewrite_references(body, renamed);
    let text = format!("---\n{yaml}---\n{body}");
    let path = dir.join("SKILL.md");
    // The copy is checked as the reference validator would check it, before it is written.
    let portable = ParseOptions { portable: true };
    let written = path.display().to_string();
    let check = parse_with(&written, Some(&key), text.as_bytes(), portable);
    report.diagnostics.extend(
        check
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error),
    );
    write(&path, &text)?;
    report.files += 1;
    for (name, text) in &skill.documents {
        write(
            &dir.join("references").join(name),
            &rewrite_references(text, renamed),
        )?;
        report.files += 1;
    }
    report.skills += 1;
    Ok(())
}

fn rename_trigger_phrases(
    metadata: &mut [(String, Yaml)],
    change: &mut impl FnMut(&'static str, String),
) {
    let Some((_, Yaml::List(triggers))) = metadata.iter_mut().find(|(k, _)| k == "triggers") else {
        return;
    };
    let mut renamed = 0;
    for trigger in triggers {
        if let Yaml::Map(entries) = trigger
            && !entries.iter().any(|(k, _)| k == "pattern")
            && let Some(entry) = entries.iter_mut().find(|(k, _)| k == "phrase")
        {
            entry.0 = "pattern".into();
            renamed += 1;
        }
    }
    if renamed > 0 {
        change(
            "trigger_pattern",
            format!("{renamed} trigger `phrase` key(s) renamed `pattern`"),
        );
    }
}

/// `@_key/` inclusions of renamed keys, without the `_`.
fn rewrite_references(text: &str, renamed: &[String]) -> String {
    let mut text = text.to_owned();
    for key in renamed {
        text = text.replace(&format!("@{key}/"), &format!("@{}/", portable_key(key)));
    }
    text
}

/// Writes `text` to `path`, creating its folder; a file that already holds `text` is left
/// alone (a repeated export rewrites nothing).
fn write(path: &PathBuf, text: &str) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    let fail = |e: std::io::Error| Error::invalid_input("out", format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}
