//! Xsolla Reports API v2: records, parsing and the HTTP client.
//!
//! Built to the facts in `shared/reference/xsolla-reports-api.md`; where the reference marks a
//! fact inferred or unknown, the code is tolerant and says so where it matters.

pub mod model;
pub mod parse;
pub mod record;
