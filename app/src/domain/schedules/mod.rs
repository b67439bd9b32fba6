//! Schedules (SPEC §11): an agent run started at the times of a cron
//! expression in an IANA time zone. `cron` reads the expressions and
//! finds the times, `store` keeps the schedules, `runner` claims each due
//! time once and `firings` records what each one did.

pub mod cron;
pub mod firings;
pub mod runner;
pub mod store;

pub use firings::{history, run_now};
pub use store::{create, delete, get, list, preview, update, NewSchedule, SchedulePatch};
