//! The SKILL.md format: YAML frontmatter between `---` lines, then a markdown body.
//!
//! Files stay valid Agent Skills on disk: the top level holds only the spec's keys (`name`,
//! `description`, `license`, `compatibility`, `allowed-tools`, `metadata`), so a skill uploads
//! to any spec-following host unchanged. Keel's own fields live under `metadata`, where the
//! original corpus kept them (`metadata.triggers`, `metadata.keywords`, …):
//!
//! | key | meaning |
//! |---|---|
//! | `metadata.namespace` | `copilot`, `slack`, `fleet` or `shared` (default) |
//! | `metadata.source` | `platform` (default), `org` or `user` |
//! | `metadata.category` | free text |
//! | `metadata.priority` | `low`, `medium` (default), `high` or `critical` |
//! | `metadata.triggers` | list of `{phrase, examples: [..], confidence: 0..1}` |
//! | `metadata.keywords`, `metadata.required_context`, `metadata.outputs` | lists of strings |
//! | `metadata.sequence` | the skills this one runs, in order (a sequence skill) |
//! | `metadata.version`, `metadata.author` | free text, for people |
//!
//! Every problem in a file is reported in one pass, each as a [`Diagnostic`] with the line and
//! column and a stable code. Unknown keys are warnings. Bounds hold before the YAML parser sees
//! anything: files over 1 MiB, non-UTF-8 bytes and flow nesting deeper than 64 are rejected, and
//! anchors and aliases are refused by the parser, so no alias bomb can expand.

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use serde::Serialize;

pub use crate::diagnostic::{Diagnostic, Severity};

/// Largest SKILL.md accepted.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Deepest `[`/`{` nesting accepted in the frontmatter.
pub const MAX_FLOW_DEPTH: usize = 64;
/// Longest description (the Agent Skills spec).
pub const MAX_DESCRIPTION: usize = 1024;
/// Longest name (the Agent Skills spec).
pub const MAX_NAME: usize = 64;

/// Where a skill is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// The web copilot.
    Copilot,
    /// Slack.
    Slack,
    /// Background fleet agents and the command centre.
    Fleet,
    /// Every channel.
    Shared,
}

/// Who owns a skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Shipped with the platform.
    Platform,
    /// Written by an org.
    Org,
    /// Written by a user.
    User,
}

/// How early routing should consider a skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Last.
    Low,
    /// The default.
    Medium,
    /// Before medium.
    High,
    /// First.
    Critical,
}

macro_rules! names {
    ($ty:ident, [$($variant:ident = $text:literal),+ $(,)?]) => {
        impl $ty {
            /// The spelling in files and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($ty::$variant),)+ _ => None }
            }

            fn allowed() -> &'static str {
                concat!($($text, " "),+).trim_end()
            }
        }
    };
}

names!(
    Namespace,
    [
        Copilot = "copilot",
        Slack = "slack",
        Fleet = "fleet",
        Shared = "shared"
    ]
);
names!(Source, [Platform = "platform", Org = "org", User = "user"]);

impl Namespace {
    /// Every namespace.
    pub const ALL: [Namespace; 4] = [
        Namespace::Copilot,
        Namespace::Slack,
        Namespace::Fleet,
        Namespace::Shared,
    ];

    /// The namespace spelled `text`, if any.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::parse(text)
    }
}

impl std::str::FromStr for Namespace {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        Self::parse(text).ok_or_else(|| {
            crate::Error::invalid_input(
                "namespace",
                format!(
                    "`{text}` is not a namespace; expected one of {}",
                    Self::allowed()
                ),
            )
        })
    }
}
names!(
    Priority,
    [
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical"
    ]
);

/// A phrase that should route to a skill, with examples for evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    /// The phrase, e.g. `deal status`.
    pub phrase: String,
    /// Whole user messages that should route here.
    pub examples: Vec<String>,
    /// How sure a match on the phrase is, 0.0 to 1.0 (default 0.7).
    pub confidence: f64,
}

