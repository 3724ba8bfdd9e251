//! Reading a bandwidth CSV file (`berth bandwidth import FILE.csv`): one sample per line,
//! `site,hour,bytes_in,bytes_out`, where `site` is a hostname or a site id and `hour` an
//! RFC 3339 time on the hour. An optional first line of column names is skipped. Every bad
//! line is reported by its number; a file with any error imports nothing.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most bytes one direction of one site can move in an hour: 10^15 bytes, about
/// 2.2 Tbit/s sustained, beyond any link a site has. Larger counts are errors in the file,
/// and refusing them keeps every sum of a month within 64 bits (744 hours × 2 directions ×
/// 10^15 < 1.5 × 10^18 per site).
pub const MAX_BYTES_PER_HOUR: i64 = 1_000_000_000_000_000;

/// Which site a line is about, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SiteRef {
    Id(i64),
    /// In its ASCII (punycode) form.
    Hostname(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub site: SiteRef,
    pub hour: OffsetDateTime,
    pub bytes_in: i64,
    pub bytes_out: i64,
}

/// The lines of `text`, or every problem found, each as "line N: what is wrong".
pub fn parse(text: &str) -> Result<Vec<Line>, Vec<String>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = raw.trim();
        if raw.is_empty() || (number == 1 && is_header(raw)) {
            continue;
        }
        match parse_line(number, raw) {
            Ok(line) => {
                if let Some(first) = seen.insert((line.site.clone(), line.hour), number) {
                    errors.push(format!("line {number}: the same site and hour as line {first}"));
                }
                lines.push(line);
            }
            Err(message) => errors.push(format!("line {number}: {message}")),
        }
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push("the file has no samples".to_owned());
    }
    if errors.is_empty() { Ok(lines) } else { Err(errors) }
}

fn is_header(line: &str) -> bool {
    let first = line.split(',').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(first.as_str(), "site" | "site_id" | "hostname" | "host")
}

fn parse_line(number: usize, raw: &str) -> Result<Line, String> {
    let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
    if fields.len() != 4 {
        return Err(format!(
            "expected 4 columns (site, hour, bytes_in, bytes_out), found {}",
            fields.len()
        ));
    }
    let site = if !fields[0].is_empty() && fields[0].bytes().all(|b| b.is_ascii_digit()) {
        SiteRef::Id(fields[0].parse().map_err(|_| "the site id is too large".to_owned())?)
    } else {
        let hostname = fields[0]
            .parse::<crate::sites::names::Hostname>()
            .map_err(|e| format!("site {:?}: {e}", fields[0]))?;
        SiteRef::Hostname(hostname.ascii().to_owned())
    };
    let hour = OffsetDateTime::parse(fields[1], &Rfc3339).map_err(|_| {
        format!(
            "hour {:?} is not an RFC 3339 time such as 2026-11-01T13:00:00Z",
            fields[1]
        )
    })?;
    if hour.minute() != 0 || hour.second() != 0 || hour.nanosecond() != 0 {
        return Err(format!("hour {:?} is not on the hour", fields[1]));
    }
    let bytes = |name: &str, value: &str| {
        let n = value
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{name} {value:?} is not a whole number of bytes"))?;
        if n > MAX_BYTES_PER_HOUR {
            return Err(format!(
                "{name} {value:?} is more than {MAX_BYTES_PER_HOUR} bytes in an hour (about 2.2 Tbit/s), \
                 more than any site's link carries"
            ));
        }
        Ok(n)
    };
    Ok(Line {
        number,
        site,
        hour,
        bytes_in: bytes("bytes_in", fields[2])?,
        bytes_out: bytes("bytes_out", fields[3])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
