//! The load client of `scripts/bench-chat.sh`: drives Alumia's chat
//! streaming path and, in the same run, the stand-in model straight
//! (`server/examples/fast_model.rs`), and prints what it saw. Built for the
//! comparison only; not part of the product.
//!
//! ```text
//! bench_chat first-token --alumia URL --key K --fake URL --project ID --agent ID \
//!            --model fast-200 [--concurrency 100] [--rounds 10]
//! bench_chat steady      --alumia URL --key K --fake URL --project ID --agent ID \
//!            --model fast-200 --rate PAIRS_PER_S [--concurrency 100] [--seconds 10]
//! bench_chat relay       --alumia URL --key K --fake URL --project ID --agent ID \
//!            --model fast-5000 [--concurrency 10] [--rounds 3]
//! bench_chat rss         --alumia URL --key K --project ID --agent ID --pid PID \
//!            [--sessions 1000] [--samples 10] [--ramp-secs 90]
//! ```
//!
//! Besides the lines for people, each figure is printed once as
//! `result <name> <value>` for the script's summary. Figures are ratios
//! and percentiles of one run on one machine: nothing here asserts a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------- flags

/// `--name value` pairs after the subcommand.
struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: impl Iterator<Item = String>) -> Flags {
        let mut map = HashMap::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else { die(&format!("unexpected argument {arg:?}")) };
            let value = args.next().unwrap_or_else(|| die(&format!("--{name} needs a value")));
            map.insert(name.to_string(), value);
        }
        Flags(map)
    }

    fn text(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_else(|| die(&format!("--{name} is required")))
    }

    fn number(&self, name: &str, default: usize) -> usize {
        match self.0.get(name) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{name} must be a number, not {v:?}"))),
            None => default,
        }
    }
}

fn die(message: &str) -> ! {
    eprintln!("bench_chat: {message}");
    std::process::exit(2)
}

/// One figure for the script, on a line of its own.
fn result(name: &str, value: f64) {
    println!("result {name} {value:.3}");
}

// ---------------------------------------------------------------- numbers

/// Nearest rank: the smallest sample with at least `p` of them at or below.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn median(values: Vec<f64>) -> f64 {
    percentile(&sorted(values), 0.5)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------- SSE

/// Which side a stream comes from: they frame a token differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// The fake's OpenAI chunks: a token is a chunk with non-empty content.
    OpenAi,
    /// Alumia's run events: a token is an `event: message.delta`.
    Alumia,
}

/// What reading one stream saw.
#[derive(Default)]
struct Seen {
    /// From sending the request to the first token.
    first_token: Option<Duration>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    /// From sending the request to the end of the answer.
    total: Duration,
    tokens: u64,
    /// Alumia: `run.finished`'s status; the fake: `done` after `[DONE]`.
    ended: Option<String>,
}

/// Whether an OpenAI chunk carries text: `"content":"` not followed by the
/// closing quote. A substring look rather than a JSON parse keeps the
/// client's cost per token the same small one on both sides.
fn carries_text(block: &[u8]) -> bool {
    const KEY: &[u8] = b"\"content\":\"";
    block.windows(KEY.len()).position(|w| w == KEY).is_some_and(|at| block.get(at + KEY.len()) != Some(&b'"'))
}

/// The stand-in's tokens in an Alumia delta: each is the text `tok `
/// (fast_model.rs).
fn count_tokens(block: &[u8]) -> u64 {
    const TOKEN: &[u8] = b"tok ";
    block.windows(TOKEN.len()).filter(|w| *w == TOKEN).count() as u64
}

/// The `status` of a `run.finished` event block.
fn finished_status(block: &[u8]) -> String {
    let text = String::from_utf8_lossy(block);
    let data = text.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default();
    let value: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
    value["status"].as_str().unwrap_or("unknown").to_string()
}

