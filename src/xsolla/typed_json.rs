//! JSON bodies straight into typed records, without building a `serde_json::Value` first.
//!
//! Why: a registry page of 1,000 rows decoded through `Value` costs about 27 ms (a map and a
//! string per field, then a walk over the tree for the unknown fields), which held the fetch
//! near 12,000 rows/s. Here one pass over the bytes follows the record's column paths as a
//! tree of keys: a known leaf goes straight to its column's slot as text borrowed from the
//! body, an unknown leaf into `extra`. Unknown paths join the tree as they are met, with
//! their dotted path made once: the next row finds them where the last one had them.
//!
//! The reading is the one of [`super::parse::parse_json_rows_reference`] (the `Value` path),
//! cell for cell: a number's text is its text in the body (serde_json's `arbitrary_precision`
//! text is the same for numbers without an exponent; one with an exponent is left to the
//! reference reader), never an `f64`; a string with escapes is unescaped by serde_json; an
//! unknown array is kept as the compact JSON of its `Value`. Whatever this reader is not sure
//! to read the same way — anything but strict JSON, a cell that does not parse, a key seen
//! twice in one object (the `Value` keeps the last), a key with a dot or an empty key (its
//! dotted path would be ambiguous), serde_json's number-wrapper key, an object or array where
//! a column expects a scalar, nesting deeper than 100 — makes it give up, and the caller runs
//! the reference reader, which then decides the rows or words the error exactly as before.
//! The fuzz target and a property test check that both agree.

use super::record::{CellError, Column, Record};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// serde_json's map key for a number under `arbitrary_precision`: an object with this key is
/// a number to `Value`, so a body that has it is left to the reference reader.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Objects and arrays nested deeper than this are left to the reference reader (serde_json
/// stops at 128).
const MAX_DEPTH: u32 = 100;

/// The paths of a body as a tree of JSON keys: the record's column paths first, then every
/// other path as it is met (so a key seen in one row is found, not searched for, in the next).
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    /// Child keys and their node indexes.
    children: Vec<(Box<str>, usize)>,
    /// The column whose path ends here.
    column: Option<usize>,
    /// The dotted path, the key of a leaf that is no column's in `extra`.
    path: Box<str>,
    /// The child to try first (see [`Tree::child`]).
    hint: usize,
    /// Number of the row that last met this node: one met twice in a row is a key twice in
    /// one object.
    stamp: u64,
    /// Whether this node's key is written as it is inside quotes (no quote, backslash or
    /// control character): then `"key"` in the body is this key, compared as bytes.
    plain: bool,
}

impl Tree {
    /// The tree of `columns`; `None` when two columns share a path or one path runs through
    /// another's leaf (then only the reference reader knows what to do).
    fn new(columns: &'static [Column]) -> Option<Tree> {
        let mut tree = Tree {
            nodes: vec![Node::default()],
        };
        for (i, col) in columns.iter().enumerate() {
            let mut at = 0;
            for key in col.json.split('.') {
                if key.is_empty() || tree.nodes[at].column.is_some() {
                    return None;
                }
                at = match tree.nodes[at].children.iter().find(|(k, _)| &**k == key) {
                    Some(&(_, child)) => child,
                    None => tree.add(at, key),
                };
            }
            if tree.nodes[at].column.is_some() || !tree.nodes[at].children.is_empty() {
                return None;
            }
            tree.nodes[at].column = Some(i);
        }
        Some(tree)
    }

    /// A new child of `parent` under `key`.
    fn add(&mut self, parent: usize, key: &str) -> usize {
        let up = &self.nodes[parent].path;
        let path = if up.is_empty() {
            key.into()
        } else {
            format!("{up}.{key}").into()
        };
        self.nodes.push(Node {
            path,
            plain: key.bytes().all(|c| !STRING_STOPS[usize::from(c)]),
            ..Node::default()
        });
        let child = self.nodes.len() - 1;
        self.nodes[parent].children.push((key.into(), child));
        child
    }

    /// The child of `node` the hint points to, when the body at `at` spells its key as a
    /// plain string, and the index after that string. Why: most keys are where the last row
    /// had them, and comparing the bytes once costs less than scanning the string first.
    fn hinted(&mut self, node: usize, b: &[u8], at: usize) -> Option<(usize, usize)> {
        let n = &self.nodes[node];
        let (key, child) = n.children.get(n.hint)?;
        let (key, child) = (key.as_bytes(), *child);
        let end = at + key.len() + 2;
        let raw = b.get(at..end)?;
        let matched = self.nodes[child].plain
            && raw[0] == b'"'
            && raw[raw.len() - 1] == b'"'
            && &raw[1..raw.len() - 1] == key;
        if !matched {
            return None;
        }
        self.nodes[node].hint += 1;
        Some((child, end))
    }

