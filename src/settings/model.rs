//! The settings registry (key, type, default, help) and the customer's stored values.
//! `save` stores every entry or none.

use std::collections::BTreeMap;

use sqlx::PgExecutor;
use time::OffsetDateTime;
use time::macros::format_description;
use time_tz::{Offset, OffsetDateTimeExt, TimeZone, Tz};

use crate::identity::CustomerId;
use crate::validation::{Field, FieldErrors, Names};

#[derive(Debug)]
pub enum Kind {
    /// An IANA time zone name such as `Europe/Berlin`.
    TimeZone,
    /// One of the listed values (value, label).
    Choice(&'static [(&'static str, &'static str)]),
    /// An integer within bounds.
    Number { min: i64, max: i64 },
    /// Free text on one line, at most `max` characters (may be empty).
    Text { max: usize },
}

#[derive(Debug)]
pub struct Setting {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

pub const DATE_FORMATS: &[(&str, &str)] = &[
    ("iso", "2026-11-27 14:05 (ISO 8601)"),
    ("eu", "27/11/2026 14:05"),
    ("us", "11/27/2026 2:05 PM"),
];

pub const LANDING_PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    ("account", "Account"),
    ("activity", "Activity"),
    ("settings", "Settings"),
];

pub const REGISTRY: &[Setting] = &[
    Setting {
        key: "time_zone",
        label: "Time zone",
        help: "Times in the panel are shown in this zone, e.g. Europe/Berlin or America/New_York.",
        kind: Kind::TimeZone,
        default: "UTC",
    },
    Setting {
        key: "date_format",
        label: "Date format",
        help: "How dates and times are written.",
        kind: Kind::Choice(DATE_FORMATS),
        default: "iso",
    },
    Setting {
        key: "landing_page",
        label: "Page after sign-in",
        help: "Where you land after signing in.",
        kind: Kind::Choice(LANDING_PAGES),
        default: "dashboard",
    },
    Setting {
        key: "notice_digest",
        label: "Notice digest",
        help: "How often notices are gathered into one email to your contacts.",
        kind: Kind::Choice(&[
            ("immediate", "Each notice at once"),
            ("daily", "Daily"),
            ("weekly", "Weekly"),
            ("off", "Never"),
        ]),
        default: "daily",
    },
    Setting {
        key: "items_per_page",
        label: "Rows per page",
        help: "How many rows long lists show at a time (10 to 200).",
        kind: Kind::Number { min: 10, max: 200 },
        default: "25",
    },
    Setting {
        key: "invoice_reference",
        label: "Invoice reference",
        help: "Printed on your invoices, e.g. a purchase order number (up to 100 characters).",
        kind: Kind::Text { max: 100 },
        default: "",
    },
    Setting {
        key: SIGN_IN_BY_API,
        label: "API keys may change sign-in details",
        help: "Whether your standard API keys may change your password, email address and PIN \
               (changePassword, changeEmail, changePIN). Off unless you turn it on here; each change \
               is then recorded and a security notice goes to your previous email address.",
        kind: Kind::Choice(&[("off", "No: only on this panel"), ("on", "Yes")]),
        default: "off",
    },
];

/// "API keys may change sign-in details": whether a standard API key may call
/// changePassword, changeEmail and changePIN. Only the customer, on the Settings page, may
/// change it: not over the API with a customer's key, not while staff impersonate.
pub const SIGN_IN_BY_API: &str = "api_sign_in_changes";

/// Whether `entries` change the stored value of `key`.
pub fn changes(stored: &Values, entries: &[(&'static str, String)], key: &str) -> bool {
    entries.iter().any(|(k, v)| *k == key && v != stored.get(key))
}

pub fn find(key: &str) -> Option<&'static Setting> {
    REGISTRY.iter().find(|s| s.key == key)
}

impl Setting {
    /// The value to store for `raw`, or the message for the field.
    pub fn parse(&self, raw: &str) -> Result<String, String> {
        let value = raw.trim();
        match &self.kind {
            Kind::TimeZone => time_tz::timezones::get_by_name(value)
                .filter(|_| !value.is_empty())
                .map(|_| value.to_owned())
                .ok_or_else(|| "Enter a time zone name such as Europe/Berlin or UTC.".to_owned()),
            Kind::Choice(options) => options
                .iter()
                .find(|(v, _)| *v == value)
                .map(|(v, _)| (*v).to_owned())
                .ok_or_else(|| {
                    format!(
                        "Choose one of: {}.",
                        options.iter().map(|(_, l)| *l).collect::<Vec<_>>().join(", ")
                    )
                }),
            Kind::Number { min, max } => value
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(&n))
                .map(|n| n.to_string())
                .ok_or_else(|| format!("Enter a whole number from {min} to {max}.")),
            Kind::Text { max } => {
                if value.chars().count() > *max || value.chars().any(char::is_control) {
                    Err(format!("Use at most {max} characters, on one line."))
                } else {
                    Ok(value.to_owned())
                }
            }
        }
    }

    pub fn is_choice(&self) -> bool {
        matches!(self.kind, Kind::Choice(_))
    }

    pub fn options(&self) -> &'static [(&'static str, &'static str)] {
        match self.kind {
            Kind::Choice(options) => options,
            _ => &[],
        }
    }

