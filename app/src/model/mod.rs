//! Types shared by the browser and the server.

pub mod dto;
pub mod error;

pub use dto::*;
pub use error::{AppError, ErrorCode};
