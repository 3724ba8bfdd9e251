//! Concurrent ACL edits (issue 14, "Concurrent edits"): a stale edit form is told what the
//! ACL holds now instead of overwriting it, and partial updateKeyACL calls at once apply in
//! turn, none lost.

use berth::identity::key::KeyType;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Fixture, key};
use crate::helpers::TestApp;

async fn network(app: &TestApp, acl: i64) -> String {
    sqlx::query_scalar("select network::text from api_key_acls where id = $1")
        .bind(acl)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_acl_edited_from_a_stale_form_is_refused_and_the_first_edit_kept() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let (key, _) = crate::keys::create_key(&client, "deploy", "standard").await;
    let r = client
        .post_form(&format!("/keys/{key}/acls"), &[("address", "10.0.0.0"), ("cidr", "8")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let acl: i64 = app.scalar("select id from api_key_acls").await;
    let path = format!("/acls/{acl}");
    let version_of = |r: &crate::helpers::Resp| r.text_attr(&format!("#acl-{acl} input[name=\"version\"]"), "value");

    // Two tabs show the same form.
    let shown = version_of(&client.get(&format!("/keys/{key}")).await);
    assert_eq!(shown, "10.0.0.0/8");
    let r = client
        .post_form(&path, &[("address", "11.0.0.0"), ("cidr", "8"), ("version", &shown)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(network(&app, acl).await, "11.0.0.0/8");

    // The second tab changes the mask on its older form: refused, told what is stored now,
    // with what it typed kept; the first edit stays.
    let stale = [("address", "10.0.0.0"), ("cidr", "16"), ("version", shown.as_str())];
    let r = client.post_form(&path, &stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let told = r.text(&format!("#acl-{acl}-address-error"));
    assert!(told.contains("changed in another tab or device"), "{told}");
    assert!(told.contains("it is now 11.0.0.0/8"), "{told}");
    assert_eq!(r.text_attr(&format!("#acl-{acl}-address"), "value"), "10.0.0.0");
    assert_eq!(r.text_attr(&format!("#acl-{acl}-cidr"), "value"), "16");
    assert_eq!(network(&app, acl).await, "11.0.0.0/8");
    let r = client.post_htmx(&path, &stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(!r.body.contains("<html"), "{}", r.body);
    assert!(r.body.contains("it is now 11.0.0.0/8"), "{}", r.body);
    assert_eq!(network(&app, acl).await, "11.0.0.0/8");
    let changes: i64 = app
        .scalar("select count(*) from activity where kind = 'api_key_acl_changed'")
        .await;
    assert_eq!(changes, 1);

    // The refused form now carries what is stored: saving it again is a knowing replace.
    let current = version_of(&r);
    assert_eq!(current, "11.0.0.0/8");
    let r = client
        .post_form(&path, &[("address", "10.0.0.0"), ("cidr", "16"), ("version", &current)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(network(&app, acl).await, "10.0.0.0/16");

    // Another customer, with or without a version: 404, and nothing changes.
    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/keys").await;
    for version in ["10.0.0.0/16", "garbage"] {
        let fields = [("cidr", "24"), ("version", version)];
        assert_eq!(bob.post_form(&path, &fields).await.status, StatusCode::NOT_FOUND);
        assert_eq!(bob.post_htmx(&path, &fields).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(network(&app, acl).await, "10.0.0.0/16");
}

/// One update of a part: a new address, or a new mask.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Address(String),
    Mask(u8),
}

fn split(network: &str) -> (String, u8) {
    let (address, mask) = network.split_once('/').unwrap();
    (address.to_owned(), mask.parse().unwrap())
}

#[tokio::test]
async fn parallel_partial_api_updates_of_one_acl_all_apply_in_one_order() {
    let fx = Fixture::new().await;
    let (key_id, _) = key(&fx.app, fx.alice, KeyType::Standard).await;
    let acl = fx
        .ok("createKeyACL", json!({"id": key_id, "address": "10.0.0.0", "cidr": 8}))
        .await["id"]
        .as_i64()
        .unwrap();
    let mut start = "10.0.0.0/8".to_owned();
    let mut seen = 0;
    // Several rounds: one lost update is enough to fail, and races do not show every time.
    for round in 0..4u8 {
        // Addresses x.0.0.0 and masks of 9 and more, new each round: no part clears the bits of another, and every
        // call changes something whatever ran before it.
        let parts: Vec<Part> = (0..6u8)
            .flat_map(|i| {
                [
                    Part::Address(format!("{}.0.0.0", 20 + round * 10 + i)),
                    Part::Mask(9 + round * 6 + i),
                ]
            })
            .collect();
        let calls = parts.iter().map(|part| {
            let args = match part {
                Part::Address(address) => json!({"id": acl, "address": address}),
                Part::Mask(mask) => json!({"id": acl, "cidr": mask}),
            };
            fx.call_with(&fx.alice_key, "updateKeyACL", args)
        });
        let answers: Vec<(StatusCode, Value)> = futures_util::future::join_all(calls).await;
        for ((status, body), part) in answers.iter().zip(&parts) {
            assert_eq!(*status, StatusCode::OK, "round {round}, {part:?}: {body}");
        }
        // The Activity log holds each change as "<before> to <after> on <prefix>", in commit
        // order: a chain from the start to what is stored, each link one call's part
        // applied to the link before it. A lost update breaks the chain.
        let details: Vec<String> =
            sqlx::query_scalar("select detail from activity where kind = 'api_key_acl_changed' order by id offset $1")
                .bind(seen)
                .fetch_all(&fx.app.pool)
                .await
                .unwrap();
        seen += details.len() as i64;
        assert_eq!(details.len(), parts.len(), "round {round}: {details:#?}");
        let mut left = parts.clone();
        let mut at = start.clone();
        for detail in &details {
            let (before, rest) = detail.split_once(" to ").unwrap();
            let after = rest.split_once(" on ").unwrap().0;
            assert_eq!(
                before, at,
                "round {round}: a change was computed from a stale ACL: {details:#?}"
            );
            let ((old_address, old_mask), (new_address, new_mask)) = (split(before), split(after));
            let part = if new_mask == old_mask {
                Part::Address(new_address)
            } else {
                assert_eq!(new_address, old_address, "round {round}: {detail}");
                Part::Mask(new_mask)
            };
            let index = left
                .iter()
                .position(|p| *p == part)
                .unwrap_or_else(|| panic!("round {round}: {detail} is no call's part ({left:?})"));
            left.remove(index);
            at = after.to_owned();
        }
        assert!(left.is_empty(), "round {round}: not applied: {left:?}");
        // Each answer is the ACL as its call stored it.
        for ((_, body), part) in answers.iter().zip(&parts) {
            match part {
                Part::Address(address) => assert_eq!(body["result"]["address"], json!(address), "{body}"),
                Part::Mask(mask) => assert_eq!(body["result"]["cidr"], json!(mask), "{body}"),
            }
        }
        assert_eq!(network(&fx.app, acl).await, at, "round {round}");
        start = at;
    }

    // Another customer's key: 404 for a partial update, and nothing changes.
    for args in [
        json!({"id": acl, "cidr": 20}),
        json!({"id": acl, "address": "192.0.2.0"}),
    ] {
        let (status, body) = fx.call_with(&fx.bob_key, "updateKeyACL", args).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    assert_eq!(network(&fx.app, acl).await, start);
    let changes: i64 = fx
        .app
        .scalar("select count(*) from activity where kind = 'api_key_acl_changed'")
        .await;
    assert_eq!(changes, seen);
}