/// Reads `response` to its end, event by event (blocks separated by a
/// blank line). `first_seen` is bumped once, on the first token.
async fn read_stream(
    response: reqwest::Response,
    wire: Wire,
    sent: Instant,
    first_seen: Option<&AtomicUsize>,
) -> Res<Seen> {
    let mut seen = Seen::default();
    let mut body = response.bytes_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    // Where the search for the next blank line resumes in `buf`.
    let mut scanned = 0;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| format!("reading the stream: {e}"))?;
        buf.extend_from_slice(&piece);
        let mut start = 0;
        while let Some(end) = buf[scanned.max(start)..].windows(2).position(|w| w == b"\n\n") {
            let end = scanned.max(start) + end;
            let block = &buf[start..end];
            start = end + 2;
            scanned = start;
            on_block(block, wire, sent, first_seen, &mut seen);
        }
        buf.drain(..start);
        scanned = buf.len().saturating_sub(1);
    }
    seen.total = sent.elapsed();
    Ok(seen)
}

fn on_block(block: &[u8], wire: Wire, sent: Instant, first_seen: Option<&AtomicUsize>, seen: &mut Seen) {
    let tokens = match wire {
        Wire::OpenAi if block.starts_with(b"data: [DONE]") => {
            seen.ended = Some("done".into());
            0
        }
        Wire::OpenAi => u64::from(carries_text(block)),
        Wire::Alumia if block.starts_with(b"event: run.finished") => {
            seen.ended = Some(finished_status(block));
            0
        }
        // Alumia sends the deltas that reached it together as one event:
        // its tokens are the stand-in's, counted in the text.
        Wire::Alumia if block.starts_with(b"event: message.delta") => count_tokens(block),
        Wire::Alumia => 0,
    };
    if tokens == 0 {
        return;
    }
    let now = Instant::now();
    if seen.first_token.is_none() {
        seen.first_token = Some(now - sent);
        seen.first_at = Some(now);
        if let Some(counter) = first_seen {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
    seen.last_at = Some(now);
    seen.tokens += tokens;
}

// ---------------------------------------------------------------- clients

/// Counts of what went wrong or had to be tried again, over a phase.
#[derive(Default)]
struct Trouble {
    /// 409: the session still busy with its previous run.
    busy: AtomicUsize,
    /// Any other refusal or failure.
    failed: AtomicUsize,
}

impl Trouble {
    fn report(&self, phase: &str) {
        let (busy, failed) = (self.busy.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed));
        println!("{phase}: {busy} answers 409 (session busy, retried), {failed} failed requests");
        result(&format!("{phase}_busy_409"), busy as f64);
        result(&format!("{phase}_failed"), failed as f64);
    }
}

struct Bench {
    http: Client,
    alumia: String,
    key: String,
    fake: String,
    trouble: Trouble,
}

impl Bench {
    fn new(flags: &Flags, needs_fake: bool) -> Arc<Bench> {
        let http = Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| die(&format!("an HTTP client: {e}")));
        let fake = if needs_fake { flags.text("fake") } else { String::new() };
        Arc::new(Bench {
            http,
            alumia: flags.text("alumia").trim_end_matches('/').to_string(),
            key: flags.text("key"),
            fake: fake.trim_end_matches('/').to_string(),
            trouble: Trouble::default(),
        })
    }

    /// An `/api/v1` call answering the envelope's `data`.
    async fn api(&self, path: &str, body: Value) -> Res<Value> {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.alumia))
            .header(AUTHORIZATION, format!("Bearer {}", self.key))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("POST {path}: {e}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() || value["success"] != json!(true) {
            return Err(format!("POST {path}: {status} {}", text.chars().take(300).collect::<String>()));
        }
        Ok(value["data"].clone())
    }

    /// `count` sessions of `agent`, a few created at a time.
    async fn sessions(&self, project: &str, agent: &str, count: usize) -> Res<Vec<String>> {
        let body = json!({ "projectId": project, "agentId": agent });
        let made: Vec<Res<Value>> =
            stream::iter(0..count).map(|_| self.api("/sessions", body.clone())).buffer_unordered(16).collect().await;
        made.into_iter()
            .map(|r| r.and_then(|v| v["id"].as_str().map(str::to_string).ok_or_else(|| "a session without id".into())))
            .collect()
    }

    /// A message to `session`, answered as its run's event stream; a 409
    /// (the previous run is still being recorded) is tried again shortly.
    async fn message(&self, session: &str) -> Res<Seen> {
        for attempt in 0..200 {
            let sent = Instant::now();
            let response = self
                .http
                .post(format!("{}/api/v1/sessions/{session}/messages", self.alumia))
                .header(AUTHORIZATION, format!("Bearer {}", self.key))
                .header(ACCEPT, "text/event-stream")
                .json(&json!({ "content": "hi" }))
                .send()
                .await
                .map_err(|e| self.failed(format!("POST a message: {e}")))?;
            match response.status() {
                StatusCode::OK => return read_stream(response, Wire::Alumia, sent, None).await,
                StatusCode::CONFLICT => {
                    self.trouble.busy.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5 + attempt)).await;
                }
                status => {
                    let text = response.text().await.unwrap_or_default();
                    return Err(
                        self.failed(format!("POST a message: {status} {}", text.chars().take(300).collect::<String>()))
                    );
                }
            }
        }
        Err(self.failed(format!("session {session} stayed busy")))
    }

    /// The same question straight to the fake.
    async fn direct(&self, model: &str) -> Res<Seen> {
        let body = json!({
            "model": model, "stream": true, "stream_options": { "include_usage": true },
            "messages": [{ "role": "user", "content": "hi" }],
        });
        let sent = Instant::now();
        let response = self
            .http
            .post(format!("{}/v1/chat/completions", self.fake))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| self.failed(format!("POST the fake: {e}")))?;
        if !response.status().is_success() {
            return Err(self.failed(format!("POST the fake: {}", response.status())));
        }
        read_stream(response, Wire::OpenAi, sent, None).await
    }

    fn failed(&self, message: String) -> String {
        // The first few are worth reading; a thousand are not.
        if self.trouble.failed.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("bench_chat: {message}");
        }
        message
    }
}

