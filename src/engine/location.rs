//! Byte offsets to 1-based line and column numbers.

/// A line and a column, both 1-based; the column counts bytes from the line's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
        for pos in memchr::memchr_iter(b'\n', &self.data[self.offset..offset]) {
            self.line += 1;
            self.line_start = self.offset + pos + 1;
        }
        self.offset = offset;
        LineCol { line: self.line, column: offset - self.line_start + 1 }
    }
}

/// The bounds of the line holding `offset` (without its newline).
pub fn line_bounds(data: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(data.len());
    let start = memchr::memrchr(b'\n', &data[..offset]).map_or(0, |p| p + 1);
    let end = memchr::memchr(b'\n', &data[offset..]).map_or(data.len(), |p| offset + p);
    (start, end)
}

/// The offset of a 1-based line and column; the inverse of [`LineCounter::at`].
pub fn offset_of(data: &[u8], at: LineCol) -> Option<usize> {
    let mut start = 0;
    for _ in 1..at.line {
        start += memchr::memchr(b'\n', data.get(start..)?)? + 1;
    }
    let offset = start + at.column - 1;
    (offset <= data.len()).then_some(offset)
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

    proptest! {
        #[test]
        fn round_trip(data in "[a-z\n]{0,200}", pick in any::<prop::sample::Index>()) {
            let bytes = data.as_bytes();
            let offset = if bytes.is_empty() { 0 } else { pick.index(bytes.len() + 1) };
            let at = LineCounter::new(bytes).at(offset);
            prop_assert_eq!(offset_of(bytes, at), Some(offset));
        }
    }
}
