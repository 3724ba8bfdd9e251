//! The cases of the account's, settings' and wizard's API methods (see `api.rs`), and what
//! only they do: the same rules and Activity as the pages, what a password change signs
//! out, settings all or nothing, and CP_Wizard's answer and errors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Case, Fixture};
use crate::helpers::*;

/// CP_Wizard's arguments for a valid site at `hostname` with container `container`.
fn wizard_args(customer: i64, hostname: &str, container: &str) -> Value {
    json!({
        "customerId": customer,
        "siteName": "Shop",
        "siteHostname": hostname,
        "containerName": container,
        "containerType": "lamp",
        "containerOSId": "debian-12",
        "containerDiskSpace": 20,
        "containerSize": "small",
        "environmentNames": ["production", "staging"],
        "aliasNames": [format!("www.{hostname}")],
        "createDNS": true,
    })
}

pub async fn cases(fx: &Fixture) -> Vec<Case> {
    let alice = fx.alice.0;
    let id = json!({"id": alice});
    let bad_id = (json!({"id": "alice"}), "id");
    vec![
        Case::new(
            "requestCancellation",
            json!({"id": alice, "reason": "Moving elsewhere"}),
            (json!({"id": alice, "reason": "   "}), "reason"),
            Some(json!({"id": alice, "reason": "Moving elsewhere"})),
        ),
        Case::new("listRoles", id.clone(), bad_id.clone(), Some(id.clone())),
        Case::new("getUsername", id.clone(), bad_id.clone(), Some(id.clone())),
        Case::new(
            "changePassword",
            json!({"id": alice, "password": "a much longer passphrase"}),
            (json!({"id": alice, "password": "short"}), "password"),
            Some(json!({"id": alice, "password": "a much longer passphrase"})),
        ),
        Case::new(
            "changePIN",
            json!({"id": alice, "pin": "024680"}),
            (json!({"id": alice, "pin": "12ab56"}), "pin"),
            Some(json!({"id": alice, "pin": "024680"})),
        ),
        Case::new(
            "changeEmail",
            json!({"id": alice, "email": "alice@example.org"}),
            (json!({"id": alice, "email": "not an address"}), "email"),
            Some(json!({"id": alice, "email": "bob-was-here@example.org"})),
        ),
        Case::new(
            "setSettings",
            json!({"id": alice, "settings": [{"name": "time_zone", "value": "Europe/Berlin"}]}),
            (
                json!({"id": alice, "settings": [
                    {"name": "time_zone", "value": "Europe/Berlin"},
                    {"name": "items_per_page", "value": 5000}
                ]}),
                "settings.items_per_page",
            ),
            Some(json!({"id": alice, "settings": [{"name": "time_zone", "value": "Europe/Berlin"}]})),
        ),
        Case::new("getSettings", id.clone(), bad_id, Some(id)),
        Case::new(
            "CP_Wizard",
            wizard_args(alice, "cases.example.com", "cases"),
            (wizard_args(alice, "not a hostname!", "cases"), "siteHostname"),
            Some(wizard_args(alice, "cases.example.com", "cases")),
        ),
    ]
}

/// The kinds, actors and details of Alice's Activity, oldest first.
async fn activity(fx: &Fixture) -> Vec<(String, String, String)> {
    sqlx::query_as("select kind, actor, detail from activity where customer_id = $1 order by id")
        .bind(fx.alice)
        .fetch_all(&fx.app.pool)
        .await
        .unwrap()
}

/// The error of a call expected to fail with 422 on `field`: its message.
async fn field_error(fx: &Fixture, method: &str, args: Value, field: &str) -> String {
    let (status, body) = fx.call_with(&fx.alice_key, method, args.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {args}: {body}");
    body["error"]["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {args}: no message on {field}: {body}"))
        .to_owned()
}

