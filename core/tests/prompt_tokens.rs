//! A model call's credit reservation counts its prompt with the client's token counter: exactly
//! for a model whose tokenizer is known, calibrated for the others, and by the byte estimate
//! only when the model cannot be counted for.

use keel::llm::{CallRequest, Message, Tool, estimate_tokens, prompt_tokens};
use keel::tokens::TokenCounter;
use serde_json::json;

fn request() -> CallRequest {
    CallRequest {
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("🙂 ".repeat(60)),
            Message::user("How is Acme?"),
        ],
        ..CallRequest::default()
    }
}

#[test]
fn the_reservation_counts_the_prompt_exactly_where_the_tokenizer_is_known() {
    let counter = TokenCounter::default();
    let request = request();
    let exact = counter
        .count_request("gpt-4o", request.system.as_deref(), &request.messages)
        .unwrap();
    assert!(exact.exact);
    assert_eq!(prompt_tokens(&counter, "gpt-4o", &request), exact.tokens);
    assert_ne!(
        exact.tokens,
        estimate_tokens(&request),
        "four bytes a token misjudges emoji"
    );
    // The system text counts: the same messages without it are fewer tokens.
    let bare = CallRequest {
        system: None,
        ..request.clone()
    };
    assert!(prompt_tokens(&counter, "gpt-4o", &bare) < exact.tokens);
    // Tools add their schemas.
    let tooled = CallRequest {
        tools: vec![Tool {
            name: "crm_search".into(),
            description: "Searches the CRM for a deal".into(),
            parameters: json!({"type": "object", "properties": {"deal": {"type": "string"}}}),
        }],
        ..request.clone()
    };
    assert!(prompt_tokens(&counter, "gpt-4o", &tooled) > exact.tokens + 10);
}

#[test]
fn other_models_are_counted_calibrated_and_an_empty_id_is_estimated() {
    let counter = TokenCounter::default();
    let request = request();
    let claude = counter
        .count_request(
            "claude-haiku-4-5",
            request.system.as_deref(),
            &request.messages,
        )
        .unwrap();
    assert!(!claude.exact);
    assert_eq!(
        prompt_tokens(&counter, "claude-haiku-4-5", &request),
        claude.tokens
    );
    assert_eq!(
        prompt_tokens(&counter, "", &request),
        estimate_tokens(&request)
    );
}
