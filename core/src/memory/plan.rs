//! Compaction planned as a pure function of a conversation's view: which old tool results
//! become stubs (observation masking), where the verbatim recent turns start, which middle
//! turns a summary replaces and which oldest ones go to fact extraction. No I/O: the store
//! ([`super::ConversationStore::compact`]) reads the view, asks the summarizer and applies the
//! plan in one transaction.
//!
//! Tiers are token budgets, not message counts or ages:
//! - **pinned**: system turns (system prompt, skills, org policy) are never masked or summarised;
//! - **recent**: the newest turns up to `recent_tokens`, never fewer than `min_recent`
//!   messages, and always from the newest user turn (the current request) on;
//! - **summarised middle**: the older turns, up to `summary_input_tokens` of them, newest first;
//! - **facts**: the oldest turns beyond that, handed to fact extraction.
//!
//! A cut never separates a tool call from its result, or the calls of a parallel group.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conversation::StoredMessage;
use crate::error::{Error, Result};
use crate::llm::{Message, Part, Role};
use crate::options::{Case, from_value};
use crate::tokens::stored_message_tokens;

/// How a masked tool result starts; a result that starts so is not masked again.
pub const STUB_PREFIX: &str = "[tool result masked:";

/// The summary prompt: the original three-tier compaction's headings (empty ones omitted).
pub const COMPACTION_INSTRUCTIONS: &str = "Summarise this conversation segment for the assistant \
that will continue it. Use these headings, omitting any with nothing under them: **Decisions & \
Conclusions**, **Actions & Follow-ups**, **Deal Stage Changes**, **Entities** (name and role), \
**User Preferences**. If the segment starts with an earlier summary, carry its content forward. \
Keep names, numbers and dates exact. Under 400 words.";

/// The budgets a plan works to. Every field has the original's default (§3.3 of the
/// reference): 20,000 recent tokens, at least 10 recent messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanOptions {
    /// The view must end at or under this many tokens (the model's compaction threshold).
    pub threshold: u64,
    /// Tokens of newest turns kept verbatim.
    pub recent_tokens: u64,
    /// Fewest newest messages kept verbatim (while the view still fits under the threshold).
    pub min_recent: u64,
    /// Tokens of tool results kept verbatim outside the recent messages; older ones are masked.
    pub tool_result_tokens: u64,
    /// Most tokens of middle turns sent to the summarizer; older turns go to fact extraction.
    pub summary_input_tokens: u64,
    /// Tokens the summary may take (the summary call's reply limit).
    pub summary_tokens: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            threshold: 137_712,
            recent_tokens: 20_000,
            min_recent: 10,
            tool_result_tokens: 8_000,
            summary_input_tokens: 60_000,
            summary_tokens: 1_024,
        }
    }
}

impl PlanOptions {
    /// Options from the object a binding passes (keys spelt in `case`; `root` names it in
    /// errors), checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: not a non-negative integer, a zero threshold,
    /// `min_recent` under 1, a summary that could not fit under the threshold.
    pub fn from_value(value: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: Self = from_value(value, case, root)?;
        options.check().map_err(|e| match e {
            Error::InvalidInput { field, message } if root.is_empty() => {
                case.invalid(&field, message)
            }
            Error::InvalidInput { field, message } => {
                case.invalid(&format!("{root}.{field}"), message)
            }
            other => other,
        })?;
        Ok(options)
    }

    /// Checks the budgets against each other.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `threshold`, `min_recent` or `summary_tokens`.
    pub fn check(&self) -> Result<()> {
        if self.threshold == 0 {
            return Err(Error::invalid_input("threshold", "must be positive"));
        }
        if self.min_recent == 0 {
            return Err(Error::invalid_input("min_recent", "must be at least 1"));
        }
        if self.summary_tokens == 0 || self.summary_tokens >= self.threshold {
            return Err(Error::invalid_input(
                "summary_tokens",
                "must be positive and under the threshold",
            ));
        }
        Ok(())
    }
}