#[tokio::test]
async fn account_methods_share_the_pages_rules_and_activity() {
    let fx = Fixture::new().await;
    fx.allow_sign_in_changes().await;
    let alice = fx.alice.0;
    assert_eq!(fx.ok("getUsername", json!({"id": alice})).await, "alice");
    sqlx::query("insert into customer_roles (customer_id, role_id) select $1, id from roles where name = 'beta'")
        .bind(fx.alice)
        .execute(&fx.app.pool)
        .await
        .unwrap();
    let roles = fx.ok("listRoles", json!({"id": alice})).await;
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["beta", "owner"]);
    assert!(roles[0]["description"].as_str().unwrap().contains("features"));

    // The page's rules: NewPassword, Pin, Email.
    let message = field_error(
        &fx,
        "changePassword",
        json!({"id": alice, "password": "Password1234"}),
        "password",
    )
    .await;
    assert!(message.contains("most common"), "{message}");
    let message = field_error(
        &fx,
        "changePassword",
        json!({"id": alice, "password": "elevenchars"}),
        "password",
    )
    .await;
    assert!(message.contains("12 characters"), "{message}");
    for pin in ["12345", "1234567890123", "١٢٣٤٥٦"] {
        field_error(&fx, "changePIN", json!({"id": alice, "pin": pin}), "pin").await;
    }
    field_error(&fx, "changePIN", json!({"id": alice, "pin": 123456}), "pin").await;
    field_error(&fx, "changeEmail", json!({"id": alice, "email": "a@b"}), "email").await;

    // The email change is direct, and the account page shows it.
    let browser = fx.app.client();
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        fx.ok("changeEmail", json!({"id": alice, "email": " new@example.org "}))
            .await,
        true
    );
    assert_eq!(browser.get("/account").await.text("#account-email"), "new@example.org");
    fx.ok("changePIN", json!({"id": alice, "pin": "000111"})).await;
    let has_pin: bool = fx
        .app
        .scalar("select pin_hash is not null from customers where username = 'alice'")
        .await;
    assert!(has_pin);

    // A password change signs out every browser session; the new password signs in.
    fx.ok(
        "changePassword",
        json!({"id": alice, "password": "a new and long passphrase"}),
    )
    .await;
    let after = browser.get("/account").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session was signed out");
    assert!(after.location().starts_with("/login"), "{}", after.location());
    assert_eq!(
        fx.app.client().sign_in("alice", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old password no longer works"
    );
    assert_eq!(
        fx.app
            .client()
            .sign_in("alice", "a new and long passphrase")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // The API key still works.
    assert_eq!(fx.ok("getUsername", json!({"id": alice})).await, "alice");

    let changes: Vec<(String, String, String)> = activity(&fx)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind.ends_with("_changed"))
        .collect();
    let kinds: Vec<&str> = changes.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["email_changed", "pin_changed", "password_changed"]);
    assert_eq!(changes[0].2, "from alice@example.com to new@example.org");
    for (kind, actor, _) in &changes {
        let prefix = actor
            .strip_prefix("API key ")
            .unwrap_or_else(|| panic!("{kind}: {actor}"));
        assert!(fx.alice_key.starts_with(prefix), "{kind}: {actor}");
    }
}

#[tokio::test]
async fn a_cancellation_request_is_refused_while_one_is_pending() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let request = fx
        .ok(
            "requestCancellation",
            json!({"id": alice, "reason": "  Moving to our own servers  "}),
        )
        .await;
    assert!(request["id"].as_i64().unwrap() > 0);
    assert_eq!(request["reason"], "Moving to our own servers");
    assert_eq!(request["status"], "pending");
    assert!(request["requested"].as_str().unwrap().contains('T'));
    let status: String = fx
        .app
        .scalar("select status from customers where username = 'alice'")
        .await;
    assert_eq!(status, "cancellation_requested");

    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "requestCancellation",
            json!({"id": alice, "reason": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["type"], "Conflict");
    assert_eq!(body["error"]["message"], "A cancellation request is already pending.");
    assert_eq!(fx.snapshot().await, before);
    let long = "x".repeat(2001);
    field_error(
        &fx,
        "requestCancellation",
        json!({"id": alice, "reason": long}),
        "reason",
    )
    .await;

    // The page shows the request, and can withdraw it; then the API may ask again.
    let browser = fx.app.client();
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get("/account/cancel").await;
    assert_eq!(page.text("#pending-reason"), "Moving to our own servers");
    let requested: Vec<String> = activity(&fx)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "cancellation_requested")
        .map(|(_, _, detail)| detail)
        .collect();
    assert_eq!(requested, ["Moving to our own servers"]);
    let withdrawn = browser.post_form("/account/cancel", &[("action", "withdraw")]).await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER, "{}", withdrawn.body);
    fx.ok("requestCancellation", json!({"id": alice, "reason": "Really"}))
        .await;
}

