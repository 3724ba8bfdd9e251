//! Lists shown a page at a time: the page asked for, the rows of it, and the links to the
//! pages either side. Every list page and its `pager` macro use this one type.

use serde::Deserialize;

/// `?page=N` of a list shown a page at a time.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<String>,
}

impl PageQuery {
    /// The page asked for; anything but a small positive number is page 1.
    pub fn number(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .filter(|p| (1..=100_000).contains(p))
            .unwrap_or(1)
    }
}

/// One page of a list: which page, how many rows a page holds (the "Rows per page"
/// setting), and whether pages come before and after it.
///
/// A list that counts its rows gives the count to [`Pager::counted`]; one that does not
/// fetches [`Pager::probe`] rows and lets [`Pager::trim`] tell from the extra row whether
/// another page follows. `total` is only known in the first case (0 otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Pager {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    more: bool,
}

impl Pager {
    pub fn new(query: &PageQuery, per_page: i64) -> Self {
        Self {
            page: query.number(),
            per_page,
            total: 0,
            more: false,
        }
    }

    /// Rows to skip before this page.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// Rows to fetch when the list is counted.
    pub fn limit(&self) -> i64 {
        self.per_page
    }

    /// Rows to fetch when the list is not counted: one more shows that another page follows.
    pub fn probe(&self) -> i64 {
        self.per_page + 1
    }

    /// This page of a list of `total` rows.
    pub fn counted(self, total: i64) -> Self {
        Self {
            total,
            more: self.page * self.per_page < total,
            ..self
        }
    }

    /// This page of rows fetched with [`Pager::probe`]: drops the extra row.
    pub fn trim<T>(self, rows: &mut Vec<T>) -> Self {
        let more = rows.len() as i64 > self.per_page;
        rows.truncate(usize::try_from(self.per_page).unwrap_or(0));
        Self { more, ..self }
    }

    /// The page before this one, if any.
    pub fn newer(&self) -> Option<i64> {
        (self.page > 1).then_some(self.page - 1)
    }

    /// The page after this one, if any.
    pub fn older(&self) -> Option<i64> {
        self.more.then_some(self.page + 1)
    }

    /// Whether there is more than this one page (the links are shown only then).
    pub fn several(&self) -> bool {
        self.newer().is_some() || self.older().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(page: &str, per_page: i64) -> Pager {
        let query = PageQuery {
            page: Some(page.to_owned()),
        };
        Pager::new(&query, per_page)
    }

    #[test]
    fn counted_pages_link_both_ways() {
        let pager = at("2", 10).counted(25);
        assert_eq!((pager.offset(), pager.limit()), (10, 10));
        assert_eq!((pager.newer(), pager.older()), (Some(1), Some(3)));
        let last = at("3", 10).counted(25);
        assert_eq!((last.newer(), last.older()), (Some(2), None));
        assert!(!at("1", 10).counted(10).several());
    }

    #[test]
    fn probed_pages_drop_the_extra_row() {
        let pager = at("1", 2);
        let mut rows = vec![1, 2, 3];
        assert_eq!(pager.probe(), 3);
        let pager = pager.trim(&mut rows);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(pager.older(), Some(2));
        let mut rows = vec![1, 2];
        assert_eq!(at("1", 2).trim(&mut rows).older(), None);
    }

    #[test]
    fn odd_page_numbers_are_page_one() {
        for page in ["0", "-1", "x", "100001"] {
            assert_eq!(at(page, 10).page, 1, "{page}");
        }
    }
}
