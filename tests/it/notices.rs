//! Tests for issue 6 (notices); not written yet.