/// What a plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// The view fits: nothing to do.
    None,
    /// Masking old tool results is enough.
    Mask,
    /// Mask, then replace the middle turns with a summary.
    Summarize,
}

/// A compaction plan (see the module docs). Seqs are the stored messages'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// What it does.
    pub action: PlanAction,
    /// The view's tokens now (its messages plus any earlier summary).
    pub tokens_before: u64,
    /// The view's tokens after the plan, the summary counted at its full budget.
    pub tokens_after: u64,
    /// Messages whose tool results become stubs.
    pub masked: Vec<u64>,
    /// The first and last seq the summary replaces (with any earlier summary).
    pub summarize: Option<[u64; 2]>,
    /// The first and last seq handed to fact extraction (the oldest of the replaced turns).
    pub facts: Option<[u64; 2]>,
    /// The first seq kept verbatim.
    pub keep_from: Option<u64>,
    /// True when the view ends at or under the threshold.
    pub fits: bool,
}

/// Each tool call of `messages` by id: the tool's name, its arguments and where it is.
type Calls<'a> = HashMap<&'a str, (&'a str, &'a Value, usize)>;

fn calls<'a>(messages: impl IntoIterator<Item = &'a StoredMessage>) -> Calls<'a> {
    let mut calls = HashMap::new();
    for (i, m) in messages.into_iter().enumerate() {
        for part in &m.content {
            if let Part::ToolCall {
                id,
                name,
                arguments,
            } = part
            {
                calls.insert(id.as_str(), (name.as_str(), arguments, i));
            }
        }
    }
    calls
}

/// The stub that replaces a tool result: the tool, its arguments (cut to 200 characters), the
/// outcome and the size of what was dropped.
pub fn stub(name: &str, arguments: &Value, is_error: bool, tokens: u64) -> String {
    let mut args = arguments.to_string();
    if args.chars().count() > 200 {
        args = args.chars().take(200).collect::<String>() + "…";
    }
    let outcome = if is_error { "error" } else { "ok" };
    format!("{STUB_PREFIX} {name}({args}) -> {outcome}, {tokens} tokens dropped]")
}

/// Masks the tool results of the messages of `view` whose seq is in `seqs` (sorted).
pub fn mask_all(view: &mut [StoredMessage], seqs: &[u64]) {
    if seqs.is_empty() {
        return;
    }
    let calls = calls(view.iter());
    let masked: Vec<(usize, StoredMessage)> = view
        .iter()
        .enumerate()
        .filter(|(_, m)| seqs.binary_search(&m.seq).is_ok())
        .map(|(i, m)| (i, mask_with(m, &calls)))
        .collect();
    for (i, m) in masked {
        view[i] = m;
    }
}

fn mask_with(message: &StoredMessage, calls: &Calls) -> StoredMessage {
    let content: Vec<Part> = message
        .content
        .iter()
        .map(|part| match part {
            Part::ToolResult {
                call_id,
                name,
                content,
                is_error,
            } if !content.starts_with(STUB_PREFIX) => {
                let (tool, arguments) = calls.get(call_id.as_str()).map_or_else(
                    || (name.as_deref().unwrap_or("tool"), &Value::Null),
                    |c| (c.0, c.1),
                );
                let tokens = (content.len() as u64).div_ceil(4);
                Part::ToolResult {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    content: stub(tool, arguments, *is_error, tokens),
                    is_error: *is_error,
                }
            }
            other => other.clone(),
        })
        .collect();
    let (tokens, _) = stored_message_tokens(&Message {
        role: message.role,
        content: content.clone(),
    });
    StoredMessage {
        content,
        tokens,
        ..message.clone()
    }
}

/// True when `message` holds a tool result not yet masked.
fn has_result(message: &StoredMessage) -> bool {
    message
        .content
        .iter()
        .any(|p| matches!(p, Part::ToolResult { content, .. } if !content.starts_with(STUB_PREFIX)))
}

