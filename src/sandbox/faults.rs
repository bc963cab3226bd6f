//! Fault injection: rules that make the sandbox misbehave the way a real provider (or the
//! network in front of it) does, so retry and validation paths are exercised for real.

use serde::{Deserialize, Serialize};

/// One fault rule: which requests it targets and how often it fires.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Substring matched against the request path (`"registry"`, `"transfers"`); `None` = any.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// What goes wrong.
    pub fault: Fault,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub skip: u32,
    /// Then fire this many times (0 = forever).
    #[serde(default)]
    pub times: u32,
}

/// The ways a response can go wrong.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 with the Xsolla error body; `Retry-After` header (seconds or HTTP-date) when `Some`.
    TooManyRequests {
        /// Header value, sent verbatim.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Any status (500, 502, 503…) with the Xsolla error body.
    Status {
        /// HTTP status code; an invalid one becomes 500.
        code: u16,
    },
    /// Sleep before answering normally.
    Slow {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// The connection is closed before any byte of the response is written.
    DropConnection,
    /// Full headers (incl. the full `Content-Length`), half the body, then the connection closes.
    TruncateBody,
    /// 200 with valid framing, but the body is the real body cut in half (a broken server).
    TruncatedJson,
    /// 200 with an empty body.
    EmptyOk,
    /// 200 `text/html` maintenance page.
    WrongContentType,
    /// 200 with the body of the previous page (`offset - limit`) of the same query.
    RepeatPreviousPage,
}

impl Fault {
    /// Short name recorded in [`super::RequestRecord::fault`].
    pub fn name(&self) -> &'static str {
        match self {
            Fault::TooManyRequests { .. } => "too_many_requests",
            Fault::Status { .. } => "status",
            Fault::Slow { .. } => "slow",
            Fault::DropConnection => "drop_connection",
            Fault::TruncateBody => "truncate_body",
            Fault::TruncatedJson => "truncated_json",
            Fault::EmptyOk => "empty_ok",
            Fault::WrongContentType => "wrong_content_type",
            Fault::RepeatPreviousPage => "repeat_previous_page",
        }
    }
}

/// A rule plus its counters.
#[derive(Debug)]
pub(crate) struct RuleState {
    rule: FaultRule,
    seen: u32,
    fired: u32,
}

impl RuleState {
    pub(crate) fn new(rule: FaultRule) -> Self {
        RuleState {
            rule,
            seen: 0,
            fired: 0,
        }
    }
}

/// Picks the fault for a request to `path`, updating counters.
///
/// Rules are tried in order. A matching rule still in its `skip` phase counts the request and
/// lets it pass on to later rules; the first rule able to fire wins and later rules do not see
/// the request at all. Exhausted rules are ignored.
pub(crate) fn pick(rules: &mut [RuleState], path: &str) -> Option<Fault> {
    for st in rules.iter_mut() {
        if let Some(ep) = &st.rule.endpoint {
            if !path.contains(ep.as_str()) {
                continue;
            }
        }
        if st.seen < st.rule.skip {
            st.seen += 1;
            continue;
        }
        if st.rule.times == 0 || st.fired < st.rule.times {
            st.fired += 1;
            return Some(st.rule.fault.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(endpoint: Option<&str>, skip: u32, times: u32) -> RuleState {
        RuleState::new(FaultRule {
            endpoint: endpoint.map(str::to_owned),
            fault: Fault::EmptyOk,
            skip,
            times,
        })
    }

    #[test]
    fn skip_then_times_then_nothing() {
        let mut rules = vec![rule(Some("registry"), 2, 1)];
        let fired: Vec<bool> = (0..5)
            .map(|_| pick(&mut rules, "/x/registry.json").is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false]);
        assert!(pick(&mut rules, "/x/transfers").is_none());
    }

    #[test]
    fn times_zero_is_forever_and_endpoint_none_matches_all() {
        let mut rules = vec![rule(None, 0, 0)];
        assert!((0..50).all(|_| pick(&mut rules, "/anything").is_some()));
    }

    #[test]
    fn json_form_matches_the_documented_shape() {
        let r: Vec<FaultRule> = serde_json::from_str(
            r#"[{"endpoint":"registry","fault":{"kind":"too_many_requests","retry_after":"2"},"skip":1,"times":3},
                {"fault":{"kind":"status","code":503}}]"#,
        )
        .unwrap();
        assert_eq!(
            r[0].fault,
            Fault::TooManyRequests {
                retry_after: Some("2".into())
            }
        );
        assert_eq!((r[0].skip, r[0].times), (1, 3));
        assert_eq!(r[1].endpoint, None);
        assert_eq!(r[1].fault, Fault::Status { code: 503 });
    }
}
