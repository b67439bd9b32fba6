//! Types shared by the browser and the server.

pub mod dto;
pub mod error;

pub use dto::*;
pub use error::{AppError, ErrorCode};

/// Percent-encodes `s` for a query value, keeping `/` readable
/// (`/login?next=/acme/members`).
pub fn encode_query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