    pub fn input_type(&self) -> &'static str {
        match self.kind {
            Kind::Number { .. } => "number",
            _ => "text",
        }
    }

    /// The form field's name: `settings[KEY]` (DESIGN §4).
    pub fn field(&self) -> String {
        format!("settings[{}]", self.key)
    }
}

/// The settings' fields: the list of entries as a whole, and each entry by its key
/// (`settings[KEY]` in the form, `settings.KEY` in the API, see [`SettingField::entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingField {
    /// The entries as a whole (none given).
    List,
}

impl Field for SettingField {
    fn form(self) -> &'static str {
        "settings"
    }

    fn seed(self) -> &'static str {
        "settings"
    }
}

impl SettingField {
    /// The name of the entry for `key` (any key given, known or not).
    pub fn entry(names: Names, key: &str) -> String {
        match names {
            Names::Form => format!("settings[{key}]"),
            Names::Seed => format!("settings.{key}"),
        }
    }
}

/// Where a mistake in a list of settings is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Field(SettingField),
    /// The entry of this key, as given.
    Entry(String),
}

/// The mistakes in a list of settings, before it is known whether a form or a call sent
/// it; a field keeps its first message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsInvalid(Vec<(Place, String)>);

impl SettingsInvalid {
    fn add(&mut self, place: Place, message: impl Into<String>) {
        if !self.0.iter().any(|(p, _)| *p == place) {
            self.0.push((place, message.into()));
        }
    }

    /// The messages under the form's or the API's names.
    pub fn errors(&self, names: Names) -> FieldErrors {
        let mut errors = FieldErrors::default();
        for (place, message) in &self.0 {
            let name = match place {
                Place::Field(field) => match names {
                    Names::Form => field.form().to_owned(),
                    Names::Seed => field.seed().to_owned(),
                },
                Place::Entry(key) => SettingField::entry(names, key),
            };
            errors.add(name, message.clone());
        }
        errors
    }
}

/// A form's `settings[KEY]=value` pairs as (key, value); other fields (the CSRF token) are
/// left out.
pub fn form_entries(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(name, raw)| {
            name.strip_prefix("settings[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|key| (key.to_owned(), raw.clone()))
        })
        .collect()
}

/// Parses `settings[KEY]=value` pairs ([`parse_entries`], the errors under the form's names).
pub fn parse_form(pairs: &[(String, String)]) -> Result<Vec<(&'static str, String)>, FieldErrors> {
    parse_entries(&form_entries(pairs)).map_err(|invalid| invalid.errors(Names::Form))
}

/// Parses (key, value) entries: every entry must name a known setting, once, and hold a
/// valid value, or nothing is accepted; no entries at all is an error on the list.
pub fn parse_entries(entries: &[(String, String)]) -> Result<Vec<(&'static str, String)>, SettingsInvalid> {
    let mut invalid = SettingsInvalid::default();
    let mut parsed = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for (key, raw) in entries {
        let Some(setting) = find(key) else {
            invalid.add(Place::Entry(key.clone()), "There is no such setting.");
            continue;
        };
        if seen.contains(&setting.key) {
            invalid.add(Place::Entry(key.clone()), "This setting was given twice.");
            continue;
        }
        seen.push(setting.key);
        match setting.parse(raw) {
            Ok(value) => parsed.push((setting.key, value)),
            Err(message) => invalid.add(Place::Entry(key.clone()), message),
        }
    }
    if entries.is_empty() {
        invalid.add(Place::Field(SettingField::List), "No settings were given.");
    }
    if invalid.0.is_empty() { Ok(parsed) } else { Err(invalid) }
}

