pub mod forms;
pub mod layout;
pub mod not_found;
pub mod time;