/// `@skill-name/doc` references in a body (documents of other skills to inline), as
/// (skill, document).
pub fn references(body: &str) -> impl Iterator<Item = (&str, &str)> {
    body.match_indices('@')
        .filter_map(move |(i, _)| reference_at(body, i).map(|(skill, doc, _)| (skill, doc)))
}

/// The `@skill/doc` reference starting at byte `at` (an `@` at the start of a word, so an email
/// address is not one): (skill, doc, length after the `@`). The compiler and the library
/// checks both read references through this, so they agree on what one is.
pub(super) fn reference_at(body: &str, at: usize) -> Option<(&str, &str, usize)> {
    let bytes = body.as_bytes();
    if bytes.get(at) != Some(&b'@')
        || (at > 0 && !bytes[at - 1].is_ascii_whitespace() && bytes[at - 1] != b'(')
    {
        return None;
    }
    let text = &body[at + 1..];
    let slash = text.find('/')?;
    let skill = &text[..slash];
    let valid_skill = !skill.is_empty()
        && skill
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_skill {
        return None;
    }
    let doc_len = text[slash + 1..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
        .unwrap_or(text.len() - slash - 1);
    let doc = text[slash + 1..slash + 1 + doc_len].trim_end_matches('.');
    (!doc.is_empty()).then_some((skill, doc, slash + 1 + doc.len()))
}

/// A parsed SKILL.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillDoc {
    /// The skill's key: its folder name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// Where it is shown, when the file says (a library takes it from the folder otherwise).
    pub namespace: Option<Namespace>,
    /// Who owns it.
    pub source: Source,
    /// Free-text category.
    pub category: Option<String>,
    /// Routing priority.
    pub priority: Priority,
    /// Routing triggers.
    pub triggers: Vec<Trigger>,
    /// Routing keywords.
    pub keywords: Vec<String>,
    /// Context the skill needs (`${…}` roots it reads).
    pub required_context: Vec<String>,
    /// What it produces.
    pub outputs: Vec<String>,
    /// The skills it runs in order, for a sequence skill (empty otherwise).
    pub sequence: Vec<String>,
    /// The markdown body (a template).
    pub body: String,
}

impl SkillDoc {
    /// A skill with only a name, a description and a body; every other field at its default.
    pub fn minimal(name: &str, description: &str, body: &str) -> Self {
        SkillDoc {
            name: name.to_owned(),
            description: description.to_owned(),
            namespace: None,
            source: Source::Platform,
            category: None,
            priority: Priority::Medium,
            triggers: Vec::new(),
            keywords: Vec::new(),
            required_context: Vec::new(),
            outputs: Vec::new(),
            sequence: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// The outcome of parsing one file: the skill when it has no error, and every finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// The skill, when no finding is an error.
    pub skill: Option<SkillDoc>,
    /// Every finding, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// True when a finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

struct Report<'a> {
    file: &'a str,
    /// Lines before the frontmatter's first line, added to the parser's line numbers.
    line_offset: usize,
    diagnostics: Vec<Diagnostic>,
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

    fn error(
        &mut self,
        code: &'static str,
        at: (usize, usize),
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, code, at, field, message.into());
    }

    fn warning(
        &mut self,
        code: &'static str,
        at: (usize, usize),
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, code, at, field, message.into());
    }

    fn at(&self, node: &Node) -> (usize, usize) {
        node.span()
            .start()
            .map_or((0, 0), |m| (m.line() + self.line_offset, m.column()))
    }

    fn at_scalar(&self, node: &MarkedScalarNode) -> (usize, usize) {
        node.span()
            .start()
            .map_or((0, 0), |m| (m.line() + self.line_offset, m.column()))
    }
}

/// 1-based (line, column) of byte `offset` in `text`.
fn position(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, column)
}