/// A run that ended otherwise than `completed` (or a stream without its
/// end) is worth a line: its timing is not a normal answer's.
fn check_end(seen: &Seen, wire: Wire, odd: &AtomicUsize) {
    let expected = if wire == Wire::Alumia { "completed" } else { "done" };
    if seen.ended.as_deref() != Some(expected) && odd.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("bench_chat: a stream ended {:?} after {} tokens", seen.ended, seen.tokens);
    }
}

// ---------------------------------------------------------------- first token

/// One pair: the fake straight, then through Alumia, or the other way
/// round, so neither side always goes first into the same load.
async fn pair(bench: &Bench, session: &str, model: &str, alumia_first: bool, odd: &AtomicUsize) -> Res<(Seen, Seen)> {
    let (direct, alumia) = if alumia_first {
        let alumia = bench.message(session).await?;
        (bench.direct(model).await?, alumia)
    } else {
        let direct = bench.direct(model).await?;
        (direct, bench.message(session).await?)
    };
    check_end(&direct, Wire::OpenAi, odd);
    check_end(&alumia, Wire::Alumia, odd);
    Ok((direct, alumia))
}

async fn first_token(flags: &Flags) {
    let bench = Bench::new(flags, true);
    let (concurrency, rounds) = (flags.number("concurrency", 100), flags.number("rounds", 10));
    let model = flags.text("model");
    let odd = Arc::new(AtomicUsize::new(0));
    let sessions = warm_sessions(&bench, flags, &model, &odd).await;
    println!("first token: {concurrency} sessions, {rounds} rounds each, model {model}");
    let started = Instant::now();
    let tasks = sessions.iter().enumerate().map(|(i, session)| {
        let (bench, model, odd) = (&bench, &model, &odd);
        async move {
            let mut pairs = Vec::new();
            for round in 0..rounds {
                if let Ok(p) = pair(bench, session, model, (i + round) % 2 == 1, odd).await {
                    pairs.push(p);
                }
            }
            pairs
        }
    });
    let pairs: Vec<(Seen, Seen)> = futures::future::join_all(tasks).await.into_iter().flatten().collect();
    let secs = started.elapsed().as_secs_f64();
    println!("{} pairs in {secs:.1} s ({:.0} a second)", pairs.len(), pairs.len() as f64 / secs);
    // The rate the steady phase's load is a fraction of.
    result("ttft_pairs_per_s", pairs.len() as f64 / secs);
    report_first_token("ttft", &pairs);
    bench.trouble.report("first_token");
    result("first_token_odd_ends", odd.load(Ordering::Relaxed) as f64);
}

