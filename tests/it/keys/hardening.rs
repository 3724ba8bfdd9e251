//! Issue 13, the keys' part: impersonation never grants internal powers; internal keys are
//! the platform's (made in the staff console or by `berth create-key --internal`, named by
//! their owner in every customer's Activity, never listed or changed by a customer); sign-in
//! details change over the API only when the customer allowed it, with a security notice to
//! the previous address; updateKeyACL across families needs the mask; a revoked key (or a
//! removed ACL, or a cancelled account) is refused on the very next call; a leaked key
//! flooding from outside its ACLs is held to its rate and gathered in one Activity row;
//! older internal keys move to the platform with the migration.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth::identity::CustomerId;
use berth::identity::key::KeyType;
use berth::state::WebConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Fixture, key};
use crate::helpers::*;

async fn impersonate(staff: &Client, customer: CustomerId) {
    staff.get(&format!("/staff/customers/{customer}")).await;
    let r = staff
        .post_form(
            &format!("/staff/customers/{customer}/impersonate"),
            &[("reason", "Helping the customer on the phone")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

/// An internal key made in the staff console by `staff`: its id and secret.
async fn staff_creates_key(app: &TestApp, staff: &Client, name: &str) -> (i64, String) {
    staff.get("/staff/keys").await;
    let r = staff.post_form("/staff/keys", &[("name", name)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let secret = r.text("#new-key-secret");
    assert!(secret.starts_with("berth_"), "{secret}");
    let id: i64 = sqlx::query_scalar("select id from api_keys where prefix = $1")
        .bind(&secret[..14])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (id, secret)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).await
}

// ---- Takeover through impersonation -----------------------------------------------------

#[tokio::test]
async fn impersonating_staff_get_no_internal_powers_on_customer_pages() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let staff = app.staff_client("sam", true).await;
    impersonate(&staff, alice).await;

    let page = staff.get("/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.texts("#new-key-type option").len(), 2, "no internal type offered");
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = staff
        .post_form(
            "/keys",
            &[("name", "ops"), ("type", "internal"), ("form_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = staff.post_htmx("/keys", &[("name", "ops"), ("type", "internal")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Naming a specific pool address is an internal power too.
    let page = staff.get("/addresses").await;
    assert!(!page.body.contains(r#"name="address""#), "no address field");
    let r = staff
        .post_form("/addresses", &[("family", "ipv4"), ("address", "198.51.100.77")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    assert_eq!(count(&app, "select count(*) from api_keys").await, 0);
    assert_eq!(
        count(&app, "select count(*) from ip_pool where customer_id is not null").await,
        0
    );
    assert_eq!(
        count(
            &app,
            "select count(*) from activity where kind in ('api_key_created', 'address_added')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn internal_keys_belong_to_the_platform_not_to_a_customer() {
    let fx = Fixture::new().await;
    let staff = fx.app.staff_client("sam", true).await;
    let (id, secret) = staff_creates_key(&fx.app, &staff, "billing sync").await;
    let (customer, by, by_staff): (Option<i64>, Option<String>, Option<i64>) =
        sqlx::query_as("select customer_id, created_by, created_by_staff from api_keys where id = $1")
            .bind(id)
            .fetch_one(&fx.app.pool)
            .await
            .unwrap();
    assert_eq!(customer, None);
    assert_eq!(by.as_deref(), Some("staff sam"));
    assert!(by_staff.is_some());

    // Alice neither sees nor changes it, on her pages…
    let client = fx.app.client();
    assert_eq!(client.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let list = client.get("/keys").await;
    assert!(!list.body.contains(&secret[..14]));
    assert!(!client.get("/keys?type=internal").await.body.contains(&secret[..14]));
    assert_eq!(client.get(&format!("/keys/{id}")).await.status, StatusCode::NOT_FOUND);
    client.get("/keys").await;
    let r = client.post_form(&format!("/keys/{id}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = client
        .post_form(&format!("/keys/{id}/acls"), &[("address", "192.0.2.0"), ("cidr", "24")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // …nor over the API.
    let keys = fx.ok("getKeys", json!({"id": fx.alice.0})).await;
    assert!(keys.as_array().unwrap().iter().all(|k| k["id"] != id), "{keys}");
    for (method, args) in [
        ("revokeKey", json!({"id": id})),
        ("createKeyACL", json!({"id": id, "address": "192.0.2.0", "cidr": 24})),
    ] {
        let (status, body) = fx.call_with(&fx.alice_key, method, args).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {body}");
    }
    assert_eq!(
        count(&fx.app, "select count(*) from api_key_acls").await,
        0,
        "no ACL was added"
    );
    // It still works, for Alice as for anyone.
    let (status, body) = fx.call_with(&secret, "getUsername", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn staff_with_support_write_create_list_and_revoke_internal_keys() {
    let fx = Fixture::new().await;
    let reader = fx.app.staff_client("rita", false).await;
    let writer = fx.app.staff_client("sam", true).await;

    // Read-only support sees the list, and may neither create nor revoke.
    let page = reader.get("/staff/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    let r = reader.post_form("/staff/keys", &[("name", "sneaky")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        count(&fx.app, "select count(*) from api_keys where customer_id is null").await,
        0
    );

    writer.get("/staff/keys").await;
    let r = writer.post_form("/staff/keys", &[("name", "  ")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&r, "name", "Give the key a name");
    let (id, secret) = staff_creates_key(&fx.app, &writer, "billing sync").await;
    let list = reader.get("/staff/keys").await;
    assert!(list.body.contains("billing sync"));
    assert_eq!(list.text(&format!("#internal-key-{id} .key-owner")), "staff sam");
    assert!(!list.body.contains(&secret), "the secret is shown only once");

    let (status, _) = fx.call_with(&secret, "getKeys", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::OK);
    let r = reader.post_form(&format!("/staff/keys/{id}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A customer's key is not revoked here.
    let alice_key_id: i64 = fx
        .app
        .scalar("select min(id) from api_keys where customer_id is not null")
        .await;
    writer.get("/staff/keys").await;
    let r = writer
        .post_form(&format!("/staff/keys/{alice_key_id}/revoke"), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = writer.post_form(&format!("/staff/keys/{id}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (status, _) = fx.call_with(&secret, "getKeys", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "refused on the very next call");
    let (status, _) = fx.call_with(&fx.alice_key, "getKeys", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn berth_create_key_internal_makes_a_platform_key_owned_by_the_operator() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let url = app.database_url().await;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("create-key")
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .env("USER", "ada")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let owner = |secret: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (Option<i64>, String, Option<String>)>(
                "select customer_id, type, created_by from api_keys where prefix = $1",
            )
            .bind(&secret[..14])
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (ok, secret, err) = run(&["--internal", "--by", "root", "--name", "ops"]);
    assert!(ok, "{err}");
    assert!(secret.starts_with("berth_"), "{secret}");
    assert_eq!(
        owner(secret).await,
        (None, "internal".into(), Some("operator root".into()))
    );
    let (ok, secret, err) = run(&["--internal"]);
    assert!(ok, "{err}");
    assert_eq!(owner(secret).await.2.as_deref(), Some("operator ada"), "the OS user");
    // An internal key is no customer's; --by goes only with --internal.
    let (ok, _, _) = run(&["--internal", "--customer", "alice"]);
    assert!(!ok);
    let (ok, _, _) = run(&["--customer", "alice", "--by", "root"]);
    assert!(!ok);
    let (ok, secret, err) = run(&["--customer", "alice"]);
    assert!(ok, "{err}");
    assert_eq!(owner(secret).await.1, "standard");
}

#[tokio::test]
async fn every_internal_call_names_the_keys_owner_in_the_customers_activity() {
    let fx = Fixture::new().await;
    let staff = fx.app.staff_client("sam", true).await;
    let (_, by_staff) = staff_creates_key(&fx.app, &staff, "support tool").await;
    let (_, by_operator) = key(&fx.app, fx.bob, KeyType::Internal).await;
    for secret in [&by_staff, &by_operator] {
        let (status, body) = fx.call_with(secret, "getUsername", json!({"id": fx.alice.0})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let actors: Vec<String> = sqlx::query_scalar(
        "select actor from activity where customer_id = $1 and kind = 'api_internal_call' order by id",
    )
    .bind(fx.alice)
    .fetch_all(&fx.app.pool)
    .await
    .unwrap();
    assert_eq!(
        actors,
        [
            format!("internal API key {} of staff sam", &by_staff[..14]),
            format!("internal API key {} of operator test", &by_operator[..14]),
        ]
    );
    // The customer reads it on the Activity page.
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    let page = client.get("/activity").await;
    assert!(
        page.body
            .contains(&format!("internal API key {} of staff sam", &by_staff[..14]))
    );
    assert!(page.texts("td").iter().any(|t| t == "Internal API call"));
}

// ---- Sign-in details over the API -------------------------------------------------------

const NEW_PASSWORD: &str = "a brand new long passphrase";

#[tokio::test]
async fn a_customers_key_changes_sign_in_details_only_when_the_customer_allowed_it() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let before = fx.snapshot().await;
    for (method, args) in [
        ("changePassword", json!({"id": alice, "password": NEW_PASSWORD})),
        ("changeEmail", json!({"id": alice, "email": "mallory@evil.example"})),
        ("changePIN", json!({"id": alice, "pin": "246810"})),
    ] {
        let (status, body) = fx.call_with(&fx.alice_key, method, args).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("API keys may change sign-in details"), "{message}");
    }
    // Nor may the key allow itself.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "setSettings",
            json!({"id": alice, "settings": [{"name": "api_sign_in_changes", "value": "on"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(fx.snapshot().await, before, "nothing was written");

    // Nor staff impersonating her.
    let staff = fx.app.staff_client("sam", true).await;
    impersonate(&staff, fx.alice).await;
    staff.get("/settings").await;
    let r = staff
        .post_form("/settings", &[("settings[api_sign_in_changes]", "on")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let stored = count(
        &fx.app,
        "select count(*) from customer_settings where key = 'api_sign_in_changes'",
    )
    .await;
    assert_eq!(stored, 0);

    // Alice herself turns it on, on the Settings page (off by default).
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    let page = client.get("/settings").await;
    assert!(page.body.contains("API keys may change sign-in details"));
    assert_eq!(
        page.text_attr("#setting-api_sign_in_changes option[selected]", "value"),
        "off"
    );
    let r = client
        .post_form("/settings", &[("settings[api_sign_in_changes]", "on")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // Now the key may; each change is recorded and tells the address the account had.
    fx.ok("changePassword", json!({"id": alice, "password": NEW_PASSWORD}))
        .await;
    fx.ok("changeEmail", json!({"id": alice, "email": "mallory@evil.example"}))
        .await;
    fx.ok("changePIN", json!({"id": alice, "pin": "246810"})).await;
    let email: String = fx
        .app
        .scalar("select email from customers where username = 'alice'")
        .await;
    assert_eq!(email, "mallory@evil.example");
    let recorded = count(
        &fx.app,
        "select count(*) from activity where kind in ('password_changed', 'email_changed', 'pin_changed')
         and actor like 'API key berth_%'",
    )
    .await;
    assert_eq!(recorded, 3);
    let notices = count(
        &fx.app,
        "select count(*) from notices where customer_id is not null and notice_type_id = 'security'",
    )
    .await;
    assert_eq!(notices, 3);
    let to: Vec<String> = sqlx::query_scalar("select email_to from deliveries where customer_id = $1 order by id")
        .bind(fx.alice)
        .fetch_all(&fx.app.pool)
        .await
        .unwrap();
    assert_eq!(
        to,
        ["alice@example.com", "alice@example.com", "mallory@evil.example"],
        "the address before each change"
    );
    // The delivery worker takes these emails like any other.
    let claimed = berth::delivery::model::claim(&fx.app.pool, 10, true, 300, 8, 4)
        .await
        .unwrap();
    let mut targets: Vec<(String, Option<String>)> =
        claimed.iter().map(|c| (c.method.clone(), c.target.clone())).collect();
    targets.sort();
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[0], ("email".to_owned(), Some("alice@example.com".to_owned())));
    // Alice reads it on /notices too.
    let client = fx.app.client();
    client.sign_in("alice", NEW_PASSWORD).await;
    let page = client.get("/notices").await;
    assert!(page.body.contains("Your sign-in details were changed through the API"));
    assert!(
        page.body
            .contains("email address was changed from alice@example.com to mallory@evil.example")
    );
}

#[tokio::test]
async fn an_internal_key_may_change_sign_in_details_and_it_is_recorded() {
    let fx = Fixture::new().await;
    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let (status, body) = fx
        .call_with(&internal, "changePIN", json!({"id": fx.alice.0, "pin": "135790"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actor: String = fx
        .app
        .scalar("select actor from activity where kind = 'pin_changed'")
        .await;
    assert_eq!(actor, format!("internal API key {} of operator test", &internal[..14]));
    let to: String = fx.app.scalar("select email_to from deliveries").await;
    assert_eq!(to, "alice@example.com");
}

// ---- updateKeyACL across families -------------------------------------------------------

#[tokio::test]
async fn changing_an_acls_family_needs_the_mask_and_cleared_host_bits_are_told() {
    let fx = Fixture::new().await;
    let (key_id, _) = key(&fx.app, fx.alice, KeyType::Standard).await;
    let acl = fx
        .ok(
            "createKeyACL",
            json!({"id": key_id, "address": "203.0.113.9", "cidr": 25}),
        )
        .await;
    assert_eq!(
        acl["note"],
        "Stored as 203.0.113.0/25: the host bits of 203.0.113.9 were cleared."
    );
    let acl_id = acl["id"].as_i64().unwrap();
    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "updateKeyACL",
            json!({"id": acl_id, "address": "2001:db8::"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["cidr"]
            .as_str()
            .unwrap()
            .contains("give its mask too")
    );
    assert_eq!(fx.snapshot().await, before, "nothing changed");
    let acl = fx
        .ok(
            "updateKeyACL",
            json!({"id": acl_id, "address": "2001:db8::7", "cidr": 48}),
        )
        .await;
    assert_eq!(
        (acl["address"].as_str(), acl["cidr"].as_i64()),
        (Some("2001:db8::"), Some(48))
    );
    assert!(
        acl["note"]
            .as_str()
            .unwrap()
            .contains("host bits of 2001:db8::7 were cleared")
    );
    let acl = fx.ok("updateKeyACL", json!({"id": acl_id, "cidr": 32})).await;
    assert!(acl.get("note").is_none(), "{acl}");

    // The page says the same, on the mask's field.
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    client.get(&format!("/keys/{key_id}")).await;
    let r = client
        .post_form(&format!("/acls/{acl_id}"), &[("address", "192.0.2.1")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("give its mask too"), "{}", r.body);
    let stored: String = fx
        .app
        .scalar(&format!("select network::text from api_key_acls where id = {acl_id}"))
        .await;
    assert_eq!(stored, "2001:db8::/32");
}

// ---- The key cache is cleared after the commit ------------------------------------------

/// Calls getKeys with `secret` from several tasks until stopped, so that some call lands
/// between a change's cache clearing and its commit if there is such a moment.
fn hammer(fx: &Fixture, secret: &str) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/Customer/getKeys", fx.app.base);
    let tasks = (0..6)
        .map(|_| {
            let (stop, url, secret, http) = (stop.clone(), url.clone(), secret.to_owned(), fx.http.clone());
            let args = json!({"id": fx.alice.0});
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = http.post(&url).bearer_auth(&secret).json(&args).send().await;
                }
            })
        })
        .collect();
    (stop, tasks)
}

async fn stop(hammering: (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<()>>)) {
    hammering.0.store(true, Ordering::Relaxed);
    for task in hammering.1 {
        task.await.unwrap();
    }
}

async fn next_call(fx: &Fixture, secret: &str) -> (StatusCode, Value) {
    fx.call_with(secret, "getKeys", json!({"id": fx.alice.0})).await
}

#[tokio::test]
async fn the_very_next_call_after_a_revocation_is_refused_even_under_load() {
    let fx = Fixture::new().await;
    for round in 0..12 {
        let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
        let busy = hammer(&fx, &secret);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        fx.ok("revokeKey", json!({"id": id})).await;
        let (status, body) = next_call(&fx, &secret).await;
        stop(busy).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}: {body}");
    }
}

#[tokio::test]
async fn the_very_next_call_after_an_acl_removal_is_refused_even_under_load() {
    let fx = Fixture::new().await;
    for round in 0..8 {
        let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
        // The test client is 127.0.0.1: allowed by the first ACL only.
        let local = fx
            .ok("createKeyACL", json!({"id": id, "address": "127.0.0.1", "cidr": 32}))
            .await;
        fx.ok("createKeyACL", json!({"id": id, "address": "192.0.2.0", "cidr": 24}))
            .await;
        let busy = hammer(&fx, &secret);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        fx.ok("deleteKeyACL", json!({"id": local["id"]})).await;
        let (status, body) = next_call(&fx, &secret).await;
        stop(busy).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "round {round}: {body}");
    }
}

#[tokio::test]
async fn the_very_next_call_after_a_cancellation_is_refused_even_under_load() {
    let fx = Fixture::new().await;
    let staff = fx.app.staff_client("sam", true).await;
    for round in 0..8 {
        let customer = fx.app.create_customer(&format!("carol{round}")).await;
        let (_, secret) = key(&fx.app, customer, KeyType::Standard).await;
        let request = fx
            .call_with(
                &secret,
                "requestCancellation",
                json!({"id": customer.0, "reason": "moving on"}),
            )
            .await
            .1["result"]["id"]
            .as_i64()
            .unwrap();
        let stop_flag = Arc::new(AtomicBool::new(false));
        let url = format!("{}/api/Customer/getUsername", fx.app.base);
        let busy: Vec<_> = (0..6)
            .map(|_| {
                let (stop_flag, url, secret, http) = (stop_flag.clone(), url.clone(), secret.clone(), fx.http.clone());
                tokio::spawn(async move {
                    while !stop_flag.load(Ordering::Relaxed) {
                        let _ = http
                            .post(&url)
                            .bearer_auth(&secret)
                            .json(&json!({"id": customer.0}))
                            .send()
                            .await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        staff.get(&format!("/staff/customers/{customer}")).await;
        let r = staff
            .post_form(
                &format!("/staff/customers/{customer}/cancellations/{request}/complete"),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let (status, body) = fx.call_with(&secret, "getUsername", json!({"id": customer.0})).await;
        stop((stop_flag, busy)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}: {body}");
    }
}

// ---- A refused key's flood --------------------------------------------------------------

#[tokio::test]
async fn a_flood_from_outside_the_acls_is_rate_limited_and_gathered_in_one_activity_row() {
    let mut web = WebConfig::new(None);
    web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    web.api_rate_per_second = 1;
    web.api_burst = 5;
    let fx = Fixture::with(web).await;
    let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
    let who = berth::identity::Who::new(fx.alice, "test", None);
    let acl = berth::keys::ops::AclInput {
        address: "203.0.113.0".into(),
        cidr: "24".into(),
    };
    berth::keys::ops::add_acl(&fx.app.pool, &who, berth::identity::key::KeyId(id), acl, None)
        .await
        .unwrap();
    let url = format!("{}/api/Customer/getKeys", fx.app.base);
    let (mut refused, mut limited) = (0, 0);
    for i in 0..60 {
        let from = ["198.51.100.1", "198.51.100.2", "2001:db8:bad::1"][i % 3];
        let (status, body) = fx
            .send(
                fx.http
                    .post(&url)
                    .bearer_auth(&secret)
                    .header("x-forwarded-for", from)
                    .json(&json!({"id": fx.alice.0})),
            )
            .await;
        match status {
            StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{other}: {body}"),
        }
    }
    assert!(
        limited >= 30,
        "the flood is held to the key's rate: {refused} refused, {limited} limited"
    );
    let rows: Vec<String> =
        sqlx::query_scalar("select detail from activity where customer_id = $1 and kind = 'api_key_refused'")
            .bind(fx.alice)
            .fetch_all(&fx.app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains(&format!(
            "refused {refused} times from 3 addresses in the last 10 minutes"
        )),
        "{rows:?}"
    );
    // The key still works from inside its ACLs once its rate allows.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = fx
        .send(
            fx.http
                .post(&url)
                .bearer_auth(&secret)
                .header("x-forwarded-for", "203.0.113.7")
                .json(&json!({"id": fx.alice.0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---- Older data -------------------------------------------------------------------------

/// An internal key made before internal keys became the platform's was filed under a
/// customer (whoever made it on that customer's page): the migration moves it, and its ACLs,
/// to the platform, so that customer no longer lists, revokes or strips it.
#[tokio::test]
async fn the_migration_moves_older_internal_keys_to_the_platform() {
    const MIGRATION: &str = "20261130000001_internal_keys.sql";
    // A database of the test cluster, to create an empty one next to it.
    let pool = fresh_database().await;
    let name = format!(
        "berth_migration_{}_{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    );
    sqlx::query(&format!("create database {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let options = pool.connect_options().as_ref().clone().database(&name);
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".sql"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f == MIGRATION), "{files:?}");
    let run = |file: String| {
        let db = db.clone();
        let sql = std::fs::read_to_string(dir.join(&file)).unwrap();
        async move {
            sqlx::raw_sql(&sql)
                .execute(&db)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    };
    for file in files.iter().filter(|f| f.as_str() < MIGRATION) {
        run(file.clone()).await;
    }
    sqlx::raw_sql(
        "insert into customers (username, email, password_hash) values ('alice', 'alice@example.com', 'x');
         insert into api_keys (customer_id, name, type, prefix, secret_hash)
             values (1, 'ops', 'internal', 'berth_00000001', decode(repeat('01', 32), 'hex')),
                    (1, 'deploy', 'standard', 'berth_00000002', decode(repeat('02', 32), 'hex'));
         insert into api_key_acls (customer_id, key_id, network) values (1, 1, '192.0.2.0/24'), (1, 2, '198.51.100.0/24');",
    )
    .execute(&db)
    .await
    .unwrap();
    run(MIGRATION.to_owned()).await;
    let keys: Vec<(String, Option<i64>, Option<String>)> =
        sqlx::query_as("select name, customer_id, created_by from api_keys order by id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(keys[0].0, "ops");
    assert_eq!(keys[0].1, None, "the internal key is the platform's");
    assert!(
        keys[0].2.as_deref().unwrap().contains("filed under customer 1"),
        "{keys:?}"
    );
    assert_eq!(keys[1], ("deploy".to_owned(), Some(1), None), "a customer's key stays");
    let acls: Vec<Option<i64>> = sqlx::query_scalar("select customer_id from api_key_acls order by key_id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(acls, [None, Some(1)]);
    db.close().await;
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&pool)
        .await
        .unwrap();
}
