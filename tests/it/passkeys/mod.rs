//! Passkeys (issue 16): the page's plain forms (rename, remove) with their field errors and
//! their owner-only reach, the ceremony steps' JSON refusals, the one-use and expiring
//! ceremony state, and the throttle of the sign-in's last step. The ceremonies themselves,
//! with a real authenticator, are in `browser/passkeys.rs`.

use std::time::Duration;

use berth::identity::CustomerId;
use berth::state::WebConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, Resp, TestApp, assert_field_error};

const PAGE: &str = "/account/security/passkeys";

/// Gives `customer` a passkey named `name` straight in the database (its credential is not
/// one an authenticator made: the page and its forms never read it). Returns its id.
pub(crate) async fn insert_passkey(app: &TestApp, customer: CustomerId, name: &str) -> i64 {
    sqlx::query(
        "insert into passkey_users (customer_id, handle) values ($1, gen_random_uuid())
         on conflict (customer_id) do nothing",
    )
    .bind(customer)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "insert into passkeys (customer_id, name, credential_id, credential, created_at)
         values ($1, $2, gen_random_uuid()::text::bytea, '{}', now()) returning id",
    )
    .bind(customer)
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn names(app: &TestApp, customer: CustomerId) -> Vec<String> {
    sqlx::query_scalar("select name from passkeys where customer_id = $1 order by id")
        .bind(customer)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// A ceremony step's JSON answer.
fn json_of(resp: &Resp) -> Value {
    serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", resp.body))
}

/// Posts `body` as JSON with the client's CSRF token, as `static/passkeys.js` does.
async fn post_json(client: &Client, path: &str, body: &Value) -> Resp {
    let token = client.token().await;
    let resp = client
        .http
        .post(format!("{}{path}", client.base))
        .header("X-CSRF-Token", token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    Resp { status, headers, body }
}

/// An answer shaped like a browser's assertion that proves nothing.
fn bogus_assertion() -> Value {
    json!({
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null }
    })
}

/// Berth as the relying party `localhost` (what BERTH_PUBLIC_URL gives in production).
async fn localhost_app() -> TestApp {
    TestApp::spawn_with(WebConfig::new(Some("http://localhost"))).await
}

#[tokio::test]
async fn passkeys_are_listed_renamed_and_removed_with_plain_forms() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let page = client.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text("#passkeys-none").contains("no passkeys"));

    let laptop = insert_passkey(&app, alice, "Laptop").await;
    insert_passkey(&app, alice, "Phone").await;
    let page = client.get(PAGE).await;
    assert_eq!(page.texts("#passkeys .passkey-name"), ["Laptop", "Phone"]);

    let rename = format!("{PAGE}/{laptop}/rename");
    let resp = client.post_form(&rename, &[("name", "  Work laptop ")]).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(resp.location(), PAGE);
    assert_eq!(names(&app, alice).await, ["Work laptop", "Phone"]);
    let toast = client.get(PAGE).await;
    assert!(toast.body.contains("Passkey renamed to"), "{}", toast.body);

    for (bad, message) in [
        ("", "Name the passkey"),
        ("Phone", "a passkey of that name already"),
        (&"x".repeat(61)[..], "at most 60"),
    ] {
        let resp = client.post_form(&rename, &[("name", bad)]).await;
        assert_field_error(&resp, "name", message);
    }
    assert_eq!(names(&app, alice).await, ["Work laptop", "Phone"]);

    let resp = client.post_form(&format!("{PAGE}/{laptop}/delete"), &[]).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(names(&app, alice).await, ["Phone"]);

    let kinds: Vec<String> = sqlx::query_scalar(
        "select kind || ': ' || detail from activity where customer_id = $1 and kind like 'passkey%' order by id",
    )
    .bind(alice)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        ["passkey_renamed: Laptop → Work laptop", "passkey_removed: Work laptop"]
    );
}

#[tokio::test]
async fn another_customers_passkey_is_not_found_and_does_not_change() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    let bob = app.create_customer("bob").await;
    let bobs = insert_passkey(&app, bob, "Bob's key").await;
    alice.get(PAGE).await;

    let resp = alice
        .post_form(&format!("{PAGE}/{bobs}/rename"), &[("name", "Mine")])
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = alice.post_form(&format!("{PAGE}/{bobs}/delete"), &[]).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = alice.post_form(&format!("{PAGE}/not-a-number/delete"), &[]).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);

    assert_eq!(names(&app, bob).await, ["Bob's key"]);
    assert!(!alice.get(PAGE).await.body.contains("Bob's key"));
    let recorded: i64 = app
        .scalar(&format!(
            "select count(*) from activity where kind like 'passkey%' and customer_id = {bob}"
        ))
        .await;
    assert_eq!(recorded, 0);
}