/// `count` sessions, each answered once first (connections opened, caches
/// warm).
async fn warm_sessions(bench: &Bench, flags: &Flags, model: &str, odd: &AtomicUsize) -> Vec<String> {
    let count = flags.number("concurrency", 100);
    let sessions =
        bench.sessions(&flags.text("project"), &flags.text("agent"), count).await.unwrap_or_else(|e| die(&e));
    futures::future::join_all(sessions.iter().map(|s| pair(bench, s, model, false, odd))).await;
    bench.trouble.busy.store(0, Ordering::Relaxed);
    odd.store(0, Ordering::Relaxed);
    sessions
}

/// A small deterministic generator (xorshift64*): the same arrival times
/// on every run, without a dependency.
struct Arrivals(u64);

impl Arrivals {
    /// The wait before the next arrival, exponential with mean `mean`, so
    /// arrivals come as a Poisson process: bunched now and then, as a
    /// crowd's messages are.
    fn next_gap(&mut self, mean: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let unit = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        mean.mul_f64(-(1.0 - unit).ln())
    }
}

/// The first-token pairs again, but open loop: pairs arrive at `rate` a
/// second on a schedule drawn in advance, whatever the answers' speed, each
/// taken by one of the sessions not busy with a pair, instead of every
/// session asking again the moment it is answered. A closed loop keeps the
/// cores busy all the time however fast the server is, so its first token
/// measures the queue for them; this measures the server at a known load.
/// An arrival that finds every session busy waits for one, and is counted.
async fn steady(flags: &Flags) {
    let bench = Bench::new(flags, true);
    let model = flags.text("model");
    let rate: f64 = flags.text("rate").parse().unwrap_or_else(|_| die("--rate must be a number"));
    let seconds = flags.number("seconds", 10) as f64;
    let odd = Arc::new(AtomicUsize::new(0));
    let sessions = warm_sessions(&bench, flags, &model, &odd).await;
    println!("steady: {rate:.0} pairs a second for {seconds:.0} s over {} sessions, model {model}", sessions.len());
    let (idle_tx, mut idle) = tokio::sync::mpsc::channel(sessions.len());
    for session in sessions {
        idle_tx.try_send(session).unwrap_or_else(|_| die("the idle sessions outnumber the channel"));
    }
    let mean = Duration::from_secs_f64(1.0 / rate);
    let mut arrivals = Arrivals(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(seconds);
    let (mut due, mut late, mut pairs) = (started + arrivals.next_gap(mean), 0usize, Vec::new());
    while due < end {
        tokio::time::sleep_until(due.into()).await;
        let session = match idle.try_recv() {
            Ok(session) => session,
            Err(_) => {
                late += 1;
                idle.recv().await.unwrap_or_else(|| die("the idle sessions' channel closed"))
            }
        };
        let (bench, model, odd, idle_tx) = (bench.clone(), model.clone(), odd.clone(), idle_tx.clone());
        let alumia_first = pairs.len() % 2 == 1;
        pairs.push(tokio::spawn(async move {
            let p = pair(&bench, &session, &model, alumia_first, &odd).await;
            let _ = idle_tx.send(session).await;
            p
        }));
        due += arrivals.next_gap(mean);
    }
    let pairs: Vec<(Seen, Seen)> =
        futures::future::join_all(pairs).await.into_iter().filter_map(|p| p.ok().and_then(Result::ok)).collect();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} pairs in {secs:.1} s ({:.0} a second); {late} arrived with every session busy",
        pairs.len(),
        pairs.len() as f64 / secs
    );
    result("steady_late", late as f64);
    report_first_token("steady", &pairs);
    bench.trouble.report("steady");
    result("steady_odd_ends", odd.load(Ordering::Relaxed) as f64);
}

