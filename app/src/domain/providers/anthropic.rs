//! The Anthropic Messages API, streamed. Its history differs from
//! OpenAI's: the system prompt is a field, an assistant's tool calls are
//! `tool_use` blocks, and tool results are `tool_result` blocks inside a
//! user turn; turns of the same role are merged, as the API wants them
//! alternating.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{ChatEvent, ChatMessage, ChatRequest, Decoder, FinishReason, ProviderError, ToolCall, DEFAULT_MAX_TOKENS};

pub(super) const VERSION: &str = "2023-06-01";

pub(super) fn body(request: &ChatRequest) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) =
            match message {
                ChatMessage::User { content } => ("user", text_block(content).into_iter().collect()),
                ChatMessage::Assistant { content, tool_calls } => {
                    let mut blocks: Vec<Value> = text_block(content).into_iter().collect();
                    blocks.extend(tool_calls.iter().map(
                        |c| json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": input(&c.arguments) }),
                    ));
                    ("assistant", blocks)
                }
                ChatMessage::Tool { tool_call_id, content } => {
                    ("user", vec![json!({ "type": "tool_result", "tool_use_id": tool_call_id, "content": content })])
                }
            };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> =
        turns.into_iter().map(|(role, content)| json!({ "role": role, "content": content })).collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = request.system.as_ref().filter(|s| !s.is_empty()) {
        body["system"] = json!(system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// Anthropic refuses empty text blocks.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({ "type": "text", "text": text }))
}

/// A `tool_use` block's input must be an object: arguments that are not
/// one (the model wrote invalid JSON) go back as `{}`.
fn input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v) if v.is_object() => v,
        _ => json!({}),
    }
}

struct Partial {
    id: String,
    name: String,
    json: String,
    /// The block's `input` at start, used when no delta follows.
    start_input: Option<Value>,
}

/// Assembles one streamed message.
#[derive(Default)]
pub(super) struct Decode {
    /// `tool_use` blocks being assembled, by block index.
    tools: BTreeMap<u64, Partial>,
    input_tokens: u64,
    output_tokens: u64,
    saw_usage: bool,
    stop_reason: Option<String>,
    done: bool,
}

