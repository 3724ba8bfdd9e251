//! IP addresses: taking the next free one of each family, reverse DNS, freeing, what holds
//! an address, parallel allocation, and other customers.

pub mod api;
pub mod browser;

use std::collections::HashSet;

use berth::identity::CustomerId;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

/// The customer's addresses and their reverse DNS names, to compare before and after.
async fn held(app: &TestApp, customer: CustomerId) -> Vec<(String, Option<String>, Option<i64>)> {
    sqlx::query_as(
        "select host(address), reverse_dns, container_id from ip_pool where customer_id = $1 order by address",
    )
    .bind(customer)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Takes an address through the form, as a browser would: the page first, for its token.
async fn add(client: &Client, family: &str) -> Resp {
    client.get("/addresses").await;
    client.post_form("/addresses", &[("family", family)]).await
}

#[tokio::test]
async fn addresses_are_taken_in_order_and_given_back() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let page = client.get("/addresses").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text("#addresses").contains("You hold no addresses yet."));

    let r = add(&client, "ipv4").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = client.post_htmx("/addresses", &[("family", "ipv6")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#toasts").contains("2001:db8:b::10 is yours."));
    assert_eq!(
        held(&app, alice).await,
        [("192.0.2.10".into(), None, None), ("2001:db8:b::10".into(), None, None)]
    );

    let page = client.get("/addresses").await;
    let rows = page.texts("tr.address td:nth-child(2)");
    assert_eq!(rows, ["IPv4", "IPv6"]);
    assert!(
        page.text(r#"tr[data-address="192.0.2.10"] .holder"#)
            .contains("nothing")
    );

    // Reverse DNS: set (Unicode is stored as punycode), shown, cleared.
    let r = client
        .post_htmx(
            "/addresses/192.0.2.10/reverse",
            &[("reverse_dns", "mail.bücher.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        held(&app, alice).await[0].1.as_deref(),
        Some("mail.xn--bcher-kva.example")
    );
    assert_eq!(
        r.text_attr(r#"tr[data-address="192.0.2.10"] input[name="reverse_dns"]"#, "value"),
        "mail.bücher.example"
    );
    let r = client
        .post_form("/addresses/192.0.2.10/reverse", &[("reverse_dns", "")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(held(&app, alice).await[0].1, None);

    // Free: the address goes back and is the next one taken.
    let r = client.post_htmx("/addresses/192.0.2.10/free", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#toasts").contains("192.0.2.10 went back to the pool."));
    assert_eq!(held(&app, alice).await.len(), 1);
    let blank: (Option<i64>, Option<String>) =
        sqlx::query_as("select customer_id, reverse_dns from ip_pool where address = '192.0.2.10'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(blank, (None, None));
    let (bob, bob_id) = app.signed_in_client("bob").await;
    add(&bob, "ipv4").await;
    assert_eq!(held(&app, bob_id).await[0].0, "192.0.2.10");

    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from activity where customer_id = $1 and kind not like 'sign%' order by id")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "address_added",
            "address_added",
            "reverse_dns_changed",
            "reverse_dns_changed",
            "address_freed"
        ]
    );
}

#[tokio::test]
async fn an_attached_address_cannot_be_freed_and_says_what_holds_it() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = insert_site_with_job(&app, alice, "shop.example.com", &[], false).await;
    sqlx::query(
        "update ip_pool set customer_id = $1, allocated_at = now(),
                container_id = (select id from containers where site_id = $2)
         where address = '192.0.2.10'",
    )
    .bind(alice)
    .bind(site)
    .execute(&app.pool)
    .await
    .unwrap();
    let page = client.get("/addresses").await;
    let holder = page.text(r#"tr[data-address="192.0.2.10"] .holder"#);
    assert_eq!(holder, "container web-shop.example.com of site shop.example.com");
    assert!(page.texts(r#"tr[data-address="192.0.2.10"] details.free"#).is_empty());
    for htmx in [false, true] {
        let r = if htmx {
            client.post_htmx("/addresses/192.0.2.10/free", &[]).await
        } else {
            client.post_form("/addresses/192.0.2.10/free", &[]).await
        };
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(
            r.body
                .contains("cannot be freed: it is attached to container web-shop.example.com of site shop.example.com"),
            "{}",
            r.body
        );
    }
    assert_eq!(held(&app, alice).await.len(), 1);
}

#[tokio::test]
async fn an_empty_pool_is_a_clear_message() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    sqlx::query("update ip_pool set customer_id = (select id from customers limit 1) where family(address) = 6")
        .execute(&app.pool)
        .await
        .unwrap();
    let mine_before = held(&app, alice).await.len();
    for htmx in [false, true] {
        let r = if htmx {
            client.post_htmx("/addresses", &[("family", "ipv6")]).await
        } else {
            add(&client, "ipv6").await
        };
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.text("#add-family-error").contains("No free IPv6 address is left"),
            "{}",
            r.body
        );
        assert_eq!(
            r.text_attr(r#"input[value="ipv6"]"#, "checked"),
            "",
            "the choice is kept"
        );
    }
    assert_eq!(held(&app, alice).await.len(), mine_before);
    // IPv4 is still there.
    assert_eq!(add(&client, "ipv4").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn bad_input_is_refused_on_its_field() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    add(&client, "ipv4").await;
    let before = held(&app, alice).await;
    for family in ["", "ipv5", "both"] {
        for htmx in [false, true] {
            let r = if htmx {
                client.post_htmx("/addresses", &[("family", family)]).await
            } else {
                add(&client, family).await
            };
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{family}");
            assert!(r.text("#add-family-error").contains("Choose IPv4 or IPv6"));
        }
    }
    for (name, message) in [
        ("mail server.example.com", "Use letters, digits and dashes"),
        ("192.0.2.1", "not an IP address"),
        ("localhost", "at least two labels"),
        ("a..example.com", "Use letters, digits and dashes"),
        ("mail.example.com.", "Leave out the final dot"),
    ] {
        for htmx in [false, true] {
            let fields = [("reverse_dns", name)];
            let r = if htmx {
                client.post_htmx("/addresses/192.0.2.10/reverse", &fields).await
            } else {
                client.post_form("/addresses/192.0.2.10/reverse", &fields).await
            };
            assert_field_error(&r, "reverse_dns", message);
            assert_eq!(
                r.text_attr(r#"tr[data-address="192.0.2.10"] input[name="reverse_dns"]"#, "value"),
                name,
                "what was typed is kept"
            );
        }
    }
    assert_eq!(held(&app, alice).await, before);
}

#[tokio::test]
async fn a_customer_cannot_name_a_specific_address() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    client.get("/addresses").await;
    for htmx in [false, true] {
        let fields = [("family", "ipv4"), ("address", "198.51.100.77")];
        let r = if htmx {
            client.post_htmx("/addresses", &fields).await
        } else {
            client.post_form("/addresses", &fields).await
        };
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    assert!(held(&app, alice).await.is_empty());
    let free: Option<i64> = app
        .scalar("select customer_id from ip_pool where address = '198.51.100.77'")
        .await;
    assert_eq!(free, None);
}

#[tokio::test]
async fn another_customers_address_is_not_found_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    add(&alice_client, "ipv4").await;
    alice_client
        .post_form(
            "/addresses/192.0.2.10/reverse",
            &[("reverse_dns", "mail.alice.example")],
        )
        .await;
    let before = held(&app, alice).await;
    let (bob, bob_id) = app.signed_in_client("bob").await;
    bob.get("/addresses").await;
    for (path, fields) in [
        ("/addresses/192.0.2.10/free", vec![]),
        (
            "/addresses/192.0.2.10/reverse",
            vec![("reverse_dns", "mail.bob.example")],
        ),
        ("/addresses/192.0.2.10/reverse", vec![("reverse_dns", "not valid!")]),
        // Free addresses of the pool and nonsense are not found either.
        ("/addresses/192.0.2.11/free", vec![]),
        (
            "/addresses/192.0.2.11/reverse",
            vec![("reverse_dns", "mail.bob.example")],
        ),
        ("/addresses/not-an-address/free", vec![]),
    ] {
        let r = bob.post_form(path, &fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let r = bob.post_htmx(path, &fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let page = bob.get("/addresses").await;
    assert!(!page.body.contains("192.0.2.10"));
    assert_eq!(held(&app, alice).await, before);
    assert!(held(&app, bob_id).await.is_empty());
    let pool_owned: i64 = app
        .scalar("select count(*) from ip_pool where address = '192.0.2.11' and customer_id is not null")
        .await;
    assert_eq!(pool_owned, 0);
}

/// Many customers asking at the same moment never get the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_allocations_never_share_an_address() {
    let app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for n in 0..8 {
        clients.push(app.signed_in_client(&format!("customer{n}")).await.0);
    }
    let mut tasks = Vec::new();
    for client in &clients {
        for _ in 0..5 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move { add(&client, "ipv4").await.status }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::SEE_OTHER);
    }
    let taken: Vec<(String, i64)> =
        sqlx::query_as("select host(address), customer_id from ip_pool where customer_id is not null")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(taken.len(), 40);
    let distinct: HashSet<&String> = taken.iter().map(|(a, _)| a).collect();
    assert_eq!(distinct.len(), 40);
    let activity: i64 = app
        .scalar("select count(*) from activity where kind = 'address_added'")
        .await;
    assert_eq!(activity, 40);
}
