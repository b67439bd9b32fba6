//! The OpenAI-compatible `/chat/completions` wire format, streamed. Many
//! servers speak it loosely (vLLM, LiteLLM, Ollama, OpenRouter), so the
//! decoder reads JSON values rather than strict structs: unknown fields,
//! `null`s, usage in the last choice chunk or nowhere are all fine.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ChatEvent, ChatMessage, ChatRequest, Decoder, FinishReason, ProviderError, ToolCall};

/// The request body: the system prompt as the first message, tools as
/// functions, usage asked for in the stream.
pub(super) fn body(request: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for message in &request.messages {
        messages.push(match message {
            ChatMessage::User { content } => json!({ "role": "user", "content": content }),
            ChatMessage::Assistant { content, tool_calls } if tool_calls.is_empty() => {
                json!({ "role": "assistant", "content": content })
            }
            ChatMessage::Assistant { content, tool_calls } => json!({
                "role": "assistant",
                "content": if content.is_empty() { Value::Null } else { json!(content) },
                "tool_calls": tool_calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })).collect::<Vec<_>>(),
            }),
            ChatMessage::Tool { tool_call_id, content } => {
                json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content })
            }
        });
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({ "type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    body
}

#[derive(Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

/// Assembles one streamed answer.
#[derive(Default)]
pub(super) struct Decode {
    /// Tool calls being assembled, by `index`.
    calls: BTreeMap<u64, Partial>,
    emitted_calls: bool,
    finish: Option<String>,
    usage: Option<(u64, u64)>,
    done: bool,
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

impl Decode {
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<ChatEvent>) -> Result<(), ProviderError> {
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error["message"].as_str().or(error.as_str()).unwrap_or("an error in the stream");
            let kind = error["type"].as_str().or(error["code"].as_str()).unwrap_or("");
            return Err(ProviderError::from_kind(kind, message.to_string()));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let tokens = |k: &str| usage[k].as_u64().unwrap_or(0);
            self.usage = Some((tokens("prompt_tokens"), tokens("completion_tokens")));
        }
        let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) else { return Ok(()) };
        let delta = &choice["delta"];
        let content = text(&delta["content"]);
        if !content.is_empty() {
            out.push(ChatEvent::TextDelta(content.to_string()));
        }
        for fragment in delta["tool_calls"].as_array().into_iter().flatten() {
            self.fragment(fragment);
        }
        if let Some(reason) = choice["finish_reason"].as_str().filter(|r| !r.is_empty()) {
            self.finish = Some(reason.to_string());
            self.emit_calls(out);
        }
        Ok(())
    }

    fn fragment(&mut self, fragment: &Value) {
        let id = text(&fragment["id"]);
        // Servers that send no index start a new call with a new id.
        let index = fragment["index"].as_u64().unwrap_or_else(|| {
            let last = self.calls.iter().next_back();
            match last {
                Some((i, p)) if id.is_empty() || p.id == id => *i,
                Some((i, _)) => i + 1,
                None => 0,
            }
        });
        let call = self.calls.entry(index).or_default();
        if call.id.is_empty() {
            call.id = id.to_string();
        }
        let function = &fragment["function"];
        if call.name.is_empty() {
            call.name = text(&function["name"]).to_string();
        }
        call.arguments.push_str(text(&function["arguments"]));
    }

    fn emit_calls(&mut self, out: &mut Vec<ChatEvent>) {
        for (index, call) in std::mem::take(&mut self.calls) {
            self.emitted_calls = true;
            let id = if call.id.is_empty() { format!("call_{index}") } else { call.id };
            out.push(ChatEvent::ToolCall(ToolCall { id, name: call.name, arguments: call.arguments }));
        }
    }

    fn finish(&mut self, out: &mut Vec<ChatEvent>) {
        self.emit_calls(out);
        if let Some((input_tokens, output_tokens)) = self.usage.take() {
            out.push(ChatEvent::Usage { input_tokens, output_tokens });
        }
        let reason = match self.finish.as_deref() {
            // Some servers say "stop" after tool calls.
            Some("stop") | None if self.emitted_calls => FinishReason::ToolCalls,
            Some("stop") | None => FinishReason::EndTurn,
            Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
            Some("length") => FinishReason::MaxTokens,
            Some(other) => FinishReason::Other(other.to_string()),
        };
        out.push(ChatEvent::Finished { reason });
        self.done = true;
    }
}

/// The usual chunk: a piece of text and nothing else (no error, usage,
/// tool call or finish reason). Read into these borrowed types rather
/// than a `Value`, since it comes once per token; anything else goes the
/// general way.
#[derive(Deserialize)]
struct TextChunk<'a> {
    #[serde(borrow)]
    choices: Vec<TextChoice<'a>>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    #[serde(default)]
    usage: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct TextChoice<'a> {
    #[serde(borrow)]
    delta: TextDelta<'a>,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct TextDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
    #[serde(default)]
    function_call: Option<IgnoredAny>,
}

