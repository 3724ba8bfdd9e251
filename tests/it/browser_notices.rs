//! Tests for issue 6 (browser_notices); not written yet.
