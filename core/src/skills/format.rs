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

use marked_yaml::{LoadError, LoaderOptions};
use serde::Serialize;

pub use crate::diagnostic::{Diagnostic, Severity};

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
    let doc = fields(report, folder, map, body)?;
    // Template findings carry their place in the file: the body starts after the frontmatter.
    let body_start = text.len() - body.len();
    for (at, code, message) in super::compile::check_template(body) {
        let (line, column) = position(text.as_bytes(), body_start + at);
        report.error(code, (line, column), Some("body"), message);
    }
    Some(doc)
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
