//! The cases of the keys' API methods (see `api.rs`), and what only they do.

use berth::identity::key::KeyType;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{Case, Fixture, key};

pub async fn cases(fx: &Fixture) -> Vec<Case> {
    let alice = fx.alice.0;
    let (target, _) = key(&fx.app, fx.alice, KeyType::Standard).await;
    let acl = fx
        .ok(
            "createKeyACL",
            json!({"id": target, "address": "192.0.2.0", "cidr": 24}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let doomed = fx
        .ok(
            "createKeyACL",
            json!({"id": target, "address": "198.51.100.0", "cidr": 24}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let (to_revoke, _) = key(&fx.app, fx.alice, KeyType::Standard).await;
    vec![
        Case::new(
            "createKey",
            json!({"id": alice, "type": "read-only", "name": "backup"}),
            (json!({"id": alice, "name": "  "}), "name"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "getKeys",
            json!({"id": alice, "type": "standard"}),
            (json!({"id": alice, "type": "gold"}), "type"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "revokeKey",
            json!({"id": to_revoke}),
            (json!({"id": "x"}), "id"),
            Some(json!({"id": to_revoke})),
        ),
        Case::new(
            "createKeyACL",
            json!({"id": target, "address": "203.0.113.7", "cidr": 24}),
            (json!({"id": target, "address": "203.0.113.7", "cidr": 33}), "cidr"),
            Some(json!({"id": target, "address": "203.0.113.7", "cidr": 24})),
        ),
        Case::new(
            "updateKeyACL",
            json!({"id": acl, "cidr": 16}),
            (json!({"id": acl, "address": "not an address"}), "address"),
            Some(json!({"id": acl, "cidr": 16})),
        ),
        Case::new(
            "deleteKeyACL",
            json!({"id": doomed}),
            (json!({"id": doomed, "extra": 1}), "extra"),
            Some(json!({"id": doomed})),
        ),
    ]
}

#[tokio::test]
async fn keys_round_trip_through_the_api() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let created = fx.ok("createKey", json!({"id": alice, "name": "deploy"})).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let id = created["id"].as_i64().unwrap();
    // The new key works, and acts for Alice.
    let (status, body) = fx.call_with(&secret, "getKeys", json!({"id": alice})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let acl = fx
        .ok("createKeyACL", json!({"id": id, "address": "203.0.113.77", "cidr": 24}))
        .await;
    assert_eq!(acl["address"], "203.0.113.0");
    assert_eq!(acl["cidr"], 24);
    let acl_id = acl["id"].as_i64().unwrap();
    // A part left out keeps its value.
    let acl = fx.ok("updateKeyACL", json!({"id": acl_id, "cidr": 16})).await;
    assert_eq!(
        (acl["address"].as_str(), acl["cidr"].as_i64()),
        (Some("203.0.0.0"), Some(16))
    );
    // The same network twice is an error on the address.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createKeyACL",
            json!({"id": id, "address": "203.0.0.0", "cidr": 16}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"]["address"], "This key already has that network.");
    // getKeys: without secrets, with ACLs, filtered by type.
    let keys = fx.ok("getKeys", json!({"id": alice})).await;
    let listed = keys.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    assert!(listed.get("secret").is_none());
    assert_eq!(listed["acls"][0]["id"], acl_id);
    assert_eq!(
        fx.ok("getKeys", json!({"id": alice, "type": "read-only"})).await,
        json!([])
    );
    fx.ok("deleteKeyACL", json!({"id": acl_id})).await;
    let revoked = fx.ok("revokeKey", json!({"id": id})).await;
    assert!(revoked["revoked"].is_string());
    // A revoked key cannot change: 409.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createKeyACL",
            json!({"id": id, "address": "192.0.2.0", "cidr": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The panel shows what the API did.
    let kinds: Vec<String> =
        sqlx::query_scalar("select actor || ' ' || kind from activity where customer_id = $1 order by id")
            .bind(fx.alice)
            .fetch_all(&fx.app.pool)
            .await
            .unwrap();
    assert!(
        kinds
            .iter()
            .any(|k| k.starts_with("API key berth_") && k.ends_with("api_key_revoked")),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_repeated_create_is_refused_alike_on_the_page_and_through_the_api() {
    let fx = Fixture::new().await;
    let client = fx.app.client();
    client.sign_in("alice", crate::helpers::PASSWORD).await;
    let count = async || -> i64 {
        sqlx::query_scalar("select count(*) from api_keys where customer_id = $1 and name = 'deploy'")
            .bind(fx.alice)
            .fetch_one(&fx.app.pool)
            .await
            .unwrap()
    };

    // The page: one form sent twice makes one key, and the second answer (200) says why.
    let token = client
        .get("/keys")
        .await
        .text_attr(r#"input[name="form_token"]"#, "value");
    let fields = [("name", "deploy"), ("type", "standard"), ("form_token", token.as_str())];
    assert_eq!(client.post_form("/keys", &fields).await.status, StatusCode::CREATED);
    let page = client.post_htmx("/keys", &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.text("#toasts").contains(berth::web::once::REPEATED),
        "{}",
        page.body
    );
    assert!(page.body.contains("cannot be shown again"), "{}", page.body);
    assert_eq!(count().await, 1);

    // The API: a call retried with the same token, the same answer.
    let args = json!({"id": fx.alice.0, "name": "deploy", "formToken": "retry-7f3a"});
    fx.ok("createKey", args.clone()).await;
    let (status, body) = fx.call_with(&fx.alice_key, "createKey", args).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("This form was already sent and its key created"),
        "{message}"
    );
    assert_eq!(count().await, 2);
    // Without a token, every call is its own.
    fx.ok("createKey", json!({"id": fx.alice.0, "name": "deploy"})).await;
    assert_eq!(count().await, 3);
}
