//! The FTP users' page and API methods give the same answers: they call one operation.

use reqwest::StatusCode;
use serde_json::json;

use super::FTP_PASSWORD;
use crate::api::Fixture;
use crate::helpers::{PASSWORD, assert_field_error};

async fn hash(fx: &Fixture, id: i64) -> String {
    sqlx::query_scalar("select password_hash from ftp_users where id = $1")
        .bind(id)
        .fetch_one(&fx.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn page_and_api_keep_an_empty_password_and_refuse_a_repeated_create_alike() {
    let fx = Fixture::new().await;
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    let args = json!({"customerId": fx.alice.0, "name": "Designer", "username": "designer",
                      "password": FTP_PASSWORD, "relativeRoot": "", "type": "read-write"});
    let id = fx.ok("createFTPUser", args.clone()).await["id"].as_i64().unwrap();
    let before = hash(&fx, id).await;

    // An empty password keeps the current one: on the edit form, and in updateFTPUser.
    let path = format!("/ftp-users/{id}");
    client.get(&path).await;
    let r = client
        .post_form(&path, &[("name", "Lead designer"), ("password", "")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(hash(&fx, id).await, before);
    let updated = fx
        .ok("updateFTPUser", json!({"id": id, "name": "Designer", "password": ""}))
        .await;
    assert_eq!(updated["name"], "Designer");
    assert_eq!(hash(&fx, id).await, before);
    // Creating needs one, alike.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createFTPUser",
            json!({"customerId": fx.alice.0, "name": "x", "username": "no-password",
                   "password": "", "relativeRoot": "", "type": "read-write"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let api_message = body["error"]["fields"]["password"].as_str().unwrap().to_owned();
    client.get("/ftp-users").await;
    let fields = [
        ("name", "x"),
        ("username", "no-password"),
        ("password", ""),
        ("relative_root", ""),
        ("type", "read-write"),
        ("site_id", ""),
        ("environment_id", ""),
    ];
    assert_field_error(&client.post_form("/ftp-users", &fields).await, "password", &api_message);

    // A create sent twice: the second is refused on the username, with the same message.
    let (status, body) = fx.call_with(&fx.alice_key, "createFTPUser", args).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let api_message = body["error"]["fields"]["username"].as_str().unwrap().to_owned();
    let fields = [
        ("name", "Designer"),
        ("username", "designer"),
        ("password", FTP_PASSWORD),
        ("relative_root", ""),
        ("type", "read-write"),
        ("site_id", ""),
        ("environment_id", ""),
    ];
    assert_field_error(&client.post_form("/ftp-users", &fields).await, "username", &api_message);
    let count: i64 = sqlx::query_scalar("select count(*) from ftp_users where customer_id = $1")
        .bind(fx.alice)
        .fetch_one(&fx.app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
