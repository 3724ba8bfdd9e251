//! The sites' API methods (getSite, startSite, stopSite, restartSite, deleteSite,
//! getSiteLogs): their cases for `api::every_method_…`, and what only they do: the same
//! operations, jobs and Activity as the page.

use berth::identity::key::KeyType;
use reqwest::StatusCode;
use serde_json::json;

use super::{active_site, drain, jobs, site_status};
use crate::api::{Case, Fixture, key};

pub async fn cases(fx: &Fixture) -> Vec<Case> {
    let site = active_site(&fx.app, fx.alice, "api-controls.example.com").await.0;
    let doomed = active_site(&fx.app, fx.alice, "api-doomed.example.com").await.0;
    let bad_id = (json!({"id": "one"}), "id");
    vec![
        Case::new(
            "getSite",
            json!({"id": site}),
            bad_id.clone(),
            Some(json!({"id": site})),
        ),
        Case::new(
            "startSite",
            json!({"id": site}),
            bad_id.clone(),
            Some(json!({"id": site})),
        ),
        Case::new(
            "stopSite",
            json!({"id": site}),
            bad_id.clone(),
            Some(json!({"id": site})),
        ),
        Case::new(
            "restartSite",
            json!({"id": site}),
            (json!({"id": site, "force": true}), "force"),
            Some(json!({"id": site})),
        ),
        Case::new(
            "deleteSite",
            json!({"id": doomed, "hostname": "api-doomed.example.com"}),
            (
                json!({"id": doomed, "hostname": "api-controls.example.com"}),
                "hostname",
            ),
            Some(json!({"id": doomed, "hostname": "api-doomed.example.com"})),
        ),
        Case::new("getSiteLogs", json!({"id": site}), bad_id, Some(json!({"id": site}))),
    ]
}

#[tokio::test]
async fn the_site_methods_are_the_pages_controls() {
    let fx = Fixture::new().await;
    let site = active_site(&fx.app, fx.alice, "shop.example.com").await;

    let got = fx.ok("getSite", json!({"id": site.0})).await;
    assert_eq!(got["hostname"], "shop.example.com");
    assert_eq!(got["status"], "active");
    assert_eq!(got["state"], "not-run");
    assert!(got["reason"].as_str().unwrap().contains("development driver"));
    assert_eq!(got["driver"], "development");
    assert_eq!(got["preview"], json!(null));
    assert_eq!(got["desiredState"], "running");
    assert_eq!(got["job"]["kind"], "provision");
    assert_eq!(got["job"]["status"], "done");
    assert_eq!(got["job"]["steps"].as_array().unwrap().len(), 5);

    // An action answers its job; asked again while it waits, the same job.
    let stop = fx.ok("stopSite", json!({"id": site.0})).await;
    assert_eq!(stop["kind"], "stop");
    assert_eq!(stop["status"], "pending");
    assert_eq!(stop["steps"][0]["name"], "stop_container");
    let again = fx.ok("stopSite", json!({"id": site.0})).await;
    assert_eq!(again["id"], stop["id"]);
    assert_eq!(fx.ok("getSite", json!({"id": site.0})).await["desiredState"], "stopped");
    let actor: String = fx
        .app
        .scalar("select actor from activity where kind = 'site_stop_requested'")
        .await;
    assert!(actor.starts_with("API key berth_"), "{actor}");
    drain(&fx.app).await;
    assert_eq!(jobs(&fx.app, site).await[1], ("stop".to_owned(), "done".to_owned()));

    // A read-only key reads and is refused the actions.
    let (_, read_only) = key(&fx.app, fx.alice, KeyType::ReadOnly).await;
    let (status, _) = fx.call_with(&read_only, "getSite", json!({"id": site.0})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = fx.call_with(&read_only, "getSiteLogs", json!({"id": site.0})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["result"]["note"].as_str().unwrap().contains("development driver"));
    for method in ["startSite", "stopSite", "restartSite"] {
        let (status, _) = fx.call_with(&read_only, method, json!({"id": site.0})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
    }

    // Bob's key: not found, whatever the method; nothing changes.
    let before = fx.snapshot().await;
    for method in ["getSite", "startSite", "stopSite", "restartSite", "getSiteLogs"] {
        let (status, body) = fx.call_with(&fx.bob_key, method, json!({"id": site.0})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {body}");
    }
    let (status, _) = fx
        .call_with(
            &fx.bob_key,
            "deleteSite",
            json!({"id": site.0, "hostname": "shop.example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(fx.snapshot().await, before);

    // deleteSite: the hostname typed, else InvalidArguments on it.
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "deleteSite",
            json!({"id": site.0, "hostname": "shop.example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["type"], "InvalidArguments");
    assert!(
        body["error"]["fields"]["hostname"]
            .as_str()
            .unwrap()
            .contains("type shop.example.com"),
        "{body}"
    );
    let (status, body) = fx.call_with(&fx.alice_key, "deleteSite", json!({"id": site.0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["hostname"].is_string(), "{body}");
    assert_eq!(site_status(&fx.app, site).await, "active");

    let deleted = fx
        .ok("deleteSite", json!({"id": site.0, "hostname": "Shop.Example.com"}))
        .await;
    assert_eq!(deleted["job"]["kind"], "delete");
    let steps: Vec<&str> = deleted["job"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["remove_container", "free_address", "remove_dns", "purge_files"]);
    assert_eq!(deleted["job"]["steps"][3]["due"], deleted["filesRemovedAfter"]);
    let got = fx.ok("getSite", json!({"id": site.0})).await;
    assert_eq!(got["state"], "deleted");
    assert_eq!(got["filesRemovedAfter"], deleted["filesRemovedAfter"]);
    assert!(got["deleted"].is_string());
    let (status, body) = fx.call_with(&fx.alice_key, "startSite", json!({"id": site.0})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["message"], "The site is deleted.");
    let (status, _) = fx
        .call_with(
            &fx.alice_key,
            "deleteSite",
            json!({"id": site.0, "hostname": "shop.example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An internal key acts for the site's owner, in the owner's Activity.
    let other = active_site(&fx.app, fx.alice, "other.example.com").await;
    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let (status, body) = fx.call_with(&internal, "restartSite", json!({"id": other.0})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actor: String = fx
        .app
        .scalar("select actor from activity where kind = 'site_restart_requested'")
        .await;
    assert!(actor.starts_with("internal API key"), "{actor}");
    let (status, _) = fx.call_with(&internal, "getSite", json!({"id": 999_999_999})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
