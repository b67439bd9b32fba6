//! `#[server]` functions: resolve the actor, call the domain, nothing else.
//! Every endpoint is `/fn/<name>` so tests and no-JS forms have stable URLs.

pub mod accounts;
pub mod members;
pub mod orgs;

#[cfg(feature = "ssr")]
pub mod support;
