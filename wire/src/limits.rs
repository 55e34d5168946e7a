//! The bounds on what a request may carry, and who enforces each.

/// The largest body the runtime hands a component, and the largest event the broker
/// accepts; larger ones get a 413 before any component runs.
pub const MAX_HOST_BODY_BYTES: usize = 1 << 20;

/// The largest body a service reads (the API's bodies are small JSON objects); larger
/// ones get a 413 from the service.
pub const MAX_SERVICE_BODY_BYTES: usize = 64 * 1024;

/// The largest request head (request line and headers) the runtime hands a component;
/// larger ones get a 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most headers the runtime hands a component; more get a 431.
pub const MAX_HEADERS: usize = 100;

/// The deepest nesting of arrays and objects a service accepts in a JSON body.
pub const MAX_JSON_DEPTH: usize = 16;
