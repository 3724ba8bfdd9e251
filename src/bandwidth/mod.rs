//! Bandwidth (`/bandwidth`, and a card on the dashboard): currentBillableBandwidth, what the
//! customer transferred in the current billing period (the calendar month, UTC), with a
//! projection to its end, a per-day chart drawn on the server as SVG, and each site's share.

pub mod api;
pub mod import;
pub mod meter;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum_htmx::HxRequest;

use crate::state::AppState;
use crate::web::{AppError, Layout, SignedIn, render};
use crate::{page, plans};
use model::{Period, Usage};

pub fn router() -> Router<AppState> {
    Router::new().route("/bandwidth", get(index))
}

/// Bytes in decimal units, as bandwidth is billed: `1.50 GB`.
pub fn human(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.2} {unit}")
}

/// One day's bar of the chart, in SVG user units.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub day: u8,
    pub label: String,
}

pub const CHART_WIDTH: u32 = 720;
pub const CHART_HEIGHT: u32 = 200;
/// Room under the bars for the day numbers.
pub const AXIS: u32 = 20;

/// The bars of the per-day chart, scaled to the busiest day.
pub fn bars(usage: &Usage) -> Vec<Bar> {
    let max = usage.days.iter().map(|(_, b)| *b).max().unwrap_or(0).max(1);
    let slot = CHART_WIDTH / usage.days.len().max(1) as u32;
    let plot = CHART_HEIGHT - AXIS;
    usage
        .days
        .iter()
        .enumerate()
        .map(|(i, (day, bytes))| {
            let height = ((*bytes as f64 / max as f64) * plot as f64).round() as u32;
            Bar {
                x: i as u32 * slot + 1,
                y: plot - height,
                width: slot.saturating_sub(2).max(1),
                height,
                day: day.day(),
                label: human(*bytes),
            }
        })
        .collect()
}

pub struct SiteRow {
    pub site_id: i64,
    pub name: String,
    pub bytes_in: String,
    pub bytes_out: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "bandwidth/index.html", blocks = ["content"])]
struct BandwidthPage {
    layout: Layout,
    allowance: AllowanceView,
    month: String,
    total: String,
    bytes_in: String,
    bytes_out: String,
    projection: String,
    bars: Vec<Bar>,
    sites: Vec<SiteRow>,
    chart_width: u32,
    chart_height: u32,
    axis_y: u32,
}
page!(BandwidthPage);

/// How the period is named: "November 2026".
/// The allowance part of a bandwidth card (dashboard and `/bandwidth`, the template
/// `bandwidth/_allowance.html`): the transfer the customer's plans include, how far the
/// projection goes past it, and where billing is handled.
pub struct AllowanceView {
    /// `None`: no plan applies to the customer's sites.
    pub included: Option<String>,
    /// The projected overage, when the projection passes the allowance.
    pub overage: Option<String>,
    /// BERTH_BILLING_URL.
    pub billing_url: Option<String>,
}

impl AllowanceView {
    /// `projected`: [`Period::projection`] of the month's total (a straight line through
    /// the month so far); `included_gb`: `plans::model::included_gb`.
    pub fn new(included_gb: Option<i64>, projected: i64, billing_url: Option<&str>) -> Self {
        let allowance = plans::Allowance::new(included_gb, projected);
        Self {
            included: allowance.included.map(human),
            overage: (allowance.projected_overage > 0).then(|| human(allowance.projected_overage)),
            billing_url: billing_url.map(str::to_owned),
        }
    }
}

pub fn month_name(period: &Period) -> String {
    format!("{} {}", period.start.month(), period.start.year())
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    let ops::Billable { usage, projection, .. } = ops::billable(&state.pool, me.id()).await?;
    let included_gb = plans::model::included_gb(&state.pool, me.id()).await?;
    let page = BandwidthPage {
        allowance: AllowanceView::new(included_gb, projection, state.web.billing_url.as_deref()),
        layout: Layout::new(&me, "bandwidth", "Bandwidth").await?,
        month: month_name(&usage.period),
        total: human(usage.total()),
        bytes_in: human(usage.bytes_in),
        bytes_out: human(usage.bytes_out),
        projection: human(projection),
        bars: bars(&usage),
        sites: usage
            .sites
            .iter()
            .map(|s| SiteRow {
                site_id: s.site_id,
                name: s.name.clone(),
                bytes_in: human(s.bytes_in),
                bytes_out: human(s.bytes_out),
                total: human(s.total()),
            })
            .collect(),
        chart_width: CHART_WIDTH,
        chart_height: CHART_HEIGHT,
        axis_y: CHART_HEIGHT - 5,
    };
    render(htmx, StatusCode::OK, &page, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_are_decimal() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1000), "1.00 kB");
        assert_eq!(human(1_500_000_000), "1.50 GB");
        assert_eq!(human(2_000_000_000_000), "2.00 TB");
        assert_eq!(human(i64::MAX), "9.22 EB");
    }
}
