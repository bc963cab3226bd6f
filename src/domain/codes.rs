//! Text columns with a handful of distinct values (statuses, row kinds, currency codes) held
//! as codes from load until the rules run.
//!
//! Why: a Polars text column costs 16 bytes a row however short the text, so at 10 million
//! rows each of these columns held 160 MiB from the load to the last slice; as codes over
//! Polars' global categories they hold 4 bytes a row. The rules read them as text again
//! ([`read_as_text`]): each query turns back the columns it reads, so what the rules compare,
//! sort and write is unchanged.

use polars::prelude::*;
use std::sync::Arc;

/// The dtype of a coded column: Polars' categorical over the global categories, so columns
/// built on different threads, files or runs share one code per text and join or stack
/// without remapping.
pub fn code() -> DataType {
    DataType::from_categories(Categories::global())
}

/// Whether `dtype` is a coded (categorical) column.
pub fn is_code(dtype: &DataType) -> bool {
    matches!(dtype, DataType::Categorical(..))
}

/// How many distinct texts a builder remembers before it asks the global mapping for each
/// value: statuses and currencies are a few dozen at most.
const REMEMBERED: usize = 64;

/// Builds one coded column row by row.
///
/// Each value is compared with the texts seen before (the last one first), and only a new
/// text goes to the global mapping, so building costs about what pushing the text did.
pub struct CodeBuilder {
    ids: PrimitiveChunkedBuilder<UInt32Type>,
    mapping: Arc<CategoricalMapping>,
    dtype: DataType,
    seen: Vec<(Box<str>, u32)>,
    last: usize,
}

impl CodeBuilder {
    /// A builder of column `name` with room for `cap` rows.
    pub fn new(name: PlSmallStr, cap: usize) -> Self {
        let dtype = code();
        let DataType::Categorical(_, mapping) = &dtype else {
            unreachable!("code() is categorical")
        };
        CodeBuilder {
            ids: PrimitiveChunkedBuilder::new(name, cap),
            mapping: mapping.clone(),
            dtype,
            seen: Vec::new(),
            last: 0,
        }
    }

    /// Appends `text`.
    #[inline]
    pub fn append_value(&mut self, text: &str) -> PolarsResult<()> {
        if let Some((t, id)) = self.seen.get(self.last) {
            if same(t, text) {
                self.ids.append_value(*id);
                return Ok(());
            }
        }
        let id = match self.seen.iter().position(|(t, _)| same(t, text)) {
            Some(i) => {
                self.last = i;
                self.seen[i].1
            }
            None => {
                let id = self.mapping.insert_cat(text)?;
                if self.seen.len() < REMEMBERED {
                    self.seen.push((text.into(), id));
                    self.last = self.seen.len() - 1;
                }
                id
            }
        };
        self.ids.append_value(id);
        Ok(())
    }

    /// Appends a null.
    pub fn append_null(&mut self) {
        self.ids.append_null();
    }

    /// Appends `text` or a null.
    pub fn append_option(&mut self, text: Option<&str>) -> PolarsResult<()> {
        match text {
            Some(t) => self.append_value(t),
            None => {
                self.append_null();
                Ok(())
            }
        }
    }

    /// The column built.
    pub fn finish(self) -> Column {
        // SAFETY: every id came from `mapping.insert_cat`, the mapping of `dtype`.
        unsafe {
            Categorical32Chunked::from_cats_and_dtype_unchecked(self.ids.finish(), self.dtype)
        }
        .into_series()
        .into_column()
    }
}

/// Whether `a` and `b` are the same text. Why not `==`: it calls the C library's `memcmp`
/// for the bytes, about 20 instructions for the three letters of a currency, and the loaders
/// make some 15 million such compares a million-row run (5 million codes, each compared with
/// the last text and then those seen); a short text is compared byte by byte in place.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// `df` with its text columns among `names` coded (a frame built as text elsewhere: tests,
/// older callers); columns already coded, or absent, are left as they are.
pub fn coded(mut df: DataFrame, names: &[&str]) -> PolarsResult<DataFrame> {
    for name in names {
        let Ok(c) = df.column(name) else { continue };
        if c.dtype() == &DataType::String {
            let c = c.cast(&code())?;
            df.with_column(c)?;
        }
    }
    Ok(df)
}

/// `df` to query with every coded column (and a packed `source`, [`super::sources`]) read as
/// text: the texts are made inside the query, for the columns it reads only, and nothing is
/// kept. How the rules (`sql/`) read every table.
pub fn read_as_text(df: &DataFrame) -> LazyFrame {
    let texts: Vec<Expr> = df
        .columns()
        .iter()
        .filter(|c| is_code(c.dtype()) || super::sources::is_packed(c))
        .map(|c| {
            col(c.name().clone()).map(
                |c| text_column(&c),
                |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
            )
        })
        .collect();
    let lf = df.clone().lazy();
    if texts.is_empty() {
        lf
    } else {
        lf.with_columns(texts)
    }
}

