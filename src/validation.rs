//! Checks every input passes, and the field messages they produce: below `web`, `api` and
//! the areas, so domain types can use them.

use std::collections::BTreeMap;

/// Messages for the fields of a form, by field name, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// Keeps the parsed value, or records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.to_string());
                None
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `Ok(())` when there are no errors, else `Err(self)`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn summary(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("Please correct the form: {}", parts.join("; "))
    }
}

/// The fields whose text may run over several lines, so may hold tab and newline (a
/// textarea's CR LF included): by their form name, which is also their seed name.
pub const MULTI_LINE_FIELDS: &[&str] = &["body", "reason"];

/// The field holding where to go after signing in.
const REDIRECT_FIELD: &str = "next";

/// Why `text`, the value of `field`, is refused: NUL and every other control character,
/// except tab and line breaks in a [multi-line field](MULTI_LINE_FIELDS). PostgreSQL cannot
/// store NUL in text at all, and no field of Berth's means anything by the others, so
/// every form and API argument is checked here, before any handler sees it.
pub fn control_character(field: &str, text: &str) -> Option<String> {
    let multi_line = MULTI_LINE_FIELDS.contains(&field);
    let bad = text.chars().find(|c| match c {
        '\0' => true,
        // `next` (sign-in's return address) is only ever a redirect target, which
        // `local_path` vets and replaces by "/" when odd: a link with a stray tab still
        // signs in.
        _ if field == REDIRECT_FIELD => false,
        '\t' | '\n' | '\r' if multi_line => false,
        c => c.is_control(),
    })?;
    Some(if bad == '\0' {
        "Remove the NUL character (a zero byte) from this text.".to_owned()
    } else if multi_line {
        format!(
            "Remove the control character U+{:04X}; only tabs and line breaks may be used besides text.",
            u32::from(bad)
        )
    } else {
        format!(
            "Remove the control character U+{:04X} (tabs and line breaks too): this is one line of text.",
            u32::from(bad)
        )
    })
}

/// A short name on one line (a key's, a contact's, an FTP user's): trimmed, 1 to `max`
/// characters, no control characters. `when_empty` says what to type.
pub fn one_line(raw: &str, max: usize, when_empty: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(when_empty.to_owned());
    }
    if s.chars().count() > max {
        return Err(format!("Use at most {max} characters."));
    }
    if s.chars().any(char::is_control) {
        return Err("Use letters, digits, spaces and punctuation only.".to_owned());
    }
    Ok(s.to_owned())
}

/// A field of an area's input, with its two names: the form control's, and the Customer
/// API argument's (the seed's). Each area lists its fields once, in one enum, so a page and
/// an API method of one operation report the same mistake on the same field.
pub trait Field: Copy + Eq + std::fmt::Debug + 'static {
    /// The form control's name.
    fn form(self) -> &'static str;
    /// The API argument's name, as the seed spells it.
    fn seed(self) -> &'static str;
}

/// Which of a field's names an answer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Form,
    Seed,
}

/// What was wrong with an operation's input, by field, before it is known whether a form
/// or an API call sent it: the page reports it under the form's names, the API under the
/// seed's ([`Invalid::errors`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid<F>(Vec<(F, String)>);

impl<F: Field> Default for Invalid<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: Field> Invalid<F> {
    /// One message on one field.
    pub fn one(field: F, message: impl Into<String>) -> Self {
        Self(vec![(field, message.into())])
    }

    /// Adds a message; a field keeps its first.
    pub fn add(&mut self, field: F, message: impl Into<String>) {
        if !self.0.iter().any(|(f, _)| *f == field) {
            self.0.push((field, message.into()));
        }
    }

    /// Keeps the parsed value, or records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: F, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message of `field`, if it has one.
    pub fn get(&self, field: F) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// `Ok(())` when nothing is wrong, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The messages under the form's or the API's names.
    pub fn errors(&self, names: Names) -> FieldErrors {
        let mut errors = FieldErrors::default();
        for (field, message) in &self.0 {
            let name = match names {
                Names::Form => field.form(),
                Names::Seed => field.seed(),
            };
            errors.add(name, message.clone());
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Demo {
        Network,
    }

    impl Field for Demo {
        fn form(self) -> &'static str {
            "network"
        }
        fn seed(self) -> &'static str {
            "ipAddress"
        }
    }

    #[test]
    fn one_mistake_is_told_under_either_name_and_a_field_keeps_its_first_message() {
        let mut invalid = Invalid::one(Demo::Network, "Type a network.");
        invalid.add(Demo::Network, "second");
        assert_eq!(invalid.errors(Names::Form).get("network"), Some("Type a network."));
        assert_eq!(invalid.errors(Names::Seed).get("ipAddress"), Some("Type a network."));
        assert_eq!(invalid.errors(Names::Seed).get("network"), None);
        assert!(Invalid::<Demo>::default().into_result().is_ok());
    }
}
