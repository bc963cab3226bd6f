//! Two pieces of work at once.

/// Runs `a` on a thread of its own while the calling thread runs `b`, and returns both results;
/// a panic in `a` goes on in the caller as if `a` had run there.
///
/// Why: passes over a whole side of the run (formatting `source`s, counting the matched lines,
/// the row accounting) and the workbook each left one of the machine's cores idle; halves of
/// them run through here.
pub fn both<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|s| {
        let first = s.spawn(a);
        let second = b();
        let first = first
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_results_come_back_in_order() {
        let v: Vec<u64> = (1..=1000).collect();
        let (a, b) = both(
            || v[..500].iter().sum::<u64>(),
            || v[500..].iter().sum::<u64>(),
        );
        assert_eq!((a, b), (125_250, 375_250));
    }

    #[test]
    #[should_panic(expected = "first half failed")]
    fn a_panic_on_the_other_thread_reaches_the_caller() {
        let _ = both(|| panic!("first half failed"), || 1);
    }
}
