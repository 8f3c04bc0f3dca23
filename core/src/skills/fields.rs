//! The frontmatter's fields, read one by one into a [`SkillDoc`], and the [`Report`] every
//! finding of a parse goes to. Unknown keys are warnings; every other problem is an error with
//! its line, column and field.

use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};

use super::format::{MAX_DESCRIPTION, MAX_NAME, Namespace, Priority, SkillDoc, Source, Trigger};
use super::values::{
    Keys, choice, list_at, optional_text, required_text, text_at, text_list, text_list_at,
};
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

/// The Agent Skills spec's top-level keys.
pub(super) const SPEC_KEYS: &[&str] = &[
    "name",
    "description",
    "license",
    "compatibility",
    "allowed-tools",
    "metadata",
];

/// Keys the original corpus reads at the top level (its parser did); no warning there.
const TOP_LEVEL_KEYS: &[&str] = &["namespace", "source"];

/// Every field Keel reads from `metadata` (or, misplaced, from the top level).
pub(super) const KEEL_KEYS: &[&str] = &[
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
    "skill_type",
    "is_active",
    "agent_affinity",
    "context_profile",
    "requires_capabilities",
    "inputs",
    "linked_skills",
    "workflow",
    "execution_mode",
    "timeout_ms",
    "tags",
    "command_centre",
    "deprecated_by",
    "deprecation_reason",
    "optional_context",
    "requires_context",
    "display_name",
];

/// How strict a parse is; deserializes from the bindings' options object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParseOptions {
    /// Require what the Agent Skills reference validator requires: only the spec's top-level
    /// keys, `name` equal to the folder, no flow-style (`[…]`, `{…}`) YAML.
    pub portable: bool,
}

pub(super) fn fields(
    report: &mut Report<'_>,
    folder: Option<&str>,
    map: &MarkedMappingNode,
    body: &str,
    options: ParseOptions,
) -> Option<SkillDoc> {
    for (key_node, _) in map.iter() {
        let key = key_node.as_str();
        if SPEC_KEYS.contains(&key) {
            continue;
        }
        let at = report.at_scalar(key_node);
        if options.portable {
            report.error(
                "unknown_key",
                at,
                Some(key),
                format!("`{key}` is not an Agent Skills key; move it under `metadata`"),
            );
        } else if !KEEL_KEYS.contains(&key) {
            report.warning(
                "unknown_key",
                at,
                Some(key),
                format!("`{key}` is not an Agent Skills key; Keel's fields go under `metadata`"),
            );
        } else if !TOP_LEVEL_KEYS.contains(&key) {
            report.warning(
                "misplaced_key",
                at,
                Some(key),
                format!("`{key}` is read here, but belongs under `metadata`"),
            );
        }
    }
    let name = required_text(report, map, "name");
    let display_name = match &name {
        Some((name, at)) => check_name(report, name, *at, folder, options),
        None => None,
    };
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
    let keys = Keys { metadata, top: map };
    // A portable file keeps its display name here (see `keel skills export`).
    let display_name = display_name.or_else(|| optional_text(report, &keys, "display_name"));
    let namespace = choice(
        report,
        &keys,
        "namespace",
        Namespace::parse,
        Namespace::allowed(),
    );
    let source = choice(report, &keys, "source", Source::parse, Source::allowed())
        .unwrap_or(Source::Platform);
    let priority = choice(
        report,
        &keys,
        "priority",
        Priority::parse,
        Priority::allowed(),
    )
    .unwrap_or(Priority::Medium);
    let category = optional_text(report, &keys, "category");
    let triggers = triggers(report, &keys);
    let keywords = text_list(report, &keys, "keywords");
    let mut required_context = text_list(report, &keys, "required_context");
    if let Some((node, field)) = keys.get("requires_context") {
        let at = report.at(node);
        report.warning(
            "misspelled_key",
            at,
            Some(&field),
            "did you mean `required_context`? Keel reads these values as `required_context`",
        );
        for root in text_list(report, &keys, "requires_context") {
            if !required_context.contains(&root) {
                required_context.push(root);
            }
        }
    }
    let outputs = super::meta::ports(report, &keys, "outputs");
    let meta = super::meta::read(report, &keys);
    let mut sequence = text_list(report, &keys, "sequence");
    if sequence.is_empty() {
        sequence = super::meta::workflow_skills(&meta.workflow);
    }
    check_body(report, body);
    // With a display name, the key is the folder.
    let key = match (&display_name, folder) {
        (Some(_), Some(folder)) => folder.to_owned(),
        _ => name?.0,
    };
    Some(SkillDoc {
        name: key,
        display_name,
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
        meta,
        body: body.to_owned(),
    })
}

/// The original's body budget: 5,000 tokens estimated as whitespace words × 1.3.
pub const BODY_TOKEN_BUDGET: usize = 5_000;

/// The original's token estimate of a body: ⌈words × 1.3⌉.
pub fn estimate_tokens(body: &str) -> usize {
    let words = if body.is_ascii() {
        // Byte by byte: the same count as `split_whitespace` on ASCII, several times faster.
        let mut words = 0;
        let mut in_word = false;
        for b in body.bytes() {
            let space = b.is_ascii_whitespace() || b == 0x0b;
            words += usize::from(!space && !in_word);
            in_word = !space;
        }
        words
    } else {
        body.split_whitespace().count()
    };
    (words * 13).div_ceil(10)
}

