//! The network edges of the gateway. Only this crate knows HTTP.
//!
//! - [`tls`]: the accept loop. It completes the mutual-TLS handshake, reads the peer's
//!   identity from its certificate and only then hands the connection to HTTP; a client
//!   without a valid, unrevoked certificate never reaches a handler.
//! - [`api`]: the FHIR API, thin handlers that turn a request into a call of the service
//!   core and its error into an `OperationOutcome` ([`errors`]).
//! - [`limit`]: per-client token buckets (`429` with `Retry-After`) and connections per
//!   address.
//! - [`client`]: a small mTLS HTTP/1.1 client for the demo, the tests and the benchmark.

pub mod api;
pub mod client;
pub mod errors;
pub mod limit;
pub mod tls;
