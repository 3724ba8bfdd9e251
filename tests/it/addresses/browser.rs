//! Browser test of IP addresses and bandwidth in headless Chromium (the plumbing is in
//! [`crate::browser`]): an IPv4 and an IPv6 address taken from the pool through htmx, a
//! reverse DNS name saved (an internationalised one on IPv6) and an invalid one refused
//! inline, the IPv4 address given back through its confirmation; the database agrees. Then,
//! with samples stored in SQL, the bandwidth chart really renders (one visible bar per day,
//! scaled), with the same totals on /bandwidth, in its per-site table and on the dashboard.

use std::time::Instant;

use serde_json::{Value as Json, json};

use crate::browser::{MARKER, Tools, assert_not_reloaded, attr, count, text, toast};
use crate::helpers::{PASSWORD, TestApp};

const ADD: &str = r#"form[action="/addresses"] button[type="submit"]"#;
const V4: &str = "192.0.2.10";
const V6: &str = "2001:db8:b::10";
const ROW_V4: &str = r#"tr.address[data-address="192.0.2.10"]"#;
const ROW_V6: &str = r#"tr.address[data-address="2001:db8:b::10"]"#;
/// The reverse DNS field of 192.0.2.10 (its id is `rdns-` and the address with dashes).
const RDNS_V4: &str = "#rdns-192-0-2-10-reverse_dns";
const RDNS_V4_ERROR: &str = "rdns-192-0-2-10-reverse_dns-error";
const RDNS_V6: &str = "#rdns-2001-db8-b--10-reverse_dns";
const REVERSE_NAME: &str = "mail.example.com";

/// The addresses the customer holds in the database, with their reverse DNS names.
async fn held(app: &TestApp, customer: berth::identity::CustomerId) -> Vec<(String, Option<String>)> {
    sqlx::query_as("select host(address), reverse_dns from ip_pool where customer_id = $1 order by address")
        .bind(customer)
        .fetch_all(&app.pool)
        .await
        .expect("the customer's addresses")
}

