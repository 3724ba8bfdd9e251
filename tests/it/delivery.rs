//! Tests for issue 6 (delivery); not written yet.
