//! The shell every page shares, seen without a browser: history restores get whole pages,
//! the icons browsers ask for exist, a double submit creates once, and read-only support
//! sees changes turned off and a refusal that keeps the banner, with times in the
//! customer's zone. (The browser side: `tests/it/browser/shell.rs`.)

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn a_history_restore_gets_the_whole_page() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let fragment = client.get_htmx("/keys").await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        !fragment.body.contains("<html"),
        "an htmx request gets the content alone"
    );
    let restore = client
        .http
        .get(format!("{}/keys", client.base))
        .header("HX-Request", "true")
        .header("HX-History-Restore-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(restore.status(), StatusCode::OK);
    let vary: Vec<String> = restore
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_lowercase())
        .collect();
    assert!(
        vary.iter().any(|v| v.contains("hx-history-restore-request")),
        "{vary:?}"
    );
    let body = restore.text().await.unwrap();
    assert!(body.contains("<html"), "{body}");
    assert!(body.contains(r#"<nav aria-label="Main""#) && body.contains("<h1>API keys</h1>"));
}

#[tokio::test]
async fn browsers_find_the_icons() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for (path, kind) in [("/favicon.ico", "image/x-icon"), ("/apple-touch-icon.png", "image/png")] {
        let r = client.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], kind, "{path}");
    }
    let ico = client
        .http
        .get(format!("{}/favicon.ico", client.base))
        .send()
        .await
        .unwrap();
    let bytes = ico.bytes().await.unwrap();
    assert_eq!(&bytes[..4], &[0, 0, 1, 0], "an ICO file");
    let login = client.get("/login").await;
    for rel in [
        r#"link[rel="icon"][type="image/svg+xml"]"#,
        r#"link[rel="apple-touch-icon"]"#,
    ] {
        let href = login.text_attr(rel, "href");
        assert_eq!(client.get(&href).await.status, StatusCode::OK, "{href}");
    }
}

/// The address form's one-time token, from the page.
async fn address_form_token(client: &Client) -> String {
    client
        .get("/addresses")
        .await
        .text_attr(r#"form[action="/addresses"] input[name="form_token"]"#, "value")
}

#[tokio::test]
async fn taking_an_address_twice_with_one_form_takes_one() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let count = async || -> i64 {
        sqlx::query_scalar("select count(*) from ip_pool where customer_id = $1")
            .bind(alice)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    // One after the other (a resent form): the second says it was done once.
    let token = address_form_token(&client).await;
    let fields = [("family", "ipv4"), ("form_token", token.as_str())];
    let first = client.post_form("/addresses", &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let second = client.post_htmx("/addresses", &fields).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert!(second.text("#toasts").contains("sent twice"), "{}", second.body);
    assert_eq!(count().await, 1);

    // Both at once (a double click): still one.
    let token = address_form_token(&client).await;
    let fields = [("family", "ipv4"), ("form_token", token.as_str())];
    let (a, b) = tokio::join!(
        client.post_htmx("/addresses", &fields),
        client.post_htmx("/addresses", &fields)
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(count().await, 2);

    // A fresh page is a fresh form.
    let token = address_form_token(&client).await;
    client
        .post_htmx("/addresses", &[("family", "ipv4"), ("form_token", &token)])
        .await;
    assert_eq!(count().await, 3);

    // Another customer's use of the same token is their own.
    let (bob_client, bob) = app.signed_in_client("bob").await;
    bob_client.get("/addresses").await;
    let r = bob_client
        .post_htmx("/addresses", &[("family", "ipv4"), ("form_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let bobs: i64 = sqlx::query_scalar("select count(*) from ip_pool where customer_id = $1")
        .bind(bob)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(bobs, 1);
}

#[tokio::test]
async fn read_only_support_sees_changes_turned_off_and_a_refusal_keeps_the_banner() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    sqlx::query("insert into customer_settings (customer_id, key, value) values ($1, 'time_zone', 'Asia/Tokyo')")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    let staff = app.staff_client("reader", false).await;
    staff.get(&format!("/staff/customers/{alice}")).await;
    let r = staff
        .post_form(
            &format!("/staff/customers/{alice}/impersonate"),
            &[("reason", "Customer asked about keys")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // Every control of the page is in one disabled fieldset that says why.
    let page = staff.get("/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    let fieldset = r#"fieldset.page-fieldset[disabled][aria-describedby="read-only-reason"]"#;
    assert!(page.text(fieldset).contains("New key"), "{}", page.body);
    assert!(page.text("#read-only-reason").contains("read-only"));
    // The banner's times are in the customer's zone (Tokyo), as the page's are.
    let banner = page.text("#impersonation-banner");
    assert!(banner.contains("JST") && !banner.contains("UTC"), "{banner}");

    // A change sent anyway, without htmx: a 403 page with the banner and the navigation.
    let refused = staff.post_form("/keys", &[("name", "x"), ("type", "standard")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text("main").contains("read-only"), "{}", refused.body);
    assert!(
        refused
            .text("#impersonation-banner")
            .contains("Customer asked about keys")
    );
    assert_eq!(refused.text("#signed-in-as"), "alice");
    assert!(refused.body.contains(r#"<nav aria-label="Main""#));
    let keys: i64 = app.scalar("select count(*) from api_keys").await;
    assert_eq!(keys, 0);

    // A customer's own pages have nothing turned off.
    let (client, _) = app.signed_in_client("bob").await;
    let own = client.get("/keys").await;
    assert!(own.body.contains(r#"<fieldset class="page-fieldset">"#), "{}", own.body);
}