fn text_only(data: &str) -> Option<String> {
    let chunk: TextChunk = serde_json::from_str(data).ok()?;
    let [choice] = chunk.choices.as_slice() else { return None };
    let plain = chunk.error.is_none()
        && chunk.usage.is_none()
        && choice.finish_reason.is_none()
        && choice.delta.tool_calls.is_none()
        && choice.delta.function_call.is_none();
    plain.then(|| choice.delta.content.as_deref().unwrap_or_default().to_string())
}

impl Decoder for Decode {
    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<ChatEvent>, ProviderError> {
        let mut out = Vec::new();
        let data = data.trim();
        if data == "[DONE]" {
            self.finish(&mut out);
            return Ok(out);
        }
        if data.is_empty() {
            return Ok(out);
        }
        if let Some(text) = text_only(data) {
            if !text.is_empty() {
                out.push(ChatEvent::TextDelta(text));
            }
            return Ok(out);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("a chunk that is not JSON ({e})")))?;
        self.chunk(&chunk, &mut out)?;
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<ChatEvent>, ProviderError> {
        if self.done {
            return Ok(Vec::new());
        }
        // Without `[DONE]`, a finish reason is enough to call it complete.
        if self.finish.is_none() {
            return Err(ProviderError::Network("the provider closed the stream before it finished".into()));
        }
        let mut out = Vec::new();
        self.finish(&mut out);
        Ok(out)
    }

