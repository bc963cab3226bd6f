//! Fault injection: rules that make the sandbox misbehave the way a real provider (or the
//! network in front of it) does, so retry and validation paths are exercised for real.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One fault rule: which requests it targets and how often it fires.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Substring matched against the request path (`"registry"`, `"transfers"`) or its query
    /// string (`"transfer_id=7"`: one payout's registry reads); `None` = any.
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

/// Requests being answered right now, and the most there ever were at once: what a client's
/// concurrency limit looks like from the server's side (a request counts from its arrival to
/// its response, so the figure never exceeds what the client had in flight).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    /// Counts a request in until the guard is dropped.
    pub(crate) fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self)
    }

    /// The most requests answered at once so far.
    pub(crate) fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Starts counting the most afresh (from the requests in flight now).
    pub(crate) fn reset(&self) {
        self.most
            .store(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// One request counted in [`InFlight`].
pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
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

/// Picks the fault for a request to `path` with `query` (`""` when none), updating counters.
///
/// Rules are tried in order. A matching rule still in its `skip` phase counts the request and
/// lets it pass on to later rules; the first rule able to fire wins and later rules do not see
/// the request at all. Exhausted rules are ignored.
pub(crate) fn pick(rules: &mut [RuleState], path: &str, query: &str) -> Option<Fault> {
    for st in rules.iter_mut() {
        if let Some(ep) = &st.rule.endpoint {
            if !path.contains(ep.as_str()) && !query.contains(ep.as_str()) {
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
    fn in_flight_counts_the_most_at_once() {
        let f = InFlight::default();
        let a = f.enter();
        let b = f.enter();
        drop(a);
        let c = f.enter();
        assert_eq!(f.most(), 2);
        drop((b, c));
        let _d = f.enter();
        assert_eq!(f.most(), 2);
        f.reset();
        assert_eq!(f.most(), 1);
    }

    #[test]
    fn skip_then_times_then_nothing() {
        let mut rules = vec![rule(Some("registry"), 2, 1)];
        let fired: Vec<bool> = (0..5)
            .map(|_| pick(&mut rules, "/x/registry.json", "").is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false]);
        assert!(pick(&mut rules, "/x/transfers", "").is_none());
    }

    #[test]
    fn a_rule_may_match_the_query_of_one_read() {
        let mut rules = vec![rule(Some("transfer_id=7"), 0, 0)];
        assert!(pick(&mut rules, "/x/registry.json", "limit=5&transfer_id=7").is_some());
        assert!(pick(&mut rules, "/x/registry.json", "limit=5&transfer_id=8").is_none());
        assert!(pick(&mut rules, "/x/registry.json", "").is_none());
    }

    #[test]
    fn times_zero_is_forever_and_endpoint_none_matches_all() {
        let mut rules = vec![rule(None, 0, 0)];
        assert!((0..50).all(|_| pick(&mut rules, "/anything", "").is_some()));
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
