//! What a valid FTP root is: a folder relative to the home of the customer, site or
//! environment, that can never reach outside it.

/// The longest root, in bytes of UTF-8, once normalised.
pub const MAX_ROOT_BYTES: usize = 255;

/// A relative root: UTF-8, normalised (`./a//b/` is `a/b`), never absolute, with no `..`
/// component, no NUL or other control characters and no backslash, at most 255 bytes.
/// Empty means the home itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelativeRoot(String);

impl std::str::FromStr for RelativeRoot {
    type Err = &'static str;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.chars().any(char::is_control) {
            return Err("Use no control characters in the folder.");
        }
        // Spaces around the path or around a folder's name are a typing slip (and a name
        // ending in a space is a trap); spaces inside a name are kept.
        let raw = raw.trim();
        if raw.starts_with('/') {
            return Err("Give a folder inside the home, without a leading /, such as public_html/uploads.");
        }
        if raw.contains('\\') {
            return Err("Separate folders with /, not \\.");
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part.trim() {
                "" | "." => {}
                ".." => return Err("A folder may not contain .. : it must stay inside the home."),
                name => parts.push(name),
            }
        }
        let root = parts.join("/");
        if root.len() > MAX_ROOT_BYTES {
            return Err("Use at most 255 bytes for the folder.");
        }
        Ok(Self(root))
    }
}

impl RelativeRoot {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The home itself.
    pub fn is_home(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for RelativeRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(raw: &str) -> Result<String, &'static str> {
        raw.parse::<RelativeRoot>().map(|r| r.0)
    }

    #[test]
    fn roots_are_normalised_or_refused() {
        let accepted = [
            ("", ""),
            (".", ""),
            ("./", ""),
            ("a//b", "a/b"),
            ("a / b /", "a/b"),
            (" . / .. x", ".. x"),
            ("./a//b/", "a/b"),
            ("a/./b/.", "a/b"),
            ("public_html", "public_html"),
            ("  public_html/uploads/  ", "public_html/uploads"),
            ("my files/2026", "my files/2026"),
            ("...", "..."),
            ("..a/b..", "..a/b.."),
            ("~/x", "~/x"),
            ("données/été", "données/été"),
            ("日本語/フォルダ", "日本語/フォルダ"),
        ];
        for (raw, root) in accepted {
            assert_eq!(parse(raw).as_deref(), Ok(root), "{raw:?}");
        }
        let long_ok = "a/".repeat(127) + "b"; // 255 bytes
        assert_eq!(parse(&long_ok).map(|r| r.len()), Ok(255));
        // Bytes count, not characters: 128 two-byte letters are 256 bytes.
        let refused = [
            ("/", "leading /"),
            ("/etc", "leading /"),
            ("  /etc", "leading /"),
            ("..", ".."),
            ("../x", ".."),
            ("a/../../x", ".."),
            ("a/..", ".."),
            ("a/ .. /b", ".."),
            ("//", "leading /"),
            ("./..", ".."),
            ("a\0b", "control"),
            ("a\nb", "control"),
            ("a\tb", "control"),
            ("a\u{7f}b", "control"),
            ("a\u{85}b", "control"),
            ("..\\..\\x", "not \\"),
            ("a\\b", "not \\"),
        ];
        for (raw, why) in refused {
            let err = parse(raw).expect_err(raw);
            assert!(err.contains(why), "{raw:?}: {err}");
        }
        assert!(parse(&"a".repeat(256)).unwrap_err().contains("255 bytes"));
        assert!(parse(&"é".repeat(128)).unwrap_err().contains("255 bytes"));
        assert!(
            parse(&format!("./{}//", "a".repeat(255))).is_ok(),
            "the normalised form counts"
        );
    }

    /// Text built from the pieces that matter to paths, plus any character at all.
    fn pathish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("\\".to_owned()),
            Just(" ".to_owned()),
            Just("\0".to_owned()),
            "[a-z]{1,8}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// No accepted root can reach outside the home: it is relative, has no `..`, `.`
        /// or empty component, no control character or backslash, fits in 255 bytes, and
        /// parsing it again gives it back unchanged.
        #[test]
        fn no_accepted_root_escapes_the_home(raw in pathish()) {
            if let Ok(root) = raw.parse::<RelativeRoot>() {
                let s = root.as_str();
                prop_assert!(!s.starts_with('/'));
                prop_assert!(!s.ends_with('/'));
                prop_assert!(s.len() <= MAX_ROOT_BYTES);
                prop_assert!(!s.chars().any(|c| c.is_control() || c == '\\'));
                if !s.is_empty() {
                    for part in s.split('/') {
                        prop_assert!(part != ".." && part != "." && !part.is_empty(), "{s:?}");
                    }
                }
                // Resolving it against a home never climbs above that home.
                let mut depth: i64 = 0;
                for part in s.split('/').filter(|p| !p.is_empty()) {
                    depth += if part == ".." { -1 } else { 1 };
                    prop_assert!(depth >= 0);
                }
                prop_assert_eq!(s.parse::<RelativeRoot>(), Ok(root.clone()));
            }
        }

        /// Any `..` component, anywhere, is refused.
        #[test]
        fn dot_dot_is_always_refused(before in "[a-z/.]{0,20}", after in "[a-z/.]{0,20}") {
            let raw = format!("{before}/../{after}");
            prop_assert!(raw.parse::<RelativeRoot>().is_err());
        }
    }
}