#[tokio::test]
async fn adding_a_passkey_asks_for_a_discoverable_one_under_a_valid_name() {
    let app = localhost_app().await;
    let (client, alice) = app.signed_in_client("alice").await;
    client.get(PAGE).await;
    const OPTIONS: &str = "/account/security/passkeys/options";

    for (bad, message) in [("", "Name the passkey"), ("a\u{1b}b", "control character")] {
        let resp = client.post_form(OPTIONS, &[("name", bad)]).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", resp.body);
        if bad.is_empty() {
            let body = json_of(&resp);
            assert!(body["fields"]["name"].as_str().unwrap().contains(message), "{body}");
        } else {
            assert!(resp.body.contains(message), "{}", resp.body);
        }
    }
    insert_passkey(&app, alice, "Laptop").await;
    let resp = client.post_form(OPTIONS, &[("name", "Laptop")]).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json_of(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("of that name already")
    );
    // The row above holds no real credential, which the options below would read.
    sqlx::query("delete from passkeys").execute(&app.pool).await.unwrap();

    let resp = client.post_form(OPTIONS, &[("name", "Phone")]).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let options = json_of(&resp);
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
    // The user handle is the customer's, the same each time, and not their id.
    let again = json_of(&client.post_form(OPTIONS, &[("name", "Phone")]).await);
    assert_eq!(again["publicKey"]["user"]["id"], public_key["user"]["id"]);
    assert_ne!(again["publicKey"]["challenge"], public_key["challenge"]);

    // The browser's answer must be a credential; anything else is refused, and the
    // ceremony it answered is used up either way.
    const FINISH: &str = "/account/security/passkeys/finish";
    let resp = post_json(&client, FINISH, &json!({ "hello": "there" })).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json_of(&resp)["error"].as_str().unwrap().contains("could not be read"));
    let resp = post_json(&client, FINISH, &json!({ "hello": "there" })).await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert!(
        json_of(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("expired or was used")
    );
    assert!(names(&app, alice).await.is_empty());
}

#[tokio::test]
async fn without_a_public_url_passkeys_work_only_at_localhost() {
    // The test server is reached at 127.0.0.1: an IP address is never a relying party.
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get(PAGE).await;
    let resp = client
        .post_form("/account/security/passkeys/options", &[("name", "Laptop")])
        .await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert!(json_of(&resp)["error"].as_str().unwrap().contains("BERTH_PUBLIC_URL"));
}

#[tokio::test]
async fn sign_in_options_name_no_account() {
    let app = localhost_app().await;
    let empty = json_of(&app.client().post_form("/login/passkey/options", &[]).await);
    let alice = app.create_customer("alice").await;
    insert_passkey(&app, alice, "Laptop").await;
    let client = app.client();
    let resp = client
        .post_form("/login/passkey/options", &[("username", "alice")])
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let options = json_of(&resp);
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rpId"], "localhost");
    assert!(
        public_key["allowCredentials"].as_array().is_none_or(Vec::is_empty),
        "{options}"
    );
    assert!(!options.to_string().contains("alice"));
    // The same options, but for the challenge, with or without accounts and passkeys.
    let strip = |mut v: Value| {
        v["publicKey"]["challenge"] = Value::Null;
        v
    };
    assert_eq!(strip(empty), strip(options));
}

