//! Byte offsets to 1-based line and column numbers.
//!
//! A line ends at `\n`, at `\r\n`, or at a `\r` that no `\n` follows (classic Mac OS files and
//! some exports end lines with CR alone): counting only `\n` put every line of such a file on
//! line 1 (#19).

/// A line and a column, both 1-based; the column counts bytes from the line's start.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based byte column.
    pub column: usize,
}

/// Converts offsets in ascending order without rescanning from the start each time, so locating
/// many matches in a large blob stays linear.
pub struct LineCounter<'a> {
    data: &'a [u8],
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineCounter<'a> {
    /// A counter at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        LineCounter { data, offset: 0, line: 1, line_start: 0 }
    }

    /// The line and column of `offset`. Offsets may go backwards; that costs a rescan.
    pub fn at(&mut self, offset: usize) -> LineCol {
        let offset = offset.min(self.data.len());
        if offset < self.offset {
            *self = LineCounter::new(self.data);
        }
        for pos in memchr::memchr2_iter(b'\n', b'\r', &self.data[self.offset..offset]) {
            let pos = self.offset + pos;
            if is_break(self.data, pos) {
                self.line += 1;
                self.line_start = pos + 1;
            }
        }
        self.offset = offset;
        LineCol { line: self.line, column: offset - self.line_start + 1 }
    }
}

/// True when the byte at `pos` (a `\n` or `\r`) ends a line: the `\r` of a `\r\n` does not,
/// its `\n` does.
fn is_break(data: &[u8], pos: usize) -> bool {
    data[pos] == b'\n' || data.get(pos + 1) != Some(&b'\n')
}

/// The bounds of the line holding `offset` (without its line ending).
pub fn line_bounds(data: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(data.len());
    let start = memchr::memrchr2(b'\n', b'\r', &data[..offset]).map_or(0, |p| p + 1);
    let end = memchr::memchr2(b'\n', b'\r', &data[offset..]).map_or(data.len(), |p| offset + p);
    (start, end)
}

/// The offset of a 1-based line and column; the inverse of [`LineCounter::at`].
pub fn offset_of(data: &[u8], at: LineCol) -> Option<usize> {
    let mut start = 0;
    for _ in 1..at.line {
        let rest = data.get(start..)?;
        let pos = memchr::memchr2_iter(b'\n', b'\r', rest).find(|&p| is_break(rest, p))?;
        start += pos + 1;
    }
    let offset = start + at.column - 1;
    (offset <= data.len()).then_some(offset)
}

/// 1-based inclusive line ranges counted at `\n` only (git's diff hunks), as [`LineCounter`]
/// counts lines. `ranges` ascend; so do the results.
pub fn from_lf_lines(data: &[u8], ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let newlines: Vec<usize> = memchr::memchr_iter(b'\n', data).collect();
    // Where `\n`-line `n` starts, and the offset of the `\n` that ends it.
    let start = |n: usize| match n {
        0 | 1 => 0,
        n => newlines.get(n - 2).map_or(data.len(), |p| p + 1),
    };
    let end = |n: usize| newlines.get(n.saturating_sub(1)).copied().unwrap_or(data.len());
    let mut counter = LineCounter::new(data);
    ranges
        .iter()
        .map(|&(first, last)| (counter.at(start(first)).line, counter.at(end(last)).line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_and_columns() {
        let data = b"ab\ncd\n\nef";
        let mut c = LineCounter::new(data);
        assert_eq!(c.at(0), LineCol { line: 1, column: 1 });
        assert_eq!(c.at(4), LineCol { line: 2, column: 2 });
        assert_eq!(c.at(7), LineCol { line: 4, column: 1 });
        assert_eq!(c.at(1), LineCol { line: 1, column: 2 });
        assert_eq!(line_bounds(data, 4), (3, 5));
    }

    #[test]
    fn cr_only_line_endings_give_right_line_numbers() {
        // Lines ended by CR alone, by CRLF and by LF, mixed: each ending counts once.
        let data = b"a\rbb\r\ncc\n\rd";
        let mut c = LineCounter::new(data);
        assert_eq!(c.at(2), LineCol { line: 2, column: 1 });
        assert_eq!(c.at(4), LineCol { line: 2, column: 3 }, "the CR of a CRLF ends no line");
        assert_eq!(c.at(6), LineCol { line: 3, column: 1 });
        assert_eq!(c.at(9), LineCol { line: 4, column: 1 }, "an empty line between LF and CR");
        assert_eq!(c.at(10), LineCol { line: 5, column: 1 });
        assert_eq!(line_bounds(data, 3), (2, 4), "the line without its CRLF");
        assert_eq!(line_bounds(data, 10), (10, 11));
        // Git's `\n`-lines 2..=2 (`cc`) and 3..=3 (`\rd`) are lines 3 and 4..=5 here.
        assert_eq!(from_lf_lines(data, &[(2, 2), (3, 3)]), [(3, 3), (4, 5)]);
    }

    /// Line and column the slow, obvious way: split the text at each `\r\n`, `\n` or `\r`.
    fn naive(data: &[u8], offset: usize) -> LineCol {
        let mut starts = vec![0];
        let mut i = 0;
        while i < data.len() {
            i += match (data[i], data.get(i + 1)) {
                (b'\r', Some(b'\n')) => 2,
                (b'\r' | b'\n', _) => 1,
                _ => {
                    i += 1;
                    continue;
                }
            };
            starts.push(i);
        }
        let line = starts.iter().filter(|&&s| s <= offset).count();
        LineCol { line, column: offset - starts[line - 1] + 1 }
    }

    proptest! {
        #[test]
        fn round_trip(data in "[a-z\n\r]{0,200}", pick in any::<prop::sample::Index>()) {
            let bytes = data.as_bytes();
            let offset = if bytes.is_empty() { 0 } else { pick.index(bytes.len() + 1) };
            let at = LineCounter::new(bytes).at(offset);
            prop_assert_eq!(offset_of(bytes, at), Some(offset));
        }

        #[test]
        fn lines_match_a_naive_count(
            data in "[a-z\n\r]{0,200}",
            picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        ) {
            let bytes = data.as_bytes();
            let mut counter = LineCounter::new(bytes);
            for pick in picks {
                let offset = pick.index(bytes.len() + 1);
                prop_assert_eq!(counter.at(offset), naive(bytes, offset));
            }
        }
    }
}
