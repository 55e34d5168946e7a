//! The ratings service (issue 14): under construction on its own branch.

/// The name of this service: its event source and its table prefix.
pub const SERVICE: &str = "ratings";