/// A number from a script's result.
fn number(value: &Json, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

#[tokio::test]
async fn addresses_and_bandwidth_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let customer = app.create_customer("addr-user").await;
    let browser = tools.start(&app.base).await;

    browser.sign_in("addr-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "addr-user").await;

    // No addresses yet; IPv4 is the kind chosen by default.
    browser.goto("/addresses").await;
    browser.wait_for_path("/addresses").await;
    browser.wait_for_js("typeof htmx", json!("object")).await;
    assert_eq!(text(&browser, "#main h1").await, "IP addresses");
    browser
        .wait_for_text("#addresses tbody", "You hold no addresses yet.")
        .await;
    assert_eq!(count(&browser, "tr.address").await, 0);
    browser
        .wait_for_js(
            r#"document.querySelector('input[name="family"][value="ipv4"]').checked"#,
            json!(true),
        )
        .await;

    // Take an IPv4 address through htmx: the lowest free one, listed in place, with a toast.
    browser.js(MARKER).await;
    browser.click(r#"input[name="family"][value="ipv4"]"#).await;
    browser.click(ADD).await;
    browser.wait_for(ROW_V4).await;
    toast(&browser, &format!("{V4} is yours.")).await;
    assert_not_reloaded(&browser, "IPv4 address added").await;
    assert_eq!(count(&browser, "tr.address").await, 1);
    assert_eq!(text(&browser, &format!("{ROW_V4} td:nth-child(2)")).await, "IPv4");
    assert_eq!(text(&browser, &format!("{ROW_V4} td.holder")).await, "nothing");
    assert_eq!(browser.value(RDNS_V4).await, "", "no reverse DNS name yet");
    assert_eq!(held(&app, customer).await, vec![(V4.to_owned(), None)]);

    // Set its reverse DNS name: saved, shown in the field after the swap.
    let save_v4 = format!(r#"{ROW_V4} form.reverse button[type="submit"]"#);
    browser.fill(RDNS_V4, REVERSE_NAME).await;
    browser.click(&save_v4).await;
    toast(
        &browser,
        &format!("The reverse DNS name of {V4} is now {REVERSE_NAME}."),
    )
    .await;
    assert_not_reloaded(&browser, "reverse DNS saved").await;
    assert_eq!(browser.value(RDNS_V4).await, REVERSE_NAME);
    assert_eq!(attr(&browser, RDNS_V4, "aria-invalid").await, None);
    assert_eq!(
        held(&app, customer).await,
        vec![(V4.to_owned(), Some(REVERSE_NAME.to_owned()))]
    );

    // An invalid name is refused inline on the field, with what was typed kept.
    browser.fill(RDNS_V4, "bad name!").await;
    browser.click(&save_v4).await;
    browser.wait_for_attr(RDNS_V4, "aria-invalid", "true").await;
    let error = text(&browser, &format!("#{RDNS_V4_ERROR}")).await;
    assert!(!error.is_empty(), "the field says what is wrong");
    let described = attr(&browser, RDNS_V4, "aria-describedby").await.unwrap_or_default();
    assert!(
        described.split_whitespace().any(|id| id == RDNS_V4_ERROR),
        "aria-describedby of the reverse DNS field: {described:?}"
    );
    assert_eq!(browser.value(RDNS_V4).await, "bad name!", "the typed name is kept");
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!(&RDNS_V4[1..]),
        )
        .await;
    assert_eq!(count(&browser, "#toasts .toast").await, 0, "a refusal adds no toast");
    assert_not_reloaded(&browser, "reverse DNS refused").await;
    assert_eq!(
        held(&app, customer).await,
        vec![(V4.to_owned(), Some(REVERSE_NAME.to_owned()))],
        "the stored name is unchanged"
    );

    // Take an IPv6 address: both are listed, IPv4 first; the refused form is reset.
    browser.click(r#"input[name="family"][value="ipv6"]"#).await;
    browser.click(ADD).await;
    browser.wait_for(ROW_V6).await;
    toast(&browser, &format!("{V6} is yours.")).await;
    assert_not_reloaded(&browser, "IPv6 address added").await;
    assert_eq!(text(&browser, &format!("{ROW_V6} td:nth-child(2)")).await, "IPv6");
    assert_eq!(
        browser
            .js("return [...document.querySelectorAll('tr.address')].map(r => r.dataset.address);")
            .await,
        json!([V4, V6])
    );
    assert_eq!(browser.value(RDNS_V4).await, REVERSE_NAME, "the stored name again");
    assert_eq!(attr(&browser, RDNS_V4, "aria-invalid").await, None);
    assert_eq!(count(&browser, "#main .field-error").await, 0);
    assert_eq!(browser.value(RDNS_V6).await, "");

    // The IPv6 address (colons in its form's URL) takes an internationalised name: stored
    // in ASCII, shown in Unicode.
    browser.fill(RDNS_V6, "bücher.example").await;
    browser
        .click(&format!(r#"{ROW_V6} form.reverse button[type="submit"]"#))
        .await;
    toast(
        &browser,
        &format!("The reverse DNS name of {V6} is now xn--bcher-kva.example."),
    )
    .await;
    assert_not_reloaded(&browser, "IPv6 reverse DNS saved").await;
    assert_eq!(browser.value(RDNS_V6).await, "bücher.example");
    assert_eq!(
        held(&app, customer).await,
        vec![
            (V4.to_owned(), Some(REVERSE_NAME.to_owned())),
            (V6.to_owned(), Some("xn--bcher-kva.example".to_owned()))
        ]
    );

    // Give the IPv4 address back through its confirmation: its row goes, the IPv6 one stays.
    browser.click(&format!("{ROW_V4} details.free summary")).await;
    let confirm = format!(r#"{ROW_V4} details.free button[type="submit"]"#);
    assert_eq!(text(&browser, &confirm).await, format!("Yes, give {V4} back"));
    browser.click(&confirm).await;
    browser.wait_until_gone(ROW_V4).await;
    toast(&browser, &format!("{V4} went back to the pool.")).await;
    assert_not_reloaded(&browser, "IPv4 address freed").await;
    assert_eq!(count(&browser, "tr.address").await, 1);
    browser.wait_for(ROW_V6).await;

    // The database agrees: only the IPv6 address is held; the IPv4 one is free and clean.
    assert_eq!(
        held(&app, customer).await,
        vec![(V6.to_owned(), Some("xn--bcher-kva.example".to_owned()))]
    );
    let (owner, reverse, allocated): (Option<i64>, Option<String>, bool) = sqlx::query_as(
        "select customer_id, reverse_dns, allocated_at is not null from ip_pool where address = $1::inet",
    )
    .bind(V4)
    .fetch_one(&app.pool)
    .await
    .expect("192.0.2.10 is in the pool");
    assert_eq!(
        (owner, reverse, allocated),
        (None, None, false),
        "192.0.2.10 is free again"
    );
    let kinds: Vec<String> = sqlx::query_scalar("select kind from activity where customer_id = $1 order by id")
        .bind(customer)
        .fetch_all(&app.pool)
        .await
        .expect("activity");
    for kind in ["address_added", "reverse_dns_changed", "address_freed"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} is in the activity log: {kinds:?}"
        );
    }

    // Bandwidth: a site with 1 GB on day 1 and 0.5 GB on day 2 of this month (UTC), and
    // another customer's site whose traffic must not count.
    let other = app.create_customer("addr-other").await;
    let mut sites = Vec::new();
    for (owner, name) in [(customer, "Shop"), (other, "Not mine")] {
        let id: i64 = sqlx::query_scalar(
            "insert into sites (customer_id, name, hostname, create_dns, draft_token)
             values ($1, $2, $3, false, gen_random_uuid()) returning id",
        )
        .bind(owner)
        .bind(name)
        .bind(format!("{}.example.com", name.to_lowercase().replace(' ', "-")))
        .fetch_one(&app.pool)
        .await
        .expect("a site");
        sites.push(id);
    }
    let (site, other_site) = (sites[0], sites[1]);
    let samples: [(i64, i64, i32, i64, i64); 4] = [
        (site, customer.0, 0, 200_000_000, 600_000_000),
        (site, customer.0, 5, 50_000_000, 150_000_000),
        (site, customer.0, 24 + 3, 100_000_000, 400_000_000),
        (other_site, other.0, 0, 7_000_000_000, 7_000_000_000),
    ];
    for (site, owner, hour, bytes_in, bytes_out) in samples {
        sqlx::query(
            "insert into bandwidth_samples (site_id, customer_id, hour, bytes_in, bytes_out)
             values ($1, $2, date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'
                             + make_interval(hours => $3), $4, $5)",
        )
        .bind(site)
        .bind(owner)
        .bind(hour)
        .bind(bytes_in)
        .bind(bytes_out)
        .execute(&app.pool)
        .await
        .expect("a bandwidth sample");
    }
    let days: i32 = app
        .scalar(
            "select extract(day from date_trunc('month', now() at time zone 'UTC') + interval '1 month'
                                     - interval '1 day')::int",
        )
        .await;

    // The chart renders in the browser: one bar per day, drawn, scaled to the busiest day.
    browser.goto("/bandwidth").await;
    browser.wait_for_path("/bandwidth").await;
    assert_eq!(text(&browser, "#main h1").await, "Bandwidth");
    browser.wait_for("svg#bandwidth-chart").await;
    assert_eq!(
        attr(&browser, "svg#bandwidth-chart", "role").await.as_deref(),
        Some("img")
    );
    let title = browser
        .js("return document.querySelector('svg#bandwidth-chart > title').textContent;")
        .await;
    assert!(
        title.as_str().is_some_and(|t| t.starts_with("Bandwidth per day, ")),
        "the chart's title: {title}"
    );
    assert_eq!(
        count(&browser, "svg#bandwidth-chart rect.bar").await,
        days as usize,
        "one bar per day of the month"
    );
    let heights = browser
        .js("return [...document.querySelectorAll('svg#bandwidth-chart rect.bar')].map(r => Number(r.getAttribute('height')));")
        .await;
    let heights: Vec<f64> = heights
        .as_array()
        .expect("bar heights")
        .iter()
        .map(|h| number(h, "a bar's height"))
        .collect();
    assert!(heights.iter().any(|h| *h > 0.0), "some bar has a height: {heights:?}");
    assert!(
        heights[0] > 0.0 && heights[1] > 0.0 && heights[2..].iter().all(|h| *h == 0.0),
        "bars on days 1 and 2 only: {heights:?}"
    );
    // Laid out for real: the chart and day 1's bar take room on the screen, and day 2's bar
    // (0.5 GB) is drawn half as tall as day 1's (1 GB).
    let boxes = browser
        .js(
            "const r = (e) => { const b = e.getBoundingClientRect(); return [b.width, b.height]; };
             const bars = document.querySelectorAll('svg#bandwidth-chart rect.bar');
             return [r(document.querySelector('svg#bandwidth-chart')), r(bars[0]), r(bars[1])];",
        )
        .await;
    let boxes: Vec<(f64, f64)> = boxes
        .as_array()
        .expect("bounding boxes")
        .iter()
        .map(|b| (number(&b[0], "a width"), number(&b[1], "a height")))
        .collect();
    let [chart, day1, day2] = boxes[..] else {
        panic!("three boxes: {boxes:?}")
    };
    assert!(
        chart.0 > 100.0 && chart.1 > 50.0,
        "the chart is on the screen: {chart:?}"
    );
    assert!(day1.0 > 0.0 && day1.1 > 0.0, "day 1's bar is drawn: {day1:?}");
    assert!(
        (day1.1 / day2.1 - 2.0).abs() < 0.05,
        "day 2's bar is half as tall as day 1's: {day1:?} {day2:?}"
    );
    assert!(
        (day1.0 - day2.0).abs() < 0.5 && day1.0 * days as f64 <= chart.0,
        "the bars share the chart's width: {chart:?} {day1:?} {day2:?}"
    );
    let tip = browser
        .js("return document.querySelector('svg#bandwidth-chart rect.bar title').textContent;")
        .await;
    assert!(
        tip.as_str().is_some_and(|t| t.ends_with(" 1: 1.00 GB")),
        "day 1's bar says what it is: {tip}"
    );

    // The same figures in words: totals, the per-day table and the per-site table.
    assert_eq!(text(&browser, "#bandwidth-total").await, "1.50 GB");
    let projection = text(&browser, "#bandwidth-projection").await;
    assert!(
        projection.ends_with(" GB") || projection.ends_with(" TB"),
        "the projection is at least the total: {projection:?}"
    );
    assert_eq!(count(&browser, "#bandwidth-days tbody tr").await, days as usize);
    browser.click("figcaption details summary").await;
    assert_eq!(
        text(&browser, "#bandwidth-days tbody tr:nth-child(1) td:nth-child(2)").await,
        "1.00 GB"
    );
    assert_eq!(
        text(&browser, "#bandwidth-days tbody tr:nth-child(2) td:nth-child(2)").await,
        "500.00 MB"
    );
    assert_eq!(
        text(&browser, "#bandwidth-days tbody tr:nth-child(3) td:nth-child(2)").await,
        "0 B"
    );
    let row = format!(r#"#bandwidth-sites tr[data-site="{site}"]"#);
    assert_eq!(text(&browser, &format!("{row} td:nth-child(1)")).await, "Shop");
    assert_eq!(text(&browser, &format!("{row} td:nth-child(2)")).await, "350.00 MB");
    assert_eq!(text(&browser, &format!("{row} td:nth-child(3)")).await, "1.15 GB");
    assert_eq!(text(&browser, &format!("{row} td.total")).await, "1.50 GB");
    assert_eq!(
        count(&browser, "#bandwidth-sites tbody tr").await,
        1,
        "only the customer's site"
    );
    assert_eq!(count(&browser, &format!(r#"tr[data-site="{other_site}"]"#)).await, 0);

    // The dashboard's card agrees.
    browser.goto("/").await;
    browser.wait_for_path("/").await;
    assert_eq!(text(&browser, "#bandwidth-card #dashboard-bandwidth").await, "1.50 GB");

    browser.close().await;
    eprintln!("browser addresses test took {:.1?}", started.elapsed());
}
