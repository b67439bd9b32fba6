//! The model-call layer against a stand-in provider over real HTTP, for
//! both wire formats: streamed text, a tool call round trip, rate limits
//! waited out, refusals that keep the provider's word but never our key,
//! the key sent only when there is one, and a dropped stream hanging up.

use std::time::{Duration, Instant};

use futures::stream::{BoxStream, StreamExt};
use serde_json::json;

use app::domain::models::{ApiKey, Provider, ProviderKind};
use app::domain::providers::{
    http_client, stream_chat, stream_chat_with_retries, ChatEvent, ChatMessage, ChatRequest, FinishReason,
    ProviderError, ToolCall, ToolSpec,
};

use crate::fake_provider::{FakeProvider, FakeToolCall, Scripted};

const KEY: &str = "sk-test-tenant-key-4242";
const KINDS: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];

fn provider(fake: &FakeProvider, kind: ProviderKind, key: Option<&str>) -> Provider {
    Provider {
        id: "fake".into(),
        kind,
        base_url: fake.base_url(),
        api_key: key.map(|k| ApiKey(k.into())),
        managed: false,
        byok: true,
        models: vec![],
    }
}

fn ask(content: &str) -> ChatRequest {
    ChatRequest {
        model: "fake-model-1".into(),
        system: Some("You are terse.".into()),
        messages: vec![ChatMessage::User { content: content.into() }],
        ..Default::default()
    }
}

async fn events(stream: BoxStream<'static, Result<ChatEvent, ProviderError>>) -> Vec<ChatEvent> {
    stream.map(|e| e.expect("no error in the stream")).collect().await
}

#[tokio::test]
async fn text_streams_as_deltas_then_usage_then_finished() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        fake.push(Scripted::text(&["Hel", "lo, ", "world"]).usage(11, 3));
        let stream = stream_chat(&http_client(), &provider(&fake, kind, Some(KEY)), &ask("Hi")).await.unwrap();
        assert_eq!(
            events(stream).await,
            vec![
                ChatEvent::TextDelta("Hel".into()),
                ChatEvent::TextDelta("lo, ".into()),
                ChatEvent::TextDelta("world".into()),
                ChatEvent::Usage { input_tokens: 11, output_tokens: 3 },
                ChatEvent::Finished { reason: FinishReason::EndTurn },
            ],
            "{kind:?}"
        );
        let sent = &fake.requests()[0];
        assert_eq!(sent.body["model"], "fake-model-1");
        assert_eq!(sent.body["stream"], true);
        match kind {
            ProviderKind::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(sent.body["stream_options"]["include_usage"], true);
                assert_eq!(sent.body["messages"][0], json!({ "role": "system", "content": "You are terse." }));
                assert_eq!(sent.body["messages"][1], json!({ "role": "user", "content": "Hi" }));
            }
            ProviderKind::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(sent.body["system"], "You are terse.");
                assert_eq!(sent.body["max_tokens"], 4096);
                assert_eq!(
                    sent.body["messages"],
                    json!([{ "role": "user", "content": [{ "type": "text", "text": "Hi" }] }])
                );
            }
        }
    }
}