    /// The child of `node` under `key`, added when new. Rows repeat their keys in one order,
    /// so the child after the last one found is tried first. An empty or dotted key makes
    /// paths ambiguous, and the wrapper's key is a number to `Value`: no child for them.
    fn child(&mut self, node: usize, key: &str) -> Res<usize> {
        let n = &mut self.nodes[node];
        let at = match n.children.get(n.hint) {
            Some((k, _)) if &**k == key => Some(n.hint),
            _ => n.children.iter().position(|(k, _)| &**k == key),
        };
        match at {
            Some(at) => {
                n.hint = at + 1;
                Ok(n.children[at].1)
            }
            None if key.is_empty() || key.as_bytes().contains(&b'.') || key == NUMBER_TOKEN => {
                Err(GiveUp)
            }
            None => {
                n.hint = n.children.len() + 1;
                Ok(self.add(node, key))
            }
        }
    }
}

/// Why the fast reader stepped aside (never shown: the reference reader takes over).
#[derive(Debug)]
struct GiveUp;

type Res<T> = Result<T, GiveUp>;

/// Reads `body` as the reference reader would, or `None` when it cannot be sure to (then the
/// caller runs the reference reader).
pub(super) fn decode_rows<R: Record>(body: &[u8], required: &[&str]) -> Option<Vec<R>> {
    let mut tree = Tree::new(R::COLUMNS)?;
    let text = std::str::from_utf8(body).ok()?;
    let mut walk = Walk {
        sc: Scan {
            s: text,
            b: body,
            i: 0,
            depth: 0,
        },
        row: RowState::new(&tree),
        tree: &mut tree,
        required,
    };
    let rows = walk.top().ok()?;
    walk.sc.ws();
    (walk.sc.i == body.len()).then_some(rows)
}

/// The bytes that end a plain run inside a string: the quote, the backslash and the control
/// characters (not allowed unescaped).
const STRING_STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        stops[c] = true;
        c += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

/// A cursor over the body's bytes, strict JSON only.
struct Scan<'de> {
    s: &'de str,
    b: &'de [u8],
    i: usize,
    depth: u32,
}

impl<'de> Scan<'de> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Res<u8> {
        self.b.get(self.i).copied().ok_or(GiveUp)
    }

    fn eat(&mut self, c: u8) -> Res<()> {
        self.ws();
        if self.peek()? != c {
            return Err(GiveUp);
        }
        self.i += 1;
        Ok(())
    }

    /// `true`, `false` or `null`, whose first byte is at the cursor.
    fn literal(&mut self, word: &'static str) -> Res<()> {
        if !self.b[self.i..].starts_with(word.as_bytes()) {
            return Err(GiveUp);
        }
        self.i += word.len();
        Ok(())
    }

    /// A string at the cursor: borrowed from the body, or unescaped by serde_json.
    fn string(&mut self) -> Res<Cow<'de, str>> {
        self.ws();
        let start = self.i;
        if self.peek()? != b'"' {
            return Err(GiveUp);
        }
        self.i += 1;
        let mut escaped = false;
        loop {
            // One table look-up per plain byte, to the next one that matters.
            while self
                .b
                .get(self.i)
                .is_some_and(|&c| !STRING_STOPS[usize::from(c)])
            {
                self.i += 1;
            }
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                _ => return Err(GiveUp),
            }
        }
        self.i += 1;
        if escaped {
            let quoted = self.s.get(start..self.i).ok_or(GiveUp)?;
            serde_json::from_str::<String>(quoted)
                .map(Cow::Owned)
                .map_err(|_| GiveUp)
        } else {
            Ok(Cow::Borrowed(&self.s[start + 1..self.i - 1]))
        }
    }

    /// A number at the cursor, as written: `-?(0|[1-9][0-9]*)(.[0-9]+)?`. One with an
    /// exponent is left to the reference reader (serde_json rewrites its text).
    fn number(&mut self) -> Res<&'de str> {
        let start = self.i;
        let digits = |sc: &mut Self| {
            let from = sc.i;
            while let Some(b'0'..=b'9') = sc.b.get(sc.i) {
                sc.i += 1;
            }
            sc.i - from
        };
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return Err(GiveUp),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(GiveUp);
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            return Err(GiveUp);
        }
        Ok(&self.s[start..self.i])
    }

    /// An array at the cursor, whole, as the compact JSON of its `Value` (what the reference
    /// reader keeps for an unknown array).
    fn array_text(&mut self) -> Res<String> {
        let rest = self.s.get(self.i..).ok_or(GiveUp)?;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let value = stream.next().ok_or(GiveUp)?.map_err(|_| GiveUp)?;
        self.i += stream.byte_offset();
        Ok(value.to_string())
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }
}

