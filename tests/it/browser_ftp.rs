//! Tests for issue 5 (browser_ftp); not written yet.