#[tokio::test]
async fn a_tool_call_round_trip_sends_the_calls_and_their_results_back() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        let weather = FakeToolCall::new("call_w", "weather", &["{\"ci", "ty\": \"Pa", "ris\"}"]);
        let time = FakeToolCall::new("call_t", "time", &["{\"tz\":", " \"UTC\"}"]);
        fake.push(Scripted::tool_calls(vec![weather.clone(), time.clone()]).usage(30, 12));
        fake.push(Scripted::text(&["Sunny, ", "noon."]));
        let provider = provider(&fake, kind, Some(KEY));
        let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
        let mut request = ask("Weather and time in Paris?");
        request.tools = vec![
            ToolSpec { name: "weather".into(), description: "Today's weather".into(), parameters: schema.clone() },
            ToolSpec { name: "time".into(), description: "The time".into(), parameters: json!({ "type": "object" }) },
        ];

        let first = events(stream_chat(&http_client(), &provider, &request).await.unwrap()).await;
        let calls: Vec<ToolCall> = first
            .iter()
            .filter_map(|e| match e {
                ChatEvent::ToolCall(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                ToolCall { id: "call_w".into(), name: "weather".into(), arguments: weather.arguments() },
                ToolCall { id: "call_t".into(), name: "time".into(), arguments: time.arguments() },
            ],
            "{kind:?}"
        );
        assert_eq!(first.last(), Some(&ChatEvent::Finished { reason: FinishReason::ToolCalls }), "{kind:?}");
        assert!(first.contains(&ChatEvent::Usage { input_tokens: 30, output_tokens: 12 }), "{kind:?}");

        request.messages.push(ChatMessage::Assistant { content: String::new(), tool_calls: calls });
        request.messages.push(ChatMessage::Tool { tool_call_id: "call_w".into(), content: "Sunny".into() });
        request.messages.push(ChatMessage::Tool { tool_call_id: "call_t".into(), content: "12:00".into() });
        let second = events(stream_chat(&http_client(), &provider, &request).await.unwrap()).await;
        assert_eq!(second[0], ChatEvent::TextDelta("Sunny, ".into()));

        let sent = fake.requests();
        assert_eq!(sent.len(), 2);
        let (tools, messages) = (&sent[1].body["tools"], sent[1].body["messages"].as_array().unwrap());
        match kind {
            ProviderKind::OpenAi => {
                assert_eq!(
                    tools[0],
                    json!({ "type": "function", "function": {
                    "name": "weather", "description": "Today's weather", "parameters": schema } })
                );
                let assistant = &messages[2];
                assert_eq!(assistant["role"], "assistant");
                assert_eq!(assistant["tool_calls"][0]["id"], "call_w");
                assert_eq!(assistant["tool_calls"][0]["function"]["arguments"], weather.arguments());
                assert_eq!(assistant["tool_calls"][1]["function"]["name"], "time");
                assert_eq!(messages[3], json!({ "role": "tool", "tool_call_id": "call_w", "content": "Sunny" }));
                assert_eq!(messages[4], json!({ "role": "tool", "tool_call_id": "call_t", "content": "12:00" }));
            }
            ProviderKind::Anthropic => {
                assert_eq!(
                    tools[0],
                    json!({ "name": "weather", "description": "Today's weather", "input_schema": schema })
                );
                assert_eq!(messages.len(), 3, "user, assistant, user with the results: {messages:?}");
                assert_eq!(
                    messages[1],
                    json!({ "role": "assistant", "content": [
                        { "type": "tool_use", "id": "call_w", "name": "weather", "input": { "city": "Paris" } },
                        { "type": "tool_use", "id": "call_t", "name": "time", "input": { "tz": "UTC" } },
                    ]})
                );
                assert_eq!(
                    messages[2],
                    json!({ "role": "user", "content": [
                        { "type": "tool_result", "tool_use_id": "call_w", "content": "Sunny" },
                        { "type": "tool_result", "tool_use_id": "call_t", "content": "12:00" },
                    ]})
                );
            }
        }
    }
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_then_retried() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        let provider = provider(&fake, kind, Some(KEY));
        fake.push(Scripted::error(429, "Rate limit reached").retry_after("1"));
        let err = stream_chat(&http_client(), &provider, &ask("Hi")).await.err().unwrap();
        assert_eq!(err, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(1)) }, "{kind:?}");

        fake.push(Scripted::error(429, "Rate limit reached").retry_after("1"));
        fake.push(Scripted::text(&["Finally"]));
        let started = Instant::now();
        let stream = stream_chat_with_retries(&http_client(), &provider, &ask("Hi"), 2).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        assert_eq!(events(stream).await[0], ChatEvent::TextDelta("Finally".into()), "{kind:?}");
        assert_eq!(fake.requests().len(), 3, "one refused call, then the retried pair");
    }
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_never_repeat_a_refusal() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        let provider = provider(&fake, kind, None);
        fake.push(Scripted::error(503, "down"));
        fake.push(Scripted::error(529, "Overloaded"));
        fake.push(Scripted::text(&["never asked"]));
        let err = stream_chat_with_retries(&http_client(), &provider, &ask("Hi"), 1).await.err().unwrap();
        assert_eq!(err, ProviderError::Unavailable { status: 529, retry_after: None }, "{kind:?}: the last error");
        assert_eq!(fake.requests().len(), 2);

        let fake = FakeProvider::start().await;
        let provider = self::provider(&fake, kind, None);
        fake.push(Scripted::error(400, "messages: field required"));
        let err = stream_chat_with_retries(&http_client(), &provider, &ask("Hi"), 2).await.err().unwrap();
        assert_eq!(err, ProviderError::Refused { status: 400, message: "messages: field required".into() });
        assert_eq!(fake.requests().len(), 1, "{kind:?}: a refusal is not retried");
    }
}

