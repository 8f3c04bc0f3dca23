//! What an org sees: platform skills with the org's overrides applied, compiled with the org's
//! context, then filtered per channel.
//!
//! Org wins over platform. For each platform skill, in this order:
//! 1. disabled by the org: hidden (`disabled_by_org`);
//! 2. replaced by the org's own SKILL.md: the replacement is served (`replaced_by_org`);
//! 3. pinned: the pinned version is served instead of the current one (`pinned_by_org`);
//! 4. moved to another namespace for the org: shown there (`moved_by_org` where it was);
//! 5. deprecated (the version served is): hidden (`deprecated`);
//!    inactive (`is_active: false`, or a `_`-prefixed key that only holds documents): hidden
//!    (`inactive`);
//! 6. a compile error for this org's context (a missing `${path}`): hidden (`compile_failed`).
//!
//! Each hidden or displaced version is reported as a [`Shadowed`] entry, so "why does this org
//! not see skill X on Slack" has an answer. An org can also add skills of its own (a replacement
//! with no platform skill of that key).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::channel::Channel;
use super::compile::{Compiled, compile, context_hash, render_request};
use super::format::{Diagnostic, Namespace, Severity, SkillDoc, Source, parse};
use super::org_store::StoredOverride;
use super::store::StoredVersion;

/// A skill as one org sees it, compiled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedSkill {
    /// The skill key.
    pub key: String,
    /// The namespace it is shown in for this org.
    pub namespace: Namespace,
    /// `platform`, or `org` for the org's replacement.
    pub source: Source,
    /// The platform version served; `None` for an org's own skill.
    pub version: Option<u32>,
    /// The content hash of what was compiled.
    pub content_hash: String,
    /// The frontmatter: description, triggers, keywords, priority, …
    pub doc: SkillDoc,
    /// The compiled text: the org-context block, then the body with every expression and
    /// reference resolved.
    pub content: String,
    /// The hash of the context it was compiled with.
    pub context_hash: String,
    /// Where `content` still has expressions for request time.
    #[serde(skip)]
    pub deferred: Vec<std::ops::Range<usize>>,
}

impl ResolvedSkill {
    /// The content with the expressions left for request time (roots of `required_context`
    /// the org context lacks, e.g. `${deal.name}`) filled from `request`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSkill`] with a `template_value` finding for a missing path without
    /// a default (see [`render_request`]).
    pub fn render(&self, request: &serde_json::Value) -> crate::Result<String> {
        render_request(&self.content, &self.deferred, request)
    }

    /// Whether `content` waits for request values.
    pub fn needs_request(&self) -> bool {
        !self.deferred.is_empty()
    }
}

/// Why a skill version is not what an org sees. For each platform skill, overrides apply in
/// this order: disabled (hidden), replaced by the org's own SKILL.md, pinned to another
/// version, moved to another namespace; then the version served is hidden if it is deprecated
/// or does not compile with the org's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowReason {
    /// The org turned the skill off.
    DisabledByOrg,
    /// The org's own SKILL.md is served instead.
    ReplacedByOrg,
    /// The org pins another version.
    PinnedByOrg,
    /// The org shows the skill in another namespace.
    MovedByOrg,
    /// The version served is deprecated.
    Deprecated,
    /// The file says `is_active: false`, or the key starts with `_` (a skill that only holds
    /// documents for others to include, such as `_platform-references`).
    Inactive,
    /// The skill does not compile with the org's context; nothing is served for its key.
    CompileFailed,
    /// The org's own SKILL.md does not parse or compile; the platform version is served in
    /// its place (an org's broken replacement never hides the skill it replaced).
    ReplacementFailed,
}

impl ShadowReason {
    /// The stable spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ShadowReason::DisabledByOrg => "disabled_by_org",
            ShadowReason::ReplacedByOrg => "replaced_by_org",
            ShadowReason::PinnedByOrg => "pinned_by_org",
            ShadowReason::MovedByOrg => "moved_by_org",
            ShadowReason::Deprecated => "deprecated",
            ShadowReason::Inactive => "inactive",
            ShadowReason::CompileFailed => "compile_failed",
            ShadowReason::ReplacementFailed => "replacement_failed",
        }
    }

    /// Whether this entry is a failure to report (a skill or a replacement that should have
    /// been served and was not), rather than an org's or an operator's choice.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            ShadowReason::CompileFailed | ShadowReason::ReplacementFailed
        )
    }
}

/// A skill version an org does not see where it otherwise would, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shadowed {
    /// The skill key.
    pub key: String,
    /// The namespace it would have been shown in.
    pub namespace: Namespace,
    /// The version shadowed, if a platform version.
    pub version: Option<u32>,
    /// Why.
    pub reason: ShadowReason,
    /// A sentence for people.
    pub detail: String,
}

