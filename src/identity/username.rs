//! The one normalisation of usernames (customers, staff, FTP users): the form in which a
//! typed name is looked up, counted by the sign-in throttle, and stored unique.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longer than any username may be (32); a longer input cannot name an account, and the
/// throttle's counter for it stays small.
const MAX_CHARS: usize = 64;

/// A typed username in its canonical form: compatibility-decomposed (NFKD), lowercased,
/// stripped of combining marks, recomposed (NFC), trimmed. Look-alikes of an ASCII name
/// land on that name: `İris`, `IRIS` and `iris` are all `iris`, the KELVIN SIGN is `k`,
/// the long `ſ` is `s`, full-width letters are their ASCII letters.
///
/// This is the only place Berth folds case. The database never does (no `lower()`): the
/// stored usernames are already in this form, so a lookup, a uniqueness check and the
/// throttle's counter all compare the very same string. PostgreSQL's `lower()` and Rust's
/// `to_lowercase` disagree on letters such as `İ`, which once let a variant of a locked
/// name sign in on a counter of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsernameKey(String);

impl UsernameKey {
    pub fn new(raw: &str) -> Self {
        let folded: String = raw
            .nfkd()
            .flat_map(char::to_lowercase)
            // Lowercasing may bring a mark back (`İ` lowercases to `i` and a dot above).
            .nfkd()
            .filter(|c| !is_combining_mark(*c))
            .nfc()
            .collect();
        let cut: String = folded.trim().chars().take(MAX_CHARS).collect();
        Self(cut.trim_end().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for UsernameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// For creating a name (not for signing in): it must be typed in ASCII, so that what the
/// owner sees is what they typed, apart from case; then it takes the canonical form.
pub fn new_ascii(raw: &str) -> Option<UsernameKey> {
    raw.trim().is_ascii().then(|| UsernameKey::new(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn look_alikes_of_an_ascii_name_are_that_name() {
        for variant in [
            "iris",
            "IRIS",
            "Iris",
            "İris",
            "İRİS",
            " iris ",
            "ｉｒｉｓ",
            "i\u{0307}ris",
            "\u{00a0}iris\u{3000}",
        ] {
            assert_eq!(UsernameKey::new(variant).as_str(), "iris", "{variant:?}");
        }
        assert_eq!(UsernameKey::new("\u{212a}ate").as_str(), "kate", "KELVIN SIGN");
        assert_eq!(UsernameKey::new("\u{017f}am").as_str(), "sam", "long s");
        assert_eq!(UsernameKey::new("Jos\u{e9}").as_str(), "jose");
        assert_eq!(UsernameKey::new("\u{fb01}nn").as_str(), "finn", "fi ligature");
    }

    #[test]
    fn only_ascii_input_creates_a_name() {
        assert_eq!(
            new_ascii(" Alice ").map(UsernameKey::into_string).as_deref(),
            Some("alice")
        );
        assert!(new_ascii("İris").is_none());
        assert!(new_ascii("\u{212a}ate").is_none());
    }

    #[test]
    fn long_input_is_cut() {
        assert_eq!(UsernameKey::new(&"A".repeat(10_000)).as_str(), "a".repeat(MAX_CHARS));
    }

    proptest! {
        #[test]
        fn the_canonical_form_is_a_fixed_point(raw in "\\PC{0,40}") {
            let once = UsernameKey::new(&raw);
            prop_assert_eq!(UsernameKey::new(once.as_str()), once);
        }

        #[test]
        fn ascii_names_only_lose_their_capitals(raw in "[A-Za-z0-9._-]{3,32}") {
            prop_assert_eq!(UsernameKey::new(&raw).into_string(), raw.to_ascii_lowercase());
        }
    }
}
