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
pub fn push_u64(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}
