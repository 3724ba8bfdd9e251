//! Tests for issue 5 (ftp); not written yet.
