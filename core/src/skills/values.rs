//! Typed values read out of the frontmatter's YAML nodes: text, lists, mappings and choices,
//! each reporting a `wrong_type` or `invalid_value` finding that names the field as the file
//! spells it. [`Keys`] looks a field up under `metadata` first, then at the top level.

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;

use super::fields::Report;

/// Where Keel's fields are looked up: `metadata` first, then the top level.
pub(super) struct Keys<'a> {
    pub(super) metadata: &'a MarkedMappingNode,
    pub(super) top: &'a MarkedMappingNode,
}

impl<'a> Keys<'a> {
    /// The node of `key` and its field path as the file spells it.
    pub(super) fn get(&self, key: &str) -> Option<(&'a Node, String)> {
        if let Some(node) = self.metadata.get_node(key) {
            return Some((node, format!("metadata.{key}")));
        }
        self.top.get_node(key).map(|node| (node, key.to_owned()))
    }
}

pub(super) fn required_text(
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

pub(super) fn optional_text(report: &mut Report<'_>, keys: &Keys<'_>, key: &str) -> Option<String> {
    let (node, field) = keys.get(key)?;
    text_at(report, node, &field)
}

/// A scalar as text (numbers and booleans as written), or a `wrong_type` error.
pub(super) fn text_at(report: &mut Report<'_>, node: &Node, field: &str) -> Option<String> {
    match node {
        Node::Scalar(s) => Some(s.as_str().to_owned()),
        node => {
            let at = report.at(node);
            report.error(
                "wrong_type",
                at,
                Some(field),
                format!("`{field}` must be text"),
            );
            None
        }
    }
}

pub(super) fn choice<T>(
    report: &mut Report<'_>,
    keys: &Keys<'_>,
    key: &str,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Option<T> {
    let (node, field) = keys.get(key)?;
    let value = node.as_scalar().and_then(|s| parse(s.as_str()));
    if value.is_none() {
        let at = report.at(node);
        let shown = node.as_scalar().map_or("a non-text value", |s| s.as_str());
        report.error(
            "invalid_value",
            at,
            Some(&field),
            format!("`{shown}` is not one of {allowed}"),
        );
    }
    value
}

pub(super) fn text_list(report: &mut Report<'_>, keys: &Keys<'_>, key: &str) -> Vec<String> {
    match keys.get(key) {
        Some((node, field)) => text_list_at(report, node, &field),
        None => Vec::new(),
    }
}

/// The items of the list at `node`, or a `wrong_type` error saying it must be `what`.
pub(super) fn list_at<'n>(
    report: &mut Report<'_>,
    node: &'n Node,
    field: &str,
    what: &str,
) -> Option<&'n [Node]> {
    let items = node.as_sequence().map(|s| s.as_slice());
    if items.is_none() {
        let at = report.at(node);
        report.error(
            "wrong_type",
            at,
            Some(field),
            format!("`{field}` must be {what}"),
        );
    }
    items
}

/// The mapping at `node`, or a `wrong_type` error saying it must be one.
pub(super) fn mapping_at<'n>(
    report: &mut Report<'_>,
    node: &'n Node,
    field: &str,
) -> Option<&'n MarkedMappingNode> {
    let map = node.as_mapping();
    if map.is_none() {
        let at = report.at(node);
        report.error(
            "wrong_type",
            at,
            Some(field),
            format!("`{field}` must be a mapping"),
        );
    }
    map
}

/// A list of non-empty text at `node`, or `wrong_type` errors naming `field`.
pub(super) fn text_list_at(report: &mut Report<'_>, node: &Node, field: &str) -> Vec<String> {
    let Some(items) = list_at(report, node, field, "a list of text") else {
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
