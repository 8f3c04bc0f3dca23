//! The frontmatter's fields, read one by one into a [`SkillDoc`], and the [`Report`] every
//! finding of a parse goes to. Unknown keys are warnings; every other problem is an error with
//! its line, column and field.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use super::format::{MAX_DESCRIPTION, MAX_NAME, Namespace, Priority, SkillDoc, Source, Trigger};
use crate::diagnostic::{Diagnostic, Severity};

/// Collects the findings of one file.
pub(super) struct Report<'a> {
    /// The file, as the caller named it.
    pub(super) file: &'a str,
    /// Lines before the frontmatter's first line, added to the parser's line numbers.
    pub(super) line_offset: usize,
    /// What was found so far.
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Report<'_> {
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        at: (usize, usize),
        field: Option<&str>,
        message: String,
    ) {
        self.diagnostics.push(Diagnostic {
            code,
            severity,
            file: self.file.to_owned(),
            line: at.0,
            column: at.1,
            field: field.map(str::to_owned),
            message,
        });
    }

    pub(super) fn error(
        &mut self,
        code: &'static str,
        at: (usize, usize),
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, code, at, field, message.into());
    }

    pub(super) fn warning(
        &mut self,
        code: &'static str,
        at: (usize, usize),
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, code, at, field, message.into());
    }

    pub(super) fn at(&self, node: &Node) -> (usize, usize) {
        node.span()
            .start()
            .map_or((0, 0), |m| (m.line() + self.line_offset, m.column()))
    }

    pub(super) fn at_scalar(&self, node: &MarkedScalarNode) -> (usize, usize) {
        node.span()
            .start()
            .map_or((0, 0), |m| (m.line() + self.line_offset, m.column()))
    }
}

const SPEC_KEYS: &[&str] = &[
    "name",
    "description",
    "license",
    "compatibility",
    "allowed-tools",
    "metadata",
];
const KEEL_KEYS: &[&str] = &[
    "namespace",
    "source",
    "category",
    "priority",
    "triggers",
    "keywords",
    "required_context",
    "outputs",
    "sequence",
    "version",
    "author",
];

pub(super) fn fields(
    report: &mut Report<'_>,
    folder: Option<&str>,
    map: &MarkedMappingNode,
    body: &str,
) -> Option<SkillDoc> {
    for (key, _) in map.iter() {
        if !SPEC_KEYS.contains(&key.as_str()) {
            let at = report.at_scalar(key);
            report.warning(
                "unknown_key",
                at,
                Some(key.as_str()),
                format!(
                    "`{}` is not an Agent Skills key; Keel's fields go under `metadata`",
                    key.as_str()
                ),
            );
        }
    }
    let name = required_text(report, map, "name");
    if let Some((name, at)) = &name {
        check_name(report, name, *at, folder);
    }
    let description = required_text(report, map, "description");
    if let Some((text, at)) = &description {
        if text.chars().count() > MAX_DESCRIPTION {
            report.error(
                "description_too_long",
                *at,
                Some("description"),
                format!(
                    "{} characters; the limit is {MAX_DESCRIPTION}",
                    text.chars().count()
                ),
            );
        }
        if text.contains('<') || text.contains('>') {
            report.error(
                "invalid_description",
                *at,
                Some("description"),
                "`<` and `>` are not allowed (no XML in descriptions)",
            );
        }
    }
    for key in ["license", "compatibility"] {
        if let Some(node) = map.get_node(key)
            && node.as_scalar().is_none()
        {
            let at = report.at(node);
            report.error("wrong_type", at, Some(key), format!("`{key}` must be text"));
        }
    }
    let empty = MarkedMappingNode::new_empty(marked_yaml::Span::new_blank());
    let metadata = match map.get_node("metadata") {
        None => &empty,
        Some(Node::Mapping(m)) => m,
        Some(other) => {
            let at = report.at(other);
            report.error(
                "wrong_type",
                at,
                Some("metadata"),
                "`metadata` must be a mapping",
            );
            &empty
        }
    };
    for (key, _) in metadata.iter() {
        if !KEEL_KEYS.contains(&key.as_str()) {
            let at = report.at_scalar(key);
            let field = format!("metadata.{}", key.as_str());
            report.warning(
                "unknown_key",
                at,
                Some(&field),
                format!("`{field}` is not a field Keel reads"),
            );
        }
    }
    let namespace = choice(
        report,
        metadata,
        "namespace",
        Namespace::parse,
        Namespace::allowed(),
    );
    let source = choice(report, metadata, "source", Source::parse, Source::allowed())
        .unwrap_or(Source::Platform);
    let priority = choice(
        report,
        metadata,
        "priority",
        Priority::parse,
        Priority::allowed(),
    )
    .unwrap_or(Priority::Medium);
    let category = optional_text(report, metadata, "category");
    let triggers = triggers(report, metadata);
    let keywords = text_list(report, metadata, "metadata", "keywords");
    let required_context = text_list(report, metadata, "metadata", "required_context");
    let outputs = text_list(report, metadata, "metadata", "outputs");
    let sequence = text_list(report, metadata, "metadata", "sequence");
    if body.trim().is_empty() {
        report.warning(
            "empty_body",
            (report.line_offset + 1, 1),
            None,
            "the skill has no instructions after the frontmatter",
        );
    }
    Some(SkillDoc {
        name: name?.0,
        description: description?.0,
        namespace,
        source,
        category,
        priority,
        triggers,
        keywords,
        required_context,
        outputs,
        sequence,
        body: body.to_owned(),
    })
}