fn check_body(report: &mut Report<'_>, body: &str) {
    if body.trim().is_empty() {
        report.warning(
            "empty_body",
            (report.line_offset + 1, 1),
            None,
            "the skill has no instructions after the frontmatter",
        );
    }
    let tokens = estimate_tokens(body);
    if tokens > BODY_TOKEN_BUDGET {
        report.warning(
            "body_over_budget",
            (report.line_offset + 1, 1),
            Some("body"),
            format!("about {tokens} tokens (words × 1.3); the budget is {BODY_TOKEN_BUDGET}"),
        );
    }
}

/// True for a skill key: lowercase letters, digits and single inner hyphens, at most
/// [`MAX_NAME`] bytes; a leading `_` marks a reference-only skill (`_platform-references`).
pub fn is_key(key: &str) -> bool {
    let slug = key.strip_prefix('_').unwrap_or(key);
    !slug.is_empty()
        && key.len() <= MAX_NAME
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
}

/// Checks `name` against the folder; returns it as a display name when it is one.
fn check_name(
    report: &mut Report<'_>,
    name: &str,
    at: (usize, usize),
    folder: Option<&str>,
    options: ParseOptions,
) -> Option<String> {
    let reserved = name.contains("anthropic") || name.contains("claude");
    match folder {
        // A display name: the folder is the key. A portable file needs the key here.
        Some(folder) if name != folder && !is_key(name) => {
            if options.portable {
                report.error(
                    "name_mismatch",
                    at,
                    Some("name"),
                    format!("`{name}` must be the folder name `{folder}` (a display name goes in `metadata.display_name`)"),
                );
            }
            check_key(report, folder, at, "folder");
            Some(name.to_owned())
        }
        Some(folder) if name != folder => {
            report.error(
                "name_mismatch",
                at,
                Some("name"),
                format!("`{name}` must equal its folder name `{folder}`"),
            );
            None
        }
        _ => {
            check_key(report, name, at, "name");
            if reserved {
                report.error(
                    "invalid_name",
                    at,
                    Some("name"),
                    format!("`{name}` contains a reserved word (anthropic, claude)"),
                );
            }
            if options.portable && name.starts_with('_') {
                report.error(
                    "invalid_name",
                    at,
                    Some("name"),
                    format!("`{name}`: a portable name starts with a letter or digit"),
                );
            }
            None
        }
    }
}

fn check_key(report: &mut Report<'_>, key: &str, at: (usize, usize), what: &str) {
    if !is_key(key) {
        report.error(
            "invalid_name",
            at,
            Some("name"),
            format!("{what} `{key}`: 1–{MAX_NAME} lowercase letters, digits and single hyphens, not at either end"),
        );
    }
}

fn triggers(report: &mut Report<'_>, keys: &Keys<'_>) -> Vec<Trigger> {
    let Some((node, parent)) = keys.get("triggers") else {
        return Vec::new();
    };
    let Some(items) = list_at(report, node, &parent, "a list") else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{parent}[{i}]");
        let Some(map) = item.as_mapping() else {
            let at = report.at(item);
            report.error(
                "wrong_type",
                at,
                Some(&field),
                "a trigger is a mapping with `pattern`, `intent`, `confidence` and `examples`",
            );
            continue;
        };
        for (key, _) in map.iter() {
            let at = report.at_scalar(key);
            match key.as_str() {
                "pattern" | "intent" | "examples" | "confidence" => {}
                "phrase" => report.warning(
                    "deprecated_key",
                    at,
                    Some(&format!("{field}.phrase")),
                    "`phrase` is read as `pattern`; rename it (`keel skills export` does)",
                ),
                other => report.warning(
                    "unknown_key",
                    at,
                    Some(&format!("{field}.{other}")),
                    format!("`{other}` is not a trigger field"),
                ),
            }
        }
        let pattern = match map
            .get_scalar("pattern")
            .or_else(|| map.get_scalar("phrase"))
        {
            Some(s) if !s.as_str().trim().is_empty() => s.as_str().to_owned(),
            _ => {
                let at = report.at(item);
                report.error(
                    "missing_field",
                    at,
                    Some(&format!("{field}.pattern")),
                    "a trigger needs a `pattern`",
                );
                continue;
            }
        };
        let intent = map
            .get_node("intent")
            .and_then(|node| text_at(report, node, &format!("{field}.intent")));
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
        let examples = match map.get_node("examples") {
            Some(node) => text_list_at(report, node, &format!("{field}.examples")),
            None => Vec::new(),
        };
        out.push(Trigger {
            pattern,
            intent,
            confidence,
            examples,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_estimate_counts_words_as_split_whitespace_does() {
        for text in [
            "",
            "one",
            "  two words ",
            "tabs\tand\nnew\r\nlines\x0bvertical\x0cfeed",
            "ünïcode words\u{a0}with a no-break space",
        ] {
            let words = text.split_whitespace().count();
            assert_eq!(estimate_tokens(text), (words * 13).div_ceil(10), "{text:?}");
        }
        assert_eq!(estimate_tokens(&"word ".repeat(3846)), 5000);
        assert_eq!(estimate_tokens(&"word ".repeat(3847)), 5002);
    }

    #[test]
    fn keys_are_slugs_with_an_optional_leading_underscore() {
        for key in ["deal-status", "_platform-references", "a1", "x"] {
            assert!(is_key(key), "{key}");
        }
        for key in [
            "",
            "_",
            "Deal",
            "a--b",
            "-a",
            "a-",
            "a_b",
            "__a",
            &"a".repeat(65),
        ] {
            assert!(!is_key(key), "{key}");
        }
    }
}