/// For each place `at` in `body`, the earliest place of a tool call answered at or after `at`
/// (`usize::MAX` when none is): a cut before `body[at]` is safe, separating no call from its
/// result, when that is at or after `at`.
fn earliest_answered(body: &[&StoredMessage], calls: &Calls) -> Vec<usize> {
    let mut earliest = vec![usize::MAX; body.len() + 1];
    for at in (0..body.len()).rev() {
        let here = body[at]
            .content
            .iter()
            .filter_map(|p| match p {
                Part::ToolResult { call_id, .. } => calls.get(call_id.as_str()).map(|c| c.2),
                _ => None,
            })
            .min()
            .unwrap_or(usize::MAX);
        earliest[at] = here.min(earliest[at + 1]);
    }
    earliest
}

/// Checks a view passed from outside: seqs rise, and every tool result answers a call before
/// it.
///
/// # Errors
/// [`Error::InvalidInput`] naming `messages[i].seq` or `messages[i].content[j].call_id`.
pub fn check_view(view: &[StoredMessage]) -> Result<()> {
    let mut called = std::collections::HashSet::new();
    for (i, m) in view.iter().enumerate() {
        if m.seq == 0 || (i > 0 && m.seq <= view[i - 1].seq) {
            return Err(Error::invalid_input(
                format!("messages[{i}].seq"),
                "must be positive and above the seq before it",
            ));
        }
        for (j, part) in m.content.iter().enumerate() {
            match part {
                Part::ToolCall { id, .. } => {
                    called.insert(id.as_str());
                }
                Part::ToolResult { call_id, .. } if !called.contains(call_id.as_str()) => {
                    return Err(Error::invalid_input(
                        format!("messages[{i}].content[{j}].call_id"),
                        format!("{call_id:?} answers no tool call before it"),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Plans the compaction of `view` (the conversation as it is sent now: pinned system turns and
/// the turns after any earlier summary, in seq order, earlier masks applied), whose earlier
/// summary takes `summary_tokens` (0 without one). See the module docs.
pub fn plan(view: &[StoredMessage], summary_tokens: u64, options: &PlanOptions) -> Plan {
    let before = summary_tokens + view.iter().map(|m| m.tokens).sum::<u64>();
    let mut plan = Plan {
        action: PlanAction::None,
        tokens_before: before,
        tokens_after: before,
        masked: Vec::new(),
        summarize: None,
        facts: None,
        keep_from: None,
        fits: before <= options.threshold,
    };
    if plan.fits {
        return plan;
    }
    let pinned: u64 = view
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.tokens)
        .sum();
    let body: Vec<&StoredMessage> = view.iter().filter(|m| m.role != Role::System).collect();
    let mut tokens: Vec<u64> = body.iter().map(|m| m.tokens).collect();
    let n = body.len();
    let last_user = body.iter().rposition(|m| m.role == Role::User).unwrap_or(n);
    let protected =
        (n.saturating_sub(usize::try_from(options.min_recent).unwrap_or(n))).min(last_user);

    // Observation masking: tool results outside the protected turns, newest first, kept while
    // they fit the tool-result budget.
    let calls = calls(body.iter().copied());
    let mut kept = 0u64;
    for i in (0..protected).rev() {
        if !has_result(body[i]) {
            continue;
        }
        if kept + tokens[i] <= options.tool_result_tokens {
            kept += tokens[i];
            continue;
        }
        let stubbed = mask_with(body[i], &calls).tokens;
        if stubbed < tokens[i] {
            plan.masked.push(body[i].seq);
            tokens[i] = stubbed;
        }
    }
    plan.masked.sort_unstable();
    let body_tokens: u64 = tokens.iter().sum();
    plan.tokens_after = pinned + summary_tokens + body_tokens;
    if !plan.masked.is_empty() {
        plan.action = PlanAction::Mask;
    }
    if plan.tokens_after <= options.threshold {
        plan.fits = true;
        return plan;
    }

    // The cut: the recent budget, at least `min_recent` messages and the current request, moved
    // earlier to a safe place; then later, while the view does not fit.
    let earliest = earliest_answered(&body, &calls);
    let safe = |at: usize| earliest[at] >= at;
    // kept[i]: the tokens of body[i..].
    let mut kept = vec![0u64; n + 1];
    for i in (0..n).rev() {
        kept[i] = kept[i + 1] + tokens[i];
    }
    let mut cut = n;
    while cut > 0 && kept[cut - 1] <= options.recent_tokens {
        cut -= 1;
    }
    cut = cut.min(protected);
    while cut > 0 && !safe(cut) {
        cut -= 1;
    }
    let after = |cut: usize| {
        let summary = if cut > 0 {
            options.summary_tokens
        } else {
            summary_tokens
        };
        pinned + kept[cut] + summary
    };
    let last = last_user.min(n);
    while after(cut) > options.threshold && cut < last {
        cut += 1;
        while cut < last && !safe(cut) {
            cut += 1;
        }
    }
    if cut == 0 {
        plan.fits = false;
        return plan;
    }
    plan.action = PlanAction::Summarize;
    plan.tokens_after = after(cut);
    plan.fits = plan.tokens_after <= options.threshold;
    plan.keep_from = body.get(cut).map(|m| m.seq);
    // The middle, newest first, up to the summarizer's input budget; older turns are facts.
    let mut start = cut;
    let mut input = 0u64;
    while start > 0 && input + tokens[start - 1] <= options.summary_input_tokens {
        start -= 1;
        input += tokens[start];
    }
    if start == cut {
        start = cut - 1; // one turn over the budget is still summarised (cut short)
    }
    plan.summarize = Some([body[start].seq, body[cut - 1].seq]);
    if start > 0 {
        plan.facts = Some([body[0].seq, body[start - 1].seq]);
    }
    plan
}

/// The first `bytes` bytes of `text` (fewer, to end on a character).
pub fn head(text: &str, bytes: usize) -> &str {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The turns `from..=through` written out for the summarizer, after any earlier summary:
/// `[role]: text` blocks, tool calls as `name(arguments)`, results as `[tool name]: content`.
pub fn transcript(view: &[StoredMessage], earlier: Option<&str>, range: [u64; 2]) -> String {
    let mut out = String::new();
    if let Some(summary) = earlier {
        out.push_str("[earlier summary]: ");
        out.push_str(summary);
        out.push_str("\n\n");
    }
    let calls = calls(view);
    for m in view
        .iter()
        .filter(|m| (range[0]..=range[1]).contains(&m.seq))
    {
        if m.role == Role::System {
            continue;
        }
        for part in &m.content {
            match part {
                Part::Text { text } => out.push_str(&format!("[{}]: {text}\n\n", m.role.as_str())),
                Part::Image { .. } => {
                    out.push_str(&format!("[{}]: (an image)\n\n", m.role.as_str()))
                }
                Part::ToolCall {
                    name, arguments, ..
                } => out.push_str(&format!("[assistant calls {name}]: {arguments}\n\n")),
                Part::ToolResult {
                    call_id, content, ..
                } => {
                    let tool = calls.get(call_id.as_str()).map_or("tool", |c| c.0);
                    out.push_str(&format!("[{tool} returned]: {content}\n\n"));
                }
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The system turn that stands for the turns `range` in the view: the summary under a line
/// saying what it covers.
pub fn summary_message(summary: &str, range: [u64; 2]) -> Message {
    Message {
        role: Role::System,
        content: vec![Part::text(format!(
            "Summary of the earlier conversation (messages {} to {}):\n\n{summary}",
            range[0], range[1]
        ))],
    }
}

/// The text that stands for the turns `range` when no summary could be written: the
/// deterministic trim says so, with the reason.
pub fn trim_note(range: [u64; 2], reason: &str) -> String {
    let mut reason: String = reason.chars().take(200).collect();
    if reason.is_empty() {
        reason = "no summarizer".into();
    }
    format!(
        "Messages {} to {} were trimmed without a summary ({reason}); ask the user for anything \
         needed from them.",
        range[0], range[1]
    )
}
