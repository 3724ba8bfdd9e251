//! Reading a bandwidth CSV file (`berth bandwidth import FILE.csv`): one sample per line,
//! `site,hour,bytes_in,bytes_out`, where `site` is a hostname or a site id and `hour` an
//! RFC 3339 time on the hour. An optional first line of column names is skipped; a UTF-8
//! byte-order mark and quoted fields are read as spreadsheets write them. Every bad line is
//! reported by its number and value, in one report with the sites the database does not
//! know (`model::import`); a file with any error imports nothing.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The most bytes one direction of one site can move in an hour: 10^15 bytes, about
/// 2.2 Tbit/s sustained, beyond any link a site has. Larger counts are errors in the file,
/// and refusing them keeps every sum of a month within 64 bits (744 hours × 2 directions ×
/// 10^15 < 1.5 × 10^18 per site).
pub const MAX_BYTES_PER_HOUR: i64 = 1_000_000_000_000_000;

/// The years an hour may fall in, in UTC. Before 1970 no site had traffic, and the year
/// 10000 cannot be written in RFC 3339 (an offset can push 9999-12-31 past it, which is
/// why the bound applies after conversion to UTC).
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Which site a line is about, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SiteRef {
    Id(i64),
    /// In its ASCII (punycode) form.
    Hostname(String),
}

impl fmt::Display for SiteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteRef::Id(id) => write!(f, "with id {id}"),
            SiteRef::Hostname(name) => write!(f, "{name:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub site: SiteRef,
    /// In UTC, on the hour, within [`YEARS`].
    pub hour: OffsetDateTime,
    pub bytes_in: i64,
    pub bytes_out: i64,
}

/// What is wrong with one line (or, with line 0, with the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Problem {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            n => write!(f, "line {n}: {}", self.message),
        }
    }
}

/// A file as read: its good lines and the problems of the others. Checking the sites
/// against the database adds problems of its own before the file is accepted
/// ([`Parsed::finish`]), so that one run reports every bad line.
#[derive(Debug, Default)]
pub struct Parsed {
    pub lines: Vec<Line>,
    pub problems: Vec<Problem>,
}

impl Parsed {
    /// The lines, when neither the reading nor `more` found a problem; otherwise every
    /// problem as "line N: what is wrong", in line order.
    pub fn finish(self, more: Vec<Problem>) -> Result<Vec<Line>, Vec<String>> {
        let mut problems = self.problems;
        problems.extend(more);
        if problems.is_empty() && self.lines.is_empty() {
            problems.push(Problem::new(0, "the file has no samples"));
        }
        if problems.is_empty() {
            return Ok(self.lines);
        }
        // Stable: two problems of one line keep the order they were found in.
        problems.sort_by_key(|p| p.line);
        Err(problems.iter().map(Problem::to_string).collect())
    }
}

/// The lines of a file, or every problem its text shows, each as "line N: what is wrong".
/// The sites are not checked here; [`crate::bandwidth::model::import`] does that.
pub fn parse(text: impl AsRef<[u8]>) -> Result<Vec<Line>, Vec<String>> {
    read(text.as_ref()).finish(Vec::new())
}

/// Reads a file's bytes: never fails as a whole, and never panics, whatever the bytes.
pub fn read(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen = std::collections::HashMap::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    loop {
        let number = lines.at(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Reading from memory with flexible rows has no failure left but a broken
            // file; its line is where the record began.
            Err(_) => {
                parsed.problems.push(Problem::new(number, "cannot be read as CSV"));
                continue;
            }
        }
        let number = record.position().map_or(number, |p| lines.at(p.byte()));
        // A line of only spaces is a record of one empty field.
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        let fields: Result<Vec<&str>, usize> = record
            .iter()
            .enumerate()
            .map(|(i, f)| std::str::from_utf8(f).map_err(|_| i + 1))
            .collect();
        let fields = match fields {
            Ok(fields) => fields,
            Err(column) => {
                parsed
                    .problems
                    .push(Problem::new(number, format!("column {column} is not UTF-8 text")));
                continue;
            }
        };
        if number == 1 && is_header(fields[0]) {
            continue;
        }
        match parse_line(number, &fields) {
            Ok(line) => match seen.get(&(line.site.clone(), line.hour)) {
                Some(first) => parsed
                    .problems
                    .push(Problem::new(number, format!("the same site and hour as line {first}"))),
                None => {
                    seen.insert((line.site.clone(), line.hour), number);
                    parsed.lines.push(line);
                }
            },
            Err(message) => parsed.problems.push(Problem::new(number, message)),
        }
    }
    parsed
}

