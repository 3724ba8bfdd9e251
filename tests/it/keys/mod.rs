//! API keys and their ACLs: the pages and their field errors (plain POST and htmx), the
//! limits, revoked keys, other customers, the secret shown once and kept nowhere, and
//! `verify`, the check the API uses.

pub mod api;
pub mod browser;
pub mod faults;
pub mod hardening;

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use berth::identity::CustomerId;
use berth::identity::key::{KeyType, Principal, Refusal, verify};
use reqwest::StatusCode;

use crate::helpers::*;

/// Creates a key through the form; returns its id and the secret shown once.
pub async fn create_key(client: &Client, name: &str, kind: &str) -> (i64, String) {
    let page = client.get("/keys").await;
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_form("/keys", &[("name", name), ("type", kind), ("form_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.text("#new-key-secret");
    let href = r.text_attr(r#"a[href^="/keys/"]"#, "href");
    (href.trim_start_matches("/keys/").parse().unwrap(), secret)
}

/// Adds an ACL through the form; returns its id.
async fn add_acl(app: &TestApp, client: &Client, key: i64, address: &str, cidr: &str) -> i64 {
    let r = client
        .post_form(&format!("/keys/{key}/acls"), &[("address", address), ("cidr", cidr)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    sqlx::query_scalar("select max(id) from api_key_acls where key_id = $1")
        .bind(key)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Everything about a customer's keys and ACLs, to compare before and after.
async fn snapshot(app: &TestApp, customer: CustomerId) -> Vec<String> {
    sqlx::query_scalar(
        "select concat_ws(' ', k.id, k.name, k.type, k.revoked_at, k.last_used_at, a.id, a.network)
         from api_keys k left join api_key_acls a on a.key_id = k.id
         where k.customer_id = $1 order by k.id, a.id",
    )
    .bind(customer)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).await
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_key_is_created_with_its_secret_shown_once() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let page = client.get("/keys").await;
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_form(
            "/keys",
            &[
                ("name", " deploy script "),
                ("type", "read-only"),
                ("form_token", &token),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.text_attr("[hx-history]", "hx-history"), "false");
    let secret = r.text("#new-key-secret");
    assert!(secret.starts_with("berth_") && secret.len() == 46, "{secret}");
    let (id, prefix): (i64, String) = sqlx::query_as("select id, prefix from api_keys where customer_id = $1")
        .bind(alice)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(secret.starts_with(&prefix));

    // The same form sent again creates nothing and does not show a secret.
    let again = client
        .post_form(
            "/keys",
            &[("name", "deploy script"), ("type", "read-only"), ("form_token", &token)],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let again = client.get(again.location()).await;
    assert!(again.body.contains(berth::web::once::REPEATED), "{}", again.body);
    assert!(!again.body.contains(&secret));
    assert_eq!(count(&app, "select count(*) from api_keys").await, 1);

    // Listed with name, type, prefix, "never" used; the secret is on no later page.
    let list = client.get("/keys").await;
    assert_eq!(list.text(&format!("#key-{id} .key-type")), "read-only");
    assert_eq!(list.text(&format!("#key-{id} .key-prefix")), format!("{prefix}…"));
    assert_eq!(list.text(&format!("#key-{id} .key-last-used")), "never");
    assert!(list.text(&format!("#key-{id} strong")).contains("deploy script"));
    for path in ["/keys".to_owned(), format!("/keys/{id}"), "/activity".to_owned()] {
        let r = client.get(&path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.contains(&secret), "{path} shows the secret");
    }
    let activity = client.get("/activity").await;
    assert!(activity.texts("td").iter().any(|t| t == "API key created"));

    // Over htmx: the fragment, also not stored.
    let token = client
        .get("/keys")
        .await
        .text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_htmx("/keys", &[("name", "ci"), ("type", "standard"), ("form_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    assert!(!r.body.contains("<html"), "htmx gets the fragment");
    assert!(r.text("#new-key-secret").starts_with("berth_"));
}

#[tokio::test]
async fn the_list_filters_by_type() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    create_key(&client, "writer", "standard").await;
    create_key(&client, "reader", "read-only").await;
    let names = |r: &Resp| r.texts("article.key header strong");
    assert_eq!(names(&client.get("/keys").await), ["reader", "writer"]);
    assert_eq!(names(&client.get("/keys?type=read-only").await), ["reader"]);
    assert_eq!(names(&client.get("/keys?type=standard").await), ["writer"]);
    assert!(names(&client.get("/keys?type=internal").await).is_empty());
    // An unknown type is no filter at all.
    assert_eq!(names(&client.get("/keys?type=bogus").await).len(), 2);
}

#[tokio::test]
async fn an_internal_key_cannot_be_created_by_tampering_with_the_form() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let page = client.get("/keys").await;
    assert_eq!(page.texts("#new-key-type option").len(), 2, "internal is not offered");
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_form(
            "/keys",
            &[("name", "sneaky"), ("type", "internal"), ("form_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = client
        .post_htmx("/keys", &[("name", "sneaky"), ("type", "internal")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(count(&app, "select count(*) from api_keys").await, 0);
}

#[tokio::test]
async fn key_form_errors_are_shown_on_their_fields() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let long = "x".repeat(65);
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Fields, &str, &str); 5] = [
        (&[("name", ""), ("type", "standard")], "name", "Give the key a name"),
        (&[("name", "   "), ("type", "standard")], "name", "Give the key a name"),
        (&[("name", &long), ("type", "standard")], "name", "at most 64"),
        (&[("name", "ok"), ("type", "admin")], "type", "standard or read-only"),
        (&[("name", "ok")], "type", "standard or read-only"),
    ];
    for (fields, field, message) in cases {
        for htmx in [false, true] {
            client.get("/keys").await;
            let r = if htmx {
                client.post_htmx("/keys", fields).await
            } else {
                client.post_form("/keys", fields).await
            };
            assert_field_error(&r, field, message);
            if field == "type" {
                assert_eq!(r.text_attr("#new-key-name", "value"), "ok", "the name is kept");
            }
        }
    }
    assert_eq!(count(&app, "select count(*) from api_keys").await, 0);
}

#[tokio::test]
async fn acls_are_added_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let (key, _) = create_key(&client, "deploy", "standard").await;

    // Host bits are cleared, and the customer is told the stored network.
    let r = client
        .post_form(
            &format!("/keys/{key}/acls"),
            &[("address", "203.0.113.7"), ("cidr", "24")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/keys/{key}"));
    let page = client.get(r.location()).await;
    assert!(
        page.text("#toasts").contains("stored as 203.0.113.0/24"),
        "{}",
        page.body
    );
    let acl: i64 = app.scalar("select id from api_key_acls").await;
    let network: String = app.scalar("select network::text from api_key_acls").await;
    assert_eq!(network, "203.0.113.0/24");

    // Over htmx the key's block comes back, with a toast.
    let r = client
        .post_htmx(
            &format!("/keys/{key}/acls"),
            &[("address", "2001:db8::"), ("cidr", "48")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .trim_start()
            .starts_with(&format!(r#"<article class="key" id="key-{key}""#)),
        "{}",
        r.body
    );
    assert!(r.text("#toasts").contains("ACL added: 2001:db8::/48"));
    assert_eq!(r.texts("li.acl").len(), 2);

    // Edit either part; a part left out keeps its value (updateKeyACL).
    let r = client
        .post_htmx(&format!("/acls/{acl}"), &[("address", "198.51.100.0"), ("cidr", "24")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = client.post_form(&format!("/acls/{acl}"), &[("cidr", "25")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let network: String = app
        .scalar(&format!("select network::text from api_key_acls where id = {acl}"))
        .await;
    assert_eq!(network, "198.51.100.0/25");

    // Delete.
    let r = client.post_htmx(&format!("/acls/{acl}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#toasts").contains("198.51.100.0/25 deleted"));
    assert_eq!(count(&app, "select count(*) from api_key_acls").await, 1);

    let kinds: Vec<String> = sqlx::query_scalar("select kind from activity where kind like 'api_key%' order by id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        kinds,
        [
            "api_key_created",
            "api_key_acl_added",
            "api_key_acl_added",
            "api_key_acl_changed",
            "api_key_acl_changed",
            "api_key_acl_deleted"
        ]
    );
}

#[tokio::test]
async fn acl_form_errors_are_shown_on_their_fields_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (key, _) = create_key(&client, "deploy", "standard").await;
    let acl = add_acl(&app, &client, key, "192.0.2.0", "24").await;
    add_acl(&app, &client, key, "198.51.100.0", "24").await;
    let before = snapshot(&app, alice).await;
    let cases = [
        ("", "24", "address", "Enter an IP address"),
        ("10.0.0", "24", "address", "not an IP address"),
        ("example.com", "24", "address", "not an IP address"),
        ("10.0.0.0/8", "8", "address", "mask goes in its own field"),
        ("10.0.0.1", "", "cidr", "Enter a mask"),
        ("10.0.0.1", "x", "cidr", "whole number"),
        ("10.0.0.1", "-1", "cidr", "whole number"),
        ("10.0.0.1", "33", "cidr", "0 to 32"),
        ("10.0.0.1", "64", "cidr", "0 to 32"),
        ("2001:db8::", "129", "cidr", "0 to 128"),
        ("198.51.100.9", "24", "address", "already has that network"),
    ];
    for (address, cidr, field, message) in cases {
        for path in [format!("/keys/{key}/acls"), format!("/acls/{acl}")] {
            for htmx in [false, true] {
                let fields = [("address", address), ("cidr", cidr)];
                let r = if htmx {
                    client.post_htmx(&path, &fields).await
                } else {
                    client.post_form(&path, &fields).await
                };
                let context = format!("{path} {address}/{cidr} htmx={htmx}");
                assert_field_error(&r, field, message);
                if htmx {
                    assert!(!r.body.contains("<html"), "{context}: htmx gets the key's block");
                }
                // What was typed is kept in the failed form.
                let sel = if path.contains("/acls/") && !path.starts_with("/keys") {
                    format!("#acl-{acl}-address")
                } else {
                    format!("#key-{key}-acl-address")
                };
                assert_eq!(r.text_attr(&sel, "value"), address, "{context}");
            }
        }
    }
    // A v4 address may not take the mask of the v6 network it replaces.
    let v6 = add_acl(&app, &client, key, "2001:db8::", "64").await;
    let before_v6 = snapshot(&app, alice).await;
    let r = client
        .post_form(&format!("/acls/{v6}"), &[("address", "10.0.0.0")])
        .await;
    assert_field_error(&r, "cidr", "0 to 32");
    assert_eq!(snapshot(&app, alice).await, before_v6);
    assert_eq!(before.len() + 1, before_v6.len());
}

#[tokio::test]
async fn limits_are_clear_messages() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let mut first = 0;
    for n in 0..25 {
        let (id, _) = create_key(&client, &format!("key {n}"), "standard").await;
        if n == 0 {
            first = id;
        }
    }
    for htmx in [false, true] {
        let token = client
            .get("/keys")
            .await
            .text_attr(r#"input[name="form_token"]"#, "value");
        let fields = [
            ("name", "one too many"),
            ("type", "standard"),
            ("form_token", token.as_str()),
        ];
        let r = if htmx {
            client.post_htmx("/keys", &fields).await
        } else {
            client.post_form("/keys", &fields).await
        };
        assert_field_error(&r, "name", "25 active keys, the most allowed");
    }
    assert_eq!(count(&app, "select count(*) from api_keys").await, 25);
    // A revoked key does not count.
    let r = client.post_form(&format!("/keys/{first}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    create_key(&client, "replacement", "standard").await;

    let key = first + 1; // "key 1", still active
    for n in 0..50 {
        add_acl(&app, &client, key, &format!("10.0.{n}.0"), "24").await;
    }
    for htmx in [false, true] {
        let fields = [("address", "10.1.0.0"), ("cidr", "16")];
        let path = format!("/keys/{key}/acls");
        let r = if htmx {
            client.post_htmx(&path, &fields).await
        } else {
            client.post_form(&path, &fields).await
        };
        assert_field_error(&r, "address", "50 ACLs, the most allowed");
    }
    assert_eq!(
        count(&app, &format!("select count(*) from api_key_acls where key_id = {key}")).await,
        50
    );
}

#[tokio::test]
async fn a_revoked_key_stays_listed_and_cannot_change() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (key, secret) = create_key(&client, "old", "standard").await;
    let acl = add_acl(&app, &client, key, "192.0.2.0", "24").await;
    let r = client.post_htmx(&format!("/keys/{key}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text(".key-revoked").starts_with("Revoked"));
    assert!(
        r.texts(".key form").is_empty(),
        "a revoked key has no forms: {}",
        r.body
    );
    let before = snapshot(&app, alice).await;
    for (path, fields) in [
        (format!("/keys/{key}/revoke"), vec![]),
        (
            format!("/keys/{key}/acls"),
            vec![("address", "10.0.0.0"), ("cidr", "8")],
        ),
        (format!("/keys/{key}/acls"), vec![("address", "bad"), ("cidr", "99")]),
        (format!("/acls/{acl}"), vec![("address", "10.0.0.0"), ("cidr", "8")]),
        (format!("/acls/{acl}"), vec![("address", "bad"), ("cidr", "99")]),
        (format!("/acls/{acl}/delete"), vec![]),
    ] {
        let r = client.post_form(&path, &fields).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}: {}", r.body);
        assert!(r.body.contains("revoked"), "{path}");
    }
    assert_eq!(snapshot(&app, alice).await, before);
    let list = client.get("/keys").await;
    assert!(list.text(&format!("#key-{key} .key-revoked")).starts_with("Revoked"));
    assert_eq!(
        verify(&app.pool, &secret, ip("192.0.2.1")).await.unwrap(),
        Err(Refusal::Revoked)
    );
    let show = client.get(&format!("/keys/{key}?address=192.0.2.1")).await;
    assert!(show.text("#check-result").starts_with("Refused: the key is revoked"));
}

#[tokio::test]
async fn would_this_address_be_allowed() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let (key, _) = create_key(&client, "deploy", "standard").await;
    let check = |address: &str| {
        let client = client.clone();
        let path = format!("/keys/{key}?address={}", address.replace(':', "%3A"));
        async move { client.get(&path).await }
    };
    assert!(
        check("198.51.100.1")
            .await
            .text("#check-result")
            .contains("no ACLs, so any address may")
    );
    add_acl(&app, &client, key, "203.0.113.0", "24").await;
    add_acl(&app, &client, key, "2001:db8::", "32").await;
    let r = check("203.0.113.200").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text("#check-result"),
        "Allowed: 203.0.113.200 is inside the ACL 203.0.113.0/24."
    );
    assert!(
        check("2001:db8:ffff::1")
            .await
            .text("#check-result")
            .contains("inside the ACL 2001:db8::/32")
    );
    assert!(
        check("::ffff:203.0.113.5")
            .await
            .text("#check-result")
            .starts_with("Allowed")
    );
    assert!(check("198.51.100.1").await.text("#check-result").starts_with("Refused"));
    let r = check("not-an-address").await;
    assert_field_error(&r, "address", "Enter an IP address");
    let r = client.get_htmx(&format!("/keys/{key}?address=203.0.113.1")).await;
    assert!(!r.body.contains("<html") && r.text("#check-result").starts_with("Allowed"));
}

#[tokio::test]
async fn another_customers_keys_and_acls_are_not_found_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (key, _) = create_key(&alice_client, "alice's", "standard").await;
    let acl = add_acl(&app, &alice_client, key, "192.0.2.0", "24").await;
    let before = snapshot(&app, alice).await;
    let activity_before = count(&app, "select count(*) from activity where kind like 'api_key%'").await;

    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/keys").await;
    for path in [format!("/keys/{key}"), format!("/keys/{key}?address=192.0.2.1")] {
        assert_eq!(bob.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(bob.get_htmx(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let posts = [
        (format!("/keys/{key}/revoke"), vec![]),
        (
            format!("/keys/{key}/acls"),
            vec![("address", "10.0.0.0"), ("cidr", "8")],
        ),
        (format!("/keys/{key}/acls"), vec![("address", "bad"), ("cidr", "99")]),
        (format!("/acls/{acl}"), vec![("address", "10.0.0.0"), ("cidr", "8")]),
        (format!("/acls/{acl}"), vec![("address", "bad"), ("cidr", "99")]),
        (format!("/acls/{acl}/delete"), vec![]),
    ];
    for (path, fields) in &posts {
        let r = bob.post_form(path, fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        let r = bob.post_htmx(path, fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    assert!(bob.get("/keys").await.texts("article.key").is_empty());
    assert_eq!(snapshot(&app, alice).await, before);
    assert_eq!(
        count(&app, "select count(*) from activity where kind like 'api_key%'").await,
        activity_before
    );
    // Ids that are not numbers, or do not exist, are simply not found.
    for path in ["/keys/x", "/keys/99999", "/keys/-1"] {
        assert_eq!(bob.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in ["/acls/x", "/acls/99999/delete", "/keys/99999/acls"] {
        let r = bob.post_form(path, &[("address", "10.0.0.0"), ("cidr", "8")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn verify_checks_the_secret_the_revocation_and_the_acls() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let (open, open_secret) = create_key(&client, "open", "read-only").await;
    let (fenced, fenced_secret) = create_key(&client, "fenced", "standard").await;
    add_acl(&app, &client, fenced, "203.0.113.0", "24").await;
    add_acl(&app, &client, fenced, "2001:db8:1::", "48").await;

    assert_eq!(
        verify(
            &app.pool,
            "berth_0000000000000000000000000000000000000000",
            ip("1.2.3.4")
        )
        .await
        .unwrap(),
        Err(Refusal::Unknown)
    );
    assert_eq!(
        verify(&app.pool, "", ip("1.2.3.4")).await.unwrap(),
        Err(Refusal::Unknown)
    );
    let mut wrong = fenced_secret.clone();
    wrong.pop();
    assert_eq!(
        verify(&app.pool, &wrong, ip("203.0.113.1")).await.unwrap(),
        Err(Refusal::Unknown)
    );

    // No ACLs: usable from anywhere; the last use is recorded.
    let principal = verify(&app.pool, &open_secret, ip("198.51.100.77"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        principal,
        Principal {
            key: berth::identity::key::KeyId(open),
            customer: Some(alice),
            kind: KeyType::ReadOnly,
            prefix: open_secret[..14].to_owned(),
            created_by: None,
        }
    );
    let list = client.get("/keys").await;
    assert!(
        list.text(&format!("#key-{open} .key-last-used"))
            .ends_with("from 198.51.100.77")
    );

    for inside in ["203.0.113.9", "2001:db8:1:2::3", "::ffff:203.0.113.200"] {
        let p = verify(&app.pool, &fenced_secret, ip(inside)).await.unwrap();
        assert_eq!(p.map(|p| p.kind), Ok(KeyType::Standard), "{inside}");
    }
    let used: String = app
        .scalar(&format!(
            "select host(last_used_address) from api_keys where id = {fenced}"
        ))
        .await;
    assert_eq!(used, "::ffff:203.0.113.200");

    // A refusal is returned unrecorded (the API holds the key to its rate first), then
    // recorded with the others of the last 10 minutes in one row, updated in place.
    let refusals_before = count(&app, "select count(*) from activity where kind = 'api_key_refused'").await;
    for outside in ["203.0.114.1", "2001:db8:2::1", "::ffff:198.51.100.1"] {
        assert_eq!(
            verify(&app.pool, &fenced_secret, ip(outside)).await.unwrap(),
            Err(Refusal::AddressNotAllowed {
                key: berth::identity::key::KeyId(fenced),
                customer: Some(alice),
                prefix: fenced_secret[..14].to_owned(),
            }),
            "{outside}"
        );
        berth::identity::key::record_refusal(
            &app.pool,
            berth::identity::key::KeyId(fenced),
            alice,
            &fenced_secret[..14],
            ip(outside),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        count(&app, "select count(*) from activity where kind = 'api_key_refused'").await,
        refusals_before + 1
    );
    let activity = client.get("/activity").await;
    assert!(
        activity.texts("td").iter().any(
            |t| t.contains("refused 3 times from 3 addresses in the last 10 minutes") && t.contains("2001:db8:2::1")
        ),
        "{:?}",
        activity.texts("td")
    );
    assert!(activity.texts("td").iter().any(|t| t == "API key refused"));
}

#[tokio::test]
async fn the_secret_is_in_no_table() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let (key, secret) = create_key(&client, "deploy", "standard").await;
    add_acl(&app, &client, key, "192.0.2.0", "24").await;
    verify(&app.pool, &secret, ip("192.0.2.1")).await.unwrap().unwrap();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "select table_schema, table_name, column_name from information_schema.columns
         where table_schema not in ('pg_catalog', 'information_schema')
           and data_type in ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(columns.iter().any(|(_, t, c)| t == "api_keys" && c == "secret_hash"));
    assert!(
        columns.iter().any(|(s, _, _)| s == "tower_sessions"),
        "the session store is scanned too"
    );
    let hex_secret = hex::encode(secret.as_bytes());
    let mut scanned = 0;
    for (schema, table, column) in &columns {
        let found: i64 = sqlx::query_scalar(&format!(
            r#"select count(*) from "{schema}"."{table}"
               where strpos("{column}"::text, $1) > 0 or strpos("{column}"::text, $2) > 0"#
        ))
        .bind(&secret)
        .bind(&hex_secret)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(found, 0, "the secret is in {schema}.{table}.{column}");
        scanned += 1;
    }
    assert!(scanned > 20, "scanned {scanned} columns");
    // The prefix, which is not secret, is found: the scan can see what is there.
    let prefix = &secret[..14];
    let found: i64 = sqlx::query_scalar("select count(*) from api_keys where strpos(prefix::text, $1) > 0")
        .bind(prefix)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(found, 1);
}

/// The real binary at trace level: creating a key, showing it and checking it leaves the
/// secret in none of what it prints.
#[tokio::test]
async fn the_secret_is_not_in_the_logs() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("DATABASE_URL", app.database_url().await)
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let base = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "berth exited: {printed}");
        printed.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("Berth is serving on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let client = Client::new(&base);
    assert_eq!(client.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let (key, secret) = create_key(&client, "deploy", "standard").await;
    client.get(&format!("/keys/{key}")).await;
    verify(&app.pool, &secret, ip("127.0.0.1")).await.unwrap().unwrap();
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    stdout.read_to_string(&mut printed).unwrap();
    child.wait().unwrap();
    let logs = format!("{printed}{stderr}");
    assert!(logs.contains("/keys"), "the requests were logged:\n{logs}");
    assert!(
        logs.contains("insert into api_keys"),
        "the statements were logged at trace level"
    );
    assert!(!logs.contains(&secret), "the secret is in the logs");
    assert!(!logs.contains(&secret[14..]), "part of the secret is in the logs");
}
