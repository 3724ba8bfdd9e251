//! The dashboard as the customer's status page: their sites, the urgent notices as banners
//! acknowledged in place (and only their own), the month's transfer against the plans'
//! allowance, the first-site start; the plan catalogue behind the prices.

use std::process::Command;

use berth::identity::CustomerId;
use berth::notices::model::{Draft, publish, types};
use reqwest::StatusCode;

use crate::helpers::*;
use crate::sites::active_site;

pub(crate) async fn notice(app: &TestApp, to: Option<CustomerId>, severity: &str, title: &str) -> i64 {
    let draft = Draft::parse(&types(&app.pool).await.unwrap(), "outage", severity, title, "").unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let id = publish(&mut tx, to, &draft).await.unwrap();
    tx.commit().await.unwrap();
    id.0
}

async fn acks(app: &TestApp) -> Vec<(i64, i64)> {
    sqlx::query_as("select customer_id, notice_id from notice_acknowledgements order by 1, 2")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Sets a plan as `berth plan set` does; answers whether it succeeded and what it printed.
fn berth_plan(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("plan")
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_new_customer_is_shown_the_first_step() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#first-site h2"), "Create your first site");
    assert_eq!(page.text_attr("#create-first-site", "href"), "/wizard");
    assert!(page.texts("#dashboard-sites").is_empty());
    assert!(page.texts("#banners").is_empty(), "no notices, no banners");
}

#[tokio::test]
async fn the_dashboard_lists_the_customers_sites_with_their_state_and_links() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let bob = app.create_customer("bob").await;
    let shop = active_site(&app, alice, "shop.example.com").await;
    let blog = active_site(&app, alice, "blog.example.com").await;
    active_site(&app, bob, "bob.example.com").await;
    sqlx::query("update containers set desired_state = 'stopped' where site_id = $1")
        .bind(blog)
        .execute(&app.pool)
        .await
        .unwrap();
    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.texts("#first-site").is_empty());
    assert_eq!(
        page.texts("#dashboard-sites tbody td:first-child a"),
        ["blog.example.com", "shop.example.com"],
        "alice's sites by name, not bob's"
    );
    assert_eq!(
        page.text_attr(&format!(r#"tr[data-site="{}"] td a"#, shop.0), "href"),
        format!("/sites/{}", shop.0)
    );
    let state = |site: i64| page.text_attr(&format!(r#"tr[data-site="{site}"] td.status"#), "data-state");
    assert_eq!(state(shop.0), "running");
    assert_eq!(state(blog.0), "stopped");
    // A running site links its hostname; every site links its page (live state, preview).
    assert_eq!(
        page.text_attr(&format!(r#"tr[data-site="{}"] td:nth-child(2) a"#, shop.0), "href"),
        "http://shop.example.com/"
    );
    assert!(!page.body.contains("bob.example.com"));
    assert_eq!(page.text("#dashboard-sites h2"), "Your sites (2)");
}

#[tokio::test]
async fn a_critical_notice_is_a_banner_acknowledged_in_place() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let outage = notice(&app, None, "critical", "Outage in Frankfurt").await;
    let own = notice(&app, Some(alice), "warning", "Your disk is nearly full").await;
    notice(&app, None, "info", "Maintenance on Sunday").await;
    let page = client.get("/").await;
    assert_eq!(
        page.texts("#banners .banner a"),
        ["Your disk is nearly full", "Outage in Frankfurt"],
        "warning and critical ones, newest first; info is not a banner"
    );
    assert!(
        page.body
            .contains(&format!(r#"id="banner-{outage}" data-notice="{outage}""#))
    );
    assert!(page.texts(&format!("#banner-{outage}"))[0].starts_with("Critical:"));
    assert_eq!(page.text("#nav-notices-count"), "3");

    // With htmx: the banner goes (an empty answer replaces it), the count and a toast come
    // out of band.
    let r = client.post_htmx(&format!("/dashboard/notices/{outage}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(r#"id="nav-notices-count""#) && r.body.contains("hx-swap-oob"));
    assert!(
        !r.body.contains("banner-"),
        "nothing left in the banner's place: {}",
        r.body
    );
    assert_eq!(r.text("#nav-notices-count"), "2");
    assert!(r.body.contains("Notice acknowledged."));
    assert_eq!(acks(&app).await, [(alice.0, outage)]);

    // Without JavaScript: a form post, back to the dashboard with a message.
    let r = client.post_form(&format!("/dashboard/notices/{own}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/");
    let page = client.get("/").await;
    assert!(page.texts("#banners").is_empty());
    assert!(page.body.contains("Notice acknowledged."));
    assert_eq!(page.text("#nav-notices-count"), "1");
    // Again changes nothing.
    let r = client.post_form(&format!("/dashboard/notices/{own}/ack"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(acks(&app).await, [(alice.0, outage), (alice.0, own)]);
}

#[tokio::test]
async fn another_customers_notice_is_not_found_on_the_dashboard_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob_client, _) = app.signed_in_client("bob").await;
    let theirs = notice(&app, Some(alice), "critical", "Alice only").await;
    bob_client.get("/").await;
    for path in [
        format!("/dashboard/notices/{theirs}/ack"),
        "/dashboard/notices/99999/ack".into(),
        "/dashboard/notices/x/ack".into(),
    ] {
        assert_eq!(
            bob_client.post_form(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            bob_client.post_htmx(&path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(acks(&app).await.is_empty());
    assert!(!bob_client.get("/").await.body.contains("Alice only"));
    let page = alice_client.get("/").await;
    assert_eq!(page.texts("#banners .banner a"), ["Alice only"]);
    assert_eq!(page.text("#nav-notices-count"), "1");
}

#[tokio::test]
async fn the_bandwidth_cards_show_the_allowance_the_overage_and_where_billing_is() {
    let mut web = berth::state::WebConfig::new(None);
    web.currency = "USD".to_owned();
    web.billing_url = Some("https://billing.example.com/invoices".to_owned());
    let app = TestApp::spawn_with(web).await;
    let (client, alice) = app.signed_in_client("alice").await;
    // No site, no plan: no allowance.
    let page = client.get("/").await;
    assert!(
        page.text("#bandwidth-allowance")
            .contains("No plan with included transfer")
    );
    assert_eq!(
        page.text_attr("#billing-link", "href"),
        "https://billing.example.com/invoices"
    );

    let url = app.database_url().await;
    let (ok, out) = berth_plan(&url, &["set", "small", "--price", "12.00", "--transfer-gb", "1"]);
    assert!(ok, "{out}");
    assert!(out.contains("plan small: 12.00 a month, 1 GB"), "{out}");
    let shop = active_site(&app, alice, "shop.example.com").await;
    active_site(&app, alice, "blog.example.com").await;
    // Two small sites: 2 GB included. 3 GB this hour projects far past it.
    sqlx::query(
        "insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out)
         values ($1, $2, date_trunc('hour', now()), 1000000000, 2000000000)",
    )
    .bind(alice)
    .bind(shop)
    .execute(&app.pool)
    .await
    .unwrap();
    for path in ["/", "/bandwidth"] {
        let page = client.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.text("#allowance-included"), "2.00 GB", "{path}");
        assert!(page.text("#allowance-overage").contains("past it"), "{path}");
        assert_eq!(
            page.text_attr("#billing-link", "href"),
            "https://billing.example.com/invoices"
        );
    }
    assert_eq!(client.get("/").await.text("#dashboard-bandwidth"), "3.00 GB");

    // Plenty included: within it.
    let (ok, out) = berth_plan(&url, &["set", "small", "--price", "12", "--transfer-gb", "1000000"]);
    assert!(ok, "{out}");
    let page = client.get("/").await;
    assert_eq!(page.text("#allowance-included"), "2.00 PB");
    assert!(page.texts("#allowance-overage").is_empty());
    assert!(page.text("#allowance-within").contains("within"));
}

#[tokio::test]
async fn berth_plan_set_checks_its_arguments_and_the_wizard_shows_the_prices() {
    let mut web = berth::state::WebConfig::new(None);
    web.currency = "CHF".to_owned();
    let app = TestApp::spawn_with(web).await;
    let url = app.database_url().await;
    for (args, expected) in [
        (
            vec!["set", "huge", "--price", "1", "--transfer-gb", "1"],
            "no size 'huge'",
        ),
        (
            vec!["set", "small", "--price", "12.345", "--transfer-gb", "1"],
            "--price",
        ),
        (vec!["set", "small", "--price", "-1", "--transfer-gb", "1"], "price"),
        (vec!["set", "small", "--price", "1", "--transfer-gb", "-5"], "transfer"),
    ] {
        let (ok, out) = berth_plan(&url, &args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(out.contains(expected), "{args:?}: {out}");
    }
    let plans: i64 = app.scalar("select count(*) from plans").await;
    assert_eq!(plans, 0, "nothing was set");
    assert!(berth_plan(&url, &["set", "small", "--price", "12.00", "--transfer-gb", "1000"]).0);
    assert!(berth_plan(&url, &["set", "medium", "--price", "24.5", "--transfer-gb", "2000"]).0);
    let (ok, out) = berth_plan(&url, &["list"]);
    assert!(ok);
    assert!(out.contains("small\t12.00 a month\t1000 GB included"), "{out}");
    assert!(out.contains("large\tno plan"), "{out}");

    let (client, _) = app.signed_in_client("alice").await;
    client.get("/wizard/site").await;
    let r = client
        .post_form(
            "/wizard/site",
            &[("site_name", "My shop"), ("site_hostname", "shop.example.com")],
        )
        .await;
    assert_eq!(r.location(), "/wizard/container");
    let page = client.get("/wizard/container").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let options = page.texts("#wiz-container_size option");
    assert!(
        options
            .iter()
            .any(|o| o.starts_with("Small:") && o.ends_with("— 12.00 CHF a month, 1000 GB transfer included")),
        "{options:?}"
    );
    assert!(options.iter().any(|o| o.contains("24.50 CHF a month")), "{options:?}");
    assert!(
        options
            .iter()
            .any(|o| o.starts_with("Large:") && !o.contains("a month")),
        "a size without a plan shows no price: {options:?}"
    );
}
