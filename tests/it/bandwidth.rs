//! Tests for issue 5 (bandwidth); not written yet.