#[tokio::test]
async fn an_error_midway_ends_the_stream_and_is_not_retried_after_text_arrived() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        fake.push(Scripted::fail_midway(&["Half an ans"], "Overloaded"));
        fake.push(Scripted::text(&["never asked"]));
        let stream = stream_chat_with_retries(&http_client(), &provider(&fake, kind, None), &ask("Hi"), 2).await;
        let items: Vec<_> = stream.unwrap().collect().await;
        assert_eq!(items.len(), 2, "{kind:?}: {items:?}");
        assert_eq!(items[0], Ok(ChatEvent::TextDelta("Half an ans".into())));
        let err = items[1].clone().unwrap_err();
        assert!(err.retryable() && matches!(err, ProviderError::Unavailable { .. }), "{kind:?}: {err:?}");
        assert_eq!(fake.requests().len(), 1, "the caller decides, once text was shown");
    }
}

#[tokio::test]
async fn arguments_that_are_not_json_come_through_as_the_model_wrote_them() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        fake.push(Scripted::tool_call("call_1", "weather", &["{\"city\": ", "Par"]));
        fake.push(Scripted::text(&["Sorry."]));
        let provider = provider(&fake, kind, None);
        let mut request = ask("Weather?");
        let first = events(stream_chat(&http_client(), &provider, &request).await.unwrap()).await;
        let call = ToolCall { id: "call_1".into(), name: "weather".into(), arguments: "{\"city\": Par".into() };
        assert_eq!(first[0], ChatEvent::ToolCall(call.clone()), "{kind:?}");

        request.messages.push(ChatMessage::Assistant { content: String::new(), tool_calls: vec![call] });
        request.messages.push(ChatMessage::Tool { tool_call_id: "call_1".into(), content: "error: not JSON".into() });
        events(stream_chat(&http_client(), &provider, &request).await.unwrap()).await;
        let messages = fake.requests()[1].body["messages"].clone();
        match kind {
            ProviderKind::OpenAi => {
                assert_eq!(messages[2]["tool_calls"][0]["function"]["arguments"], "{\"city\": Par");
            }
            // Anthropic wants an object: the broken arguments go back as {}.
            ProviderKind::Anthropic => assert_eq!(messages[1]["content"][0]["input"], json!({})),
        }
    }
}

#[tokio::test]
async fn a_refusal_carries_the_providers_message_and_never_the_key() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        let provider = provider(&fake, kind, Some(KEY));
        fake.push(Scripted::error(401, "invalid x-api-key"));
        let err = stream_chat(&http_client(), &provider, &ask("Hi")).await.err().unwrap();
        assert_eq!(err, ProviderError::Refused { status: 401, message: "invalid x-api-key".into() }, "{kind:?}");

        // A provider that echoes the key back.
        fake.push(Scripted::error(401, &format!("Incorrect API key provided: {KEY}.")));
        let err = stream_chat(&http_client(), &provider, &ask("Hi")).await.err().unwrap();
        assert!(
            matches!(&err, ProviderError::Refused { status: 401, message } if message.starts_with("Incorrect API key"))
        );
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(KEY), "{kind:?}: {shown}");
        }
    }
}

#[tokio::test]
async fn the_key_is_sent_exactly_when_the_provider_has_one() {
    for kind in KINDS {
        for key in [Some(KEY), None] {
            let fake = FakeProvider::start().await;
            fake.push(Scripted::text(&["ok"]));
            let stream = stream_chat(&http_client(), &provider(&fake, kind, key), &ask("Hi")).await.unwrap();
            events(stream).await;
            let sent = &fake.requests()[0];
            let (authorization, x_api_key) = (sent.header("authorization"), sent.header("x-api-key"));
            match kind {
                ProviderKind::OpenAi => {
                    assert_eq!(authorization, key.map(|k| format!("Bearer {k}")).as_deref());
                    assert_eq!(x_api_key, None);
                }
                ProviderKind::Anthropic => {
                    assert_eq!(x_api_key, key, "{kind:?}");
                    assert_eq!(authorization, None);
                }
            }
        }
    }
}

#[tokio::test]
async fn dropping_a_stream_hangs_up_on_the_provider() {
    for kind in KINDS {
        let fake = FakeProvider::start().await;
        fake.push(Scripted::slow("tick ", Duration::from_millis(50)));
        let mut stream = stream_chat(&http_client(), &provider(&fake, kind, None), &ask("Go on")).await.unwrap();
        for _ in 0..3 {
            assert_eq!(stream.next().await, Some(Ok(ChatEvent::TextDelta("tick ".into()))), "{kind:?}");
        }
        assert_eq!(fake.disconnects(), 0, "the stream is still open");
        drop(stream);
        assert!(fake.wait_for_disconnect(Duration::from_secs(2)).await, "{kind:?}: the fake saw the client leave");
    }
}