/// Line numbers from byte offsets. The csv reader's own line count, and the offset it
/// gives a record, come before the blank lines it skips, so a record's line is counted
/// here from the first byte after those.
struct LineCounter<'a> {
    bytes: &'a [u8],
    counted: usize,
    newlines: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            counted: 0,
            newlines: 0,
        }
    }

    /// The line of the first byte at or after `offset` that does not end a line. Offsets
    /// only grow, so the file is counted once.
    fn at(&mut self, offset: u64) -> usize {
        let mut start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.counted {
            self.newlines += self.bytes[self.counted..start].iter().filter(|b| **b == b'\n').count();
            self.counted = start;
        }
        self.newlines + 1
    }
}

fn is_header(first: &str) -> bool {
    matches!(
        first.to_ascii_lowercase().as_str(),
        "site" | "site_id" | "hostname" | "host"
    )
}

fn parse_line(number: usize, fields: &[&str]) -> Result<Line, String> {
    if fields.len() != 4 {
        return Err(format!(
            "expected 4 columns (site, hour, bytes_in, bytes_out), found {}",
            fields.len()
        ));
    }
    let site = if !fields[0].is_empty() && fields[0].bytes().all(|b| b.is_ascii_digit()) {
        SiteRef::Id(
            fields[0]
                .parse()
                .map_err(|_| format!("site id {:?} is too large to be a site's", fields[0]))?,
        )
    } else {
        let hostname = fields[0]
            .parse::<crate::sites::names::Hostname>()
            .map_err(|e| format!("site {:?}: {e}", fields[0]))?;
        SiteRef::Hostname(hostname.ascii().to_owned())
    };
    Ok(Line {
        number,
        site,
        hour: hour(fields[1])?,
        bytes_in: bytes("bytes_in", fields[2])?,
        bytes_out: bytes("bytes_out", fields[3])?,
    })
}

/// An RFC 3339 time on the hour, in UTC, within [`YEARS`].
fn hour(value: &str) -> Result<OffsetDateTime, String> {
    let written = OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|_| format!("hour {value:?} is not an RFC 3339 time such as 2026-11-01T13:00:00Z"))?;
    // The conversion itself can leave the representable years (9999-12-31T23:00:00-01:00),
    // so it is checked rather than assumed.
    let utc = written
        .checked_to_offset(UtcOffset::UTC)
        .filter(|t| YEARS.contains(&t.year()))
        .ok_or_else(|| {
            format!(
                "hour {value:?} is outside the years {} to {} in UTC",
                YEARS.start(),
                YEARS.end()
            )
        })?;
    // Samples are hourly in UTC; a half-hour offset moves 13:00 off the hour.
    if utc.minute() != 0 || utc.second() != 0 || utc.nanosecond() != 0 {
        return Err(format!("hour {value:?} is not on the hour in UTC"));
    }
    Ok(utc)
}