impl Decode {
    fn on(&mut self, event: &Value, out: &mut Vec<ChatEvent>) -> Result<(), ProviderError> {
        let index = event["index"].as_u64().unwrap_or(0);
        match event["type"].as_str().unwrap_or("") {
            "message_start" => self.usage(&event["message"]["usage"]),
            "content_block_start" => {
                let block = &event["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or("");
                        if !text.is_empty() {
                            out.push(ChatEvent::TextDelta(text.to_string()));
                        }
                    }
                    Some("tool_use") => {
                        let partial = Partial {
                            id: block["id"].as_str().unwrap_or("").to_string(),
                            name: block["name"].as_str().unwrap_or("").to_string(),
                            json: String::new(),
                            start_input: block.get("input").cloned(),
                        };
                        self.tools.insert(index, partial);
                    }
                    // thinking and whatever comes next: not ours to show.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or("");
                        if !text.is_empty() {
                            out.push(ChatEvent::TextDelta(text.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        if let Some(partial) = self.tools.get_mut(&index) {
                            partial.json.push_str(delta["partial_json"].as_str().unwrap_or(""));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(p) = self.tools.remove(&index) {
                    out.push(ChatEvent::ToolCall(finish_call(index, p)));
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                self.usage(&event["usage"]);
            }
            "message_stop" => self.finish(out),
            "error" => {
                let error = &event["error"];
                let message = error["message"].as_str().unwrap_or("an error in the stream").to_string();
                return Err(ProviderError::from_kind(error["type"].as_str().unwrap_or(""), message));
            }
            // ping, and event types added later.
            _ => {}
        }
        Ok(())
    }

    /// Usage is cumulative; input counts what was read from the cache too.
    fn usage(&mut self, usage: &Value) {
        if !usage.is_object() {
            return;
        }
        let input: Vec<u64> = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
            .iter()
            .filter_map(|k| usage[k].as_u64())
            .collect();
        if !input.is_empty() {
            self.input_tokens = input.iter().sum();
            self.saw_usage = true;
        }
        if let Some(output) = usage["output_tokens"].as_u64() {
            self.output_tokens = output;
            self.saw_usage = true;
        }
    }

    fn finish(&mut self, out: &mut Vec<ChatEvent>) {
        for (index, p) in std::mem::take(&mut self.tools) {
            out.push(ChatEvent::ToolCall(finish_call(index, p)));
        }
        if self.saw_usage {
            out.push(ChatEvent::Usage { input_tokens: self.input_tokens, output_tokens: self.output_tokens });
        }
        let reason = match self.stop_reason.as_deref() {
            Some("end_turn" | "stop_sequence") | None => FinishReason::EndTurn,
            Some("tool_use") => FinishReason::ToolCalls,
            Some("max_tokens") => FinishReason::MaxTokens,
            Some(other) => FinishReason::Other(other.to_string()),
        };
        out.push(ChatEvent::Finished { reason });
        self.done = true;
    }
}

fn finish_call(index: u64, p: Partial) -> ToolCall {
    let arguments = if p.json.is_empty() {
        p.start_input.filter(|v| !v.is_null()).unwrap_or_else(|| json!({})).to_string()
    } else {
        p.json
    };
    let id = if p.id.is_empty() { format!("toolu_{index}") } else { p.id };
    ToolCall { id, name: p.name, arguments }
}

impl Decoder for Decode {
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<ChatEvent>, ProviderError> {
        let mut out = Vec::new();
        if data.trim().is_empty() {
            return Ok(out);
        }
        let mut event: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("an event that is not JSON ({e})")))?;
        // The type is in the data; the `event:` line stands in when not.
        if event.get("type").and_then(Value::as_str).is_none() && name != "message" {
            event["type"] = json!(name);
        }
        self.on(&event, &mut out)?;
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<ChatEvent>, ProviderError> {
        if self.done {
            return Ok(Vec::new());
        }
        Err(ProviderError::Network("the provider closed the stream before it finished".into()))
    }

    fn done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut Decode, events: &[Value]) -> Vec<ChatEvent> {
        events.iter().flat_map(|e| d.event(e["type"].as_str().unwrap(), &e.to_string()).unwrap()).collect()
    }

    fn start(input_tokens: u64) -> Value {
        json!({ "type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude",
            "stop_reason": null, "usage": { "input_tokens": input_tokens, "output_tokens": 1 },
        }})
    }

    fn stop(reason: &str, output_tokens: u64) -> [Value; 2] {
        [
            json!({ "type": "message_delta", "delta": { "stop_reason": reason, "stop_sequence": null },
                    "usage": { "output_tokens": output_tokens } }),
            json!({ "type": "message_stop" }),
        ]
    }

    #[test]
    fn text_and_a_tool_use_are_assembled_from_their_blocks() {
        let mut d = Decode::default();
        let mut events = vec![
            start(25),
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            json!({ "type": "ping" }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me " } }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "check." } }),
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": "weather", "input": {} } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "" } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"city\": " } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "\"Paris\"}" } }),
            json!({ "type": "content_block_stop", "index": 1 }),
        ];
        events.extend(stop("tool_use", 40));
        let out = feed(&mut d, &events);
        assert_eq!(
            out,
            vec![
                ChatEvent::TextDelta("Let me ".into()),
                ChatEvent::TextDelta("check.".into()),
                ChatEvent::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "weather".into(),
                    arguments: r#"{"city": "Paris"}"#.into()
                }),
                ChatEvent::Usage { input_tokens: 25, output_tokens: 40 },
                ChatEvent::Finished { reason: FinishReason::ToolCalls },
            ]
        );
        assert!(d.done());
        assert_eq!(d.end(), Ok(vec![]));
    }

    #[test]
    fn a_tool_without_arguments_gets_an_empty_object() {
        let mut d = Decode::default();
        let out = feed(
            &mut d,
            &[
                start(1),
                json!({ "type": "content_block_start", "index": 0, "content_block": {
                    "type": "tool_use", "id": "toolu_2", "name": "now", "input": {} } }),
                json!({ "type": "content_block_stop", "index": 0 }),
            ],
        );
        assert_eq!(
            out,
            vec![ChatEvent::ToolCall(ToolCall { id: "toolu_2".into(), name: "now".into(), arguments: "{}".into() })]
        );
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        for (reason, expected) in [
            ("end_turn", FinishReason::EndTurn),
            ("stop_sequence", FinishReason::EndTurn),
            ("tool_use", FinishReason::ToolCalls),
            ("max_tokens", FinishReason::MaxTokens),
            ("refusal", FinishReason::Other("refusal".into())),
        ] {
            let mut d = Decode::default();
            let mut events = vec![start(3)];
            events.extend(stop(reason, 7));
            let out = feed(&mut d, &events);
            assert_eq!(out.last(), Some(&ChatEvent::Finished { reason: expected }), "{reason}");
            assert_eq!(out[0], ChatEvent::Usage { input_tokens: 3, output_tokens: 7 });
        }
    }

    #[test]
    fn an_error_event_or_a_cut_stream_fails() {
        let mut d = Decode::default();
        feed(&mut d, &[start(3)]);
        let err = d
            .event("error", r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#)
            .unwrap_err();
        assert_eq!(err, ProviderError::Unavailable { status: 529, retry_after: None });
        assert!(err.retryable());
        let refused = d
            .event("error", r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}"#)
            .unwrap_err();
        assert_eq!(refused, ProviderError::Refused { status: 400, message: "bad".into() });
        assert!(matches!(Decode::default().end(), Err(ProviderError::Network(_))));
    }

    #[test]
    fn history_becomes_alternating_turns_with_tool_blocks() {
        let request = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system: Some("Be brief".into()),
            messages: vec![
                ChatMessage::User { content: "Weather and time?".into() },
                ChatMessage::Assistant {
                    content: "Checking.".into(),
                    tool_calls: vec![
                        ToolCall { id: "t1".into(), name: "weather".into(), arguments: r#"{"city":"Paris"}"#.into() },
                        ToolCall { id: "t2".into(), name: "time".into(), arguments: "not json".into() },
                    ],
                },
                ChatMessage::Tool { tool_call_id: "t1".into(), content: "Sunny".into() },
                ChatMessage::Tool { tool_call_id: "t2".into(), content: "error: arguments are not JSON".into() },
            ],
            ..Default::default()
        };
        let body = body(&request);
        assert_eq!(body["system"], "Be brief");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(body.get("tools").is_none());
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(
            messages[1]["content"][1],
            json!({ "type": "tool_use", "id": "t1", "name": "weather", "input": { "city": "Paris" } })
        );
        assert_eq!(messages[1]["content"][2]["input"], json!({}));
        assert_eq!(messages[2]["role"], "user");
        assert_eq!(
            messages[2]["content"][1],
            json!({ "type": "tool_result", "tool_use_id": "t2", "content": "error: arguments are not JSON" })
        );
    }
}
