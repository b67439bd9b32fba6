//! Schedules (SPEC §11): an agent run started at the times of a cron
//! expression in an IANA time zone. `cron` reads the expressions and
//! finds the times; the rest of the capability (storage, the runner that
//! claims each due time once, the API and the page) builds on it.

pub mod cron;
pub mod store;

pub use store::{create, delete, get, list, preview, update, NewSchedule, SchedulePatch};