#[tokio::test]
async fn settings_round_trip_all_or_nothing() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let all = fx.ok("getSettings", json!({"id": alice})).await;
    let all = all.as_array().unwrap();
    let names: Vec<&str> = all.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let registry: Vec<&str> = berth::settings::model::REGISTRY.iter().map(|s| s.key).collect();
    assert_eq!(names, registry);
    for setting in all {
        assert_eq!(setting["value"], setting["default"], "{setting}");
    }
    let per_page = all.iter().find(|s| s["name"] == "items_per_page").unwrap();
    assert_eq!(
        (per_page["type"].as_str(), per_page["min"].as_i64()),
        (Some("number"), Some(10))
    );
    let format = all.iter().find(|s| s["name"] == "date_format").unwrap();
    assert_eq!(format["choices"], json!(["iso", "eu", "us"]));

    // One wrong entry: nothing stored, each error on settings.NAME.
    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "setSettings",
            json!({"id": alice, "settings": [
                {"name": "time_zone", "value": "Europe/Paris"},
                {"name": "items_per_page", "value": 5000},
                {"name": "colour", "value": "red"},
                {"name": "date_format", "value": "eu"},
                {"name": "date_format", "value": "us"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = &body["error"]["fields"];
    assert!(
        fields["settings.items_per_page"]
            .as_str()
            .unwrap()
            .contains("10 to 200")
    );
    assert_eq!(fields["settings.colour"], "There is no such setting.");
    assert_eq!(fields["settings.date_format"], "This setting was given twice.");
    assert!(fields.get("settings.time_zone").is_none(), "{body}");
    assert_eq!(fx.snapshot().await, before);
    field_error(&fx, "setSettings", json!({"id": alice, "settings": []}), "settings").await;
    field_error(
        &fx,
        "setSettings",
        json!({"id": alice, "settings": {"time_zone": "UTC"}}),
        "settings",
    )
    .await;
    field_error(
        &fx,
        "setSettings",
        json!({"id": alice, "settings": [{"name": "time_zone"}]}),
        "settings[0].value",
    )
    .await;

    // A number may be a JSON number; the answer is every setting, as getSettings gives it.
    let saved = fx
        .ok(
            "setSettings",
            json!({"id": alice, "settings": [
                {"name": "time_zone", "value": "Europe/Paris"},
                {"name": "items_per_page", "value": 50},
                {"name": "invoice_reference", "value": " PO-1 "},
            ]}),
        )
        .await;
    assert_eq!(saved, fx.ok("getSettings", json!({"id": alice})).await);
    let value = |name: &str| saved.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["value"].clone();
    assert_eq!(value("items_per_page"), "50");
    assert_eq!(value("invoice_reference"), "PO-1");
    assert_eq!(value("date_format"), "iso", "the others keep their values");
    let logged: Vec<String> = activity(&fx)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "settings_changed")
        .map(|(_, _, detail)| detail)
        .collect();
    assert_eq!(logged, ["time_zone, items_per_page, invoice_reference"]);

    // The page shows them.
    let browser = fx.app.client();
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get("/settings").await;
    assert_eq!(
        page.text_attr(r#"input[name="settings[time_zone]"]"#, "value"),
        "Europe/Paris"
    );
    assert_eq!(
        page.text_attr(r#"input[name="settings[items_per_page]"]"#, "value"),
        "50"
    );
}

#[tokio::test]
async fn cp_wizard_creates_what_the_wizard_does_and_answers_its_ids() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let created = fx
        .ok("CP_Wizard", wizard_args(alice, "bücher.example.com", "web"))
        .await;
    let site = created["siteId"].as_i64().unwrap();
    assert_eq!(created["hostname"], "xn--bcher-kva.example.com");
    assert_eq!(created["aliases"], json!(["www.xn--bcher-kva.example.com"]));
    let envs: Vec<&str> = created["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "staging"]);
    let records = created["dnsRecords"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["type"] == "A" && r["id"].is_i64()));
    let ids: (i64, i64, i64) = sqlx::query_as(
        "select s.id, c.id, j.id from sites s join containers c on c.site_id = s.id
         join provisioning_jobs j on j.site_id = s.id where s.customer_id = $1",
    )
    .bind(fx.alice)
    .fetch_one(&fx.app.pool)
    .await
    .unwrap();
    assert_eq!(
        ids,
        (
            site,
            created["containerId"].as_i64().unwrap(),
            created["jobId"].as_i64().unwrap()
        )
    );
    let steps: i64 = fx.app.scalar("select count(*) from job_steps").await;
    assert_eq!(steps as usize, berth::sites::steps::STEPS.len());
    // Recorded in Activity, by its hostname as people write it.
    let created_entries: Vec<String> = activity(&fx)
        .await
        .into_iter()
        .filter(|(kind, ..)| kind == "site_created")
        .map(|(_, _, detail)| detail)
        .collect();
    assert_eq!(created_entries, ["bücher.example.com"]);

    // The site's page shows it.
    let browser = fx.app.client();
    browser.sign_in("alice", PASSWORD).await;
    let page = browser.get(&format!("/sites/{site}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("#site-hostname"), "bücher.example.com");
    assert!(page.text("#container-name").starts_with("web"));

    // Again: the hostname and the container name are taken; nothing more is created.
    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "CP_Wizard",
            wizard_args(alice, "bücher.example.com", "web"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = &body["error"]["fields"];
    assert_eq!(
        fields["siteHostname"],
        "This hostname is already in use on the platform."
    );
    assert_eq!(fields["containerName"], "You already have a container with this name.");
    assert_eq!(
        fields["aliasNames.0"],
        "This hostname is already in use on the platform."
    );
    assert_eq!(fx.snapshot().await, before);

    // Without DNS, without aliases.
    let mut args = wizard_args(alice, "plain.example.com", "plain");
    args["createDNS"] = json!(false);
    args.as_object_mut().unwrap().remove("aliasNames");
    let plain = fx.ok("CP_Wizard", args).await;
    assert_eq!(plain["dnsRecords"], json!([]));
    assert_eq!(plain["aliases"], json!([]));
}

#[tokio::test]
async fn cp_wizard_reports_every_steps_errors_by_seed_name() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let before = fx.snapshot().await;
    let mut args = wizard_args(alice, "shop.example.com", "Not a label");
    args["containerOSId"] = json!("alpine-3.20");
    args["containerSize"] = json!("small");
    args["containerDiskSpace"] = json!(500);
    args["environmentNames"] = json!(["production", "production", ""]);
    args["aliasNames"] = json!(["shop.example.com"]);
    let (status, body) = fx.call_with(&fx.alice_key, "CP_Wizard", args).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = body["error"]["fields"].as_object().unwrap();
    let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
    named.sort();
    assert_eq!(
        named,
        [
            "aliasNames.0",
            "containerDiskSpace",
            "containerName",
            "containerOSId",
            "environmentNames.1",
            "environmentNames.2",
        ],
        "{body}"
    );
    assert!(fields["containerDiskSpace"].as_str().unwrap().contains("10 to 50"));
    assert_eq!(fields["aliasNames.0"], "An alias cannot repeat the site's hostname.");

    let mut none = wizard_args(alice, "shop.example.com", "web");
    none["environmentNames"] = json!([]);
    let (_, body) = fx.call_with(&fx.alice_key, "CP_Wizard", none).await;
    assert!(body["error"]["fields"]["environmentNames"].is_string(), "{body}");
    let mut many = wizard_args(alice, "shop.example.com", "web");
    many["environmentNames"] = json!((0..50).map(|i| format!("env{i}")).collect::<Vec<_>>());
    let (_, body) = fx.call_with(&fx.alice_key, "CP_Wizard", many).await;
    assert_eq!(body["error"]["fields"]["environmentNames"], "At most 10 environments.");
    let mut disk = wizard_args(alice, "shop.example.com", "web");
    disk["containerDiskSpace"] = json!("twenty");
    let (_, body) = fx.call_with(&fx.alice_key, "CP_Wizard", disk).await;
    assert!(body["error"]["fields"]["containerDiskSpace"].is_string(), "{body}");
    assert_eq!(fx.snapshot().await, before);

    // A read-only key may not create.
    let (_, read_only) = crate::api::key(&fx.app, fx.alice, berth::identity::key::KeyType::ReadOnly).await;
    let (status, _) = fx
        .call_with(&read_only, "CP_Wizard", wizard_args(alice, "shop.example.com", "web"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
