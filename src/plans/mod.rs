//! The plan catalogue: what each container size costs a month and how much transfer it
//! includes. Staff keep it with `berth plan set`; the wizard's size step shows the prices,
//! and the bandwidth cards (dashboard, `/bandwidth`) the included transfer and the
//! projected overage. Prices are in BERTH_CURRENCY; invoices are not Berth's (the pages
//! point to BERTH_BILLING_URL when it is set).

pub mod model;

use std::fmt;
use std::str::FromStr;

/// A monthly price, in hundredths of the configured currency: typed as `12`, `12.5` or
/// `12.00`, from 0 to 1,000,000.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(i64);

impl Price {
    pub const MAX_CENTS: i64 = 100_000_000;

    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// `12.00 EUR`.
    pub fn with(self, currency: &str) -> String {
        format!("{self} {currency}")
    }
}

impl FromStr for Price {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = "A price is a number such as 12 or 12.50, from 0 to 1000000.";
        let raw = raw.trim();
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 7 || !digits(whole) || fraction.len() > 2 || !digits(fraction) {
            return Err(bad);
        }
        if raw.ends_with('.') {
            return Err(bad);
        }
        let whole: i64 = whole.parse().map_err(|_| bad)?;
        let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad)?;
        let cents = whole * 100 + fraction;
        if cents > Self::MAX_CENTS {
            return Err(bad);
        }
        Ok(Self(cents))
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Transfer included in a plan, in GB (10^9 bytes, as the bandwidth pages count): 0 to
/// 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferGb(i64);

impl TransferGb {
    pub const MAX: i64 = 1_000_000;

    pub fn new(gb: i64) -> Result<Self, &'static str> {
        if (0..=Self::MAX).contains(&gb) {
            Ok(Self(gb))
        } else {
            Err("The included transfer is a whole number of GB, from 0 to 1000000.")
        }
    }

    pub fn gb(self) -> i64 {
        self.0
    }
}

/// Bytes in a GB.
pub const GB: i64 = 1_000_000_000;

/// The month's transfer against the allowance: what the bandwidth cards say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Transfer included in the customer's plans this month, in bytes (the sum over their
    /// sites, each by its size's plan); `None` when none of their sites' sizes has a plan.
    pub included: Option<i64>,
    /// Bytes the projection goes past the allowance by (0: within it).
    pub projected_overage: i64,
}

impl Allowance {
    /// `projected`: the month's transfer projected to its end (see
    /// `bandwidth::model::Period::projection`, a straight line through the month so far).
    pub fn new(included_gb: Option<i64>, projected: i64) -> Self {
        let included = included_gb.map(|gb| gb.saturating_mul(GB));
        Self {
            included,
            projected_overage: included.map_or(0, |included| projected.saturating_sub(included).max(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_typed_with_up_to_two_decimals() {
        for (raw, cents) in [("12.00", 1200), ("12", 1200), ("12.5", 1250), (" 0.99 ", 99), ("0", 0)] {
            assert_eq!(raw.parse::<Price>(), Ok(Price::from_cents(cents)), "{raw}");
        }
        assert_eq!("1000000".parse::<Price>().map(Price::cents), Ok(Price::MAX_CENTS));
        for bad in [
            "",
            "-1",
            "12.345",
            "12.",
            ".5",
            "1,00",
            "abc",
            "1000000.01",
            "1e3",
            "12.0x",
        ] {
            assert!(bad.parse::<Price>().is_err(), "{bad}");
        }
        assert_eq!(Price::from_cents(1205).with("EUR"), "12.05 EUR");
    }

    #[test]
    fn overage_is_what_the_projection_passes_the_allowance_by() {
        assert_eq!(Allowance::new(Some(1000), 1500 * GB).projected_overage, 500 * GB);
        assert_eq!(Allowance::new(Some(1000), 10 * GB).projected_overage, 0);
        assert_eq!(
            Allowance::new(None, 10 * GB),
            Allowance {
                included: None,
                projected_overage: 0
            }
        );
        assert!(TransferGb::new(-1).is_err() && TransferGb::new(TransferGb::MAX + 1).is_err());
    }
}