fn check_name(report: &mut Report<'_>, name: &str, at: (usize, usize), folder: Option<&str>) {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty()
        || name.len() > MAX_NAME
        || !valid_chars
        || name.starts_with('-')
        || name.ends_with('-')
        || name.contains("--")
    {
        report.error(
            "invalid_name",
            at,
            Some("name"),
            format!("`{name}`: 1–{MAX_NAME} lowercase letters, digits and single hyphens, not at either end"),
        );
    } else if name.contains("anthropic") || name.contains("claude") {
        report.error(
            "invalid_name",
            at,
            Some("name"),
            format!("`{name}` contains a reserved word (anthropic, claude)"),
        );
    }
    if let Some(folder) = folder
        && folder != name
    {
        report.error(
            "name_mismatch",
            at,
            Some("name"),
            format!("`{name}` must equal its folder name `{folder}`"),
        );
    }
}

fn required_text(
    report: &mut Report<'_>,
    map: &MarkedMappingNode,
    key: &str,
) -> Option<(String, (usize, usize))> {
    match map.get_node(key) {
        None => {
            report.error(
                "missing_field",
                (report.line_offset, 1),
                Some(key),
                format!("`{key}` is required"),
            );
            None
        }
        Some(Node::Scalar(s)) if !s.as_str().trim().is_empty() => {
            Some((s.as_str().to_owned(), report.at_scalar(s)))
        }
        Some(node) => {
            let at = report.at(node);
            report.error(
                "wrong_type",
                at,
                Some(key),
                format!("`{key}` must be non-empty text"),
            );
            None
        }
    }
}

fn optional_text(report: &mut Report<'_>, map: &MarkedMappingNode, key: &str) -> Option<String> {
    match map.get_node(key)? {
        Node::Scalar(s) => Some(s.as_str().to_owned()),
        node => {
            let at = report.at(node);
            report.error(
                "wrong_type",
                at,
                Some(&format!("metadata.{key}")),
                format!("`metadata.{key}` must be text"),
            );
            None
        }
    }
}

fn choice<T>(
    report: &mut Report<'_>,
    map: &MarkedMappingNode,
    key: &str,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Option<T> {
    let node = map.get_node(key)?;
    let value = node.as_scalar().and_then(|s| parse(s.as_str()));
    if value.is_none() {
        let at = report.at(node);
        let shown = node.as_scalar().map_or("a non-text value", |s| s.as_str());
        report.error(
            "invalid_value",
            at,
            Some(&format!("metadata.{key}")),
            format!("`{shown}` is not one of {allowed}"),
        );
    }
    value
}

fn text_list(
    report: &mut Report<'_>,
    map: &MarkedMappingNode,
    parent: &str,
    key: &str,
) -> Vec<String> {
    let Some(node) = map.get_node(key) else {
        return Vec::new();
    };
    let field = format!("{parent}.{key}");
    let Some(items) = node.as_sequence() else {
        let at = report.at(node);
        report.error(
            "wrong_type",
            at,
            Some(&field),
            format!("`{field}` must be a list of text"),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_scalar() {
            Some(s) if !s.as_str().trim().is_empty() => out.push(s.as_str().to_owned()),
            _ => {
                let at = report.at(item);
                report.error(
                    "wrong_type",
                    at,
                    Some(&format!("{field}[{i}]")),
                    "must be non-empty text",
                );
            }
        }
    }
    out
}

fn triggers(report: &mut Report<'_>, metadata: &MarkedMappingNode) -> Vec<Trigger> {
    let Some(node) = metadata.get_node("triggers") else {
        return Vec::new();
    };
    let Some(items) = node.as_sequence() else {
        let at = report.at(node);
        report.error(
            "wrong_type",
            at,
            Some("metadata.triggers"),
            "`metadata.triggers` must be a list",
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("metadata.triggers[{i}]");
        let Some(map) = item.as_mapping() else {
            let at = report.at(item);
            report.error(
                "wrong_type",
                at,
                Some(&field),
                "a trigger is a mapping with `phrase`, `examples` and `confidence`",
            );
            continue;
        };
        for (key, _) in map.iter() {
            if !["phrase", "examples", "confidence"].contains(&key.as_str()) {
                let at = report.at_scalar(key);
                report.warning(
                    "unknown_key",
                    at,
                    Some(&format!("{field}.{}", key.as_str())),
                    format!("`{}` is not a trigger field", key.as_str()),
                );
            }
        }
        let phrase = match map.get_scalar("phrase") {
            Some(s) if !s.as_str().trim().is_empty() => s.as_str().to_owned(),
            _ => {
                let at = report.at(item);
                report.error(
                    "missing_field",
                    at,
                    Some(&format!("{field}.phrase")),
                    "a trigger needs a `phrase`",
                );
                continue;
            }
        };
        let confidence = match map.get_node("confidence") {
            None => 0.7,
            Some(node) => match node.as_scalar().and_then(|s| s.as_f64()) {
                Some(c) if (0.0..=1.0).contains(&c) => c,
                _ => {
                    let at = report.at(node);
                    report.error(
                        "invalid_value",
                        at,
                        Some(&format!("{field}.confidence")),
                        "confidence is a number from 0 to 1",
                    );
                    continue;
                }
            },
        };
        let examples = text_list(report, map, &field, "examples");
        out.push(Trigger {
            phrase,
            examples,
            confidence,
        });
    }
    out
}
