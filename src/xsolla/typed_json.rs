//! JSON bodies straight into typed records, without building a `serde_json::Value` first.
//!
//! Why: a registry page of 1,000 rows decoded through `Value` costs about 27 ms (a map and a
//! string per field, then a walk over the tree for the unknown fields), which held the fetch
//! near 12,000 rows/s. Here serde_json's own tokenizer drives a visitor that follows the
//! record's column paths as a tree of keys: a known leaf goes straight to its column's slot
//! as text (borrowed from the body when it has no escapes), an unknown leaf into `extra`.
//!
//! The reading is the one of [`super::parse::parse_json_rows_reference`] (the `Value` path),
//! cell for cell: the number text is serde_json's own `arbitrary_precision` text (never an
//! `f64`), strings are unescaped by serde_json, unknown arrays are kept as their compact JSON.
//! Whatever this reader is not sure to read the same way — a syntax error, a cell that does not
//! parse, a key seen twice in one object (the `Value` keeps the last), a key with a dot or an
//! empty key (its dotted path would be ambiguous), an object or array where a column expects a
//! scalar — makes it give up, and the caller runs the reference reader, which then decides the
//! rows or words the error exactly as before. The fuzz target checks that both agree.

use super::record::{CellError, Column, Record};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// serde_json's map key for a number under `arbitrary_precision` (the protocol its own `Value`
/// and `rust_decimal` read numbers by): the value under it is the number's text.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The column paths of a record as a tree of JSON keys.
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    /// Child keys and their node indexes.
    children: Vec<(&'static str, usize)>,
    /// The column whose path ends here.
    column: Option<usize>,
}

impl Tree {
    /// The tree of `columns`; `None` when two columns share a path or one path runs through
    /// another's leaf (then only the reference reader knows what to do).
    fn new(columns: &'static [Column]) -> Option<Tree> {
        let mut nodes = vec![Node::default()];
        for (i, col) in columns.iter().enumerate() {
            let mut at = 0;
            for key in col.json.split('.') {
                if key.is_empty() || nodes[at].column.is_some() {
                    return None;
                }
                at = match nodes[at].children.iter().find(|(k, _)| *k == key) {
                    Some(&(_, child)) => child,
                    None => {
                        nodes.push(Node::default());
                        let child = nodes.len() - 1;
                        nodes[at].children.push((key, child));
                        child
                    }
                };
            }
            if nodes[at].column.is_some() || !nodes[at].children.is_empty() {
                return None;
            }
            nodes[at].column = Some(i);
        }
        Some(Tree { nodes })
    }

    /// The child of `node` under `key`. Rows repeat their keys in one order, so the child
    /// after the last one found (`hint`, kept per node) is tried first.
    fn child(&self, node: Option<usize>, key: &str, hints: &mut [usize]) -> Option<usize> {
        let node = node?;
        let children = &self.nodes[node].children;
        let hint = hints[node];
        let at = match children.get(hint) {
            Some((k, _)) if *k == key => hint,
            _ => children.iter().position(|(k, _)| *k == key)?,
        };
        hints[node] = at + 1;
        Some(children[at].1)
    }
}

/// The error that makes the caller run the reference reader (never shown).
const GIVE_UP: &str = "left to the reference reader";

/// Reads `body` as the reference reader would, or `None` when it cannot be sure to (then the
/// caller runs the reference reader).
pub(super) fn decode_rows<R: Record>(body: &[u8], required: &[&str]) -> Option<Vec<R>> {
    let tree = Tree::new(R::COLUMNS)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let ctx = Ctx {
        tree: &tree,
        required,
        body: body.as_ptr_range(),
    };
    let rows = (&mut de)
        .deserialize_any(TopVisitor::<R> {
            ctx: &ctx,
            _r: std::marker::PhantomData,
        })
        .ok()?;
    de.end().ok()?;
    Some(rows)
}

struct Ctx<'t> {
    tree: &'t Tree,
    required: &'t [&'t str],
    /// Where the body lies: a key borrowed from it is a key of the body, never serde_json's
    /// number wrapper, even when it spells `NUMBER_TOKEN`.
    body: std::ops::Range<*const u8>,
}

/// The body: an array of objects, or one object.
struct TopVisitor<'c, R> {
    ctx: &'c Ctx<'c>,
    _r: std::marker::PhantomData<R>,
}

