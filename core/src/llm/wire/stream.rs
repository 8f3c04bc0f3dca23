//! Server-sent events of each wire, read into neutral pieces: text and tool-call deltas as
//! they arrive, and the reply assembled from them (content, finish reason, usage, model).
//!
//! Anthropic sends typed events (`message_start`, `content_block_start`,
//! `content_block_delta`, `message_delta`, `message_stop`, `error`); Chat Completions sends
//! `chat.completion.chunk` objects, a last chunk with `usage` and `[DONE]`; Gemini sends whole
//! `GenerateContentResponse` objects whose usage is cumulative. Preamble events (a message
//! start, a role) carry no content: they are absorbed here, so the caller decides on fallback
//! by the first [`Piece`] alone.

use serde_json::Value;

use super::{
    Fault, FinishReason, Reply, TokenUsage, Wire, anthropic, count_at, deltas, gemini, openai,
    text_at,
};
use crate::fault::FailureKind;
use crate::llm::message::Part;

/// Content that reached the caller.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Piece {
    /// More text.
    Text {
        /// The new text.
        text: String,
    },
    /// A tool call begins.
    ToolCall {
        /// Its position among the reply's tool calls.
        index: usize,
        /// The provider's id for it.
        id: String,
        /// The tool.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolArguments {
        /// The call's position.
        index: usize,
        /// The next fragment of the arguments' JSON text.
        delta: String,
    },
}

/// A tool call being assembled.
#[derive(Debug, Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// Reads one attempt's events.
#[derive(Debug)]
pub struct StreamParser {
    wire: Wire,
    text: String,
    /// Tool calls by their wire index (Anthropic's block index, Chat Completions' index).
    calls: Vec<(usize, Call)>,
    finish: Option<FinishReason>,
    usage: TokenUsage,
    model: Option<String>,
    done: bool,
}

impl StreamParser {
    /// A parser for `wire`.
    pub fn new(wire: Wire) -> Self {
        Self {
            wire,
            text: String::new(),
            calls: Vec::new(),
            finish: None,
            usage: TokenUsage::default(),
            model: None,
            done: false,
        }
    }

    /// True once the wire's last event arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True once the reply said why it ended: a stream that closes after that (an
    /// OpenAI-compatible server that sends no `[DONE]`) is complete.
    pub fn is_finished(&self) -> bool {
        self.done || self.finish.is_some()
    }

    /// Usage so far: what the provider reported, else an estimate of the text received
    /// (four bytes a token), for charging a stream cut short.
    pub fn usage_so_far(&self) -> TokenUsage {
        let mut usage = self.usage;
        if usage.output_tokens == 0 {
            let bytes = self.text.len()
                + self
                    .calls
                    .iter()
                    .map(|(_, c)| c.arguments.len())
                    .sum::<usize>();
            usage.output_tokens = bytes.div_ceil(4) as u64;
        }
        usage
    }

