//! A diff between two stored versions of a skill, for the console's skill view.

use serde::Deserialize;
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use super::json_rows;
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds};
use crate::store::{Dialect, Pool};

/// Which versions of which skill to compare.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SkillDiff {
    /// The skill.
    pub key: String,
    /// The older version (default: the one before `to`).
    pub from: Option<u32>,
    /// The newer version (default: the latest).
    pub to: Option<u32>,
}

/// Lines of context kept around each change.
const CONTEXT: usize = 3;

/// The line diff of a skill's SKILL.md between two versions: `{key, from, to, hunks}`, each
/// hunk a list of `{op, text}` (`equal`, `delete`, `insert`) with up to three lines of
/// context; `hunks` is empty when the two are the same.
///
/// # Errors
/// [`Error::InvalidInput`] on `key` (empty, or no stored version), `from` or `to` (no such
/// version, or `from` not before `to`); storage errors.
pub async fn skill_diff(pool: &Pool, args: &SkillDiff) -> Result<Value> {
    if args.key.is_empty() {
        return Err(Error::invalid_input("key", "is required"));
    }
    let d = Dialect::of(pool);
    let row = d.json_object(&[
        ("version", "version"),
        ("text", "coalesce(source_text, content_template)"),
    ]);
    let statement =
        format!("SELECT {row} FROM platform_skills WHERE skill_key = $1 ORDER BY version");
    let versions = json_rows(
        pool,
        &statement,
        Binds(vec![Bind::Text(Some(args.key.clone()))]),
    )
    .await?;
    let number = |v: &Value| v["version"].as_u64().unwrap_or(0) as u32;
    let latest = versions
        .last()
        .map(number)
        .ok_or_else(|| Error::invalid_input("key", "no version of this skill is stored"))?;
    let to = args.to.unwrap_or(latest);
    let from = args.from.unwrap_or(to.saturating_sub(1).max(1));
    if from > to {
        return Err(Error::invalid_input("from", "must not be after `to`"));
    }
    let text = |field: &str, n: u32| -> Result<String> {
        versions
            .iter()
            .find(|v| number(v) == n)
            .and_then(|v| v["text"].as_str().map(str::to_owned))
            .ok_or_else(|| Error::invalid_input(field, format!("version {n} is not stored")))
    };
    let new = text("to", to)?;
    let old = text("from", from)?;
    Ok(json!({ "key": args.key, "from": from, "to": to, "hunks": hunks(&old, &new) }))
}

/// The changed regions of `old` against `new`, with context.
fn hunks(old: &str, new: &str) -> Vec<Vec<Value>> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(CONTEXT)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| {
                    let op = match change.tag() {
                        ChangeTag::Equal => "equal",
                        ChangeTag::Delete => "delete",
                        ChangeTag::Insert => "insert",
                    };
                    json!({ "op": op, "text": change.value().trim_end_matches('\n') })
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hunk_holds_the_change_and_its_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let hunks = hunks(old, new);
        assert_eq!(hunks.len(), 1);
        let ops: Vec<(&str, &str)> = hunks[0]
            .iter()
            .map(|l| (l["op"].as_str().unwrap(), l["text"].as_str().unwrap()))
            .collect();
        assert_eq!(
            ops,
            [
                ("equal", "b"),
                ("equal", "c"),
                ("equal", "d"),
                ("delete", "e"),
                ("insert", "E"),
                ("equal", "f"),
                ("equal", "g"),
                ("equal", "h"),
            ]
        );
    }

    #[test]
    fn the_same_text_has_no_hunk() {
        assert!(hunks("x\ny\n", "x\ny\n").is_empty());
    }
}
