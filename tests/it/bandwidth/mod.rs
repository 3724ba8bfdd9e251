//! Bandwidth: importing samples (a bad file imports nothing), the billing period's edges,
//! the page and the dashboard card, and another customer's traffic staying theirs.

pub mod faults;
pub mod meter;

use std::process::Command;

use berth::bandwidth::model::usage;
use berth::identity::CustomerId;
use berth::sites::model::SiteId;
use reqwest::StatusCode;
use time::macros::datetime;

use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

pub(crate) async fn import(app: &TestApp, csv: impl AsRef<[u8]>) -> (bool, String) {
    let file = std::env::temp_dir().join(format!("berth-bandwidth-{}.csv", rand_suffix()));
    std::fs::write(&file, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["bandwidth", "import"])
        .arg(&file)
        .env("DATABASE_URL", app.database_url().await)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{nanos}", std::process::id())
}

pub(crate) async fn samples(app: &TestApp) -> i64 {
    app.scalar("select count(*) from bandwidth_samples").await
}

async fn insert(
    app: &TestApp,
    customer: CustomerId,
    site: SiteId,
    hour: time::OffsetDateTime,
    bytes_in: i64,
    bytes_out: i64,
) {
    sqlx::query(
        "insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out) values ($1, $2, $3, $4, $5)",
    )
    .bind(customer)
    .bind(site)
    .bind(hour)
    .bind(bytes_in)
    .bind(bytes_out)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn import_stores_a_good_file_and_nothing_of_a_bad_one() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "shop.example.com", &["www.shop.example.com"], false).await;
    let good = format!(
        "site,hour,bytes_in,bytes_out\n\
         shop.example.com,2026-11-01T00:00:00Z,100,200\n\
         www.shop.example.com,2026-11-01T01:00:00Z,1,2\n\
         {site},2026-11-01T02:00:00+00:00,10,20\n"
    );
    let (ok, out) = import(&app, &good).await;
    assert!(ok, "{out}");
    assert!(out.contains("imported 3 samples"), "{out}");
    let owner: Vec<(i64, i64)> = sqlx::query_as("select distinct customer_id, site_id from bandwidth_samples")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(owner, [(alice.0, site.0)]);

    // Importing the same hour again replaces it.
    let (ok, out) = import(&app, "shop.example.com,2026-11-01T00:00:00Z,5,5\n").await;
    assert!(ok, "{out}");
    let replaced: i64 = app
        .scalar("select bytes_in from bandwidth_samples where hour = '2026-11-01T00:00:00Z'")
        .await;
    assert_eq!(replaced, 5);
    assert_eq!(samples(&app).await, 3);

    // One bad line among good ones: nothing is imported, every bad line is named.
    let bad = "shop.example.com,2026-11-02T00:00:00Z,1,1\n\
               shop.example.com,2026-11-02T00:15:00Z,1,1\n\
               nowhere.example.com,2026-11-02T01:00:00Z,1,1\n\
               shop.example.com,2026-11-02T02:00:00Z,-5,1\n\
               99999,2026-11-02T03:00:00Z,1,1\n";
    let (ok, out) = import(&app, bad).await;
    assert!(!ok, "{out}");
    assert!(out.contains("line 2: hour"), "{out}");
    assert!(out.contains("line 4: bytes_in"), "{out}");
    assert!(out.contains("nothing imported"), "{out}");
    assert_eq!(samples(&app).await, 3);
    // Unknown sites and same-site hours written two ways: still nothing is imported.
    let unknown = "shop.example.com,2026-11-02T00:00:00Z,1,1\n\
                   nowhere.example.com,2026-11-02T01:00:00Z,1,1\n\
                   99999,2026-11-02T03:00:00Z,1,1\n\
                   www.shop.example.com,2026-11-02T00:00:00Z,1,1\n";
    let (ok, out) = import(&app, unknown).await;
    assert!(!ok, "{out}");
    assert!(out.contains("line 2: no site"), "{out}");
    assert!(out.contains("line 3: no site"), "{out}");
    assert!(out.contains("line 4: the same site and hour as line 1"), "{out}");
    assert_eq!(samples(&app).await, 3);
}

#[tokio::test]
async fn the_billing_period_is_the_calendar_month_in_utc() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "shop.example.com", &[], false).await;
    insert(&app, alice, site, datetime!(2026-10-31 23:00 UTC), 1_000_000, 0).await;
    insert(&app, alice, site, datetime!(2026-11-01 00:00 UTC), 1, 2).await;
    insert(&app, alice, site, datetime!(2026-11-15 12:00 UTC), 10, 20).await;
    insert(&app, alice, site, datetime!(2026-11-30 23:00 UTC), 100, 200).await;
    insert(&app, alice, site, datetime!(2026-12-01 00:00 UTC), 5_000_000, 0).await;

    // In the first and the last hour of November, November's samples count, and only they.
    for now in [datetime!(2026-11-01 00:00 UTC), datetime!(2026-11-30 23:59:59 UTC)] {
        let u = usage(&app.pool, alice, now).await.unwrap();
        assert_eq!((u.bytes_in, u.bytes_out), (111, 222), "{now}");
        assert_eq!(u.days.len(), 30);
        assert_eq!(u.days[0].1, 3);
        assert_eq!(u.days[14].1, 30);
        assert_eq!(u.days[29].1, 300);
        assert_eq!(u.sites.len(), 1);
    }
    // At the turn of the month, the new period starts from nothing but its first hour.
    let december = usage(&app.pool, alice, datetime!(2026-12-01 00:00 UTC)).await.unwrap();
    assert_eq!(december.total(), 5_000_000);
    assert_eq!(december.days.len(), 31);
    let october = usage(&app.pool, alice, datetime!(2026-10-31 23:59 UTC)).await.unwrap();
    assert_eq!(october.total(), 1_000_000);
}

