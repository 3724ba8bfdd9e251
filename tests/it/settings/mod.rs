//! Settings: the typed registry, stored all or nothing, and what they change.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn settings_page_shows_every_setting_with_its_default() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let page = client.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    for setting in berth::settings::model::REGISTRY {
        let label = page.text(&format!(r#"label[for="setting-{}"]"#, setting.key));
        assert_eq!(label, setting.label);
    }
    assert_eq!(page.text_attr(r#"input[name="settings[time_zone]"]"#, "value"), "UTC");
    assert_eq!(
        page.text_attr(r#"input[name="settings[items_per_page]"]"#, "value"),
        "25"
    );
}

#[tokio::test]
async fn settings_are_saved_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/settings").await;
    let mixed = client
        .post_form(
            "/settings",
            &[
                ("settings[time_zone]", "Europe/Berlin"),
                ("settings[items_per_page]", "5000"),
            ],
        )
        .await;
    assert_field_error(&mixed, "settings[items_per_page]", "from 10 to 200");
    assert_eq!(
        mixed.text_attr(r#"input[name="settings[time_zone]"]"#, "value"),
        "Europe/Berlin",
        "input kept"
    );
    let stored: i64 = app.scalar("select count(*) from customer_settings").await;
    assert_eq!(stored, 0, "nothing stored when one entry is bad");

    let good = client
        .post_form(
            "/settings",
            &[
                ("settings[time_zone]", "Europe/Berlin"),
                ("settings[items_per_page]", "50"),
                ("settings[date_format]", "eu"),
            ],
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    let page = client.get("/settings").await;
    assert_eq!(
        page.text_attr(r#"input[name="settings[time_zone]"]"#, "value"),
        "Europe/Berlin"
    );
    assert_eq!(
        page.text_attr(r#"select[name="settings[date_format]"] option[selected]"#, "value"),
        "eu"
    );
    assert!(page.text("#toasts").contains("Settings saved."));
}

#[tokio::test]
async fn unknown_settings_and_bad_choices_are_field_errors() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/settings").await;
    let unknown = client
        .post_form(
            "/settings",
            &[("settings[nope]", "1"), ("settings[items_per_page]", "30")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown
            .text("#settings-errors")
            .contains("settings[nope]: There is no such setting.")
    );
    let choice = client
        .post_htmx("/settings", &[("settings[landing_page]", "https://evil.example")])
        .await;
    assert_eq!(choice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!choice.body.contains("<html"));
    assert_field_error(&choice, "settings[landing_page]", "Choose one of");
    let none = client.post_form("/settings", &[]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stored: i64 = app.scalar("select count(*) from customer_settings").await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn time_zone_and_date_format_change_how_times_are_shown() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/settings").await;
    client
        .post_form(
            "/settings",
            &[("settings[time_zone]", "Asia/Tokyo"), ("settings[date_format]", "eu")],
        )
        .await;
    let page = client.get("/activity").await;
    let when = page.text(r#"tr[data-kind="sign_in"] td"#);
    assert!(when.ends_with(" JST"), "{when}");
    assert_eq!(when.chars().nth(2), Some('/'), "day/month/year: {when}");
}

#[tokio::test]
async fn landing_page_decides_where_sign_in_goes() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/settings").await;
    client
        .post_form("/settings", &[("settings[landing_page]", "account")])
        .await;
    let again = app.client().sign_in("alice", PASSWORD).await;
    assert_eq!(again.location(), "/account");
}

#[tokio::test]
async fn activity_pages_by_the_rows_per_page_setting() {
    let app = TestApp::spawn().await;
    let (client, id) = app.signed_in_client("alice").await;
    for i in 0..25 {
        berth::audit::record(
            &app.pool,
            &berth::identity::Who::new(id, "customer", None),
            "settings_changed",
            &format!("entry {i}"),
        )
        .await
        .unwrap();
    }
    client.get("/settings").await;
    client
        .post_form("/settings", &[("settings[items_per_page]", "10")])
        .await;
    let first = client.get("/activity").await;
    assert_eq!(first.texts("#activity tbody tr").len(), 10);
    let third = client.get("/activity?page=3").await;
    assert_eq!(third.texts("#activity tbody tr").len(), 7);
    assert_eq!(client.get("/activity?page=abc").await.status, StatusCode::OK);
    assert_eq!(client.get("/activity?page=-4").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_page_and_the_api_refuse_a_setting_in_the_same_words() {
    // One operation checks both: the page names the entry `settings[KEY]`, the API
    // `settings.KEY`, and the message is the same.
    let fx = crate::api::Fixture::new().await;
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    client.get("/settings").await;
    for (key, value) in [
        ("items_per_page", "5000"),
        ("time_zone", "Mars/Olympus"),
        ("date_format", "roman"),
    ] {
        let field = format!("settings[{key}]");
        let r = client.post_form("/settings", &[(field.as_str(), value)]).await;
        let on_page = assert_field_error(&r, &field, "");
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "setSettings",
                serde_json::json!({"id": fx.alice.0, "settings": [{"name": key, "value": value}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["error"]["fields"][format!("settings.{key}")].as_str(),
            Some(on_page.trim()),
            "{key}: {body}"
        );
    }
    let stored: i64 = fx.app.scalar("select count(*) from customer_settings").await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn saving_logs_only_the_settings_that_changed() {
    let app = TestApp::spawn().await;
    let (client, id) = app.signed_in_client("alice").await;
    let logged = || async {
        sqlx::query_scalar::<_, String>(
            "select detail from activity where customer_id = $1 and kind = 'settings_changed' order by id",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    // Every setting, as the page sends them, unchanged.
    let values = berth::settings::model::load(&app.pool, id).await.unwrap();
    let mut fields: Vec<(String, String)> = values
        .iter()
        .map(|(key, value)| (format!("settings[{key}]"), value.to_owned()))
        .collect();
    assert_eq!(fields.len(), berth::settings::model::REGISTRY.len());
    client.get("/settings").await;
    let post = |fields: Vec<(String, String)>| {
        let client = &client;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            client.post_form("/settings", &pairs).await
        }
    };
    let unchanged = post(fields.clone()).await;
    assert_eq!(unchanged.status, StatusCode::SEE_OTHER, "{}", unchanged.body);
    assert!(logged().await.is_empty(), "nothing changed, nothing logged");

    // One changed: that one alone is named.
    for (name, value) in fields.iter_mut() {
        if name == "settings[time_zone]" {
            *value = "Europe/Berlin".to_owned();
        }
    }
    let one = post(fields.clone()).await;
    assert_eq!(one.status, StatusCode::SEE_OTHER, "{}", one.body);
    assert_eq!(logged().await, ["time_zone"]);
    let stored = berth::settings::model::load(&app.pool, id).await.unwrap();
    assert_eq!(stored.get("time_zone"), "Europe/Berlin");
}