/// One record's cells as they are met, reused from row to row.
struct RowState<'de> {
    /// Text of each column (`None`: absent, null or blank), in table order.
    slots: Vec<Option<Cow<'de, str>>>,
    /// Unknown leaves, by dotted path.
    extra: BTreeMap<String, String>,
    /// Number of the row being read, from 1.
    row_no: u64,
}

impl RowState<'_> {
    fn new(tree: &Tree) -> Self {
        let columns = tree.nodes.iter().filter(|n| n.column.is_some()).count();
        RowState {
            slots: vec![None; columns],
            extra: BTreeMap::new(),
            row_no: 0,
        }
    }
}

/// The reading of one body.
struct Walk<'de, 't> {
    sc: Scan<'de>,
    tree: &'t mut Tree,
    row: RowState<'de>,
    required: &'t [&'t str],
}

impl<'de> Walk<'de, '_> {
    /// The body: an array of objects, or one object.
    fn top<R: Record>(&mut self) -> Res<Vec<R>> {
        self.sc.ws();
        if self.sc.peek()? == b'{' {
            return Ok(vec![self.record()?]);
        }
        self.sc.eat(b'[')?;
        let mut rows = Vec::new();
        self.sc.ws();
        if self.sc.peek()? == b']' {
            self.sc.i += 1;
            return Ok(rows);
        }
        loop {
            self.sc.ws();
            rows.push(self.record()?);
            self.sc.ws();
            match self.sc.peek()? {
                b',' => self.sc.i += 1,
                b']' => {
                    self.sc.i += 1;
                    return Ok(rows);
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// One object, one record.
    fn record<R: Record>(&mut self) -> Res<R> {
        if self.sc.peek()? != b'{' {
            return Err(GiveUp);
        }
        let row = &mut self.row;
        row.slots.iter_mut().for_each(|s| *s = None);
        row.row_no += 1;
        self.object(0)?;
        let row = &mut self.row;
        let mut slots = std::mem::take(&mut row.slots);
        let built = R::from_lookup(|i, _| slots[i].take(), self.required);
        row.slots = slots;
        let mut rec = built.map_err(|_: CellError| GiveUp)?;
        *rec.extra_mut() = std::mem::take(&mut row.extra);
        Ok(rec)
    }

    fn column(&self, node: usize) -> Option<usize> {
        self.tree.nodes[node].column
    }

    /// Any value, whose path is the tree's `node`.
    fn value(&mut self, node: usize) -> Res<()> {
        self.sc.ws();
        match self.sc.peek()? {
            b'{' => self.object(node),
            b'[' if self.column(node).is_none() => {
                let text = self.sc.array_text()?;
                self.leaf(node, Some(Cow::Owned(text)), false)
            }
            b'"' => {
                let text = self.sc.string()?;
                self.leaf(node, Some(text), true)
            }
            b't' => {
                self.sc.literal("true")?;
                self.leaf(node, Some(Cow::Borrowed("true")), false)
            }
            b'f' => {
                self.sc.literal("false")?;
                self.leaf(node, Some(Cow::Borrowed("false")), false)
            }
            b'n' => {
                self.sc.literal("null")?;
                self.leaf(node, None, false)
            }
            b'-' | b'0'..=b'9' => {
                let text = self.sc.number()?;
                self.leaf(node, Some(Cow::Borrowed(text)), false)
            }
            _ => Err(GiveUp),
        }
    }

    /// A scalar: into its column, or into `extra` when the path is unknown. A blank string
    /// is no value for a column (as `json_scalar_text` has it), and kept in `extra`.
    fn leaf(&mut self, node: usize, text: Option<Cow<'de, str>>, string: bool) -> Res<()> {
        match self.column(node) {
            Some(i) => {
                self.row.slots[i] = text.filter(|t| !(string && t.trim().is_empty()));
            }
            None => {
                if let Some(t) = text {
                    let path = self.tree.nodes[node].path.to_string();
                    if self.row.extra.insert(path, t.into_owned()).is_some() {
                        return Err(GiveUp);
                    }
                }
            }
        }
        Ok(())
    }

    /// An object's fields, at the cursor's `{`.
    fn object(&mut self, node: usize) -> Res<()> {
        if self.column(node).is_some() {
            // An object where a column expects a scalar: the reference reader words it.
            return Err(GiveUp);
        }
        self.sc.enter()?;
        self.sc.i += 1;
        self.sc.ws();
        if self.sc.peek()? == b'}' {
            self.sc.i += 1;
            self.sc.depth -= 1;
            return Ok(());
        }
        loop {
            self.sc.ws();
            let child = match self.tree.hinted(node, self.sc.b, self.sc.i) {
                Some((child, end)) => {
                    self.sc.i = end;
                    child
                }
                None => {
                    let key = self.sc.string()?;
                    self.tree.child(node, &key)?
                }
            };
            self.sc.eat(b':')?;
            // A key twice in one object: `Value` keeps the last value. A column's leaf ends
            // the same here (the slot is overwritten); anything else would merge, so give up.
            let n = &mut self.tree.nodes[child];
            if n.column.is_none()
                && std::mem::replace(&mut n.stamp, self.row.row_no) == self.row.row_no
            {
                return Err(GiveUp);
            }
            self.value(child)?;
            self.sc.ws();
            match self.sc.peek()? {
                b',' => self.sc.i += 1,
                b'}' => {
                    self.sc.i += 1;
                    break;
                }
                _ => return Err(GiveUp),
            }
        }
        self.sc.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsolla::model::*;
    use crate::xsolla::parse::{parse_json_rows, parse_json_rows_reference};

    /// The fast reading, which must exist and equal the reference one.
    fn same<R: Record + PartialEq + std::fmt::Debug>(body: &str, required: &[&str]) -> Vec<R> {
        let fast: Vec<R> = decode_rows(body.as_bytes(), required)
            .unwrap_or_else(|| panic!("the fast reader gave up on {}", excerpt(body)));
        let reference: Vec<R> = parse_json_rows_reference(body.as_bytes(), required).unwrap();
        assert!(fast == reference, "{}", excerpt(body));
        fast
    }

    fn excerpt(body: &str) -> String {
        body.chars().take(300).collect()
    }

    /// A body the fast reader leaves to the reference one; `parse_json_rows` still answers
    /// exactly as the reference does.
    fn left_over(body: &str, required: &[&str]) {
        assert!(
            decode_rows::<TransactionRow>(body.as_bytes(), required).is_none(),
            "the fast reader should have given up on {body}"
        );
        assert_eq!(
            parse_json_rows::<TransactionRow>(body.as_bytes(), required),
            parse_json_rows_reference::<TransactionRow>(body.as_bytes(), required),
        );
    }

    const ROW: &str = r#"{"transaction":{"id":7,"status":"done","transfer_date":"2024-01-02 03:04:05","dry_run":0,"custom_parameters":{"campaign":"x"}},
        "user":{"id":42,"name":"   ","email":"","country":"US","phone":null},
        "payment_details":{"payment":{"amount":0.015,"currency":"USD"},"payout":{"amount":-0.10,"currency":"EUR","fx_rate":64.1386407767},
           "vat":{"amount":0,"percent":20}},
        "purchase":{"virtual_items":{"content":["a",{"b":1.50},null]},"items_amount":1,"flag":true,"empty":"","blank":" ","nothing":{}},
        "escaped":"caf\u00e9 \"q\"", "n\u00e9e":{"x":-0.0}}"#;

    #[test]
    fn rows_equal_the_reference_cell_for_cell() {
        let rows: Vec<TransactionRow> = same(&format!("[{ROW},{ROW}]"), REGISTRY_REQUIRED);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(r.transaction_id, Some(7));
        assert_eq!(r.user_id.as_deref(), Some("42"));
        assert_eq!(r.user_name, None, "a blank string is no value");
        assert_eq!(r.payment_amount.unwrap().to_string(), "0.015");
        assert_eq!(r.fx_rate.unwrap().to_string(), "64.1386407767");
        let extra = |k: &str| r.extra.get(k).map(String::as_str);
        assert_eq!(
            extra("purchase.virtual_items.content"),
            Some(r#"["a",{"b":1.50},null]"#)
        );
        assert_eq!(extra("purchase.flag"), Some("true"));
        assert_eq!(extra("purchase.empty"), Some(""));
        assert_eq!(extra("purchase.blank"), Some(" "));
        assert_eq!(extra("escaped"), Some("café \"q\""));
        assert_eq!(extra("née.x"), Some("-0.0"), "the number's own text");
        assert_eq!(extra("user.phone"), None);
        // A column's leaf twice ends with the last value, as in `Value`.
        let twice: Vec<TransactionRow> = same(
            r#"[{"transaction":{"id":1,"id":2,"status":"a","status":null}}]"#,
            &[],
        );
        assert_eq!(
            (twice[0].transaction_id, twice[0].status.as_deref()),
            (Some(2), None)
        );
        // Unknown paths met again, as another kind of value, or under new keys.
        let rows: Vec<TransactionRow> = same(
            r#"[{"a":{"b":1}},{"a":2},{"a":{"c":null,"b":"x"}},{"z":[1],"a":{"b":{"d":true}}}]"#,
            &[],
        );
        let extra: Vec<Vec<(&str, &str)>> = rows
            .iter()
            .map(|r| {
                r.extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect()
            })
            .collect();
        assert_eq!(
            extra,
            [
                vec![("a.b", "1")],
                vec![("a", "2")],
                vec![("a.b", "x")],
                vec![("a.b.d", "true"), ("z", "[1]")]
            ]
        );
        // Keys with escapes, met again spelled the same or otherwise.
        for body in [
            r#"[{"a":1},{"\u0061":2},{"a":3}]"#,
            r#"[{"a\"b":1},{"a\"b":2,"c":3}]"#,
            r#"[{"a\\":1},{"a\\":2},{"a\"":3}]"#,
        ] {
            let rows: Vec<TransactionRow> = same(body, &[]);
            assert_eq!(rows.len(), 3.min(body.matches('{').count()), "{body}");
        }
        // One object alone is one row; other record types read the same way.
        same::<TransactionRow>(ROW, &[]);
        same::<Payout>(
            r#"[{"payout": {"id": 7, "date": "2010-03-31T00:00:00+00:00"}, "canceled": 0, "x": [1]}]"#,
            PAYOUT_REQUIRED,
        );
        same::<ReportEntry>(r#"[]"#, REPORT_REQUIRED);
    }

    #[test]
    fn what_it_cannot_be_sure_of_goes_to_the_reference_reader() {
        for body in [
            // Not JSON, not an array of objects, trailing bytes.
            "[{\"transaction\": {\"id\": 1",
            "[1]",
            "12",
            "\"x\"",
            "[{}] x",
            // A key twice: the `Value` keeps the last.
            r#"[{"transaction":{"id":1},"transaction":{"id":2}}]"#,
            r#"[{"a":{"b":1},"a":2}]"#,
            r#"[{"a":1,"a":2}]"#,
            r#"[{"a":{"b":1}},{"a":{"b":1,"b":2}}]"#,
            r#"[{"a":{"b":1}},{"a":{"b":null,"b":2}}]"#,
            r#"[{"transaction":{"project":{"id":1},"project":{"name":"x"}}}]"#,
            // serde_json rewrites the text of a number with an exponent.
            r#"[{"transaction":{"id":1},"x":1E3}]"#,
            r#"[{"transaction":{"id":1},"payment_details":{"payment":{"amount":1.5e-2}}}]"#,
            // Not strict JSON.
            r#"[{"x":01}]"#,
            r#"[{"x":1.}]"#,
            r#"[{"x":+1}]"#,
            r#"[{"x":1,}]"#,
            r#"[{"x":"a	b"}]"#,
            r#"[{"x":"\q"}]"#,
            r#"[{"x":nul}]"#,
            // Dotted or empty keys make paths ambiguous.
            r#"[{"transaction.id":1}]"#,
            r#"[{"":{"a":1}}]"#,
            // An object or array where a column expects a scalar.
            r#"[{"transaction":{"id":{}}}]"#,
            r#"[{"transaction":{"status":["done"]}}]"#,
            // A key of the body that spells serde_json's number wrapper.
            r#"[{"user":{"id":{"$serde_json::private::Number":"5"}}}]"#,
            r#"[{"$serde_json::private::Number":"5"}]"#,
            r#"[{"user":{"id":{"\u0024serde_json::private::Number":"5"}}}]"#,
        ] {
            left_over(body, &[]);
        }
        // A cell that does not parse: the reference reader names the row.
        let bad = ROW.replace("0.015", "\"ten\"");
        left_over(&format!("[{ROW},{bad}]"), REGISTRY_REQUIRED);
        let e = parse_json_rows::<TransactionRow>(
            format!("[{ROW},{bad}]").as_bytes(),
            REGISTRY_REQUIRED,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("row 1 "), "{e}");
        left_over(r#"[{"transaction":{"id":1}}]"#, REGISTRY_REQUIRED);
    }

    #[tokio::test]
    async fn sandbox_pages_read_the_same_both_ways() {
        let sb = crate::sandbox::Sandbox::start(
            crate::sandbox::SandboxConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let cfg = crate::sandbox::SandboxConfig::default();
        let body = sb.dataset().registry_body(cfg.from, cfg.to);
        let body = std::str::from_utf8(&body).unwrap();
        let rows: Vec<TransactionRow> = same(body, REGISTRY_REQUIRED);
        assert!(rows.len() > 1000, "{}", rows.len());
        assert!(rows.iter().any(|r| !r.extra.is_empty()));
    }

    fn key() -> impl proptest::strategy::Strategy<Value = &'static str> {
        use proptest::prelude::*;
        prop_oneof![
            4 => Just("transaction"),
            4 => Just("id"),
            3 => Just("status"),
            2 => Just("transfer_date"),
            3 => Just("payment_details"),
            3 => Just("payment"),
            3 => Just("amount"),
            2 => Just("currency"),
            2 => Just("user"),
            2 => Just("x"),
            1 => Just("a.b"),
            1 => Just(""),
            1 => Just("$serde_json::private::Number"),
        ]
    }

    fn object(kv: &[(&str, String)]) -> String {
        let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    }

    /// JSON text of a random value over keys near the registry's paths (with dots, empty
    /// keys, the wrapper's key and keys twice) and scalars of every kind.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("0".to_owned()),
            Just("-0".to_owned()),
            Just("12".to_owned()),
            Just("-7".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("1.50".to_owned()),
            Just("1E3".to_owned()),
            Just("\"\"".to_owned()),
            Just("\" \"".to_owned()),
            Just("\"done\"".to_owned()),
            Just("\"2024-01-02 03:04:05\"".to_owned()),
            Just("\"caf\\u00e9\"".to_owned()),
        ];
        scalar.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec((key(), inner), 0..6).prop_map(|kv| object(&kv)),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Whatever the body, the typed reader gives the reference reader's rows or steps aside.
        #[test]
        fn any_body_reads_as_the_reference_does(
            rows in proptest::collection::vec(proptest::collection::vec((key(), json_text()), 0..6), 0..4)
        ) {
            let rows: Vec<String> = rows.iter().map(|kv| object(kv)).collect();
            let body = format!("[{}]", rows.join(","));
            for required in [REGISTRY_REQUIRED, &[][..]] {
                let reference = parse_json_rows_reference::<TransactionRow>(body.as_bytes(), required);
                if let Some(fast) = decode_rows::<TransactionRow>(body.as_bytes(), required) {
                    proptest::prop_assert_eq!(Ok(fast), reference, "{}", body);
                }
            }
        }
    }

    /// Prints what one 1,000-row page costs: the sandbox's render, the reference reading and
    /// this one (`cargo test --release --lib page_costs -- --ignored --nocapture`).
    #[tokio::test]
    #[ignore = "prints figures; run in release"]
    async fn page_costs() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let cfg = crate::sandbox::SandboxConfig {
            from: day,
            to: day,
            transactions_per_day: 1000,
            ..Default::default()
        };
        let sb = crate::sandbox::Sandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let view = sb.dataset();
        let time = |f: &mut dyn FnMut()| {
            let started = std::time::Instant::now();
            for _ in 0..20 {
                f();
            }
            started.elapsed().as_secs_f64() * 1000.0 / 20.0
        };
        let mut body = Vec::new();
        let render = time(&mut || body = view.registry_body(day, day));
        let rows = parse_json_rows_reference::<TransactionRow>(&body, REGISTRY_REQUIRED)
            .unwrap()
            .len();
        let reference = time(&mut || {
            parse_json_rows_reference::<TransactionRow>(&body, REGISTRY_REQUIRED).unwrap();
        });
        let fast = time(&mut || {
            decode_rows::<TransactionRow>(&body, REGISTRY_REQUIRED).unwrap();
        });
        println!(
            "{rows} rows, {} KiB: sandbox render {render:.1} ms, reference decode {reference:.1} ms, typed decode {fast:.1} ms",
            body.len() / 1024
        );
    }
}
