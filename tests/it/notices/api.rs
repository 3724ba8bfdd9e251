//! The cases of the notices' and the contacts' API methods (see `api.rs`), and what only
//! they do: the notices' shape, `since` and acknowledging (global ones, internal keys); the
//! contacts' nesting, the options' rules under the API's names, the webhook's secret, and
//! the page showing what the API made.

use berth::identity::CustomerId;
use berth::identity::key::KeyType;
use berth::notices::model::{Draft, publish, types};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Case, Fixture, key};
use crate::helpers::{PASSWORD, TestApp};

/// Publishes a notice to `to`, or to everyone; its id.
async fn notice(app: &TestApp, to: Option<CustomerId>, kind: &str, severity: &str, title: &str) -> i64 {
    let draft = Draft::parse(
        &types(&app.pool).await.unwrap(),
        kind,
        severity,
        title,
        "Body\nline two",
    )
    .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let id = publish(&mut tx, to, &draft).await.unwrap();
    tx.commit().await.unwrap();
    id.0
}

fn id(value: &Value) -> i64 {
    value["id"].as_i64().unwrap_or_else(|| panic!("no id: {value}"))
}

pub async fn cases(fx: &Fixture) -> Vec<Case> {
    let alice = fx.alice.0;
    let alices_notice = notice(&fx.app, Some(fx.alice), "billing", "warning", "Invoice").await;
    let contact = id(&fx
        .ok("createContact", json!({"customerId": alice, "name": "Ops"}))
        .await);
    let doomed_contact = id(&fx
        .ok("createContact", json!({"customerId": alice, "name": "Old team"}))
        .await);
    let email = json!({"contactId": contact, "methodId": "email", "options": {"address": "ops@example.com"}});
    let method = id(&fx.ok("createContactMethod", email).await);
    let doomed_method = id(&fx
        .ok(
            "createContactMethod",
            json!({"contactId": contact, "methodId": "sms", "options": {"number": "+4930123456"}}),
        )
        .await);
    let doomed_subscription = fx
        .ok(
            "createContactMethodNotice",
            json!({"contactMethodId": method, "noticeTypeId": "billing"}),
        )
        .await
        .as_i64()
        .unwrap();
    let webhook = json!({"contactId": contact, "methodId": "webhook",
        "options": {"url": "https://hooks.example.com/berth"}});
    let subscribe = json!({"contactMethodId": method, "noticeTypeId": "outage",
        "options": {"min_severity": "warning"}});
    vec![
        Case::new(
            "listNotices",
            json!({"customerId": alice, "since": 0}),
            (json!({"customerId": alice, "since": -1}), "since"),
            Some(json!({"customerId": alice})),
        ),
        Case::new(
            "acknowledgeNotice",
            json!({"noticeId": alices_notice}),
            (json!({"noticeId": "x"}), "noticeId"),
            Some(json!({"noticeId": alices_notice})),
        ),
        Case::new(
            "createContact",
            json!({"customerId": alice, "name": "Billing"}),
            (json!({"customerId": alice, "name": "  "}), "name"),
            Some(json!({"customerId": alice, "name": "Billing"})),
        ),
        Case::new(
            "destroyContact",
            json!({"contactId": doomed_contact}),
            (json!({"contactId": "x"}), "contactId"),
            Some(json!({"contactId": doomed_contact})),
        ),
        Case::new(
            "createContactMethod",
            webhook.clone(),
            (
                json!({"contactId": contact, "methodId": "webhook", "options": {"url": "http://hooks.example.com"}}),
                "options.url",
            ),
            Some(webhook),
        ),
        Case::new(
            "destroyContactMethod",
            json!({"contactMethodId": doomed_method}),
            (json!({"contactMethodId": "x"}), "contactMethodId"),
            Some(json!({"contactMethodId": doomed_method})),
        ),
        Case::new(
            "createContactMethodNotice",
            subscribe.clone(),
            (
                json!({"contactMethodId": method, "noticeTypeId": "weather"}),
                "noticeTypeId",
            ),
            Some(subscribe),
        ),
        Case::new(
            "destroyContactMethodNotice",
            json!({"contactMethodNoticeId": doomed_subscription}),
            (json!({"contactMethodNoticeId": "x"}), "contactMethodNoticeId"),
            Some(json!({"contactMethodNoticeId": doomed_subscription})),
        ),
        Case::new(
            "listContactNoticeTypes",
            json!({}),
            (json!({"customerId": alice}), "customerId"),
            None,
        ),
        Case::new(
            "listContactMethods",
            json!({}),
            (json!({"customerId": alice}), "customerId"),
            None,
        ),
        Case::new(
            "listContacts",
            json!({"customerId": alice}),
            (json!({"customerId": alice, "name": "Ops"}), "name"),
            Some(json!({"customerId": alice})),
        ),
    ]
}