/// The figures of a set of pairs, named `{phase}_…` for the summary.
fn report_first_token(phase: &str, pairs: &[(Seen, Seen)]) {
    let first = |s: &Seen| s.first_token.map_or(f64::NAN, ms);
    let direct = sorted(pairs.iter().map(|(d, _)| first(d)).collect());
    let alumia = sorted(pairs.iter().map(|(_, a)| first(a)).collect());
    let overhead = sorted(pairs.iter().map(|(d, a)| first(a) - first(d)).collect());
    let whole_direct = sorted(pairs.iter().map(|(d, _)| ms(d.total)).collect());
    let whole_alumia = sorted(pairs.iter().map(|(_, a)| ms(a.total)).collect());
    for (label, name, values) in [
        ("first token, fake straight", "direct", &direct),
        ("first token, through alumia", "alumia", &alumia),
        ("difference (alumia - straight)", "overhead", &overhead),
        ("whole answer, fake straight", "whole_direct", &whole_direct),
        ("whole answer, through alumia", "whole_alumia", &whole_alumia),
    ] {
        let (p50, p99) = (percentile(values, 0.5), percentile(values, 0.99));
        println!("{label:<32} p50 {p50:8.2} ms   p99 {p99:8.2} ms   max {:8.2} ms", percentile(values, 1.0));
        result(&format!("{phase}_{name}_p50_ms"), p50);
        result(&format!("{phase}_{name}_p99_ms"), p99);
    }
    result(&format!("{phase}_pairs"), pairs.len() as f64);
}

// ---------------------------------------------------------------- relay

/// Tokens a second over a batch of concurrent streams: all their tokens
/// over the time from the earliest first token to the latest last one, so
/// starting a run (which the first-token figure covers) is left out.
fn batch_rate(batch: &[Seen]) -> (f64, u64) {
    let tokens: u64 = batch.iter().map(|s| s.tokens).sum();
    let first = batch.iter().filter_map(|s| s.first_at).min();
    let last = batch.iter().filter_map(|s| s.last_at).max();
    match (first, last) {
        (Some(first), Some(last)) if last > first => (tokens as f64 / (last - first).as_secs_f64(), tokens),
        _ => (f64::NAN, tokens),
    }
}

async fn direct_batch(bench: &Bench, model: &str, count: usize) -> Vec<Seen> {
    let batch = (0..count).map(|_| bench.direct(model));
    futures::future::join_all(batch).await.into_iter().filter_map(Result::ok).collect()
}

async fn alumia_batch(bench: &Bench, sessions: &[String]) -> Vec<Seen> {
    let batch = sessions.iter().map(|s| bench.message(s));
    futures::future::join_all(batch).await.into_iter().filter_map(Result::ok).collect()
}

