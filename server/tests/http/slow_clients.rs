//! The listener's limits (`server/src/listener.rs`) over raw sockets: a
//! stalled head, a short body and an idle connection are closed within
//! their limits; normal requests are answered while thousands of slow
//! sockets are open; the connection cap holds new ones back; a shutdown
//! lets an answer in flight finish. Limits are set to a few seconds here
//! so the tests are quick; each check allows the limit plus a margin.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::support::*;

async fn with_limits(header: u64, body: u64, idle: u64, max_connections: usize) -> TestServer {
    start_with(|s| {
        s.header_timeout_secs = Some(header);
        s.body_timeout_secs = Some(body);
        s.idle_timeout_secs = Some(idle);
        s.max_connections = Some(max_connections);
    })
    .await
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection, within `limit`;
/// answers what it sent and how long the close took.
async fn read_until_closed(socket: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server still held the connection after {limit:?}");
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_at_the_header_timeout() {
    let server = with_limits(2, 30, 30, 1000).await;
    let mut socket = connect(&server).await;
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Half: ").await.unwrap();
    let (answer, took) = read_until_closed(&mut socket, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_millis(1500), "not before its limit: {took:?}");
    assert!(!answer.contains("200 OK"), "a head never finished gets no answer: {answer}");

    // A head trickled in byte by byte is held to the same limit.
    let mut socket = connect(&server).await;
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa".iter().cycle().take(200) {
        if socket.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    if !closed {
        let (_, _) = read_until_closed(&mut socket, Duration::from_secs(2)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(8), "the trickling head outlived its limit");
}

#[tokio::test]
async fn a_short_body_answers_408_request_timeout_and_closes() {
    let server = with_limits(10, 2, 30, 1000).await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let mut socket = connect(&server).await;
    let head = format!(
        "POST /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": \"sh"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let (answer, took) = read_until_closed(&mut socket, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), "the envelope on /api/v1: {answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    // Nothing was created from the half body.
    let listed = Api::new(&server, Some(&key)).get("/projects").await;
    assert_eq!(data(&listed)["items"].as_array().unwrap().len(), 0, "{}", listed.body);

    // A form post to a server function: the same 408, in plain text.
    let mut socket = connect(&server).await;
    let head = "POST /fn/sign_in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 100\r\n\r\nemail=a%40b.c";
    socket.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut socket, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let server = with_limits(10, 30, 2, 1000).await;
    let mut socket = connect(&server).await;
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive: a second request on the same connection is answered.
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then nothing: closed after the idle timeout, not the (longer) header one.
    let (_, took) = read_until_closed(&mut socket, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn normal_requests_are_answered_while_thousands_of_slow_sockets_are_open() {
    let server = with_limits(60, 60, 60, 10_000).await;
    let mut slow = Vec::new();
    for i in 0..2_000 {
        let mut socket = connect(&server).await;
        // Half stall in their head, half in their body.
        let text = if i % 2 == 0 {
            "GET /login HTTP/1.1\r\nHost: localhost\r\nX-Sl".to_string()
        } else {
            "POST /fn/sign_in HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nemail=".to_string()
        };
        socket.write_all(text.as_bytes()).await.unwrap();
        slow.push(socket);
    }
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let answer = timeout(Duration::from_secs(5), client.get(format!("{}/healthz", server.base)).send())
            .await
            .expect("answered while 2,000 slow sockets are open")
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let page = client.get(format!("{}/login", server.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    drop(slow);
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let server = with_limits(2, 30, 30, 20).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut socket = connect(&server).await;
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Sl").await.unwrap();
        slow.push(socket);
    }
    // Give the server a moment to accept all twenty.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let answer = timeout(Duration::from_secs(8), client.get(format!("{}/healthz", server.base)).send())
        .await
        .expect("answered once the slow sockets were cut off")
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // It waited for the header timeout to free a slot.
    assert!(started.elapsed() >= Duration::from_millis(1000), "answered at once: {:?}", started.elapsed());
    drop(slow);
}

#[tokio::test]
async fn a_shutdown_lets_the_answer_in_flight_finish_and_accepts_no_more() {
    let mut server = with_limits(10, 30, 30, 1000).await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let body = r#"{"name": "Finished during the drain"}"#;
    let mut socket = connect(&server).await;
    let head = format!(
        "POST /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(connect_fails(&server).await, "no new connections once shutting down");
    socket.write_all(&body.as_bytes()[10..]).await.unwrap();
    let (answer, _) = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the request in flight was answered: {answer}");
    assert!(answer.contains("Finished during the drain"), "{answer}");
    timeout(Duration::from_secs(5), server.stopped()).await.expect("serve returned after the drain");
}

async fn connect_fails(server: &TestServer) -> bool {
    match timeout(Duration::from_secs(2), TcpStream::connect(server.base.trim_start_matches("http://"))).await {
        Ok(Ok(mut socket)) => {
            // Accepted by the kernel backlog of a closed listener? Then it
            // is reset on the first write or read.
            let _ = socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
            let mut buf = [0u8; 64];
            !matches!(timeout(Duration::from_secs(2), socket.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
        }
        _ => true,
    }
}