#[tokio::test]
async fn the_page_and_the_dashboard_show_the_customers_own_traffic() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let shop = insert_site_with_job(&app, alice, "shop.example.com", &[], false).await;
    let blog = insert_site_with_job(&app, alice, "blog.example.com", &[], false).await;
    let now = time::OffsetDateTime::now_utc();
    let this_hour = now
        .replace_minute(0)
        .unwrap()
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap();
    insert(&app, alice, shop, this_hour, 500_000_000, 1_000_000_000).await;
    insert(&app, alice, blog, this_hour, 1_000, 0).await;

    let (bob, bob_id) = app.signed_in_client("bob").await;
    let secret = insert_site_with_job(&app, bob_id, "secret.example.com", &[], false).await;
    insert(&app, bob_id, secret, this_hour, 7_000_000_000, 0).await;

    let page = client.get("/bandwidth").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#bandwidth-total"), "1.50 GB");
    assert!(!page.text("#bandwidth-projection").is_empty());
    let days = page.texts("svg#bandwidth-chart rect.bar");
    assert_eq!(
        days.len(),
        berth::bandwidth::model::Period::containing(now).days().len()
    );
    assert_eq!(page.texts("#bandwidth-days tbody tr").len(), days.len());
    assert_eq!(
        page.texts("#bandwidth-sites tbody td:first-child"),
        ["shop.example.com", "blog.example.com"]
    );
    assert_eq!(page.texts("#bandwidth-sites tbody td.total"), ["1.50 GB", "1.00 kB"]);
    assert!(!page.body.contains("secret.example.com"));
    let dashboard = client.get("/").await;
    assert_eq!(dashboard.text("#dashboard-bandwidth"), "1.50 GB");

    let theirs = bob.get("/bandwidth").await;
    assert_eq!(theirs.text("#bandwidth-total"), "7.00 GB");
    assert!(!theirs.body.contains("shop.example.com"));
    // A page of another customer's site is not found for them.
    assert_eq!(bob.get(&format!("/sites/{shop}")).await.status, StatusCode::NOT_FOUND);
    let htmx = client.get_htmx("/bandwidth").await;
    assert!(!htmx.body.contains("<html") && htmx.body.contains("bandwidth-chart"));
}

/// The rollups hold exactly the sums of the samples.
pub(crate) async fn consistent(app: &TestApp) {
    let months = "select site_id, date_trunc('month', hour at time zone 'UTC')::date, customer_id,
                         sum(bytes_in)::bigint, sum(bytes_out)::bigint from bandwidth_samples group by 1, 2, 3";
    let month_rows = "select site_id, month, customer_id, bytes_in, bytes_out from bandwidth_site_months";
    let days = "select customer_id, (hour at time zone 'UTC')::date, sum(bytes_in)::bigint, sum(bytes_out)::bigint
                from bandwidth_samples group by 1, 2";
    let day_rows = "select customer_id, day, bytes_in, bytes_out from bandwidth_customer_days";
    for (a, b) in [
        (months, month_rows),
        (month_rows, months),
        (days, day_rows),
        (day_rows, days),
    ] {
        let differences: i64 = app.scalar(&format!("select count(*) from ({a} except {b}) as d")).await;
        assert_eq!(differences, 0, "{a}\nexcept\n{b}");
    }
}

/// The rollups the pages read hold exactly the sums of the samples, whatever changes them:
/// inserts, re-imports that replace a sample, deleting a site, deleting a customer.
#[tokio::test]
async fn the_rollups_always_equal_the_samples() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let shop = insert_site_with_job(&app, alice, "shop.example.com", &[], false).await;
    let blog = insert_site_with_job(&app, alice, "blog.example.com", &[], false).await;
    let bobs = insert_site_with_job(&app, bob, "bob.example.com", &[], false).await;
    let at = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    // The last hour of October and the first of November fall in different months and days.
    insert(&app, alice, shop, at("2026-10-31T23:00:00Z"), 5, 6).await;
    insert(&app, alice, shop, at("2026-11-01T00:00:00Z"), 100, 200).await;
    insert(&app, alice, blog, at("2026-11-01T00:00:00Z"), 1, 2).await;
    insert(&app, bob, bobs, at("2026-11-01T05:00:00Z"), 7, 7).await;
    consistent(&app).await;
    // A re-import replaces a sample through the import's upsert.
    let file = format!("site,hour,bytes_in,bytes_out\n{shop},2026-11-01T00:00:00Z,1000,2000\n");
    berth::bandwidth::model::import(&app.pool, berth::bandwidth::import::read(file.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    consistent(&app).await;
    let (bytes_in, bytes_out): (i64, i64) = sqlx::query_as(
        "select bytes_in, bytes_out from bandwidth_customer_days where customer_id = $1 and day = '2026-11-01'",
    )
    .bind(alice)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((bytes_in, bytes_out), (1001, 2002));
    // Deleting a site, then a customer, takes their traffic out of the rollups.
    sqlx::query("delete from sites where id = $1")
        .bind(blog)
        .execute(&app.pool)
        .await
        .unwrap();
    consistent(&app).await;
    sqlx::query("delete from customers where id = $1")
        .bind(bob)
        .execute(&app.pool)
        .await
        .unwrap();
    consistent(&app).await;
    let left: i64 = app.scalar("select count(*) from bandwidth_customer_days").await;
    assert_eq!(left, 2, "alice's two days");
}