async fn relay(flags: &Flags) {
    let bench = Bench::new(flags, true);
    let (concurrency, rounds) = (flags.number("concurrency", 10), flags.number("rounds", 3));
    let model = flags.text("model");
    let sessions =
        bench.sessions(&flags.text("project"), &flags.text("agent"), concurrency).await.unwrap_or_else(|e| die(&e));
    direct_batch(&bench, &model, concurrency).await;
    alumia_batch(&bench, &sessions).await;
    println!("relay: {concurrency} concurrent streams of {model}, {rounds} alternating rounds");
    let (mut direct_rates, mut alumia_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (direct, direct_tokens) = batch_rate(&direct_batch(&bench, &model, concurrency).await);
        let (alumia, alumia_tokens) = batch_rate(&alumia_batch(&bench, &sessions).await);
        println!(
            "-- round {round}: straight {direct:10.0} tokens/s ({direct_tokens} tokens)   \
             through alumia {alumia:10.0} tokens/s ({alumia_tokens} tokens)   ratio {:.3}",
            alumia / direct
        );
        if direct_tokens != alumia_tokens {
            println!("   (alumia relayed {alumia_tokens} tokens where the fake sent {direct_tokens})");
        }
        direct_rates.push(direct);
        alumia_rates.push(alumia);
        ratios.push(alumia / direct);
    }
    let ratio = median(ratios);
    println!("median ratio relayed/straight: {ratio:.3}");
    result("relay_direct_tokens_per_s", median(direct_rates));
    result("relay_alumia_tokens_per_s", median(alumia_rates));
    result("relay_ratio", ratio);
    bench.trouble.report("relay");
}

// ---------------------------------------------------------------- memory

/// A `kB` line of `/proc/<pid>/status`, in MB.
fn proc_status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.trim_start_matches(':').split_whitespace().next()))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kb / 1024.0
}

fn rss_mb(pid: u32) -> f64 {
    proc_status_mb(pid, "VmRSS")
}

/// Waits until every stream has had its first token (or `limit` passes,
/// or they all ended), sampling the server's RSS; answers the highest.
async fn ramp(pid: u32, first: &AtomicUsize, done: &AtomicUsize, count: usize, limit: Duration) -> f64 {
    let started = Instant::now();
    let mut peak = 0f64;
    let mut said = Instant::now();
    while first.load(Ordering::Relaxed) < count && done.load(Ordering::Relaxed) < count && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_mb(pid));
        if said.elapsed() >= Duration::from_secs(3) {
            said = Instant::now();
            println!(
                "   {} of {count} streaming after {:.0} s, RSS {:.1} MB",
                first.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64(),
                rss_mb(pid)
            );
        }
    }
    let streaming = first.load(Ordering::Relaxed);
    println!("{streaming} of {count} streams had their first token after {:.1} s", started.elapsed().as_secs_f64());
    result("rss_ramp_secs", started.elapsed().as_secs_f64());
    result("rss_streams_started", streaming as f64);
    peak
}

async fn rss(flags: &Flags) {
    let bench = Bench::new(flags, false);
    let pid: u32 = flags.text("pid").parse().unwrap_or_else(|_| die("--pid must be a process id"));
    let count = flags.number("sessions", 1000);
    let samples = flags.number("samples", 10);
    let limit = Duration::from_secs(flags.number("ramp-secs", 90) as u64);
    println!("memory: creating {count} sessions");
    let sessions =
        bench.sessions(&flags.text("project"), &flags.text("agent"), count).await.unwrap_or_else(|e| die(&e));
    let idle = rss_mb(pid);
    println!("RSS with {count} idle sessions: {idle:.1} MB; starting {count} streams at once");
    let first = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let streams: Vec<_> = sessions
        .iter()
        .map(|session| {
            let (bench, session, first, done) = (bench.clone(), session.clone(), first.clone(), done.clone());
            tokio::spawn(async move {
                let seen = stream_once(&bench, &session, &first).await;
                done.fetch_add(1, Ordering::Relaxed);
                seen
            })
        })
        .collect();
    let mut peak = ramp(pid, &first, &done, count, limit).await;
    let at_start = rss_mb(pid);
    let sampling = Instant::now();
    let mut while_streaming = Vec::new();
    for _ in 0..samples {
        tokio::time::sleep(Duration::from_millis(500)).await;
        while_streaming.push(rss_mb(pid));
    }
    let still = count - done.load(Ordering::Relaxed);
    let max_streaming = while_streaming.iter().copied().fold(f64::NAN, f64::max);
    // Memory that grows with what has been streamed, not with how many
    // streams there are, shows as a slope: a figure that depends on when
    // it was read.
    let slope = (while_streaming.last().copied().unwrap_or(at_start) - at_start) / sampling.elapsed().as_secs_f64();
    peak = peak.max(max_streaming);
    println!(
        "RSS while {still} streams go on: {at_start:.1} MB when all had started, then max {max_streaming:.1} MB \
         over {samples} samples ({}), {slope:+.1} MB/s",
        while_streaming.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(" "),
    );
    let stopping = stop(&bench, &sessions, streams, pid).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_mb(pid);
    println!(
        "RSS: {stopping:.1} MB highest while stopping them, {after:.1} MB after; VmHWM {:.1} MB",
        proc_status_mb(pid, "VmHWM")
    );
    result("rss_idle_mb", idle);
    result("rss_all_started_mb", at_start);
    result("rss_streaming_mb", max_streaming);
    result("rss_slope_mb_per_s", slope);
    result("rss_peak_mb", peak.max(stopping));
    result("rss_after_mb", after);
    result("rss_hwm_mb", proc_status_mb(pid, "VmHWM"));
    result("rss_streams_at_sampling", still as f64);
    bench.trouble.report("rss");
}

