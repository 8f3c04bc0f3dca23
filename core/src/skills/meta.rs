//! The platform corpus's fields beyond routing: skill type and activity, the agents and context
//! a skill is for, its inputs and outputs, linked skills and workflow, how it runs, its
//! command-centre entry and its deprecation. Each is typed here and carried to resolved views.

use marked_yaml::Node;
use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::Report;
use super::format::SkillType;
use super::values::{Keys, choice, list_at, mapping_at, text_at, text_list};

/// One input or output of a skill: a name alone (`- deal_id`) or the corpus's mapping
/// (`{name, type, required, description}`); other keys are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Port {
    /// The value's name, e.g. `raw_query`.
    pub name: String,
    /// Its type as written (`string`, `array`, `object`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Whether a caller must supply it (inputs; default false).
    pub required: bool,
    /// What it is.
    pub description: Option<String>,
    /// Any other keys of the mapping (`enum`, `default`, …), as JSON.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A skill's entry in the command centre (`metadata.command_centre`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CommandCentre {
    /// Shown in the command centre.
    pub enabled: bool,
    /// The slash command, e.g. `/prep`.
    pub label: Option<String>,
    /// What the entry does.
    pub description: Option<String>,
    /// A Lucide icon name.
    pub icon: Option<String>,
}

/// The corpus's fields a [`super::SkillDoc`] carries besides routing and the template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillMeta {
    /// `atomic` (default) or `sequence` (default when the skill names a sequence or workflow).
    pub skill_type: SkillType,
    /// False hides the skill from every view (`metadata.is_active: false`; default true).
    pub is_active: bool,
    /// The author's version label, e.g. `"2"` (the stored version is Keel's own).
    pub version: Option<String>,
    /// Who wrote it.
    pub author: Option<String>,
    /// The fleet agents the skill is for (`pipeline`, `outreach`, `slack`, …).
    pub agent_affinity: Vec<String>,
    /// Which org-context profile the skill wants (`sales`, `research`, `full`, …).
    pub context_profile: Option<String>,
    /// Capabilities the org must have connected (`crm`, `calendar`, …).
    pub requires_capabilities: Vec<String>,
    /// Context roots the skill uses when present (never deferred to a request).
    pub optional_context: Vec<String>,
    /// What a caller passes in.
    pub inputs: Vec<Port>,
    /// Related skills, by key.
    pub linked_skills: Vec<String>,
    /// A sequence's steps, each a mapping as written (`skill`, `name`, `on_failure`, …).
    pub workflow: Vec<Value>,
    /// How the steps run (`sequential`, `parallel`, …).
    pub execution_mode: Option<String>,
    /// The longest a run may take, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Free tags.
    pub tags: Vec<String>,
    /// The command-centre entry, if any.
    pub command_centre: Option<CommandCentre>,
    /// The key of the skill that replaces this one.
    pub deprecated_by: Option<String>,
    /// Why it is deprecated.
    pub deprecation_reason: Option<String>,
}

impl Default for SkillMeta {
    fn default() -> Self {
        SkillMeta {
            skill_type: SkillType::Atomic,
            is_active: true,
            version: None,
            author: None,
            agent_affinity: Vec::new(),
            context_profile: None,
            requires_capabilities: Vec::new(),
            optional_context: Vec::new(),
            inputs: Vec::new(),
            linked_skills: Vec::new(),
            workflow: Vec::new(),
            execution_mode: None,
            timeout_ms: None,
            tags: Vec::new(),
            command_centre: None,
            deprecated_by: None,
            deprecation_reason: None,
        }
    }
}

/// Reads every [`SkillMeta`] field from `keys`.
pub(super) fn read(report: &mut Report<'_>, keys: &Keys<'_>) -> SkillMeta {
    let text = |report: &mut Report<'_>, key: &str| {
        let (node, field) = keys.get(key)?;
        text_at(report, node, &field)
    };
    let workflow = match keys.get("workflow") {
        Some((node, field)) => workflow(report, node, &field),
        None => Vec::new(),
    };
    let declared = choice(
        report,
        keys,
        "skill_type",
        SkillType::parse,
        SkillType::allowed(),
    );
    let runs_others = !workflow.is_empty() || keys.get("sequence").is_some();
    SkillMeta {
        skill_type: declared.unwrap_or(if runs_others {
            SkillType::Sequence
        } else {
            SkillType::Atomic
        }),
        is_active: boolean(report, keys, "is_active").unwrap_or(true),
        version: text(report, "version"),
        author: text(report, "author"),
        agent_affinity: text_list(report, keys, "agent_affinity"),
        context_profile: text(report, "context_profile"),
        requires_capabilities: text_list(report, keys, "requires_capabilities"),
        optional_context: text_list(report, keys, "optional_context"),
        inputs: ports(report, keys, "inputs"),
        linked_skills: text_list(report, keys, "linked_skills"),
        workflow,
        execution_mode: text(report, "execution_mode"),
        timeout_ms: timeout(report, keys),
        tags: text_list(report, keys, "tags"),
        command_centre: command_centre(report, keys),
        deprecated_by: text(report, "deprecated_by"),
        deprecation_reason: text(report, "deprecation_reason"),
    }
}