/// Parses one SKILL.md. `file` names it in diagnostics; `folder` is the name of the folder it is
/// in, which `name` must equal.
pub fn parse(file: &str, folder: Option<&str>, bytes: &[u8]) -> Parsed {
    let mut report = Report {
        file,
        line_offset: 0,
        diagnostics: Vec::new(),
    };
    let skill = parse_into(&mut report, folder, bytes);
    let diagnostics = report.diagnostics;
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Parsed {
        skill: skill.filter(|_| !failed),
        diagnostics,
    }
}

fn parse_into(report: &mut Report<'_>, folder: Option<&str>, bytes: &[u8]) -> Option<SkillDoc> {
    if bytes.len() > MAX_FILE_BYTES {
        report.error(
            "file_too_large",
            (0, 0),
            None,
            format!("{} bytes; the limit is {MAX_FILE_BYTES}", bytes.len()),
        );
        return None;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let at = position(bytes, err.valid_up_to());
            report.error("not_utf8", at, None, "the file is not UTF-8");
            return None;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (frontmatter, body) = split_frontmatter(report, text)?;
    if let Some((at, depth)) = flow_depth_over(frontmatter, MAX_FLOW_DEPTH) {
        let at = position(frontmatter.as_bytes(), at);
        report.error(
            "too_deep",
            (at.0 + 1, at.1),
            None,
            format!("nesting deeper than {depth} levels"),
        );
        return None;
    }
    report.line_offset = 1;
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, frontmatter, options) {
        Ok(root) => root,
        Err(err) => {
            yaml_error(report, &err);
            return None;
        }
    };
    let map = root.as_mapping()?;
    fields(report, folder, map, body)
}

/// Splits `---\n<yaml>\n---\n<body>`; reports a missing or unterminated frontmatter.
fn split_frontmatter<'t>(report: &mut Report<'_>, text: &'t str) -> Option<(&'t str, &'t str)> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        report.error(
            "missing_frontmatter",
            (1, 1),
            None,
            "a SKILL.md starts with a `---` line, then YAML, then `---`",
        );
        return None;
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Some((&text[start..offset], &text[offset + line.len()..]));
        }
        offset += line.len();
    }
    report.error(
        "unterminated_frontmatter",
        (1, 1),
        None,
        "the frontmatter opened on line 1 has no closing `---` line",
    );
    None
}

/// Where `[`/`{` nesting (outside quotes) first exceeds `limit`, before the parser sees it.
fn flow_depth_over(yaml: &str, limit: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (i, b) in yaml.bytes().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return Some((i, limit));
                }
            }
            (None, b']' | b'}') => depth = depth.saturating_sub(1),
            (None, b'\n') => quote = None,
            _ => {}
        }
    }
    None
}

fn yaml_error(report: &mut Report<'_>, err: &LoadError) {
    let at = |m: &marked_yaml::Marker| (m.line() + 1, m.column());
    match err {
        LoadError::UnexpectedAnchor(m) => report.error(
            "yaml_anchor",
            at(m),
            None,
            "anchors and aliases are not allowed in a SKILL.md",
        ),
        LoadError::DuplicateKey(inner) => {
            let m = inner.key.span().start().map_or((0, 0), at);
            report.error(
                "duplicate_key",
                m,
                Some(inner.key.as_str()),
                format!("`{}` appears twice", inner.key.as_str()),
            )
        }
        LoadError::TopLevelMustBeMapping(m) => report.error(
            "frontmatter_not_mapping",
            at(m),
            None,
            "the frontmatter must be a mapping of keys",
        ),
        LoadError::MappingKeyMustBeScalar(m) => report.error(
            "yaml_syntax",
            at(m),
            None,
            "mapping keys must be plain text",
        ),
        LoadError::UnexpectedTag(m) => report.error(
            "yaml_tag",
            at(m),
            None,
            "explicit YAML tags are not allowed",
        ),
        LoadError::ScanError(m, scan) => report.error("yaml_syntax", at(m), None, scan.to_string()),
        other => report.error("yaml_syntax", (0, 0), None, other.to_string()),
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

fn fields(
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