fn bytes(name: &str, value: &str) -> Result<i64, String> {
    let whole = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let n = whole
        .then(|| value.parse::<i64>().ok())
        .ok_or_else(|| format!("{name} {value:?} is not a whole number of bytes"))?;
    match n {
        Some(n) if n <= MAX_BYTES_PER_HOUR => Ok(n),
        _ => Err(format!(
            "{name} {value:?} is more than {MAX_BYTES_PER_HOUR} bytes in an hour (about 2.2 Tbit/s), \
             more than any site's link carries"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn reads_lines_with_or_without_a_header() {
        let text = "site,hour,bytes_in,bytes_out\nshop.example.com,2026-11-01T00:00:00Z,10,20\n\n7, 2026-11-01T01:00:00+01:00 ,0,5\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].site, SiteRef::Hostname("shop.example.com".into()));
        assert_eq!(lines[0].hour, datetime!(2026-11-01 00:00 UTC));
        assert_eq!((lines[0].bytes_in, lines[0].bytes_out), (10, 20));
        assert_eq!(lines[1].number, 4);
        assert_eq!(lines[1].site, SiteRef::Id(7));
        assert_eq!(lines[1].hour, datetime!(2026-11-01 00:00 UTC));
        let unicode = parse("bücher.example,2026-11-01T00:00:00Z,1,1").unwrap();
        assert_eq!(unicode[0].site, SiteRef::Hostname("xn--bcher-kva.example".into()));
    }

    #[test]
    fn refuses_more_bytes_than_a_link_carries_in_an_hour() {
        let at_most = format!("1,2026-11-01T00:00:00Z,{MAX_BYTES_PER_HOUR},{MAX_BYTES_PER_HOUR}");
        assert!(parse(&at_most).is_ok());
        let text = format!(
            "1,2026-11-01T00:00:00Z,1,1\n1,2026-11-01T01:00:00Z,{},0\n1,2026-11-01T02:00:00Z,0,{}",
            MAX_BYTES_PER_HOUR + 1,
            i64::MAX
        );
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("line 2: bytes_in"), "{errors:?}");
        assert!(errors[1].starts_with("line 3: bytes_out"), "{errors:?}");
        assert!(errors[0].contains("in an hour"), "{errors:?}");
    }

    #[test]
    fn reports_every_bad_line_by_number() {
        let text = "shop.example.com,2026-11-01T00:00:00Z,10,20
shop.example.com,2026-11-01T00:30:00Z,10,20
shop.example.com,yesterday,10,20
shop.example.com,2026-11-01T01:00:00Z,-1,20
shop.example.com,2026-11-01T01:00:00Z,1,2.5
not a host,2026-11-01T01:00:00Z,1,2
shop.example.com,2026-11-01T01:00:00Z,1
shop.example.com,2026-11-01T00:00:00Z,1,1";
        let errors = parse(text).unwrap_err();
        let starts: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            starts,
            ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8"],
            "{errors:#?}"
        );
        assert!(errors[0].contains("not on the hour"));
        assert!(errors[6].contains("same site and hour as line 1"));
        assert_eq!(parse("").unwrap_err(), ["the file has no samples"]);
    }

    #[test]
    fn dates_are_bounded_to_1970_to_9999_after_conversion_to_utc() {
        // Once a panic: the offset pushes the last hour of 9999 into the year 10000.
        for (value, ok) in [
            ("9999-12-31T23:00:00-01:00", false),
            ("9999-12-31T22:00:00-01:00", true),
            ("9999-12-31T23:00:00+01:00", true),
            ("9999-12-31T23:00:00Z", true),
            ("0000-01-01T00:00:00Z", false),
            ("0000-01-01T00:00:00+01:00", false),
            ("1969-12-31T23:00:00Z", false),
            ("1970-01-01T00:00:00+01:00", false),
            ("1970-01-01T00:00:00Z", true),
            ("1969-12-31T23:00:00-01:00", true),
        ] {
            let result = parse(format!("1,{value},1,1"));
            assert_eq!(result.is_ok(), ok, "{value}: {result:?}");
            if let Err(errors) = result {
                assert_eq!(
                    errors,
                    [format!(
                        "line 1: hour \"{value}\" is outside the years 1970 to 9999 in UTC"
                    )]
                );
            }
        }
        let lines = parse("1,9999-12-31T23:00:00+01:00,1,1").unwrap();
        assert_eq!(lines[0].hour, datetime!(9999-12-31 22:00 UTC));
        assert_eq!(lines[0].hour.offset(), UtcOffset::UTC);
    }

    #[test]
    fn an_hour_is_on_the_hour_in_utc() {
        let errors = parse("1,2026-11-01T13:00:00+05:30,1,1").unwrap_err();
        assert_eq!(
            errors,
            ["line 1: hour \"2026-11-01T13:00:00+05:30\" is not on the hour in UTC"]
        );
        assert!(parse("1,2026-11-01T13:30:00+05:30,1,1").is_ok());
    }

    #[test]
    fn a_byte_order_mark_and_quoted_fields_are_read() {
        let text = "\u{feff}\"site\",\"hour\",\"bytes_in\",\"bytes_out\"\r\n\
                    \"shop.example.com\",\"2026-11-01T00:00:00Z\",\"10\",\"20\"\r\n\
                    \" 7 \", 2026-11-01T01:00:00Z ,\"0\",5\r\n";
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].number, 2);
        assert_eq!(lines[0].site, SiteRef::Hostname("shop.example.com".into()));
        assert_eq!((lines[0].bytes_in, lines[0].bytes_out), (10, 20));
        assert_eq!(lines[1].site, SiteRef::Id(7));
        // Without a header, the mark does not spoil the first line's site.
        let lines = parse("\u{feff}shop.example.com,2026-11-01T00:00:00Z,1,2\n").unwrap();
        assert_eq!(lines[0].site, SiteRef::Hostname("shop.example.com".into()));
        // A quoted comma is part of its field, and the line is judged by its value.
        let errors = parse("shop.example.com,2026-11-01T00:00:00Z,\"1,000\",2\n").unwrap_err();
        assert_eq!(errors, ["line 1: bytes_in \"1,000\" is not a whole number of bytes"]);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_line_breaks() {
        let text = "\n\nshop.example.com,2026-11-01T00:00:00Z,1,1\r\n   \n\"a\nb\",2026-11-01T00:00:00Z,1,1\n1,x,1,1\n";
        let errors = parse(text).unwrap_err();
        let starts: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(starts, ["line 5", "line 7"], "{errors:#?}");
        let errors = parse(b"1,2026-11-01T00:00:00Z,1,1\n\xff\xfe,2026-11-01T00:00:00Z,1,1\n").unwrap_err();
        assert_eq!(errors, ["line 2: column 1 is not UTF-8 text"]);
    }

    #[test]
    fn messages_name_the_line_and_the_value_in_plain_words() {
        let cases = [
            (
                "1,2026-11-01T00:00:00Z,12x,1",
                "line 1: bytes_in \"12x\" is not a whole number of bytes",
            ),
            (
                "1,2026-11-01T00:00:00Z,1,+5",
                "line 1: bytes_out \"+5\" is not a whole number of bytes",
            ),
            (
                "1,2026-11-01T00:00:00Z,,1",
                "line 1: bytes_in \"\" is not a whole number of bytes",
            ),
            (
                "1,2026-11-01T00:00:00Z,99999999999999999999,1",
                "line 1: bytes_in \"99999999999999999999\" is more than",
            ),
            (
                "99999999999999999999,2026-11-01T00:00:00Z,1,1",
                "line 1: site id \"99999999999999999999\" is too large",
            ),
            (
                "1,2026-13-01T00:00:00Z,1,1",
                "line 1: hour \"2026-13-01T00:00:00Z\" is not an RFC 3339 time",
            ),
            (
                "1,2026-11-01 00:00,1,1",
                "line 1: hour \"2026-11-01 00:00\" is not an RFC 3339 time",
            ),
            ("not a host,2026-11-01T00:00:00Z,1,1", "line 1: site \"not a host\": "),
            (",2026-11-01T00:00:00Z,1,1", "line 1: site \"\": "),
            (
                "1,2026-11-01T00:00:00Z",
                "line 1: expected 4 columns (site, hour, bytes_in, bytes_out), found 2",
            ),
        ];
        for (text, start) in cases {
            let errors = parse(text).unwrap_err();
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert!(errors[0].starts_with(start), "{text}: {errors:?}");
            assert_plain(&errors[0]);
        }
    }

    /// No Rust type or Rust error text in a message meant for an operator.
    fn assert_plain(message: &str) {
        for rust in [
            "invalid digit",
            "number too large",
            "cannot parse integer",
            "ParseIntError",
            "Utf8Error",
            "OffsetDateTime",
            "i64",
            "SiteRef",
            "Hostname(",
            "Id(",
            "Some(",
            "None",
            "Err(",
            "the component",
            "panicked",
        ] {
            assert!(!message.contains(rust), "{message:?} contains {rust:?}");
        }
    }

    /// Pieces of lines, good and bad, that random files are built from.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("shop.example.com".to_owned()),
            Just("7".to_owned()),
            Just("\"7\"".to_owned()),
            Just("2026-11-01T00:00:00Z".to_owned()),
            Just("9999-12-31T23:00:00-01:00".to_owned()),
            Just("0000-01-01T00:00:00Z".to_owned()),
            Just("-0000-01-01T00:00:00Z".to_owned()),
            Just("1000000000000000".to_owned()),
            Just("1000000000000001".to_owned()),
            Just("\u{feff}".to_owned()),
            Just("\"".to_owned()),
            "[0-9]{0,21}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00([+-][0-9]{2}:[0-9]{2}|Z)",
            "\\PC{0,12}",
            any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

    fn file() -> impl Strategy<Value = String> {
        let line = proptest::collection::vec(piece(), 0..6).prop_map(|p| p.join(","));
        let separator = prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n")];
        proptest::collection::vec((line, separator), 0..8)
            .prop_map(|l| l.into_iter().map(|(line, sep)| line + sep).collect())
    }

    proptest! {
        #[test]
        fn never_panics_and_gives_every_line_or_only_problems(text in file(), bytes in any::<Vec<u8>>()) {
            for input in [text.as_bytes(), &bytes[..]] {
                let parsed = read(input);
                for problem in &parsed.problems {
                    prop_assert!(problem.line >= 1, "{problem:?}");
                    assert_plain(&problem.message);
                }
                for line in &parsed.lines {
                    prop_assert!(YEARS.contains(&line.hour.year()));
                    prop_assert_eq!(line.hour.offset(), UtcOffset::UTC);
                    prop_assert!((0..=MAX_BYTES_PER_HOUR).contains(&line.bytes_in));
                    prop_assert!((0..=MAX_BYTES_PER_HOUR).contains(&line.bytes_out));
                }
                let good = parsed.lines.len();
                let bad = parsed.problems.len();
                match parsed.finish(Vec::new()) {
                    Ok(lines) => prop_assert!(bad == 0 && lines.len() == good && good > 0),
                    Err(errors) => prop_assert!(bad == errors.len() || (bad == 0 && good == 0)),
                }
            }
        }
    }
}