#[tokio::test]
async fn notices_through_the_api_are_the_pages_notices() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let global = notice(&fx.app, None, "maintenance", "info", "Maintenance on Sunday").await;
    let bobs = notice(&fx.app, Some(fx.bob), "billing", "warning", "Bob's invoice").await;
    let own = notice(&fx.app, Some(fx.alice), "security", "critical", "New sign-in").await;
    // An old notice, and one that is old but was updated since.
    let old = notice(&fx.app, Some(fx.alice), "billing", "info", "Old").await;
    let edited = notice(&fx.app, Some(fx.alice), "billing", "info", "Old but edited").await;
    sqlx::query(
        "update notices set created_at = '2020-01-01T00:00:00Z',
                updated_at = case when id = $2 then now() else '2020-01-01T00:00:00Z' end
         where id = any(array[$1, $2]::bigint[])",
    )
    .bind(old)
    .bind(edited)
    .execute(&fx.app.pool)
    .await
    .unwrap();

    let listed = fx.ok("listNotices", json!({"customerId": alice})).await;
    let ids: Vec<i64> = listed.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [own, global, edited, old], "newest first, without Bob's");
    let first = &listed[0];
    assert_eq!(first["type"], "security");
    assert_eq!(first["typeLabel"], "Security");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["title"], "New sign-in");
    assert_eq!(first["body"], "Body\nline two");
    assert_eq!(first["global"], false);
    assert_eq!(listed[1]["global"], true);
    assert_eq!(first["acknowledged"], false);
    assert!(first["acknowledgedAt"].is_null());
    assert!(first["created"].as_str().unwrap().contains('T'), "{first}");
    assert!(first["updated"].is_string());

    // since: a Unix time; created or updated since then.
    let since = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let recent = fx.ok("listNotices", json!({"customerId": alice, "since": since})).await;
    let ids: Vec<i64> = recent.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [own, global, edited]);
    for (since, field) in [
        (json!(-5), "since"),
        (json!(1e20), "since"),
        (json!("yesterday"), "since"),
    ] {
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "listNotices",
                json!({"customerId": alice, "since": since}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{since}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "listNotices",
            json!({"customerId": alice, "since": 253_402_300_800_i64}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Acknowledging: the customer's own and a global one, twice is fine; Bob's is not found.
    fx.ok("acknowledgeNotice", json!({"noticeId": own})).await;
    fx.ok("acknowledgeNotice", json!({"noticeId": global})).await;
    fx.ok("acknowledgeNotice", json!({"noticeId": global})).await;
    let before = fx.snapshot().await;
    for missing in [bobs, 999_999] {
        let (status, body) = fx
            .call_with(&fx.alice_key, "acknowledgeNotice", json!({"noticeId": missing}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    assert_eq!(fx.snapshot().await, before);
    let listed = fx.ok("listNotices", json!({"customerId": alice})).await;
    let acked: Vec<bool> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["acknowledged"].as_bool().unwrap())
        .collect();
    assert_eq!(acked, [true, true, false, false]);
    assert!(listed[0]["acknowledgedAt"].is_string());
    // A global notice is acknowledged for Alice only.
    let bobs_view = fx
        .call_with(&fx.bob_key, "listNotices", json!({"customerId": fx.bob.0}))
        .await
        .1;
    let bobs_global = bobs_view["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| id(n) == global)
        .unwrap()
        .clone();
    assert_eq!(bobs_global["acknowledged"], false);

    // The page shows the same: two unread, and the acknowledged ones as such.
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    let page = client.get("/notices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#nav-notices-count"), "2");
    assert_eq!(page.texts(".notice.unread .notice-title"), ["Old but edited", "Old"]);
}

#[tokio::test]
async fn an_internal_key_acknowledges_a_customers_notice_but_not_a_global_one() {
    let fx = Fixture::new().await;
    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let global = notice(&fx.app, None, "outage", "critical", "Outage").await;
    let own = notice(&fx.app, Some(fx.alice), "abuse", "warning", "Abuse report").await;
    let (status, body) = fx
        .call_with(&internal, "acknowledgeNotice", json!({"noticeId": own}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = fx
        .call_with(&internal, "acknowledgeNotice", json!({"noticeId": global}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let acks: Vec<(i64, i64)> =
        sqlx::query_as("select customer_id, notice_id from notice_acknowledgements order by 1, 2")
            .fetch_all(&fx.app.pool)
            .await
            .unwrap();
    assert_eq!(acks, [(fx.alice.0, own)]);
    // It can list any customer's notices.
    let (status, body) = fx
        .call_with(&internal, "listNotices", json!({"customerId": fx.alice.0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn contacts_round_trip_through_the_api_and_show_on_the_page() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let contact = fx
        .ok("createContact", json!({"customerId": alice, "name": "  On-call  "}))
        .await;
    assert_eq!(contact, json!({"id": id(&contact), "name": "On-call", "methods": []}));
    let contact = id(&contact);

    // Options are stored normalised; a webhook's secret is answered once.
    let sms = fx
        .ok(
            "createContactMethod",
            json!({"contactId": contact, "methodId": "sms", "options": {"number": " +49 30 123456 ", "url": ""}}),
        )
        .await;
    assert_eq!(sms["options"], json!({"number": "+4930123456"}));
    assert_eq!(sms["methodId"], "sms");
    assert_eq!(sms["label"], "SMS");
    assert_eq!(sms["contactId"], contact);
    assert!(sms.get("signingSecret").is_none());
    let hook = fx
        .ok(
            "createContactMethod",
            json!({"contactId": contact, "methodId": "webhook", "options": {"url": "HTTPS://hooks.example.com/x"}}),
        )
        .await;
    assert_eq!(hook["options"], json!({"url": "https://hooks.example.com/x"}));
    let secret = hook["signingSecret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let stored: String = fx
        .app
        .scalar(&format!(
            "select signing_secret from contact_methods where id = {}",
            id(&hook)
        ))
        .await;
    assert_eq!(stored, secret);

    // Subscribing twice to a type keeps the subscription, with the new severity.
    let args = json!({"contactMethodId": id(&sms), "noticeTypeId": "outage"});
    let first = fx.ok("createContactMethodNotice", args.clone()).await;
    assert!(first.is_i64(), "{first}");
    let again = fx
        .ok(
            "createContactMethodNotice",
            json!({"contactMethodId": id(&sms), "noticeTypeId": "outage", "options": {"min_severity": "critical"}}),
        )
        .await;
    assert_eq!(again, first);
    fx.ok(
        "createContactMethodNotice",
        json!({"contactMethodId": id(&hook), "noticeTypeId": "security"}),
    )
    .await;

    // listContacts nests methods and subscriptions; nothing of the secret.
    let listed = fx.ok("listContacts", json!({"customerId": alice})).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let methods = &listed[0]["methods"];
    assert_eq!(methods.as_array().unwrap().len(), 2);
    assert_eq!(
        methods[0]["subscriptions"],
        json!([{"id": first, "contactMethodId": id(&sms), "noticeTypeId": "outage",
                "options": {"min_severity": "critical"}}])
    );
    assert_eq!(methods[1]["subscriptions"][0]["options"]["min_severity"], "info");
    assert!(!listed.to_string().contains("whsec_"));

    // The page shows what the API made, and its Activity who did it.
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    let page = client.get("/contacts").await;
    assert_eq!(page.texts(".contact-name"), ["On-call"]);
    assert_eq!(
        page.texts(".method-target"),
        ["+4930123456", "https://hooks.example.com/x"]
    );
    assert_eq!(
        page.text_attr(&format!("#cell-{}-outage select option[selected]", id(&sms)), "value"),
        "critical"
    );
    assert!(
        page.text_attr(&format!("#cell-{}-security", id(&hook)), "class")
            .contains("subscribed")
    );
    let actors: Vec<String> =
        sqlx::query_scalar("select actor from activity where customer_id = $1 and kind like 'contact%' order by id")
            .bind(fx.alice)
            .fetch_all(&fx.app.pool)
            .await
            .unwrap();
    assert!(
        !actors.is_empty() && actors.iter().all(|a| a.starts_with("API key berth_")),
        "{actors:?}"
    );

    // Unsubscribing, deleting a method, then the contact with everything.
    fx.ok("destroyContactMethodNotice", json!({"contactMethodNoticeId": first}))
        .await;
    let (status, _) = fx
        .call_with(
            &fx.alice_key,
            "destroyContactMethodNotice",
            json!({"contactMethodNoticeId": first}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    fx.ok("destroyContactMethod", json!({"contactMethodId": id(&sms)}))
        .await;
    fx.ok("destroyContact", json!({"contactId": contact})).await;
    assert_eq!(fx.ok("listContacts", json!({"customerId": alice})).await, json!([]));
    let left: i64 = fx
        .app
        .scalar("select (select count(*) from contact_methods) + (select count(*) from contact_method_notices)")
        .await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn option_rules_are_the_pages_under_the_apis_names() {
    let fx = Fixture::new().await;
    let contact = id(&fx
        .ok("createContact", json!({"customerId": fx.alice.0, "name": "Ops"}))
        .await);
    let method = id(&fx
        .ok(
            "createContactMethod",
            json!({"contactId": contact, "methodId": "email", "options": {"address": "ops@example.com"}}),
        )
        .await);
    let before = fx.snapshot().await;
    let m = |method: &str, options: Value| json!({"contactId": contact, "methodId": method, "options": options});
    let method_cases = [
        (m("email", json!({"address": "not-an-address"})), "options.address"),
        (m("email", json!({"address": ""})), "options.address"),
        (json!({"contactId": contact, "methodId": "email"}), "options.address"),
        (m("sms", json!({"number": "030 1234567"})), "options.number"),
        (m("phone", json!({})), "options.number"),
        (
            m("webhook", json!({"url": "https://user:pw@example.com/"})),
            "options.url",
        ),
        (
            m("email", json!({"address": "a@example.com", "colour": "red"})),
            "options.colour",
        ),
        (
            m("sms", json!({"number": "+4930123456", "url": "https://example.com"})),
            "options.url",
        ),
        (m("pigeon", json!({"address": "a@example.com"})), "methodId"),
        (m("email", json!({"address": 7})), "options.address"),
        // A missing argument is reported on its own name.
        (json!({"contactId": contact, "options": {}}), "methodId"),
    ];
    for (args, field) in &method_cases {
        let (status, body) = fx.call_with(&fx.alice_key, "createContactMethod", args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{args}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{args}: {body}");
    }
    let (_, body) = fx
        .call_with(
            &fx.alice_key,
            "createContactMethod",
            m("email", json!({"address": "a@example.com", "colour": "red"})),
        )
        .await;
    assert_eq!(
        body["error"]["fields"]["options.colour"],
        "A email method takes only options.address; options.colour is not one of its options."
    );
    let s =
        |notice: &str, options: Value| json!({"contactMethodId": method, "noticeTypeId": notice, "options": options});
    let subscription_cases = [
        (s("outage", json!({"min_severity": "loud"})), "options.min_severity"),
        (s("outage", json!({"min_severity": ""})), "options.min_severity"),
        (s("outage", json!({"channel": "x"})), "options.channel"),
        (s("weather", json!({})), "noticeTypeId"),
        (json!({"contactMethodId": method}), "noticeTypeId"),
    ];
    for (args, field) in &subscription_cases {
        let (status, body) = fx
            .call_with(&fx.alice_key, "createContactMethodNotice", args.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{args}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{args}: {body}");
    }
    for name in ["", "   ", &"x".repeat(101)] {
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "createContact",
                json!({"customerId": fx.alice.0, "name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    }
    assert_eq!(fx.snapshot().await, before, "nothing was written");

    // The catalogues.
    let methods = fx.ok("listContactMethods", json!({})).await;
    let by_id: Vec<(String, Value)> = methods
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_owned(), m["options"].clone()))
        .collect();
    assert_eq!(
        by_id,
        [
            ("email".to_owned(), json!(["address"])),
            ("sms".to_owned(), json!(["number"])),
            ("phone".to_owned(), json!(["number"])),
            ("webhook".to_owned(), json!(["url"])),
        ]
    );
    let types = fx.ok("listContactNoticeTypes", json!({})).await;
    let ids: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["billing", "maintenance", "outage", "security", "abuse"]);
    assert_eq!(types[0]["label"], "Billing");
}