/// One long stream; its first token counted in `first`.
async fn stream_once(bench: &Bench, session: &str, first: &AtomicUsize) -> Res<Seen> {
    let sent = Instant::now();
    let response = bench
        .http
        .post(format!("{}/api/v1/sessions/{session}/messages", bench.alumia))
        .header(AUTHORIZATION, format!("Bearer {}", bench.key))
        .header(ACCEPT, "text/event-stream")
        .json(&json!({ "content": "hi" }))
        .send()
        .await
        .map_err(|e| bench.failed(format!("POST a message: {e}")))?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(bench.failed(format!("POST a message: {status} {}", text.chars().take(300).collect::<String>())));
    }
    read_stream(response, Wire::Alumia, sent, Some(first)).await
}

/// Cancels every run (each stream then ends with `run.finished`) and waits
/// a while for the streams to end; ones still open are dropped. Answers
/// the highest RSS sampled meanwhile.
async fn stop(bench: &Bench, sessions: &[String], streams: Vec<tokio::task::JoinHandle<Res<Seen>>>, pid: u32) -> f64 {
    let started = Instant::now();
    let halt = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let halt = halt.clone();
        async move {
            let mut peak = 0f64;
            while !halt.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peak
        }
    });
    let cancelled: Vec<bool> = stream::iter(sessions)
        .map(|s| async move { bench.api(&format!("/sessions/{s}/cancel"), json!({})).await.is_ok() })
        .buffer_unordered(32)
        .collect()
        .await;
    let ok = cancelled.iter().filter(|c| **c).count();
    let cancel_secs = started.elapsed().as_secs_f64();
    let waited = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(streams)).await;
    let ended = match &waited {
        Ok(all) => all.iter().filter(|r| matches!(r, Ok(Ok(s)) if s.ended.is_some())).count().to_string(),
        Err(_) => "not all".into(),
    };
    halt.store(true, Ordering::Relaxed);
    let sampled = sampler.await.unwrap_or(f64::NAN);
    println!(
        "cancelled {ok} of {} runs in {cancel_secs:.1} s (32 at a time); {ended} streams ended with run.finished \
         after {:.1} s",
        sessions.len(),
        started.elapsed().as_secs_f64()
    );
    result("rss_cancel_secs", cancel_secs);
    sampled
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let flags = Flags::parse(args);
    match command.as_str() {
        "first-token" => first_token(&flags).await,
        "steady" => steady(&flags).await,
        "relay" => relay(&flags).await,
        "rss" => rss(&flags).await,
        other => die(&format!("unknown command {other:?}: first-token, steady, relay or rss")),
    }
}