    /// Reads one event (`event` is the SSE event name, `data` its data). Returns the content
    /// pieces it carried.
    ///
    /// # Errors
    /// The [`Fault`] of an `error` event, or of data that is not the wire's shape.
    pub fn feed(&mut self, event: &str, data: &str) -> Result<Vec<Piece>, Fault> {
        if self.wire == Wire::OpenAi && data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let Some(delta) = deltas::read(self.wire, event, data) else {
            return self.feed_tree(event, data);
        };
        if let Some(model) = delta.model {
            self.set_model(&model);
        }
        match delta.text {
            Some(text) if !text.is_empty() => {
                self.text.push_str(&text);
                Ok(vec![Piece::Text {
                    text: text.into_owned(),
                }])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Reads an event that is not a plain text delta (see [`deltas`]) as a JSON tree.
    pub(super) fn feed_tree(&mut self, event: &str, data: &str) -> Result<Vec<Piece>, Fault> {
        let value: Value = serde_json::from_str(data)
            .map_err(|_| Fault::malformed("a stream event is not JSON"))?;
        let mut pieces = match self.wire {
            Wire::Anthropic => self.anthropic(event, &value)?,
            Wire::OpenAi => self.openai(&value)?,
            Wire::Gemini => self.gemini(&value)?,
        };
        pieces.retain(|p| !matches!(p, Piece::Text { text } if text.is_empty()));
        for piece in &pieces {
            if let Piece::Text { text } = piece {
                self.text.push_str(text);
            }
        }
        Ok(pieces)
    }

    /// Notes the model that answered (most events repeat it: no copy when it is the same).
    fn set_model(&mut self, model: &str) {
        if self.model.as_deref() != Some(model) {
            self.model = Some(model.to_owned());
        }
    }

    fn call_at(&mut self, index: usize) -> &mut Call {
        let at = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.calls.push((index, Call::default()));
                self.calls.len() - 1
            }
        };
        &mut self.calls[at].1
    }

    fn position(&self, index: usize) -> usize {
        self.calls
            .iter()
            .position(|(i, _)| *i == index)
            .unwrap_or_default()
    }

    fn anthropic(&mut self, event: &str, v: &Value) -> Result<Vec<Piece>, Fault> {
        let kind = if event.is_empty() || event == "message" {
            text_at(v, "type")
        } else {
            event
        };
        match kind {
            "message_start" => {
                let message = v.get("message").unwrap_or(&Value::Null);
                self.model = message
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.usage = anthropic::usage(message.get("usage"));
            }
            "content_block_start" => {
                let index = count_at(v, "index") as usize;
                let block = v.get("content_block").unwrap_or(&Value::Null);
                match text_at(block, "type") {
                    "text" => {
                        return Ok(vec![Piece::Text {
                            text: text_at(block, "text").to_owned(),
                        }]);
                    }
                    "tool_use" => {
                        let call = self.call_at(index);
                        call.id = text_at(block, "id").to_owned();
                        call.name = text_at(block, "name").to_owned();
                        let (id, name) = (call.id.clone(), call.name.clone());
                        return Ok(vec![Piece::ToolCall {
                            index: self.position(index),
                            id,
                            name,
                        }]);
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = count_at(v, "index") as usize;
                let delta = v.get("delta").unwrap_or(&Value::Null);
                match text_at(delta, "type") {
                    "text_delta" => {
                        return Ok(vec![Piece::Text {
                            text: text_at(delta, "text").to_owned(),
                        }]);
                    }
                    "input_json_delta" => {
                        let fragment = text_at(delta, "partial_json").to_owned();
                        self.call_at(index).arguments.push_str(&fragment);
                        return Ok(vec![Piece::ToolArguments {
                            index: self.position(index),
                            delta: fragment,
                        }]);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                let delta = v.get("delta").unwrap_or(&Value::Null);
                let stop = text_at(delta, "stop_reason");
                if stop == "refusal" {
                    let mut fault =
                        Fault::new(FailureKind::ContentRefused, "the model declined to answer");
                    fault.usage = Some(self.usage_so_far());
                    return Err(fault);
                }
                if !stop.is_empty() {
                    self.finish = Some(anthropic::finish_reason(stop));
                }
                if let Some(usage) = v.get("usage") {
                    self.usage.output_tokens = count_at(usage, "output_tokens");
                    let input = anthropic::usage(Some(usage)).input_tokens;
                    if input > 0 {
                        self.usage.input_tokens = input;
                    }
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                let error = v.get("error").unwrap_or(&Value::Null);
                let status = match text_at(error, "type") {
                    "overloaded_error" => 529,
                    "rate_limit_error" => 429,
                    "invalid_request_error" => 400,
                    _ => 500,
                };
                return Err(anthropic::fault(status, v));
            }
            _ => {}
        }
        Ok(Vec::new())
    }

    fn openai(&mut self, v: &Value) -> Result<Vec<Piece>, Fault> {
        if v.get("error").is_some() {
            return Err(openai::fault(500, v));
        }
        if let Some(model) = v.get("model").and_then(Value::as_str) {
            self.set_model(model);
        }
        if let Some(usage) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = openai::usage(Some(usage));
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return Ok(Vec::new());
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(refusal) = delta.get("refusal").and_then(Value::as_str) {
            let mut fault = Fault::new(FailureKind::ContentRefused, refusal);
            fault.usage = Some(self.usage_so_far());
            return Err(fault);
        }
        let mut pieces = Vec::new();
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            pieces.push(Piece::Text {
                text: text.to_owned(),
            });
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = count_at(call, "index") as usize;
            let function = call.get("function").unwrap_or(&Value::Null);
            let id = text_at(call, "id").to_owned();
            let name = text_at(function, "name").to_owned();
            let fragment = text_at(function, "arguments").to_owned();
            let entry = self.call_at(index);
            if !id.is_empty() {
                entry.id = id.clone();
                entry.name = name.clone();
            }
            entry.arguments.push_str(&fragment);
            let position = self.position(index);
            if !id.is_empty() {
                pieces.push(Piece::ToolCall {
                    index: position,
                    id,
                    name,
                });
            }
            if !fragment.is_empty() {
                pieces.push(Piece::ToolArguments {
                    index: position,
                    delta: fragment,
                });
            }
        }
        match text_at(choice, "finish_reason") {
            "" => {}
            "content_filter" => {
                let mut fault = Fault::new(
                    FailureKind::ContentRefused,
                    "the content filter stopped the reply",
                );
                fault.usage = Some(self.usage_so_far());
                return Err(fault);
            }
            finish => self.finish = Some(openai::finish_reason(finish)),
        }
        Ok(pieces)
    }

    fn gemini(&mut self, v: &Value) -> Result<Vec<Piece>, Fault> {
        if v.get("error").is_some() {
            let status = v["error"]
                .get("code")
                .and_then(Value::as_u64)
                .unwrap_or(500) as u16;
            return Err(gemini::fault(status, v));
        }
        // Each event is a whole response holding the new parts; usage is cumulative.
        let reply = gemini::reply(v)?;
        if reply.usage != TokenUsage::default() {
            self.usage = reply.usage;
        }
        if reply.model.is_some() {
            self.model = reply.model;
        }
        let finish = text_at(&v["candidates"][0], "finishReason");
        if !finish.is_empty() {
            self.finish = Some(reply.finish_reason);
            self.done = true;
        }
        let mut pieces = Vec::new();
        for part in reply.content {
            match part {
                Part::Text { text } => pieces.push(Piece::Text { text }),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                } => {
                    let index = self.calls.len();
                    let arguments = arguments.to_string();
                    let call = self.call_at(index);
                    call.id = id.clone();
                    call.name = name.clone();
                    call.arguments = arguments.clone();
                    pieces.push(Piece::ToolCall { index, id, name });
                    pieces.push(Piece::ToolArguments {
                        index,
                        delta: arguments,
                    });
                }
                _ => {}
            }
        }
        if !self.calls.is_empty() {
            self.finish = Some(FinishReason::ToolCalls);
        }
        Ok(pieces)
    }

    /// The reply assembled from every event.
    ///
    /// # Errors
    /// A server-error [`Fault`] when a tool call's arguments are not JSON.
    pub fn into_reply(self) -> Result<Reply, Fault> {
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(Part::text(self.text));
        }
        for (_, call) in self.calls {
            let arguments = if call.arguments.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str(&call.arguments)
                    .map_err(|_| Fault::malformed("streamed tool-call arguments are not JSON"))?
            };
            content.push(Part::ToolCall {
                id: call.id,
                name: call.name,
                arguments,
            });
        }
        Ok(Reply {
            content,
            finish_reason: self.finish.unwrap_or(FinishReason::Other),
            usage: self.usage,
            model: self.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(wire: Wire, events: &[(&str, &str)]) -> (Vec<Piece>, StreamParser) {
        let mut parser = StreamParser::new(wire);
        let mut pieces = Vec::new();
        for (event, data) in events {
            pieces.extend(parser.feed(event, data).unwrap());
        }
        (pieces, parser)
    }

    #[test]
    fn anthropic_events_assemble_text_tools_and_usage() {
        let (pieces, parser) = feed_all(
            Wire::Anthropic,
            &[
                (
                    "message_start",
                    r#"{"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":12,"output_tokens":1}}}"#,
                ),
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                ),
                ("ping", r#"{"type":"ping"}"#),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
                ),
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
                ),
                (
                    "message_delta",
                    r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
                ),
                ("message_stop", r#"{"type":"message_stop"}"#),
            ],
        );
        assert_eq!(pieces[0], Piece::Text { text: "Hi".into() });
        assert_eq!(
            pieces[1],
            Piece::ToolCall {
                index: 0,
                id: "t1".into(),
                name: "f".into()
            }
        );
        assert!(parser.is_done());
        let reply = parser.into_reply().unwrap();
        assert_eq!(
            reply.usage,
            TokenUsage {
                input_tokens: 12,
                output_tokens: 9
            }
        );
        assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            reply.content[1],
            Part::ToolCall {
                id: "t1".into(),
                name: "f".into(),
                arguments: serde_json::json!({"a": 1})
            }
        );
    }

    #[test]
    fn openai_chunks_and_the_usage_chunk() {
        let (pieces, parser) = feed_all(
            Wire::OpenAi,
            &[
                (
                    "",
                    r#"{"model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
                ),
                (
                    "",
                    r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
                ),
                (
                    "",
                    r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
                ),
                (
                    "",
                    r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
                ),
                ("", "[DONE]"),
            ],
        );
        assert_eq!(pieces.len(), 2, "the role preamble is no content");
        assert!(parser.is_done());
        let (_, unterminated) = feed_all(
            Wire::OpenAi,
            &[(
                "",
                r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            )],
        );
        assert!(!unterminated.is_finished(), "cut before its finish reason");
        let (_, no_done) = feed_all(
            Wire::OpenAi,
            &[(
                "",
                r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
            )],
        );
        assert!(no_done.is_finished() && !no_done.is_done());
        let reply = parser.into_reply().unwrap();
        assert_eq!(reply.content, vec![Part::text("Hello")]);
        assert_eq!(
            reply.usage,
            TokenUsage {
                input_tokens: 3,
                output_tokens: 2
            }
        );
    }

    #[test]
    fn gemini_chunks_and_errors() {
        let (pieces, parser) = feed_all(
            Wire::Gemini,
            &[
                (
                    "",
                    r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"A"}]}}],"usageMetadata":{"promptTokenCount":4}}"#,
                ),
                (
                    "",
                    r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"B"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}"#,
                ),
            ],
        );
        assert_eq!(pieces.len(), 2);
        let reply = parser.into_reply().unwrap();
        assert_eq!(reply.content, vec![Part::text("AB")]);
        assert_eq!(reply.usage.output_tokens, 2);
        let mut p = StreamParser::new(Wire::Anthropic);
        let f = p
            .feed(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!(f.kind, FailureKind::Overloaded);
        assert_eq!(p.usage_so_far().output_tokens, 0);
    }
}
