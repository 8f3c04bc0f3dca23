//! Memory: planning the compaction of a 1,000-message conversation with tool calls (target
//! ≤ 1 ms, issue 16).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::llm::{Part, Role};
use keel::memory::{PlanOptions, StoredMessage, plan};
use keel::tokens::stored_message_tokens;

/// 1,000 messages: a system prompt, then rounds of a question, a tool call and its result.
fn view() -> Vec<StoredMessage> {
    let mut out = Vec::with_capacity(1_000);
    let mut push = |role: Role, content: Vec<Part>| {
        let message = keel::llm::Message { role, content };
        out.push(StoredMessage {
            seq: out.len() as u64 + 1,
            tokens: stored_message_tokens(&message).0,
            role,
            content: message.content,
            tokens_exact: false,
            created_at: String::new(),
        });
    };
    push(Role::System, vec![Part::text("You are the sales copilot.")]);
    for i in 0..333 {
        push(
            Role::User,
            vec![Part::text(format!("What changed on deal {i}?"))],
        );
        let id = format!("call-{i}");
        push(
            Role::Assistant,
            vec![Part::ToolCall {
                id: id.clone(),
                name: "crm_search".into(),
                arguments: serde_json::json!({"deal": i}),
            }],
        );
        push(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: id,
                name: None,
                content: "r".repeat(2_000),
                is_error: false,
            }],
        );
    }
    out
}

fn plan_1000(c: &mut Criterion) {
    let view = view();
    let options = PlanOptions {
        threshold: 20_000,
        ..PlanOptions::default()
    };
    let planned = plan(&view, 0, &options);
    assert!(planned.fits && !planned.masked.is_empty() && planned.summarize.is_some());
    let mut group = c.benchmark_group("memory");
    group.bench_function("plan_1000", |b| {
        b.iter(|| plan(black_box(&view), 0, &options))
    });
    group.finish();
}

criterion_group!(benches, plan_1000);
criterion_main!(benches);
