//! The cases of the IP addresses', FTP users' and bandwidth's API methods (see `api.rs`),
//! and what only they do.

use berth::identity::key::KeyType;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::{Case, Fixture, key};
use crate::ftp::add_site;
use crate::helpers::{Client, PASSWORD};
use crate::provisioning::insert_site_with_job;

const FTP_PASSWORD: &str = "api ftp password 1";

pub async fn cases(fx: &Fixture) -> Vec<Case> {
    let alice = fx.alice.0;
    let held = fx.ok("addIpAddress", json!({"id": alice})).await["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let (site, envs) = add_site(&fx.app, fx.alice, "apicases", &["production", "staging"]).await;
    let ftp = |username: &str| {
        json!({"customerId": alice, "name": "Case", "username": username, "password": FTP_PASSWORD,
               "relativeRoot": "public_html", "type": "read-write", "siteId": site, "environmentId": envs[0]})
    };
    let to_update = fx.ok("createFTPUser", ftp("api-case-update")).await["id"]
        .as_i64()
        .unwrap();
    let doomed = fx.ok("createFTPUser", ftp("api-case-doomed")).await["id"]
        .as_i64()
        .unwrap();
    let mut bad_root = ftp("api-case-bad");
    bad_root["relativeRoot"] = json!("public_html/../../etc");
    vec![
        Case::new(
            "addIpAddress",
            json!({"id": alice, "family": "ipv6"}),
            (json!({"id": alice, "family": "ipv5"}), "family"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "getIpAddresses",
            json!({"id": alice}),
            (json!({"id": "alice"}), "id"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "getDetailedIpAddresses",
            json!({"id": alice}),
            (json!({"id": alice, "verbose": true}), "verbose"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "freeIpAddress",
            json!({"id": alice, "address": held}),
            (json!({"id": alice, "address": "192.0.2"}), "address"),
            Some(json!({"id": alice, "address": held})),
        ),
        Case::new(
            "createFTPUser",
            ftp("api-case-created"),
            (bad_root, "relativeRoot"),
            Some(ftp("api-case-foreign")),
        ),
        Case::new(
            "listFTPUsers",
            json!({"id": alice, "siteId": site, "environmentId": envs[0]}),
            (json!({"id": alice, "siteId": 999_999_999}), "siteId"),
            Some(json!({"id": alice})),
        ),
        Case::new(
            "updateFTPUser",
            json!({"id": to_update, "relativeRoot": "./www//", "environmentId": envs[1]}),
            (json!({"id": to_update, "username": "9lives"}), "username"),
            Some(json!({"id": to_update, "name": "Bob's now"})),
        ),
        Case::new(
            "destroyFTPUser",
            json!({"id": doomed}),
            (json!({"id": "doomed"}), "id"),
            Some(json!({"id": doomed})),
        ),
        Case::new(
            "currentBillableBandwidth",
            json!({"customerId": alice}),
            (json!({"customerId": alice, "id": alice}), "id"),
            Some(json!({"customerId": alice})),
        ),
    ]
}

/// Alice's browser, signed in.
async fn alice_page(fx: &Fixture) -> Client {
    let client = fx.app.client();
    let r = client.sign_in("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    client
}

/// Calls with Alice's key expecting `status`: the error body.
async fn refused(fx: &Fixture, method: &str, args: Value, status: StatusCode) -> Value {
    let (got, body) = fx.call_with(&fx.alice_key, method, args.clone()).await;
    assert_eq!(got, status, "{method} {args}: {body}");
    body["error"].clone()
}

#[tokio::test]
async fn addresses_round_trip_through_the_api_and_the_page_sees_them() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let v4 = fx.ok("addIpAddress", json!({"id": alice})).await;
    assert_eq!(
        v4,
        json!({"address": "192.0.2.10", "family": "ipv4", "reverseDns": null, "attachedTo": null,
               "allocated": v4["allocated"]})
    );
    OffsetDateTime::parse(
        v4["allocated"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let v6 = fx.ok("addIpAddress", json!({"id": alice, "family": "ipv6"})).await;
    assert_eq!(v6["address"], "2001:db8:b::10");
    assert_eq!(v6["family"], "ipv6");
    assert_eq!(
        fx.ok("getIpAddresses", json!({"id": alice})).await,
        json!(["192.0.2.10", "2001:db8:b::10"])
    );

    // Attached to a container: the details say so, and it cannot be freed.
    let site = insert_site_with_job(&fx.app, fx.alice, "shop.example.com", &[], false).await;
    sqlx::query(
        "update ip_pool set container_id = (select id from containers where site_id = $1), reverse_dns = 'mail.example.com'
         where address = '192.0.2.10'",
    )
    .bind(site)
    .execute(&fx.app.pool)
    .await
    .unwrap();
    let details = fx.ok("getDetailedIpAddresses", json!({"id": alice})).await;
    assert_eq!(
        details[0]["attachedTo"],
        json!({"container": "web-shop.example.com", "siteId": site.0, "site": "shop.example.com"})
    );
    assert_eq!(details[0]["reverseDns"], "mail.example.com");
    assert_eq!(details[1]["attachedTo"], Value::Null);
    let error = refused(
        &fx,
        "freeIpAddress",
        json!({"id": alice, "address": "192.0.2.10"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        error["message"],
        "192.0.2.10 cannot be freed: it is attached to container web-shop.example.com of site shop.example.com."
    );

    // The page shows what the API did.
    let page = alice_page(&fx).await.get("/addresses").await;
    assert_eq!(
        page.texts("tr.address td:first-child"),
        ["192.0.2.10", "2001:db8:b::10"]
    );

    // Free: an address not held (free in the pool, or Bob's) is not found.
    refused(
        &fx,
        "freeIpAddress",
        json!({"id": alice, "address": "192.0.2.11"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let (status, _) = fx
        .call_with(
            &fx.bob_key,
            "freeIpAddress",
            json!({"id": fx.bob.0, "address": "2001:db8:b::10"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        fx.ok("freeIpAddress", json!({"id": alice, "address": "2001:DB8:B::10"}))
            .await,
        json!(true)
    );
    assert_eq!(
        fx.ok("getIpAddresses", json!({"id": alice})).await,
        json!(["192.0.2.10"])
    );
    let kinds: Vec<String> = sqlx::query_scalar(
        "select actor || ' ' || kind from activity where customer_id = $1 and kind like 'address%' order by id",
    )
    .bind(fx.alice)
    .fetch_all(&fx.app.pool)
    .await
    .unwrap();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.iter().all(|k| k.starts_with("API key berth_")), "{kinds:?}");
    assert!(kinds[2].ends_with("address_freed"));
}

#[tokio::test]
async fn an_empty_pool_is_a_conflict_and_only_internal_keys_name_an_address() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    sqlx::query("update ip_pool set customer_id = $1 where family(address) = 6")
        .bind(fx.bob)
        .execute(&fx.app.pool)
        .await
        .unwrap();
    let before = fx.snapshot().await;
    let error = refused(
        &fx,
        "addIpAddress",
        json!({"id": alice, "family": "ipv6"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["type"], "Conflict");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("No free IPv6 address is left in the pool."),
        "{error}"
    );
    // A customer's key may not name the address, valid or not.
    for address in ["198.51.100.77", "nonsense"] {
        let error = refused(
            &fx,
            "addIpAddress",
            json!({"id": alice, "address": address}),
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_eq!(
            error["message"],
            "This request was refused: only internal keys may name a specific address."
        );
    }
    assert_eq!(fx.snapshot().await, before);

    // An internal key may, for Alice.
    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let (status, body) = fx
        .call_with(
            &internal,
            "addIpAddress",
            json!({"id": alice, "address": "198.51.100.77"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["address"], "198.51.100.77");
    for (args, field, message) in [
        (
            json!({"id": alice, "address": "198.51.100.77"}),
            "address",
            "That address is not a free address of the pool.",
        ),
        (
            json!({"id": alice, "address": "203.0.113.1"}),
            "address",
            "That address is not a free address of the pool.",
        ),
        (
            json!({"id": alice, "address": "198.51.100.78", "family": "ipv6"}),
            "family",
            "198.51.100.78 is an IPv4 address; leave family out.",
        ),
        (
            json!({"id": alice, "address": "198.51.100"}),
            "address",
            "That is not an IP address.",
        ),
    ] {
        let (status, body) = fx.call_with(&internal, "addIpAddress", args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{args}: {body}");
        assert_eq!(body["error"]["fields"][field], message, "{args}: {body}");
    }
    assert_eq!(
        fx.ok("getIpAddresses", json!({"id": alice})).await,
        json!(["198.51.100.77"])
    );
}

async fn ftp_hash(fx: &Fixture, id: i64) -> String {
    sqlx::query_scalar("select password_hash from ftp_users where id = $1")
        .bind(id)
        .fetch_one(&fx.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn ftp_users_round_trip_through_the_api_with_the_pages_rules() {
    let fx = Fixture::new().await;
    let alice = fx.alice.0;
    let (site, envs) = add_site(&fx.app, fx.alice, "shop", &["production", "staging"]).await;
    let (other, other_envs) = add_site(&fx.app, fx.alice, "blog", &["production"]).await;
    let (bobs, _) = add_site(&fx.app, fx.bob, "bobs", &[]).await;
    let created = fx
        .ok(
            "createFTPUser",
            json!({"customerId": alice, "name": " Designer ", "username": " Designer.API ",
                   "password": FTP_PASSWORD, "relativeRoot": "./public_html//uploads/", "type": "read-only",
                   "environmentId": envs[1]}),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created,
        json!({"id": id, "name": "Designer", "username": "designer.api", "type": "read-only",
               "relativeRoot": "public_html/uploads", "siteId": site, "siteName": "shop",
               "environmentId": envs[1], "environmentName": "staging",
               "created": created["created"], "updated": created["updated"]})
    );
    // The page shows it.
    let page = alice_page(&fx).await.get("/ftp-users").await;
    assert_eq!(page.text(&format!("#ftp-user-{id} .ftp-root")), "/public_html/uploads");
    assert_eq!(page.text(&format!("#ftp-user-{id} .ftp-placement")), "shop / staging");

    // Filters.
    let home = fx
        .ok(
            "createFTPUser",
            json!({"customerId": alice, "name": "Backup", "username": "backup-api", "password": FTP_PASSWORD,
                   "relativeRoot": "", "type": "read-write"}),
        )
        .await;
    assert_eq!((&home["siteId"], &home["relativeRoot"]), (&Value::Null, &json!("")));
    let usernames = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        usernames(fx.ok("listFTPUsers", json!({"id": alice})).await),
        ["backup-api", "designer.api"]
    );
    assert_eq!(
        usernames(
            fx.ok("listFTPUsers", json!({"id": alice, "environmentId": envs[1]}))
                .await
        ),
        ["designer.api"]
    );
    assert!(usernames(fx.ok("listFTPUsers", json!({"id": alice, "siteId": other})).await).is_empty());
    let listed = fx.ok("listFTPUsers", json!({"id": alice})).await;
    assert!(
        listed.as_array().unwrap().iter().all(|u| u.get("password").is_none()
            && u.get("passwordHash").is_none()
            && !u.to_string().contains("argon2")),
        "{listed}"
    );

    // The page's rules, on the seed's argument names; nothing changes.
    let before = fx.snapshot().await;
    let bob_ftp = fx
        .call_with(
            &fx.bob_key,
            "createFTPUser",
            json!({"customerId": fx.bob.0, "name": "Bob", "username": "bobs-login", "password": FTP_PASSWORD,
                   "relativeRoot": "", "type": "read-write"}),
        )
        .await;
    assert_eq!(bob_ftp.0, StatusCode::OK, "{}", bob_ftp.1);
    for (args, field, message) in [
        (
            json!({"id": id, "username": "BOBS-login"}),
            "username",
            "This username is taken; choose another.",
        ),
        (
            json!({"id": id, "siteId": bobs}),
            "siteId",
            "Choose one of your sites, or none.",
        ),
        (
            json!({"id": id, "siteId": other}),
            "environmentId",
            "That environment is not one of the chosen site's.",
        ),
        (
            json!({"id": id, "environmentId": other_envs[0]}),
            "environmentId",
            "That environment is not one of the chosen site's.",
        ),
        (
            json!({"id": id, "relativeRoot": "/etc"}),
            "relativeRoot",
            "Give a folder inside the home, without a leading /, such as public_html/uploads.",
        ),
        (
            json!({"id": id, "type": "admin"}),
            "type",
            "Choose read-write or read-only.",
        ),
        (
            json!({"id": id, "password": "short"}),
            "password",
            "Use at least 12 characters.",
        ),
        (
            json!({"id": id, "name": ""}),
            "name",
            "Give the FTP user a name, such as \"web designer\".",
        ),
    ] {
        let error = refused(&fx, "updateFTPUser", args.clone(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["fields"][field], message, "{args}: {error}");
        assert!(!error.to_string().contains("bob"), "{error}");
    }
    let error = refused(
        &fx,
        "createFTPUser",
        json!({"customerId": alice, "name": "x", "username": "short-pass", "password": "short",
               "relativeRoot": "a/../b", "type": "read-write", "siteId": bobs}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&String> = error["fields"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["password", "relativeRoot", "siteId"], "{error}");
    assert_eq!(fx.snapshot().await, before);

    // Update: a field left out keeps its value; the password too.
    let hash = ftp_hash(&fx, id).await;
    let updated = fx.ok("updateFTPUser", json!({"id": id, "name": "Designer 2"})).await;
    assert_eq!(
        (&updated["name"], &updated["relativeRoot"], &updated["environmentId"]),
        (&json!("Designer 2"), &json!("public_html/uploads"), &json!(envs[1]))
    );
    assert_eq!(ftp_hash(&fx, id).await, hash);
    // An empty password keeps it too, as on the edit form.
    fx.ok("updateFTPUser", json!({"id": id, "password": ""})).await;
    assert_eq!(ftp_hash(&fx, id).await, hash, "an empty password keeps it");
    fx.ok("updateFTPUser", json!({"id": id, "password": "another api password"}))
        .await;
    assert_ne!(ftp_hash(&fx, id).await, hash);
    // Moving to another site with its environment; then to the home (null clears both).
    let moved = fx
        .ok(
            "updateFTPUser",
            json!({"id": id, "siteId": other, "environmentId": other_envs[0]}),
        )
        .await;
    assert_eq!(
        (&moved["siteName"], &moved["environmentName"]),
        (&json!("blog"), &json!("production"))
    );
    let home = fx.ok("updateFTPUser", json!({"id": id, "siteId": null})).await;
    assert_eq!((&home["siteId"], &home["environmentId"]), (&Value::Null, &Value::Null));

    // Bob cannot change or delete it, even with his own customer's site.
    let bob_update = fx
        .call_with(&fx.bob_key, "updateFTPUser", json!({"id": id, "siteId": bobs}))
        .await;
    assert_eq!(bob_update.0, StatusCode::NOT_FOUND);
    assert_eq!(fx.ok("destroyFTPUser", json!({"id": id})).await, json!(true));
    refused(&fx, "destroyFTPUser", json!({"id": id}), StatusCode::NOT_FOUND).await;
    assert_eq!(
        usernames(fx.ok("listFTPUsers", json!({"id": alice})).await),
        ["backup-api"]
    );
    let kinds: Vec<String> = sqlx::query_scalar(
        "select kind from activity where customer_id = $1 and kind like 'ftp%' and actor like 'API key %' order by id",
    )
    .bind(fx.alice)
    .fetch_all(&fx.app.pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            "ftp_user_created",
            "ftp_user_created",
            "ftp_user_changed",
            "ftp_user_changed",
            "ftp_user_changed",
            "ftp_user_changed",
            "ftp_user_deleted"
        ]
    );
}

#[tokio::test]
async fn bandwidth_through_the_api_is_the_pages_figures_in_bytes() {
    let fx = Fixture::new().await;
    let shop = insert_site_with_job(&fx.app, fx.alice, "shop.example.com", &[], false).await;
    let blog = insert_site_with_job(&fx.app, fx.alice, "blog.example.com", &[], false).await;
    let bobs = insert_site_with_job(&fx.app, fx.bob, "bob.example.com", &[], false).await;
    let now = OffsetDateTime::now_utc();
    let period = berth::bandwidth::model::Period::containing(now);
    let last_month = period.start - time::Duration::HOUR;
    for (customer, site, hour, bytes_in, bytes_out) in [
        (fx.alice, shop, period.start, 1_000_i64, 2_000_i64),
        (fx.alice, shop, period.start + time::Duration::HOUR, 10, 20),
        (fx.alice, blog, period.start, 5, 0),
        (fx.alice, shop, last_month, 1_000_000, 1_000_000),
        (fx.bob, bobs, period.start, 7_000_000, 7_000_000),
    ] {
        sqlx::query(
            "insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out) values ($1, $2, $3, $4, $5)",
        )
        .bind(customer)
        .bind(site)
        .bind(hour)
        .bind(bytes_in)
        .bind(bytes_out)
        .execute(&fx.app.pool)
        .await
        .unwrap();
    }
    let result = fx
        .ok("currentBillableBandwidth", json!({"customerId": fx.alice.0}))
        .await;
    let usage = berth::bandwidth::model::usage(&fx.app.pool, fx.alice, now)
        .await
        .unwrap();
    let rfc3339 = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(result["periodStart"], rfc3339(period.start));
    assert_eq!(result["periodEnd"], rfc3339(period.end));
    assert_eq!(
        (&result["bytesIn"], &result["bytesOut"], &result["total"]),
        (&json!(1_015), &json!(2_020), &json!(3_035))
    );
    assert_eq!(usage.total(), 3_035);
    let as_of = OffsetDateTime::parse(
        result["asOf"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(result["projection"], period.projection(3_035, as_of));
    let days = result["days"].as_array().unwrap();
    assert_eq!(days.len(), period.days().len());
    assert_eq!(days[0], json!({"day": period.start.date().to_string(), "total": 3_035}));
    assert!(days[1..].iter().all(|d| d["total"] == 0));
    assert_eq!(
        result["sites"],
        json!([
            {"siteId": shop.0, "name": "shop.example.com", "bytesIn": 1_010, "bytesOut": 2_020, "total": 3_030},
            {"siteId": blog.0, "name": "blog.example.com", "bytesIn": 5, "bytesOut": 0, "total": 5},
        ])
    );
    // A read-only key may read it.
    let (_, read_only) = key(&fx.app, fx.alice, KeyType::ReadOnly).await;
    let (status, body) = fx
        .call_with(
            &read_only,
            "currentBillableBandwidth",
            json!({"customerId": fx.alice.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn page_and_api_refuse_a_named_address_and_an_empty_pool_alike() {
    let fx = Fixture::new().await;
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    client.get("/addresses").await;

    // A customer names an address: refused alike, whatever the family says.
    let fields = [("family", "ipv6"), ("address", "198.51.100.77")];
    let page = client.post_form("/addresses", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let error = refused(
        &fx,
        "addIpAddress",
        json!({"id": fx.alice.0, "family": "ipv6", "address": "198.51.100.77"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(
        page.body.contains("only internal keys may name a specific address"),
        "{}",
        page.body
    );
    assert!(
        message.contains("only internal keys may name a specific address"),
        "{message}"
    );

    // An internal key naming an IPv4 address as IPv6: refused on `family` by the same operation.
    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let (status, body) = fx
        .call_with(
            &internal,
            "addIpAddress",
            json!({"id": fx.alice.0, "family": "ipv6", "address": "198.51.100.77"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["fields"]["family"],
        "198.51.100.77 is an IPv4 address; leave family out."
    );

    // An empty pool: the same message on the page's form and in the API's answer.
    sqlx::query("update ip_pool set customer_id = $1 where family(address) = 6")
        .bind(fx.bob)
        .execute(&fx.app.pool)
        .await
        .unwrap();
    let page = client.post_form("/addresses", &[("family", "ipv6")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let error = refused(
        &fx,
        "addIpAddress",
        json!({"id": fx.alice.0, "family": "ipv6"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(page.text("#add-family-error"), error["message"].as_str().unwrap());
    assert!(held_by(&fx, fx.alice).await.is_empty());
}

async fn held_by(fx: &Fixture, customer: berth::identity::CustomerId) -> Vec<String> {
    sqlx::query_scalar("select host(address) from ip_pool where customer_id = $1")
        .bind(customer)
        .fetch_all(&fx.app.pool)
        .await
        .unwrap()
}