impl<'de, R: Record> Visitor<'de> for TopVisitor<'_, R> {
    type Value = Vec<R>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<R>, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut row = RowState::new(self.ctx);
        while let Some(rec) = seq.next_element_seed(RowSeed::<R> {
            ctx: self.ctx,
            row: &mut row,
            _r: std::marker::PhantomData,
        })? {
            rows.push(rec);
        }
        Ok(rows)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<R>, A::Error> {
        let mut row = RowState::new(self.ctx);
        let rec = RowSeed::<R> {
            ctx: self.ctx,
            row: &mut row,
            _r: std::marker::PhantomData,
        }
        .visit_map(map)?;
        Ok(vec![rec])
    }
}

/// One record's cells as they are met, reused from row to row.
struct RowState<'de> {
    /// Text of each column (`None`: absent, null or blank), in table order.
    slots: Vec<Option<Cow<'de, str>>>,
    /// Unknown leaves, by dotted path.
    extra: BTreeMap<String, String>,
    /// Dotted path of the value being read.
    path: String,
    /// Unknown keys of the objects being read, innermost last (to see one twice in an object).
    keys: Vec<Cow<'de, str>>,
    /// Per tree node, the number of the row that last met it (to see an object on a column's
    /// way twice in a row without comparing keys).
    stamps: Vec<u64>,
    /// Number of the row being read, from 1.
    row_no: u64,
    /// Per tree node, the child to try first (see [`Tree::child`]).
    hints: Vec<usize>,
    /// See [`Ctx::body`].
    body: std::ops::Range<*const u8>,
}

impl RowState<'_> {
    fn new(ctx: &Ctx<'_>) -> Self {
        let columns = ctx.tree.nodes.iter().filter(|n| n.column.is_some()).count();
        RowState {
            slots: vec![None; columns],
            extra: BTreeMap::new(),
            path: String::new(),
            keys: Vec::new(),
            stamps: vec![0; ctx.tree.nodes.len()],
            row_no: 0,
            hints: vec![0; ctx.tree.nodes.len()],
            body: ctx.body.clone(),
        }
    }

    /// serde_json's wrapper of a number: its key is borrowed, but not from the body (a key of
    /// the body with escapes that spells the token is owned).
    fn is_number_wrapper(&self, key: &str, borrowed: bool) -> bool {
        borrowed && key == NUMBER_TOKEN && !self.body.contains(&key.as_ptr())
    }
}

/// An array element: one object, one record.
struct RowSeed<'c, 'r, 'de, R> {
    ctx: &'c Ctx<'c>,
    row: &'r mut RowState<'de>,
    _r: std::marker::PhantomData<R>,
}

impl<'de, R: Record> DeserializeSeed<'de> for RowSeed<'_, '_, 'de, R> {
    type Value = R;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<R, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Record> Visitor<'de> for RowSeed<'_, '_, 'de, R> {
    type Value = R;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
        let row = self.row;
        row.slots.iter_mut().for_each(|s| *s = None);
        row.path.clear();
        row.keys.clear();
        row.row_no += 1;
        let walked = ValueSeed {
            tree: self.ctx.tree,
            node: Some(0),
            row: &mut *row,
        }
        .object(map)?;
        if walked.is_number {
            // A bare number is not a record.
            return Err(de::Error::custom(GIVE_UP));
        }
        let mut slots = std::mem::take(&mut row.slots);
        let built = R::from_lookup(|i, _| slots[i].take(), self.ctx.required);
        row.slots = slots;
        let mut rec = built.map_err(|_: CellError| de::Error::custom(GIVE_UP))?;
        *rec.extra_mut() = std::mem::take(&mut row.extra);
        Ok(rec)
    }
}

/// What an object turned out to be.
struct Walked {
    /// It was serde_json's wrapper of a number, not an object of the body.
    is_number: bool,
}

/// Any value at `row.path`, whose tree node (when the path is on a column's way) is `node`.
struct ValueSeed<'t, 'r, 'de> {
    tree: &'t Tree,
    node: Option<usize>,
    row: &'r mut RowState<'de>,
}

impl<'de> ValueSeed<'_, '_, 'de> {
    fn column(&self) -> Option<usize> {
        self.node.and_then(|n| self.tree.nodes[n].column)
    }

    /// A scalar: into its column, or into `extra` when the path is unknown. A blank string
    /// is no value for a column (as `json_scalar_text` has it), and kept in `extra`.
    fn leaf<E: de::Error>(self, text: Option<Cow<'de, str>>, string: bool) -> Result<(), E> {
        match self.column() {
            Some(i) => {
                self.row.slots[i] = text.filter(|t| !(string && t.trim().is_empty()));
            }
            None => {
                if let Some(t) = text {
                    if self
                        .row
                        .extra
                        .insert(self.row.path.clone(), t.into_owned())
                        .is_some()
                    {
                        return Err(E::custom(GIVE_UP));
                    }
                }
            }
        }
        Ok(())
    }