/// The values of `c`, a text or coded column or a packed `source`, as text.
pub fn text(c: &Column) -> PolarsResult<StringChunked> {
    Ok(text_column(c)?.str()?.clone())
}

/// `c` as a text column (a text column as it is; a packed `source`,
/// [`super::sources::text`]).
///
/// Why not Polars' cast: it looks each row's text up in the global mapping (45 ns a row, a
/// third of a second per 2-million-row slice of Xsolla's four coded columns); here the few
/// texts the column can hold are looked up once and the rows gather them, copying 16 bytes
/// each.
fn text_column(c: &Column) -> PolarsResult<Column> {
    if super::sources::is_packed(c) {
        return Ok(super::sources::text(c)?.into_column());
    }
    let DataType::Categorical(_, mapping) = c.dtype() else {
        return Ok(c.clone());
    };
    let ids = c.cat32()?.physical();
    let texts: StringChunked = (0..=ids.max().unwrap_or(0))
        .map(|id| mapping.cat_to_str(id))
        .collect();
    let out = texts.take(ids)?;
    polars_ensure!(
        out.len() == c.len(),
        ComputeError: "coded column {} read back as {} texts for {} rows", c.name(), out.len(), c.len()
    );
    Ok(out.with_name(c.name().clone()).into_column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_codes_read_back_as_the_texts_pushed_in_order_with_nulls() {
        let values = [
            Some("done"),
            Some("refunded"),
            None,
            Some("done"),
            Some("canceled"),
            Some(""),
            Some("refunded"),
        ];
        let mut b = CodeBuilder::new("status".into(), 0);
        for v in values {
            b.append_option(v).unwrap();
        }
        let c = b.finish();
        assert!(is_code(c.dtype()));
        assert_eq!(c.len(), values.len());
        let back: Vec<Option<String>> = text(&c)
            .unwrap()
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect();
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_owned)).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn more_texts_than_a_builder_remembers_still_read_back() {
        let texts: Vec<String> = (0..REMEMBERED * 3)
            .map(|i| format!("t{}", i % 150))
            .collect();
        let mut b = CodeBuilder::new("t".into(), texts.len());
        for t in &texts {
            b.append_value(t).unwrap();
        }
        let back = text(&b.finish()).unwrap();
        let back: Vec<&str> = back.iter().map(|s| s.unwrap()).collect();
        assert_eq!(back, texts.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn texts_alike_but_for_length_or_one_byte_keep_their_own_codes() {
        // Prefixes of one another, a NUL byte, the 16/17-byte border between the compare in
        // place and `==`, and multi-byte characters.
        let texts = [
            "A",
            "A\0",
            "",
            "USD",
            "USE",
            "USD ",
            "partially_refun",
            "partially_refund",
            "partially_refunde",
            "partially_refundx",
            "é",
            "e\u{301}",
            "A\0",
            "partially_refunde",
            "A",
            "partially_refund",
            "",
            "USE",
        ];
        let mut b = CodeBuilder::new("t".into(), texts.len());
        for t in texts {
            b.append_value(t).unwrap();
        }
        let back = text(&b.finish()).unwrap();
        let back: Vec<&str> = back.iter().map(|s| s.unwrap()).collect();
        assert_eq!(back, texts);
    }

    #[test]
    fn columns_coded_in_different_builders_stack_and_join_as_one() {
        let mut a = CodeBuilder::new("c".into(), 0);
        let mut b = CodeBuilder::new("c".into(), 0);
        a.append_value("EUR").unwrap();
        a.append_value("USD").unwrap();
        b.append_value("USD").unwrap();
        b.append_value("JPY").unwrap();
        let mut left = DataFrame::new_infer_height(vec![a.finish()]).unwrap();
        left.vstack_mut(&DataFrame::new_infer_height(vec![b.finish()]).unwrap())
            .unwrap();
        let as_text = read_as_text(&left).collect().unwrap();
        assert_eq!(as_text.column("c").unwrap().dtype(), &DataType::String);
        let got: Vec<&str> = as_text
            .column("c")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(got, ["EUR", "USD", "USD", "JPY"]);
        // A frame coded from text joins with the built one on the code.
        let right = coded(df!("c" => ["USD", "GBP"]).unwrap(), &["c"]).unwrap();
        let joined = left
            .lazy()
            .join(
                right.lazy(),
                [col("c")],
                [col("c")],
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
            .unwrap();
        assert_eq!(joined.height(), 2);
    }
}
