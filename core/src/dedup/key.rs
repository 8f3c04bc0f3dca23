//! The dedup key of a Command Centre item ([`dedup_key`]): org, user, type, entity and action,
//! so two tenants or two users never share a key (the original's key had neither).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What a key is made of, as the item carries it.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyParts<'a> {
    /// The org (required).
    pub org_id: &'a str,
    /// The user, if the item is for one.
    pub user_id: Option<&'a str>,
    /// The item's type (required).
    pub item_type: &'a str,
    /// The deal, if any.
    pub deal_id: Option<&'a str>,
    /// The contact, if any.
    pub contact_id: Option<&'a str>,
    /// The producer's context: its `action_type`, else its `trigger`, names the action.
    pub context: Option<&'a Map<String, Value>>,
}

/// `value` unless it is blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.trim().is_empty())
}

/// `%` and `:` escaped, so a part cannot forge another part's boundary.
fn part(text: &str) -> String {
    text.replace('%', "%25").replace(':', "%3A")
}

/// The item's key: `org:user:type:entity:action`, where the user is `no_user` when absent,
/// the entity is the deal, else the contact, else `no_entity` (as the original), and the action
/// is the context's `action_type`, else its `trigger`, else `default` (as the original). Free
/// text parts have `%` and `:` percent-escaped.
///
/// # Errors
/// [`Error::InvalidInput`] on an empty `org_id` or `item_type`.
pub fn dedup_key(parts: &KeyParts<'_>) -> Result<String> {
    if parts.org_id.trim().is_empty() {
        return Err(Error::invalid_input("org_id", "is required"));
    }
    if parts.item_type.trim().is_empty() {
        return Err(Error::invalid_input("item_type", "is required"));
    }
    let entity = present(parts.deal_id)
        .or(present(parts.contact_id))
        .unwrap_or("no_entity");
    let action = parts
        .context
        .and_then(|c| {
            ["action_type", "trigger"]
                .iter()
                .find_map(|k| c.get(*k).and_then(Value::as_str))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    Ok(format!(
        "{}:{}:{}:{}:{}",
        part(parts.org_id),
        part(present(parts.user_id).unwrap_or("no_user")),
        part(parts.item_type),
        part(entity),
        part(action)
    ))
}
