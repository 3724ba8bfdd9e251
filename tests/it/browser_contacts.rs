//! Tests for issue 6 (browser_contacts); not written yet.
