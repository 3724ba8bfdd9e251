//! Tests for issue 5 (addresses); not written yet.
