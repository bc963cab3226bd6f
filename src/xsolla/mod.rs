//! Xsolla Reports API v2: records, parsing and the HTTP client.
//!
//! Built to the facts in `docs/xsolla-api.md`; where docs/xsolla-api.md marks a
//! fact inferred or unknown, the code is tolerant and says so where it matters.

pub mod client;
pub mod error;
pub mod http;
pub mod model;
pub mod paging;
pub mod parse;
pub mod record;
mod typed_json;
#[cfg(feature = "sandbox")]
mod write_calls;

pub use client::{Format, XsollaClient};
pub use error::XsollaError;
pub use http::{ApiKey, Expect, HttpSettings, Reply, Transport};
