//! A stand-in model provider for the browser tests and the API contract
//! run: a real HTTP server on loopback answering OpenAI-compatible
//! `POST /v1/chat/completions` in real SSE, so the server's agent loop
//! runs end to end without the network. It answers every call with
//! `You said: <the last user message>`, one word per chunk, 20 ms apart,
//! and the usage; a message containing "slowly" streams a word every
//! 300 ms for a minute (for cancelling), one containing "fail" answers
//! 503; "what time" calls the `get_time` tool first, and "expensive"
//! reports a billion prompt tokens (more than any balance pays).
//! `GET /v1/models` lists `own-large` and `own-small`, for an org's
//! own provider key pointed here. Blocking std networking, one thread per connection: xtask has no
//! async runtime, and the load is a browser's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// Starts the server; answers its base URL (`http://127.0.0.1:<port>/v1`).
pub fn start() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = serve(stream);
            });
        }
    });
    Ok(format!("http://127.0.0.1:{port}/v1"))
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    if request_line.starts_with("GET /v1/models") {
        // What an org's own provider key lists (the agents page reads it).
        let list = json!({"object": "list", "data": [{"id": "own-large", "object": "model"}, {"id": "own-small", "object": "model"}]})
            .to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            list.len()
        );
        out.write_all(head.as_bytes())?;
        return out.write_all(list.as_bytes());
    }
    if !request_line.starts_with("POST /v1/chat/completions") {
        return out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let said = last_user_message(&request);
    if said.contains("fail") {
        let error = json!({"error": {"message": "the e2e model is down", "type": "server_error"}}).to_string();
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            error.len()
        );
        out.write_all(head.as_bytes())?;
        return out.write_all(error.as_bytes());
    }
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    let model = request["model"].as_str().unwrap_or("e2e").to_string();
    let after_tool = request["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool");
    if said.contains("what time") && !after_tool {
        // A tool call, its arguments in two pieces as OpenAI streams them.
        let call = |arguments: &str, first: bool| {
            let mut call = json!({"index": 0, "function": {"arguments": arguments}});
            if first {
                call = json!({"index": 0, "id": "call_e2e_time", "type": "function",
                              "function": {"name": "get_time", "arguments": arguments}});
            }
            json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]})
        };
        send(&mut out, &call(r#"{"timezone": "#, true))?;
        send(&mut out, &call(r#""UTC"}"#, false))?;
        send(
            &mut out,
            &json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        )?;
        out.write_all(b"data: [DONE]\n\n")?;
        return out.flush();
    }
    let (words, pause): (Vec<String>, Duration) = if said.contains("slowly") {
        ((0..200).map(|i| format!("word{i} ")).collect(), Duration::from_millis(300))
    } else if after_tool {
        (vec!["I looked at the clock.".to_string()], Duration::from_millis(20))
    } else {
        let reply = format!("You said: {said}");
        (reply.split_inclusive(' ').map(str::to_string).collect(), Duration::from_millis(20))
    };
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    send(&mut out, &chunk(json!({"role": "assistant", "content": ""}), Value::Null))?;
    for word in &words {
        thread::sleep(pause);
        send(&mut out, &chunk(json!({"content": word}), Value::Null))?;
    }
    send(&mut out, &chunk(json!({}), json!("stop")))?;
    // "expensive": usage far past any balance, so the step's charge fails.
    let prompt = if said.contains("expensive") { 1_000_000_000 } else { body.len() as u64 / 4 };
    send(
        &mut out,
        &json!({"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "model": model, "choices": [],
                "usage": {"prompt_tokens": prompt, "completion_tokens": words.len(), "total_tokens": prompt + words.len() as u64}}),
    )?;
    out.write_all(b"data: [DONE]\n\n")?;
    out.flush()
}

fn send(out: &mut TcpStream, value: &Value) -> std::io::Result<()> {
    out.write_all(format!("data: {value}\n\n").as_bytes())?;
    out.flush()
}

fn last_user_message(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}