impl Shadowed {
    /// This entry as a finding: its reason is the code, its key the file, its detail the
    /// message (an error when [`ShadowReason::is_failure`], else a warning).
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            code: self.reason.as_str(),
            severity: if self.reason.is_failure() {
                Severity::Error
            } else {
                Severity::Warning
            },
            file: self.key.clone(),
            line: 0,
            column: 0,
            field: None,
            message: self.detail.clone(),
        }
    }
}

/// Every skill of one org, all namespaces, before channel filtering.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrgSkills {
    pub skills: Vec<Arc<ResolvedSkill>>,
    pub shadowed: Vec<Shadowed>,
}

/// What `resolve_skills(org, channel)` returns: the skills the channel sees, by key, and what
/// was shadowed in the channel's namespaces.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedSkills {
    /// The org.
    pub org_id: Uuid,
    /// The channel.
    pub channel: &'static str,
    /// The effective skills, ordered by key.
    pub skills: Vec<Arc<ResolvedSkill>>,
    /// What was shadowed, ordered by key.
    pub shadowed: Vec<Shadowed>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl ResolvedSkills {
    /// What should have been served and was not ([`ShadowReason::is_failure`]): a skill that
    /// does not compile with the org's context, an org's replacement that is broken.
    pub fn failures(&self) -> impl Iterator<Item = &Shadowed> {
        self.shadowed.iter().filter(|s| s.reason.is_failure())
    }

    /// The content of `key` with its request-time expressions filled from `request` (see
    /// [`ResolvedSkill::render`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] with field `key` when the channel does not see `key`; as
    /// [`ResolvedSkill::render`] for a missing request value.
    pub fn render(&self, key: &str, request: &serde_json::Value) -> crate::Result<String> {
        self.get(key)
            .ok_or_else(|| {
                crate::Error::invalid_input("key", format!("`{key}` is not a skill of this view"))
            })?
            .render(request)
    }

    /// The skill with this key, if the channel sees it.
    pub fn get(&self, key: &str) -> Option<&Arc<ResolvedSkill>> {
        self.index.get(key).map(|&i| &self.skills[i])
    }

    /// How many skills the channel sees.
    pub fn len(&self) -> usize {
        self.skills.len()
    }

    /// True when the channel sees no skill.
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty()
    }
}

impl OrgSkills {
    /// The part `channel` sees.
    pub(crate) fn view(&self, org_id: Uuid, channel: Channel) -> ResolvedSkills {
        let skills: Vec<_> = self
            .skills
            .iter()
            .filter(|s| channel.sees(s.namespace))
            .cloned()
            .collect();
        let index = skills
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.clone(), i))
            .collect();
        ResolvedSkills {
            org_id,
            channel: channel.as_str(),
            shadowed: self
                .shadowed
                .iter()
                .filter(|s| channel.sees(s.namespace))
                .cloned()
                .collect(),
            skills,
            index,
        }
    }
}

/// A skill on its way into a view: its document, namespace, source, version, content hash and,
/// for an org's replacement, its compilation (it had to compile to be served).
type Served = (
    SkillDoc,
    Namespace,
    Source,
    Option<u32>,
    String,
    Option<Compiled>,
);