/// The skills a workflow runs, in order: each step's `skill` (or `skill_key`).
pub(super) fn workflow_skills(workflow: &[Value]) -> Vec<String> {
    workflow
        .iter()
        .filter_map(|step| {
            step.get("skill")
                .or_else(|| step.get("skill_key"))?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn boolean(report: &mut Report<'_>, keys: &Keys<'_>, key: &str) -> Option<bool> {
    let (node, field) = keys.get(key)?;
    bool_at(report, node, &field)
}

fn bool_at(report: &mut Report<'_>, node: &Node, field: &str) -> Option<bool> {
    let value = node.as_scalar().and_then(|s| s.as_bool());
    if value.is_none() {
        let at = report.at(node);
        report.error(
            "wrong_type",
            at,
            Some(field),
            format!("`{field}` must be true or false"),
        );
    }
    value
}

fn timeout(report: &mut Report<'_>, keys: &Keys<'_>) -> Option<u64> {
    let (node, field) = keys.get("timeout_ms")?;
    let value = node
        .as_scalar()
        .and_then(|s| s.as_str().trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0);
    if value.is_none() {
        let at = report.at(node);
        report.error(
            "invalid_value",
            at,
            Some(&field),
            "`timeout_ms` is a whole number of milliseconds above 0",
        );
    }
    value
}

/// A list of [`Port`]s: names or mappings with a `name`.
pub(super) fn ports(report: &mut Report<'_>, keys: &Keys<'_>, key: &str) -> Vec<Port> {
    let Some((node, field)) = keys.get(key) else {
        return Vec::new();
    };
    let what = "a list of names or `{name, type, …}` mappings";
    let Some(items) = list_at(report, node, &field, what) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = report.at(item);
        let field = format!("{field}[{i}]");
        match item {
            Node::Scalar(s) if !s.as_str().trim().is_empty() => out.push(Port {
                name: s.as_str().to_owned(),
                ..Port::default()
            }),
            Node::Mapping(map) => {
                let Some(name) = map.get_scalar("name").filter(|n| !n.as_str().is_empty()) else {
                    report.error(
                        "missing_field",
                        at,
                        Some(&format!("{field}.name")),
                        "an input or output needs a `name`",
                    );
                    continue;
                };
                let mut port = Port {
                    name: name.as_str().to_owned(),
                    ..Port::default()
                };
                for (key, value) in map.iter() {
                    let sub = format!("{field}.{}", key.as_str());
                    match key.as_str() {
                        "name" => {}
                        "type" => port.kind = text_at(report, value, &sub),
                        "description" => port.description = text_at(report, value, &sub),
                        "required" => port.required = bool_at(report, value, &sub).unwrap_or(false),
                        other => {
                            port.extra.insert(other.to_owned(), to_json(value));
                        }
                    }
                }
                out.push(port);
            }
            _ => report.error(
                "wrong_type",
                at,
                Some(&field),
                "must be a name or a `{name, type, …}` mapping",
            ),
        }
    }
    out
}

fn workflow(report: &mut Report<'_>, node: &Node, field: &str) -> Vec<Value> {
    let Some(items) = list_at(report, node, field, "a list of steps") else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if item.as_mapping().is_none() {
            let at = report.at(item);
            report.error(
                "wrong_type",
                at,
                Some(&format!("{field}[{i}]")),
                "a workflow step is a mapping (`skill`, `name`, …)",
            );
            continue;
        }
        out.push(to_json(item));
    }
    out
}

fn command_centre(report: &mut Report<'_>, keys: &Keys<'_>) -> Option<CommandCentre> {
    let (node, field) = keys.get("command_centre")?;
    let map = mapping_at(report, node, &field)?;
    let mut entry = CommandCentre::default();
    for (key, value) in map.iter() {
        let sub = format!("{field}.{}", key.as_str());
        match key.as_str() {
            "enabled" => entry.enabled = bool_at(report, value, &sub).unwrap_or(false),
            "label" => entry.label = text_at(report, value, &sub),
            "description" => entry.description = text_at(report, value, &sub),
            "icon" => entry.icon = text_at(report, value, &sub),
            other => {
                let at = report.at_scalar(key);
                report.warning(
                    "unknown_key",
                    at,
                    Some(&sub),
                    format!("`{other}` is not a command-centre field"),
                );
            }
        }
    }
    if let Some(label) = entry.label.as_deref().filter(|l| !l.starts_with('/')) {
        let at = report.at(map.get_node("label").unwrap_or(node));
        report.warning(
            "command_label",
            at,
            Some(&format!("{field}.label")),
            format!("`{label}` is a command: start it with `/`"),
        );
    }
    Some(entry)
}

/// A YAML node as JSON: scalars that read as a whole number, a number or a boolean become one.
pub(super) fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => s
            .as_i64()
            .map(Value::from)
            .or_else(|| {
                s.as_f64()
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            })
            .or_else(|| s.as_bool().map(Value::Bool))
            .unwrap_or_else(|| Value::String(s.as_str().to_owned())),
        Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_owned(), to_json(v)))
                .collect(),
        ),
    }
}
