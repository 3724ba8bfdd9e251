//! Tests for issue 5 (browser_addresses_ftp); not written yet.