    fn done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[Value]) -> (Vec<ChatEvent>, Result<Vec<ChatEvent>, ProviderError>) {
        let mut d = Decode::default();
        let mut events = Vec::new();
        for c in chunks {
            events.extend(d.event("message", &c.to_string()).unwrap());
        }
        (events, d.end())
    }

    fn done(chunks: &[Value]) -> Vec<ChatEvent> {
        let mut d = Decode::default();
        let mut events = Vec::new();
        for c in chunks {
            events.extend(d.event("message", &c.to_string()).unwrap());
        }
        events.extend(d.event("message", "[DONE]").unwrap());
        assert!(d.done());
        events
    }

    #[test]
    fn a_text_only_chunk_reads_the_quick_way_and_others_the_general_way() {
        let text = |content: Value| json!({ "id": "x", "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": null }] });
        assert_eq!(text_only(&text(json!("caf\u{e9} \"ok\"")).to_string()).as_deref(), Some("café \"ok\""));
        assert_eq!(text_only(&text(Value::Null).to_string()).as_deref(), Some(""));
        let with_usage = json!({ "choices": [{ "delta": { "content": "a" } }], "usage": { "prompt_tokens": 3 } });
        let finishing = json!({ "choices": [{ "delta": { "content": "a" }, "finish_reason": "stop" }] });
        for general in
            [with_usage, finishing, call(0, Some("c"), Some("f"), "{}"), json!({ "error": { "message": "x" } })]
        {
            assert_eq!(text_only(&general.to_string()), None, "{general}");
        }
        // Both ways give the same events.
        let chunks =
            [text(json!("Hel")), text(json!("lo")), json!({ "choices": [{ "delta": {}, "finish_reason": "stop" }] })];
        assert_eq!(
            done(&chunks),
            vec![
                ChatEvent::TextDelta("Hel".into()),
                ChatEvent::TextDelta("lo".into()),
                ChatEvent::Finished { reason: FinishReason::EndTurn }
            ]
        );
    }

    fn call(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
        let mut f = json!({ "index": index, "function": { "arguments": args } });
        if let Some(id) = id {
            f["id"] = json!(id);
            f["type"] = json!("function");
        }
        if let Some(name) = name {
            f["function"]["name"] = json!(name);
        }
        json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [f] }, "finish_reason": null }] })
    }

    #[test]
    fn parallel_tool_calls_are_assembled_from_interleaved_fragments() {
        let events = done(&[
            json!({ "choices": [{ "delta": { "role": "assistant", "content": null }, "finish_reason": null }] }),
            call(0, Some("call_a"), Some("weather"), ""),
            call(1, Some("call_b"), Some("time"), "{\"tz\""),
            call(0, None, None, "{\"city\":"),
            call(1, None, None, ":\"UTC\"}"),
            call(0, None, None, "\"Paris\"}"),
            json!({ "choices": [{ "delta": {}, "finish_reason": "tool_calls" }] }),
            json!({ "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42 } }),
        ]);
        assert_eq!(
            events,
            vec![
                ChatEvent::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into()
                }),
                ChatEvent::ToolCall(ToolCall {
                    id: "call_b".into(),
                    name: "time".into(),
                    arguments: r#"{"tz":"UTC"}"#.into()
                }),
                ChatEvent::Usage { input_tokens: 12, output_tokens: 30 },
                ChatEvent::Finished { reason: FinishReason::ToolCalls },
            ]
        );
    }

    #[test]
    fn calls_without_an_index_and_a_stop_after_them_still_read_as_tool_calls() {
        let whole = |id: &str, name: &str, args: &str| {
            json!({ "choices": [{ "delta": { "tool_calls": [
                { "id": id, "function": { "name": name, "arguments": args } }
            ] } }] })
        };
        let events = done(&[
            whole("a", "weather", "{}"),
            whole("b", "time", "{\"tz\":"),
            json!({ "choices": [{ "delta": { "tool_calls": [{ "function": { "arguments": "\"UTC\"}" } }] } }] }),
            json!({ "choices": [{ "delta": {}, "finish_reason": "stop" }] }),
        ]);
        assert_eq!(
            events,
            vec![
                ChatEvent::ToolCall(ToolCall { id: "a".into(), name: "weather".into(), arguments: "{}".into() }),
                ChatEvent::ToolCall(ToolCall {
                    id: "b".into(),
                    name: "time".into(),
                    arguments: r#"{"tz":"UTC"}"#.into()
                }),
                ChatEvent::Finished { reason: FinishReason::ToolCalls },
            ]
        );
    }

    #[test]
    fn text_then_usage_from_a_chunk_without_choices() {
        let events = done(&[
            json!({ "id": "x", "choices": [{ "delta": { "content": "Hel" }, "logprobs": null }], "usage": null }),
            json!({ "choices": [{ "delta": { "content": "lo" }, "finish_reason": null, "extra": 1 }] }),
            json!({ "choices": [{ "delta": {}, "finish_reason": "stop" }] }),
            json!({ "choices": [], "usage": { "prompt_tokens": 5, "completion_tokens": 2 } }),
        ]);
        assert_eq!(
            events,
            vec![
                ChatEvent::TextDelta("Hel".into()),
                ChatEvent::TextDelta("lo".into()),
                ChatEvent::Usage { input_tokens: 5, output_tokens: 2 },
                ChatEvent::Finished { reason: FinishReason::EndTurn },
            ]
        );
    }

    #[test]
    fn usage_may_ride_in_the_last_choice_or_be_missing() {
        let inline = done(&[json!({
            "choices": [{ "delta": { "content": "Hi" }, "finish_reason": "length" }],
            "usage": { "prompt_tokens": 3, "completion_tokens": 1 },
        })]);
        assert_eq!(inline[1], ChatEvent::Usage { input_tokens: 3, output_tokens: 1 });
        assert_eq!(inline[2], ChatEvent::Finished { reason: FinishReason::MaxTokens });

        // No usage and no [DONE]: the finish reason ends it.
        let (events, end) = run(&[json!({ "choices": [{ "delta": { "content": "Hi" }, "finish_reason": "stop" }] })]);
        assert_eq!(events, vec![ChatEvent::TextDelta("Hi".into())]);
        assert_eq!(end.unwrap(), vec![ChatEvent::Finished { reason: FinishReason::EndTurn }]);
    }

    #[test]
    fn a_stream_cut_short_or_carrying_an_error_fails() {
        let (_, end) = run(&[json!({ "choices": [{ "delta": { "content": "Hi" } }] })]);
        assert!(matches!(end, Err(ProviderError::Network(_))));
        let mut d = Decode::default();
        let err = d.event("message", r#"{"error": {"message": "Overloaded", "type": "server_error"}}"#).unwrap_err();
        assert!(err.retryable(), "{err:?}");
        assert!(matches!(d.event("message", "{not json"), Err(ProviderError::Protocol(_))));
    }

    #[test]
    fn the_body_carries_history_tools_and_asks_for_usage() {
        let request = ChatRequest {
            model: "gpt-4.1".into(),
            system: Some("Be brief".into()),
            messages: vec![
                ChatMessage::User { content: "Weather?".into() },
                ChatMessage::Assistant {
                    content: String::new(),
                    tool_calls: vec![ToolCall { id: "c1".into(), name: "weather".into(), arguments: "{}".into() }],
                },
                ChatMessage::Tool { tool_call_id: "c1".into(), content: "Sunny".into() },
            ],
            tools: vec![super::super::ToolSpec {
                name: "weather".into(),
                description: "The weather".into(),
                parameters: json!({ "type": "object" }),
            }],
            temperature: None,
            max_tokens: Some(100),
        };
        let body = body(&request);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][0], json!({ "role": "system", "content": "Be brief" }));
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["name"], "weather");
        assert_eq!(body["messages"][3], json!({ "role": "tool", "tool_call_id": "c1", "content": "Sunny" }));
        assert_eq!(body["tools"][0]["function"]["parameters"], json!({ "type": "object" }));
        assert_eq!(body["max_tokens"], 100);
        assert!(body.get("temperature").is_none());
    }
}