/// Every setting's effective value: stored, or the default.
#[derive(Debug, Clone)]
pub struct Values(BTreeMap<&'static str, String>);

impl Values {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn number(&self, key: &str) -> i64 {
        self.get(key).parse().unwrap_or(25)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Every setting: its stored value (of `stored`, key and value) or its default.
    pub fn from_stored(stored: Vec<(String, String)>) -> Self {
        let mut map: BTreeMap<&'static str, String> = REGISTRY.iter().map(|s| (s.key, s.default.to_owned())).collect();
        for (key, value) in stored {
            if let Some(setting) = find(&key) {
                map.insert(setting.key, value);
            }
        }
        Self(map)
    }
}

pub async fn load(db: impl PgExecutor<'_>, customer: CustomerId) -> sqlx::Result<Values> {
    let stored: Vec<(String, String)> = sqlx::query!(
        "select key, value from customer_settings where customer_id = $1",
        customer as CustomerId,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|row| (row.key, row.value))
    .collect();
    Ok(Values::from_stored(stored))
}

/// Stores every entry in one statement, so all are stored or none. The rows are written
/// (and so locked) in key order, whatever the order of the form: two saves that list the
/// settings differently would otherwise lock them in opposite orders and deadlock.
pub async fn save(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    entries: &[(&'static str, String)],
) -> sqlx::Result<()> {
    let mut sorted: Vec<&(&'static str, String)> = entries.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    let keys: Vec<&str> = sorted.iter().map(|(k, _)| *k).collect();
    let values: Vec<&str> = sorted.iter().map(|(_, v)| v.as_str()).collect();
    sqlx::query!(
        "insert into customer_settings (customer_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) with ordinality as t(k, v, n)
         order by n
         on conflict (customer_id, key) do update set value = excluded.value, updated_at = now()",
        customer as CustomerId,
        &keys as &[&str],
        &values as &[&str],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How the customer wants times shown.
pub struct Preferences {
    tz: &'static Tz,
    date_format: String,
}

impl Preferences {
    pub fn from_values(values: &Values) -> Self {
        Self::new(Some(values.get("time_zone")), Some(values.get("date_format")))
    }

    pub fn new(time_zone: Option<&str>, date_format: Option<&str>) -> Self {
        let tz = time_zone
            .and_then(time_tz::timezones::get_by_name)
            .unwrap_or(time_tz::timezones::db::UTC);
        Self {
            tz,
            date_format: date_format.unwrap_or("iso").to_owned(),
        }
    }

    pub fn format(&self, at: OffsetDateTime) -> String {
        let local = at.to_timezone(self.tz);
        let formatted = match self.date_format.as_str() {
            "eu" => local.format(format_description!("[day]/[month]/[year] [hour]:[minute]")),
            "us" => local.format(format_description!(
                "[month]/[day]/[year] [hour repr:12 padding:none]:[minute] [period]"
            )),
            _ => local.format(format_description!("[year]-[month]-[day] [hour]:[minute]")),
        };
        let zone = self.tz.get_offset_utc(&at).name().to_owned();
        format!("{} {zone}", formatted.unwrap_or_default())
    }
}

/// The message for a date outside [`bounded`]'s range.
pub const OUT_OF_RANGE: &str = "Enter a date from 1970 to 9999.";

/// `at` in UTC, when it falls in 1970–9999 there: every date a form or a call gives is
/// checked so, after its conversion from the customer's zone (9999-12-31 23:59 in New York
/// is already in the year 10000 in UTC, which the database and the formatting refuse).
pub fn bounded(at: OffsetDateTime) -> Result<OffsetDateTime, &'static str> {
    at.checked_to_offset(time::UtcOffset::UTC)
        .filter(|utc| (1970..=9999).contains(&utc.year()))
        .ok_or(OUT_OF_RANGE)
}

impl Preferences {
    /// A local date and time as a browser's `datetime-local` field sends it
    /// (`2026-11-27T14:30`, seconds optional), in the customer's time zone. In the hour a
    /// clock goes back, the earlier of the two moments; in the hour it skips, none.
    pub fn parse_local(&self, raw: &str) -> Option<OffsetDateTime> {
        use time_tz::PrimitiveDateTimeExt;
        let raw = raw.trim();
        let short = format_description!("[year]-[month]-[day]T[hour]:[minute]");
        let long = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        let local = time::PrimitiveDateTime::parse(raw, short)
            .or_else(|_| time::PrimitiveDateTime::parse(raw, long))
            .ok()?;
        match local.assume_timezone(self.tz) {
            time_tz::OffsetResult::Some(at) => Some(at),
            time_tz::OffsetResult::Ambiguous(earlier, _) => Some(earlier),
            time_tz::OffsetResult::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_customers_zone() {
        let paris = Preferences::new(Some("Europe/Paris"), None);
        let at = paris.parse_local("2026-11-27T14:30").unwrap();
        assert_eq!(
            at.unix_timestamp(),
            time::macros::datetime!(2026-11-27 13:30 UTC).unix_timestamp()
        );
        assert!(paris.parse_local("2026-11-27T14:30:15").is_some());
        assert!(
            paris.parse_local("2026-03-29T02:30").is_none(),
            "skipped by the clock change"
        );
        assert!(paris.parse_local("yesterday").is_none());
    }

    #[test]
    fn dates_are_bounded_to_1970_9999_in_utc() {
        let new_york = Preferences::new(Some("America/New_York"), None);
        let last = new_york.parse_local("9999-12-31T23:59").unwrap();
        assert_eq!(bounded(last), Err(OUT_OF_RANGE), "the year 10000 in UTC");
        assert!(bounded(new_york.parse_local("1970-01-01T00:00").unwrap()).is_ok());
        assert_eq!(
            bounded(new_york.parse_local("1969-12-31T12:00").unwrap()),
            Err(OUT_OF_RANGE)
        );
        let tokyo = Preferences::new(Some("Asia/Tokyo"), None);
        assert_eq!(
            bounded(tokyo.parse_local("1970-01-01T08:59").unwrap()),
            Err(OUT_OF_RANGE)
        );
        assert!(bounded(tokyo.parse_local("9999-12-31T23:59").unwrap()).is_ok());
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_default_is_valid() {
        for setting in REGISTRY {
            assert_eq!(
                setting.parse(setting.default).as_deref(),
                Ok(setting.default),
                "{}",
                setting.key
            );
        }
    }

    #[test]
    fn form_is_all_or_nothing() {
        let good = parse_form(&pairs(&[
            ("csrf_token", "x"),
            ("settings[time_zone]", "Europe/Berlin"),
            ("settings[items_per_page]", "50"),
        ]));
        assert_eq!(
            good.unwrap(),
            vec![
                ("time_zone", "Europe/Berlin".to_owned()),
                ("items_per_page", "50".to_owned())
            ]
        );
        let bad = parse_form(&pairs(&[
            ("settings[time_zone]", "Europe/Berlin"),
            ("settings[items_per_page]", "5000"),
        ]))
        .unwrap_err();
        assert!(bad.get("settings[items_per_page]").is_some());
        let twice = parse_form(&pairs(&[
            ("settings[time_zone]", "UTC"),
            ("settings[time_zone]", "Europe/Berlin"),
        ]));
        assert_eq!(
            twice.unwrap_err().get("settings[time_zone]"),
            Some("This setting was given twice.")
        );
        let unknown = parse_form(&pairs(&[("settings[nope]", "1")])).unwrap_err();
        assert_eq!(unknown.get("settings[nope]"), Some("There is no such setting."));
        assert!(parse_form(&pairs(&[])).is_err());
    }

    #[test]
    fn values_are_checked_by_type() {
        let tz = find("time_zone").unwrap();
        assert!(tz.parse("Mars/Olympus").is_err());
        assert!(tz.parse("").is_err());
        let text = find("invoice_reference").unwrap();
        assert_eq!(
            text.parse("<script>alert(1)</script>").as_deref(),
            Ok("<script>alert(1)</script>"),
            "kept, escaped on output"
        );
        assert!(text.parse(&"x".repeat(101)).is_err());
        assert!(text.parse("two\nlines").is_err());
        assert!(find("date_format").unwrap().parse("javascript:alert(1)").is_err());
    }

    #[test]
    fn times_in_the_customers_zone_and_format() {
        let at = time::macros::datetime!(2026-07-01 12:30 UTC);
        assert_eq!(
            Preferences::new(Some("UTC"), Some("iso")).format(at),
            "2026-07-01 12:30 UTC"
        );
        assert_eq!(
            Preferences::new(Some("Europe/Berlin"), Some("eu")).format(at),
            "01/07/2026 14:30 CEST"
        );
        assert_eq!(
            Preferences::new(Some("America/New_York"), Some("us")).format(at),
            "07/01/2026 8:30 AM EDT"
        );
    }
}
