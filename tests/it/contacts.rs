//! Tests for issue 6 (contacts); not written yet.
