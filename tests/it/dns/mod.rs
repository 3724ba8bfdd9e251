//! DNS: records added, changed and deleted on the site page (htmx and plain forms), each
//! type's checks, the CNAME rule, names within the site's zones, claims on hostnames, and
//! another customer's records not found. `pdns.rs`: a real PowerDNS answering from them;
//! `browser.rs`: the same edits in headless Chromium.

mod browser;
mod pdns;

use berth::identity::CustomerId;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

/// Walks the wizard with `hostname` and `aliases` (DNS records on) and creates the site;
/// its id.
pub async fn wizard_site(client: &Client, hostname: &str, aliases: &[&str]) -> i64 {
    client.get("/wizard/site").await;
    let r = client
        .post_form("/wizard/site", &[("site_name", "Shop"), ("site_hostname", hostname)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let container: String = hostname.split('.').next().unwrap().chars().take(20).collect();
    let r = client
        .post_form(
            "/wizard/container",
            &[
                ("container_name", &container),
                ("container_type", "lamp"),
                ("container_os_id", "debian-12"),
                ("container_size", "small"),
                ("container_disk_space", "20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut fields = vec![("environment_names", "production"), ("create_dns", "true")];
    fields.extend(aliases.iter().map(|a| ("alias_names", *a)));
    let r = client.post_form("/wizard/environments", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let review = client.get("/wizard/review").await;
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    created
        .location()
        .trim_start_matches("/sites/")
        .parse()
        .expect("a site's page")
}

/// Runs the provisioning worker until no step is due.
pub async fn provision(app: &TestApp) {
    let mut ran = 0;
    while berth::provisioning::run_once(&app.pool, &app.state.platform, "test-worker")
        .await
        .unwrap()
    {
        ran += 1;
        assert!(ran < 100, "the worker does not stop");
    }
}

/// (name, type, value, ttl) of every record of the site, in order.
pub async fn records(app: &TestApp, site: i64) -> Vec<(String, String, Option<String>, i32)> {
    sqlx::query_as(
        "select name, type, value, ttl from dns_records where site_id = $1 order by name collate \"C\", type, id",
    )
    .bind(site)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn record_id(app: &TestApp, site: i64, name: &str, kind: &str) -> i64 {
    sqlx::query_scalar("select id from dns_records where site_id = $1 and name = $2 and type = $3")
        .bind(site)
        .bind(name)
        .bind(kind)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn row(name: &str, kind: &str, value: &str, ttl: i32) -> (String, String, Option<String>, i32) {
    (name.to_owned(), kind.to_owned(), Some(value.to_owned()), ttl)
}

/// A provisioned site of `customer`'s with A records for its hostname and aliases.
async fn provisioned_site(app: &TestApp, customer: CustomerId, hostname: &str, aliases: &[&str]) -> i64 {
    let site = insert_site_with_job(app, customer, hostname, aliases, true).await;
    provision(app).await;
    site.0
}

async fn address(app: &TestApp, site: i64) -> String {
    sqlx::query_scalar("select host(address) from containers where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn records_are_added_changed_and_deleted_in_place_and_without_javascript() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = provisioned_site(&app, alice, "shop.example.com", &["www.shop.example.com"]).await;
    let ip = address(&app, site).await;
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.texts("#dns-records tbody td:first-child"),
        ["shop.example.com", "www.shop.example.com"]
    );
    assert_eq!(
        page.text_attr("form.dns-add-form", "action"),
        format!("/sites/{site}/records")
    );

    // Without JavaScript: back to the site page, with the record.
    let r = client
        .post_form(
            &format!("/sites/{site}/records"),
            &[
                ("name", "mail"),
                ("type", "A"),
                ("value", " 192.0.2.50 "),
                ("ttl", "300"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("/sites/{site}#dns"));
    // With htmx: the section comes back with the new row and a toast.
    let r = client
        .post_htmx(
            &format!("/sites/{site}/records"),
            &[
                ("name", "@"),
                ("type", "mx"),
                ("value", "10 Mail.Shop.Example.com"),
                ("ttl", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.trim_start().starts_with("<section id=\"dns\""), "{}", r.body);
    assert!(r.body.contains("10 mail.shop.example.com."), "{}", r.body);
    assert!(r.body.contains("toast"), "{}", r.body);
    for (name, kind, value) in [
        ("@", "TXT", "v=spf1 mx -all"),
        ("@", "CAA", "0 issue letsencrypt.org"),
        ("@", "AAAA", "2001:DB8::50"),
        ("shop", "CNAME", "www.shop.example.com"),
        ("_dmarc.shop.example.com.", "TXT", "\"v=DMARC1; p=none\""),
    ] {
        let r = client
            .post_htmx(
                &format!("/sites/{site}/records"),
                &[("name", name), ("type", kind), ("value", value), ("ttl", "3600")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{name} {kind}: {}", r.body);
    }
    assert_eq!(
        records(&app, site).await,
        [
            row("_dmarc.shop.example.com", "TXT", "\"v=DMARC1; p=none\"", 3600),
            row("mail.shop.example.com", "A", "192.0.2.50", 300),
            row("shop.example.com", "A", &ip, 3600),
            row("shop.example.com", "AAAA", "2001:db8::50", 3600),
            row("shop.example.com", "CAA", "0 issue \"letsencrypt.org\"", 3600),
            row("shop.example.com", "MX", "10 mail.shop.example.com.", 3600),
            row("shop.example.com", "TXT", "\"v=spf1 mx -all\"", 3600),
            row("shop.shop.example.com", "CNAME", "www.shop.example.com.", 3600),
            row("www.shop.example.com", "A", &ip, 3600),
        ]
    );

    // Edit: the form opens in the record's row (htmx), or on the DNS page.
    let mail = record_id(&app, site, "mail.shop.example.com", "A").await;
    let r = client.get_htmx(&format!("/dns-records/{mail}/edit")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text_attr(&format!("#dns-record-{mail}-value"), "value"), "192.0.2.50");
    assert_eq!(
        r.text_attr(&format!("#dns-record-{mail}-name"), "value"),
        "mail.shop.example.com"
    );
    let r = client.get(&format!("/dns-records/{mail}/edit")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<html"), "a whole page");
    assert_eq!(
        r.text_attr("form.dns-edit-form", "action"),
        format!("/dns-records/{mail}")
    );
    let r = client
        .post_htmx(
            &format!("/dns-records/{mail}"),
            &[("name", "mail"), ("type", "A"), ("value", "192.0.2.51"), ("ttl", "600")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("192.0.2.51"));
    let r = client
        .post_form(
            &format!("/dns-records/{mail}"),
            &[("name", "mail"), ("type", "A"), ("value", "192.0.2.52"), ("ttl", "600")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/sites/{site}#dns"));
    // A mistake on an edit: at 422, the form open with what was typed.
    let r = client
        .post_form(
            &format!("/dns-records/{mail}"),
            &[
                ("name", "mail"),
                ("type", "A"),
                ("value", "2001:db8::1"),
                ("ttl", "600"),
            ],
        )
        .await;
    assert_field_error(&r, "value", "IPv4 address");
    assert_eq!(
        r.text_attr(&format!("#dns-record-{mail}-value"), "value"),
        "2001:db8::1"
    );
    let r = client
        .post_htmx(
            &format!("/dns-records/{mail}"),
            &[
                ("name", "mail"),
                ("type", "AAAA"),
                ("value", "192.0.2.1"),
                ("ttl", "600"),
            ],
        )
        .await;
    assert_field_error(&r, "value", "IPv6 address");
    assert!(r.body.trim_start().starts_with("<section id=\"dns\""));
    assert_eq!(
        records(&app, site).await[1],
        row("mail.shop.example.com", "A", "192.0.2.52", 600)
    );

    // Delete, in place and without JavaScript.
    let r = client.post_htmx(&format!("/dns-records/{mail}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains(&format!("dns-record-{mail}\"")));
    let txt = record_id(&app, site, "shop.example.com", "TXT").await;
    let r = client.post_form(&format!("/dns-records/{txt}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(records(&app, site).await.len(), 7);
    let r = client.post_form(&format!("/dns-records/{txt}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from activity where customer_id = $1 and kind like 'dns_record_%' order by id")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(kinds.iter().filter(|k| *k == "dns_record_added").count(), 7);
    assert_eq!(kinds.iter().filter(|k| *k == "dns_record_changed").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "dns_record_deleted").count(), 2);

    // The zone file shows the same records.
    let zone = client.get(&format!("/sites/{site}/zone")).await;
    assert!(
        zone.body
            .contains("shop.example.com.\t3600\tIN\tMX\t10 mail.shop.example.com.\n"),
        "{}",
        zone.body
    );
    assert!(
        zone.body
            .contains("shop.shop.example.com.\t3600\tIN\tCNAME\twww.shop.example.com.\n")
    );
}

#[tokio::test]
async fn each_type_and_rule_is_told_on_its_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = provisioned_site(
        &app,
        alice,
        "shop.example.com",
        &["www.shop.example.com", "shop.example.org"],
    )
    .await;
    let other = provisioned_site(&app, alice, "blog.shop.example.com", &[]).await;
    client.get(&format!("/sites/{site}")).await;
    let r = client
        .post_form(
            &format!("/sites/{site}/records"),
            &[
                ("name", "alias"),
                ("type", "CNAME"),
                ("value", "www.shop.example.com"),
                ("ttl", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let before = records(&app, site).await;
    let www_ip = before[before.len() - 1].2.clone().unwrap();
    let cases: [(&str, &str, &str, &str, &str, &str); 22] = [
        ("www2", "A", "2001:db8::1", "", "value", "IPv4 address"),
        ("www2", "A", "192.0.2", "", "value", "IPv4 address"),
        ("www2", "AAAA", "192.0.2.1", "", "value", "IPv6 address"),
        ("www2", "CNAME", "192.0.2.1", "", "value", "not an IP address"),
        ("www2", "CNAME", "localhost", "", "value", "whole hostname"),
        ("@", "MX", "mail.example.com", "", "value", "priority and a mail server"),
        ("@", "MX", "10 192.0.2.1", "", "value", "not an IP address"),
        ("@", "MX", "99999 mail.example.com", "", "value", "0 to 65535"),
        ("@", "TXT", "\"unclosed", "", "value", "closing quote"),
        ("@", "TXT", "\"a\" b", "", "value", "Quote every part"),
        ("@", "CAA", "0 issue", "", "value", "flags, a tag and a value"),
        ("@", "CAA", "0 iodef \"ftp://x\"", "", "value", "mailto:"),
        ("www2", "NS", "ns1.example.net", "", "type", "Choose A, AAAA"),
        ("www2", "A", "192.0.2.1", "5", "ttl", "from 60"),
        ("www2.example.net", "A", "192.0.2.1", "", "name", "in this site's zone"),
        ("a..b", "A", "192.0.2.1", "", "name", "no empty parts"),
        (
            "x.blog.shop.example.com",
            "A",
            "192.0.2.1",
            "",
            "name",
            "another site's zone",
        ),
        ("@", "CNAME", "elsewhere.example.net", "", "name", "zone's own name"),
        (
            "shop.example.org",
            "CNAME",
            "elsewhere.example.net",
            "",
            "name",
            "zone's own name",
        ),
        (
            "www",
            "CNAME",
            "elsewhere.example.net",
            "",
            "name",
            "cannot sit beside other records",
        ),
        ("alias", "TXT", "hello", "", "name", "has a CNAME"),
        ("www", "A", &www_ip, "3600", "value", "exists already"),
    ];
    for (htmx, (name, kind, value, ttl, field, expected)) in cases.iter().enumerate().map(|(i, c)| (i % 2 == 1, c)) {
        let fields = [("name", *name), ("type", *kind), ("value", *value), ("ttl", *ttl)];
        let path = format!("/sites/{site}/records");
        let r = if htmx {
            client.post_htmx(&path, &fields).await
        } else {
            client.post_form(&path, &fields).await
        };
        let message = assert_field_error(&r, field, expected);
        assert!(!message.is_empty());
        // What was typed is shown again.
        if !htmx {
            assert_eq!(r.text_attr("#dns-new-value", "value"), *value, "{name} {kind}");
        }
    }
    assert_eq!(records(&app, site).await, before);
    assert!(records(&app, other).await.iter().all(|r| r.1 == "A"));
    // The same names, where they are right, are accepted.
    for (name, kind, value) in [
        ("x.blog.shop.example.com", "A", "192.0.2.1"),
        ("www.shop.example.org", "CNAME", "shop.example.org"),
    ] {
        let target = if name.contains("blog") { other } else { site };
        let r = client
            .post_form(
                &format!("/sites/{target}/records"),
                &[("name", name), ("type", kind), ("value", value), ("ttl", "")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{name}: {}", r.body);
    }
}

#[tokio::test]
async fn another_customer_gets_404_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (_alice_client, alice) = app.signed_in_client("alice").await;
    let site = provisioned_site(&app, alice, "shop.example.com", &[]).await;
    let record = record_id(&app, site, "shop.example.com", "A").await;
    let (bob, bob_id) = app.signed_in_client("bob").await;
    let bobs = provisioned_site(&app, bob_id, "bob.example.net", &[]).await;
    let before = records(&app, site).await;
    let serial: i64 = app
        .scalar(&format!("select dns_serial from sites where id = {site}"))
        .await;
    bob.get(&format!("/sites/{bobs}")).await;
    let fields = [("name", "@"), ("type", "A"), ("value", "203.0.113.66"), ("ttl", "60")];
    for htmx in [false, true] {
        for (path, post) in [
            (format!("/sites/{site}/records"), true),
            (format!("/dns-records/{record}"), true),
            (format!("/dns-records/{record}/delete"), true),
            (format!("/sites/{site}/records"), false),
            (format!("/dns-records/{record}/edit"), false),
        ] {
            let r = match (post, htmx) {
                (true, false) => bob.post_form(&path, &fields).await,
                (true, true) => bob.post_htmx(&path, &fields).await,
                (false, false) => bob.get(&path).await,
                (false, true) => bob.get_htmx(&path).await,
            };
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
            assert!(!r.body.contains("shop.example.com"), "{path}");
        }
    }
    assert_eq!(records(&app, site).await, before);
    let after: i64 = app
        .scalar(&format!("select dns_serial from sites where id = {site}"))
        .await;
    assert_eq!(after, serial, "the serial did not move");
    // Bob's own record names cannot reach into Alice's zone either.
    let r = bob
        .post_form(
            &format!("/sites/{bobs}/records"),
            &[
                ("name", "x.shop.example.com"),
                ("type", "A"),
                ("value", "192.0.2.9"),
                ("ttl", ""),
            ],
        )
        .await;
    assert_field_error(&r, "name", "in this site's zone");
    let activity: i64 = app
        .scalar(&format!(
            "select count(*) from activity where customer_id = {} and kind like 'dns_%'",
            alice.0
        ))
        .await;
    assert_eq!(activity, 0);
}

#[tokio::test]
async fn claims_inside_another_customers_zone_or_on_a_reserved_name_are_refused() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    wizard_site(&alice, "shop.example.com", &["shop.example.org"]).await;
    berth::dns::model::write_settings(
        &app.pool,
        &berth::dns::pdns::settings(None, &[], None, &["panel.example.net".to_owned()], false).unwrap(),
    )
    .await
    .unwrap();
    let (bob, bob_id) = app.signed_in_client("bob").await;
    for (hostname, expected) in [
        ("x.shop.example.com", "another account holds"),
        ("deep.x.shop.example.org", "another account holds"),
        ("example.com", "another account holds"),
        ("panel.example.net", "reserved by the platform"),
        ("eu.panel.example.net", "reserved by the platform"),
    ] {
        bob.get("/wizard/site").await;
        let r = bob
            .post_form("/wizard/site", &[("site_name", "Mine"), ("site_hostname", hostname)])
            .await;
        let message = assert_field_error(&r, "site_hostname", expected);
        assert!(!r.body.contains("alice"), "{message}");
    }
    // Aliases too.
    bob.get("/wizard/site").await;
    let r = bob
        .post_form(
            "/wizard/site",
            &[("site_name", "Mine"), ("site_hostname", "mine.example.com")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "a sibling of another's zone is fine: {}",
        r.body
    );
    let r = bob
        .post_form(
            "/wizard/container",
            &[
                ("container_name", "web"),
                ("container_type", "lamp"),
                ("container_os_id", "debian-12"),
                ("container_size", "small"),
                ("container_disk_space", "20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = bob
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("alias_names", "fine.example.org"),
                ("alias_names", "www.shop.example.org"),
                ("alias_names", "api.panel.example.net"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("another account holds"), "{}", r.body);
    assert!(r.body.contains("reserved by the platform"), "{}", r.body);
    let sites: i64 = app
        .scalar(&format!("select count(*) from sites where customer_id = {}", bob_id.0))
        .await;
    assert_eq!(sites, 0);
    // Alice's own names nest as she likes.
    let blog = wizard_site(&alice, "blog.shop.example.com", &[]).await;
    assert!(blog > 0);
}

#[tokio::test]
async fn a_deleted_site_takes_its_records_and_zones_with_it() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = provisioned_site(&app, alice, "shop.example.com", &["shop.example.org"]).await;
    client.get(&format!("/sites/{site}")).await;
    let r = client
        .post_form(
            &format!("/sites/{site}/records"),
            &[("name", "@"), ("type", "TXT"), ("value", "hello"), ("ttl", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let zones: i64 = app.scalar("select count(*) from pdns.domains").await;
    assert_eq!(zones, 2);
    let served: i64 = app.scalar("select count(*) from pdns.records").await;
    // SOA and NS of two zones, two A records and the TXT.
    assert_eq!(served, 2 + 2 + 3);
    sqlx::query("delete from sites where id = $1")
        .bind(site)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(records(&app, site).await.is_empty());
    let served: i64 = app.scalar("select count(*) from pdns.records").await;
    assert_eq!(served, 0);
}
