//! Reusable pieces of the pages: labelled form fields with their errors, loading/empty/error states,
//! the code editor and views of scripts and output, and the app shell with its role-aware navigation.

pub mod code;
pub mod confirm;
pub mod field;
pub mod shell;
pub mod status;