/// Applies `overrides` to the `current` platform versions (with the org's `pinned` versions at
/// hand) and compiles every visible skill with `context`.
pub(crate) fn resolve_org(
    current: &[StoredVersion],
    pinned: &[StoredVersion],
    overrides: &[StoredOverride],
    context: &serde_json::Value,
) -> OrgSkills {
    let overrides: HashMap<&str, &StoredOverride> =
        overrides.iter().map(|o| (o.key.as_str(), o)).collect();
    let documents: HashMap<&str, &BTreeMap<String, String>> = current
        .iter()
        .map(|v| (v.key.as_str(), &v.documents))
        .collect();
    let lookup = |skill: &str, doc: &str| documents.get(skill)?.get(doc).cloned();
    let hash = context_hash(context);
    let mut out = OrgSkills::default();
    let mut shadow = |key: &str, namespace, version, reason, detail: String| {
        out.shadowed.push(Shadowed {
            key: key.to_owned(),
            namespace,
            version,
            reason,
            detail,
        })
    };
    let mut served: Vec<Served> = Vec::new();
    for platform in current {
        let key = platform.key.as_str();
        let over = overrides.get(key).copied();
        if over.is_some_and(|o| !o.enabled) {
            let namespace = over.and_then(|o| o.namespace).unwrap_or(platform.namespace);
            shadow(
                key,
                namespace,
                Some(platform.version),
                ShadowReason::DisabledByOrg,
                "the org turned this skill off".into(),
            );
            continue;
        }
        match over.and_then(|o| replacement(o, context, &lookup)) {
            Some(Ok((doc, text, compiled))) => {
                let namespace = over
                    .and_then(|o| o.namespace)
                    .or(doc.namespace)
                    .unwrap_or(platform.namespace);
                shadow(
                    key,
                    platform.namespace,
                    Some(platform.version),
                    ShadowReason::ReplacedByOrg,
                    format!(
                        "the org's own `{key}` is served instead of version {}",
                        platform.version
                    ),
                );
                served.push((doc, namespace, Source::Org, None, text, Some(compiled)));
                continue;
            }
            Some(Err(detail)) => shadow(
                key,
                platform.namespace,
                None,
                ShadowReason::ReplacementFailed,
                format!(
                    "the org's own `{key}` is broken, version {} is served: {detail}",
                    platform.version
                ),
            ),
            None => {}
        }
        let mut chosen = platform;
        if let Some(pin) = over.and_then(|o| o.pinned_version)
            && pin != platform.version
            && let Some(version) = pinned.iter().find(|v| v.key == key && v.version == pin)
        {
            shadow(
                key,
                platform.namespace,
                Some(platform.version),
                ShadowReason::PinnedByOrg,
                format!(
                    "version {} is current; the org pins version {pin}",
                    platform.version
                ),
            );
            chosen = version;
        }
        let namespace = over.and_then(|o| o.namespace).unwrap_or(chosen.namespace);
        if namespace != chosen.namespace {
            shadow(
                key,
                chosen.namespace,
                Some(chosen.version),
                ShadowReason::MovedByOrg,
                format!("the org shows this skill in `{}`", namespace.as_str()),
            );
        }
        if chosen.deprecated {
            shadow(
                key,
                namespace,
                Some(chosen.version),
                ShadowReason::Deprecated,
                format!("version {} is deprecated", chosen.version),
            );
            continue;
        }
        if !chosen.doc.meta.is_active || key.starts_with('_') {
            let why = if key.starts_with('_') {
                "it only holds documents for other skills to include"
            } else {
                "the file says `is_active: false`"
            };
            shadow(
                key,
                namespace,
                Some(chosen.version),
                ShadowReason::Inactive,
                why.to_owned(),
            );
            continue;
        }
        served.push((
            chosen.doc.clone(),
            namespace,
            Source::Platform,
            Some(chosen.version),
            chosen.content_hash.clone(),
            None,
        ));
    }
    // The org's own skills: replacements with no platform skill of that key.
    let platform_keys: std::collections::HashSet<&str> =
        current.iter().map(|v| v.key.as_str()).collect();
    for over in overrides.values() {
        if platform_keys.contains(over.key.as_str()) || !over.enabled {
            continue;
        }
        match replacement(over, context, &lookup) {
            Some(Ok((doc, text, compiled))) => {
                let namespace = over
                    .namespace
                    .or(doc.namespace)
                    .unwrap_or(Namespace::Shared);
                served.push((doc, namespace, Source::Org, None, text, Some(compiled)));
            }
            Some(Err(detail)) => shadow(
                &over.key,
                over.namespace.unwrap_or(Namespace::Shared),
                None,
                ShadowReason::ReplacementFailed,
                format!(
                    "the org's own `{}` is broken and nothing replaces it: {detail}",
                    over.key
                ),
            ),
            None => {}
        }
    }
    for (doc, namespace, source, version, content_hash, compiled) in served {
        let compiled = match compiled {
            Some(compiled) => Ok(compiled),
            None => compile(&doc, context, &lookup),
        };
        match compiled {
            Ok(compiled) => out.skills.push(Arc::new(ResolvedSkill {
                key: doc.name.clone(),
                namespace,
                source,
                version,
                content_hash,
                doc,
                content: compiled.content,
                context_hash: hash.clone(),
                deferred: compiled.deferred,
            })),
            Err(err) => out.shadowed.push(Shadowed {
                key: doc.name.clone(),
                namespace,
                version,
                reason: ShadowReason::CompileFailed,
                detail: err.to_string(),
            }),
        }
    }
    out.skills.sort_by(|a, b| a.key.cmp(&b.key));
    out.shadowed.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The org's replacement of `over.key`, parsed, compiled with `context`, with its content
/// hash; `Some(Err(why))` when it does not parse (every error finding) or compile, `None` when
/// there is none.
fn replacement(
    over: &StoredOverride,
    context: &serde_json::Value,
    documents: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<std::result::Result<(SkillDoc, String, Compiled), String>> {
    let text = over.replacement.as_deref()?;
    let parsed = parse(&over.key, Some(&over.key), text.as_bytes());
    let Some(doc) = parsed.skill else {
        let findings: Vec<String> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        return Some(Err(findings.join("; ")));
    };
    let hash = super::library::content_hash(text.as_bytes(), &BTreeMap::new());
    Some(match compile(&doc, context, documents) {
        Ok(compiled) => Ok((doc, hash, compiled)),
        Err(err) => Err(err.to_string()),
    })
}
