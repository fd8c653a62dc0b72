//! The orchestrator's one error type.

use crate::drivers::DriverError;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// Placing appliances failed (the batch's cause, shared by every pass in it).
    #[error("placement failed: {0}")]
    Placement(String),
    /// A crash injected by a test (the process "dies" between two steps).
    #[error("injected crash")]
    Crashed,
}
