//! `#[server]` functions: resolve the actor, call the domain, nothing else.
//! Every endpoint is `/fn/<name>` so tests and no-JS forms have stable URLs.

pub mod accounts;
pub mod agents;
pub mod api_keys;
pub mod billing;
pub mod byok;
pub mod canvas;
pub mod files;
pub mod members;
pub mod models;
pub mod notifications;
pub mod orgs;
pub mod projects;
pub mod schedules;
pub mod security;
pub mod sessions;
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod support;
