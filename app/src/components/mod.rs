pub mod forms;
pub mod layout;
pub mod not_found;
pub mod passkey_glue;
pub mod step_up;
pub mod time;
