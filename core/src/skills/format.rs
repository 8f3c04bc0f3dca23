//! The SKILL.md format: YAML frontmatter between `---` lines, then a markdown body.
//!
//! Keel reads the platform's corpus as it is written. The skill's key is its folder; `name` is
//! the key or, when it is not a slug ("AI Ark Reverse Lookup"), a display name. Keel's fields
//! live under `metadata`, where the corpus keeps them; the few the corpus puts at the top level
//! (`namespace`, `source`, and now and then `triggers`, `inputs`, …) are read there too, with a
//! `misplaced_key` warning for all but `namespace` and `source`. Every field is listed, typed,
//! in `skills/README.md`; [`SkillDoc`] and [`SkillMeta`] carry them to resolved views.
//!
//! A portable file ([`ParseOptions::portable`], `keel skills validate --portable`) is one the
//! Agent Skills reference validator accepts: only the spec's top-level keys, `name` equal to
//! the folder, block-style YAML only. `keel skills export --portable` writes one from any file
//! ([`super::export`]).
//!
//! Every problem in a file is reported in one pass, each as a [`Diagnostic`] with the line and
//! column and a stable code. Unknown keys are warnings. Bounds hold before the YAML parser sees
//! anything: files over 1 MiB, non-UTF-8 bytes and flow nesting deeper than 64 are rejected, and
//! anchors and aliases are refused by the parser, so no alias bomb can expand.

use marked_yaml::{LoadError, LoaderOptions};
use serde::Serialize;

pub use crate::diagnostic::{Diagnostic, Severity};

pub use super::meta::{CommandCentre, Port, SkillMeta};

pub use super::fields::{BODY_TOKEN_BUDGET, ParseOptions, estimate_tokens, is_key};

use super::fields::{Report, fields};

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
    /// Before high.
    Critical,
    /// Platform skills that run before any other (one file of the corpus).
    System,
}

macro_rules! names {
    ($ty:ident, [$($variant:ident = $text:literal),+ $(,)?]) => {
        impl $ty {
            /// The spelling in files and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            pub(super) fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($ty::$variant),)+ _ => None }
            }

            pub(super) fn allowed() -> &'static str {
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
        Critical = "critical",
        System = "system"
    ]
);

/// Whether a skill does one thing or runs others in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SkillType {
    /// One task (the default).
    #[default]
    Atomic,
    /// Runs other skills in order (`metadata.workflow` or `metadata.sequence`).
    Sequence,
}

names!(SkillType, [Atomic = "atomic", Sequence = "sequence"]);

/// A pattern that should route to a skill: the platform corpus's
/// `{pattern, intent, confidence, examples}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    /// The pattern, e.g. `deal status` or `what's happening with [deal]`. Keel's earlier
    /// spelling `phrase` is read as this, with a `deprecated_key` warning.
    pub pattern: String,
    /// The label a match reports (free text in the corpus, e.g. `deal_query`).
    pub intent: Option<String>,
    /// How sure a match on the pattern is, 0.0 to 1.0 (default 0.7).
    pub confidence: f64,
    /// Whole user messages that should route here.
    pub examples: Vec<String>,
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
    /// The file's `name` when it is a display name rather than the key ("Deal Rescue Plan").
    pub display_name: Option<String>,
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
    pub outputs: Vec<Port>,
    /// The skills it runs in order, for a sequence skill (empty otherwise): `metadata.sequence`,
    /// or the `skill` of each `metadata.workflow` step.
    pub sequence: Vec<String>,
    /// The platform corpus's other fields (skill type, activity, agents, inputs, workflow, …).
    pub meta: SkillMeta,
    /// The markdown body (a template).
    pub body: String,
}

impl SkillDoc {
    /// A skill with only a name, a description and a body; every other field at its default.
    pub fn minimal(name: &str, description: &str, body: &str) -> Self {
        SkillDoc {
            name: name.to_owned(),
            display_name: None,
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
            meta: SkillMeta::default(),
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
    parse_with(file, folder, bytes, ParseOptions::default())
}

/// [`parse`] with options: `portable` adds the checks of the Agent Skills reference validator.
pub fn parse_with(file: &str, folder: Option<&str>, bytes: &[u8], options: ParseOptions) -> Parsed {
    let mut report = Report {
        file,
        line_offset: 0,
        diagnostics: Vec::new(),
    };
    let skill = parse_into(&mut report, folder, bytes, options);
    let diagnostics = report.diagnostics;
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Parsed {
        skill: skill.filter(|_| !failed),
        diagnostics,
    }
}

fn parse_into(
    report: &mut Report<'_>,
    folder: Option<&str>,
    bytes: &[u8],
    options: ParseOptions,
) -> Option<SkillDoc> {
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
    if let Some(at) = text.find('\0') {
        // Not text: PostgreSQL's text and jsonb cannot store it, and no SKILL.md needs it.
        let at = position(bytes, at);
        report.error(
            "nul_character",
            at,
            None,
            "the file holds a NUL character (U+0000)",
        );
        return None;
    }
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
    let loader = LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, frontmatter, loader) {
        Ok(root) => root,
        Err(err) => {
            yaml_error(report, &err);
            return None;
        }
    };
    let map = root.as_mapping()?;
    if options.portable {
        flow_style(report, frontmatter, &root);
    }
    let doc = fields(report, folder, map, body, options)?;
    // Template findings carry their place in the file: the body starts after the frontmatter.
    let body_start = text.len() - body.len();
    for (at, code, message) in super::compile::check_template(body) {
        let (line, column) = position(text.as_bytes(), body_start + at);
        report.error(code, (line, column), Some("body"), message);
    }
    Some(doc)
}

/// The frontmatter's YAML and the body of a SKILL.md's text, or `None` when it has no
/// complete frontmatter.
pub(super) fn frontmatter_and_body(text: &str) -> Option<(&str, &str)> {
    let mut report = Report {
        file: "",
        line_offset: 0,
        diagnostics: Vec::new(),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    split_frontmatter(&mut report, text)
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

/// Reports every flow-style collection (`[a, b]`, `{k: v}`): the reference validator's YAML
/// parser (strictyaml) refuses them.
fn flow_style(report: &mut Report<'_>, yaml: &str, node: &marked_yaml::Node) {
    let mut found = Vec::new();
    flow_collections(yaml, node, &mut found);
    for (line, column) in found {
        report.error(
            "flow_style",
            (line + report.line_offset, column),
            None,
            "flow-style YAML (`[…]` or `{…}`) is not portable: write one item per line",
        );
    }
}

/// The (line, column) in `yaml` of each outermost flow-style collection under `node`.
pub(super) fn flow_collections(
    yaml: &str,
    node: &marked_yaml::Node,
    found: &mut Vec<(usize, usize)>,
) {
    use marked_yaml::Node;
    let children: Vec<&Node> = match node {
        Node::Scalar(_) => return,
        Node::Sequence(items) => items.iter().collect(),
        Node::Mapping(map) => map.values().collect(),
    };
    let start = node.span().start();
    let opens = start
        .and_then(|m| yaml.get(line_start(yaml, m.line())..))
        .and_then(|line| {
            line.chars()
                .nth(start.map_or(0, |m| m.column()).saturating_sub(1))
        });
    if let (Some('[' | '{'), Some(m)) = (opens, start) {
        found.push((m.line(), m.column()));
        return;
    }
    for child in children {
        flow_collections(yaml, child, found);
    }
}

/// The byte offset where 1-based `line` starts in `text`.
fn line_start(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
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