#[tokio::test]
async fn a_sign_in_ceremony_is_used_once_and_expires() {
    let app = localhost_app().await;
    let client = app.client();
    const FINISH: &str = "/login/passkey/finish";

    let resp = post_json(&client, FINISH, &bogus_assertion()).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "no ceremony started: {}", resp.body);

    client.post_form("/login/passkey/options", &[]).await;
    let resp = post_json(&client, FINISH, &bogus_assertion()).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&resp)["error"], "That passkey was not accepted.");
    let resp = post_json(&client, FINISH, &bogus_assertion()).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "used already: {}", resp.body);

    client.post_form("/login/passkey/options", &[]).await;
    app.advance(Duration::from_secs(6 * 60));
    let resp = post_json(&client, FINISH, &bogus_assertion()).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "expired: {}", resp.body);

    // None of it signed anyone in.
    assert_eq!(client.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failed_passkey_sign_ins_are_throttled_per_address() {
    let app = localhost_app().await;
    let client = app.client();
    let mut statuses = Vec::new();
    for _ in 0..21 {
        client.post_form("/login/passkey/options", &[]).await;
        statuses.push(post_json(&client, "/login/passkey/finish", &bogus_assertion()).await);
    }
    assert!(
        statuses[..20]
            .iter()
            .all(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY),
        "the first 20 failures are answered"
    );
    let last = &statuses[20];
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    assert!(json_of(last)["error"].as_str().unwrap().contains("Wait"));
}

#[tokio::test]
async fn the_second_factor_needs_a_password_step_first() {
    let app = localhost_app().await;
    let client = app.client();
    let resp = client.post_form("/login/second-factor/passkey/options", &[]).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{}", resp.body);
    assert_eq!(json_of(&resp)["error"], "Please sign in.");
    let resp = post_json(&client, "/login/second-factor/passkey/finish", &bogus_assertion()).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn staff_impersonating_cannot_change_passkeys() {
    let app = localhost_app().await;
    let alice = app.create_customer("alice").await;
    let laptop = insert_passkey(&app, alice, "Laptop").await;
    let staff = app.staff_client("sam", true).await;
    staff.get(&format!("/staff/customers/{alice}")).await;
    let resp = staff
        .post_form(
            &format!("/staff/customers/{alice}/impersonate"),
            &[("reason", "ticket 7")],
        )
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    staff.get(PAGE).await;
    let resp = staff.post_form(&format!("{PAGE}/{laptop}/delete"), &[]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let resp = staff
        .post_form("/account/security/passkeys/options", &[("name", "Staff's key")])
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(names(&app, alice).await, ["Laptop"]);
}

#[tokio::test]
async fn with_a_passkey_the_password_alone_does_not_sign_in() {
    let app = localhost_app().await;
    let alice = app.create_customer("alice").await;
    insert_passkey(&app, alice, "Laptop").await;
    let client = app.client();
    let resp = client.sign_in("alice", crate::helpers::PASSWORD).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(resp.location(), "/login/second-factor");
    // Not signed in yet.
    let resp = client.get("/").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert!(resp.location().starts_with("/login"), "{}", resp.location());
    // The second step offers the passkey, and no code field (no authenticator app).
    let page = client.get("/login/second-factor").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"data-options="/login/second-factor/passkey/options""#),
        "{}",
        page.body
    );
    assert!(!page.body.contains(r#"name="code""#));
    // (The ceremony itself, with a real authenticator: browser/passkeys.rs.)
}

#[tokio::test]
async fn creating_a_key_asks_an_account_with_passkeys_alone_to_confirm_with_one() {
    let app = localhost_app().await;
    let (client, alice) = app.signed_in_client("alice").await;
    // The passkey came after this session signed in: its second factor is not proven.
    insert_passkey(&app, alice, "Laptop").await;
    let page = client.get("/keys").await;
    assert!(
        page.body
            .contains(r#"href="/account/security/passkeys/confirm?next=/keys""#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("new-key-code"),
        "no code without an authenticator app"
    );
    let token = page.text_attr(r#"input[name="form_token"]"#, "value");
    let r = client
        .post_form(
            "/keys",
            &[("name", "deploy"), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Confirm with a passkey first"), "{}", r.body);
    let keys: i64 = app
        .scalar(&format!(
            "select count(*) from api_keys where customer_id = {}",
            alice.0
        ))
        .await;
    assert_eq!(keys, 0, "no key without the fresh check");
    // The confirm page offers the passkey and goes back only to a local path.
    let page = client.get("/account/security/passkeys/confirm?next=/keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"data-finish="/account/security/passkeys/confirm/finish""#)
    );
    let page = client
        .get("/account/security/passkeys/confirm?next=https://evil.example/")
        .await;
    assert!(
        page.body.contains(r#"<a href="/account/security">Back</a>"#),
        "{}",
        page.body
    );
    // Its finish step without a ceremony is refused.
    let resp = post_json(&client, "/account/security/passkeys/confirm/finish", &bogus_assertion()).await;
    assert_ne!(resp.status, StatusCode::OK);
    assert!(json_of(&resp)["error"].is_string());
}