    /// An object's fields (or serde_json's wrapper of a number).
    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Walked, A::Error> {
        let ValueSeed { tree, node, row } = self;
        let first = row.keys.len();
        let mut at_start = true;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if at_start && row.is_number_wrapper(&key, matches!(key, Cow::Borrowed(_))) {
                let text: Cow<'de, str> = Cow::Owned(map.next_value::<String>()?);
                // A wrapper holds exactly one entry.
                if map.next_key_seed(KeySeed)?.is_some() {
                    return Err(de::Error::custom(GIVE_UP));
                }
                ValueSeed { tree, node, row }.leaf::<A::Error>(Some(text), false)?;
                return Ok(Walked { is_number: true });
            }
            at_start = false;
            // A key twice in one object: `Value` keeps the last value. A column's leaf ends
            // the same here (the slot is overwritten); anything else would merge, so give up.
            // A key of the body spelling the wrapper's key is a number to `Value`; an empty
            // or dotted one makes paths ambiguous (the tree has none of these).
            let child = tree.child(node, &key, &mut row.hints);
            let twice = match child {
                Some(c) if tree.nodes[c].column.is_some() => false,
                Some(c) => std::mem::replace(&mut row.stamps[c], row.row_no) == row.row_no,
                None => {
                    key.is_empty()
                        || key.as_bytes().contains(&b'.')
                        || key == NUMBER_TOKEN
                        || row.keys[first..].contains(&key)
                }
            };
            if twice {
                return Err(de::Error::custom(GIVE_UP));
            }
            let len = row.path.len();
            if len > 0 {
                row.path.push('.');
            }
            row.path.push_str(&key);
            map.next_value_seed(ValueSeed {
                tree,
                node: child,
                row: &mut *row,
            })?;
            row.path.truncate(len);
            if child.is_none() {
                row.keys.push(key);
            }
        }
        row.keys.truncate(first);
        if node.and_then(|n| tree.nodes[n].column).is_some() {
            // An object where a column expects a scalar: the reference reader words it.
            return Err(de::Error::custom(GIVE_UP));
        }
        Ok(Walked { is_number: false })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf(None, false)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.leaf(Some(Cow::Borrowed(if b { "true" } else { "false" })), false)
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<(), E> {
        self.leaf(Some(Cow::Borrowed(s)), true)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.leaf(Some(Cow::Owned(s.to_owned())), true)
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<(), E> {
        self.leaf(Some(Cow::Owned(s)), true)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.object(map).map(|_| ())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.column().is_some() {
            return Err(de::Error::custom(GIVE_UP));
        }
        // Kept whole, as the compact JSON the reference reader keeps.
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            items.push(v);
        }
        let text = serde_json::Value::Array(items).to_string();
        self.leaf(Some(Cow::Owned(text)), false)
    }
    // Under `arbitrary_precision` a whole number that fits 64 bits arrives as such (its text is
    // the digits, as `Value` keeps it), any other number as a NUMBER_TOKEN map. An `f64` would
    // mean a build without `arbitrary_precision`, where only the reference reader is exact.
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.leaf(Some(Cow::Owned(n.to_string())), false)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.leaf(Some(Cow::Owned(n.to_string())), false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(GIVE_UP))
    }
}

/// A key, borrowed from the body when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xsolla::model::*;
    use crate::xsolla::parse::{parse_json_rows, parse_json_rows_reference};

    /// The fast reading, which must exist and equal the reference one.
    fn same<R: Record + PartialEq + fmt::Debug>(body: &str, required: &[&str]) -> Vec<R> {
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
        "payment_details":{"payment":{"amount":1.5E-2,"currency":"USD"},"payout":{"amount":-0.10,"currency":"EUR","fx_rate":64.1386407767},
           "vat":{"amount":0,"percent":20}},
        "purchase":{"virtual_items":{"content":["a",{"b":1.50},null]},"items_amount":1,"flag":true,"empty":"","blank":" ","nothing":{}},
        "escaped":"caf\u00e9 \"q\"", "n\u00e9e":{"x":1e3}}"#;

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
        assert_eq!(extra("née.x"), Some("1e+3"), "serde_json's own number text");
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
            r#"[{"transaction":{"project":{"id":1},"project":{"name":"x"}}}]"#,
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
        let bad = ROW.replace("1.5E-2", "\"ten\"");
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
