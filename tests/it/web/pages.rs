//! Cross-cutting page behaviour: static assets, health checks, the 500 page.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn static_assets_have_content_hashed_urls_and_long_cache_lifetimes() {
    let app = TestApp::spawn().await;
    let page = app.client().get("/login").await;
    let doc = page.html();
    let sel = scraper::Selector::parse(r#"script[src], link[rel="stylesheet"]"#).unwrap();
    let urls: Vec<String> = doc
        .select(&sel)
        .filter_map(|e| e.value().attr("src").or(e.value().attr("href")).map(str::to_owned))
        .collect();
    assert_eq!(
        urls.len(),
        5,
        "htmx, Pico, berth.css, berth.js, passkeys.js (the passkey button): {urls:?}"
    );
    let client = app.client();
    for url in &urls {
        assert!(url.starts_with("/static/"), "{url}");
        let resp = client.get(url).await;
        assert_eq!(resp.status, StatusCode::OK, "{url}");
        assert_eq!(resp.header("cache-control"), "public, max-age=31536000, immutable");
        assert!(!resp.body.is_empty());
        // Another hash is not served: a cached URL never shows other content.
        let (_, name) = url.rsplit_once('/').unwrap();
        assert_eq!(
            client.get(&format!("/static/0000000000000000/{name}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert!(urls.iter().any(|u| u.ends_with("/htmx.min.js")));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let client = app.client();
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    app.pool.close().await;
    assert_eq!(
        client.get("/healthz").await.status,
        StatusCode::OK,
        "the process still runs"
    );
    assert_eq!(client.get("/readyz").await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_page_with_the_request_id_and_no_internals() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    // Wait out the session cache so the next request must reach the (closed) database.
    app.advance(berth::web::session_store::CACHE_TTL + std::time::Duration::from_millis(100));
    app.pool.close().await;
    let resp = client.get("/account").await;
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    let id = resp.header("x-request-id").to_owned();
    assert_eq!(resp.text(".request-id"), id, "the page shows the request id");
    assert!(resp.body.contains("unavailable right now"), "{}", resp.body);
    let lower = resp.body.to_lowercase();
    for leak in ["sqlx", "pool", "postgres", "select ", "panicked"] {
        assert!(!lower.contains(leak), "the page leaks {leak:?}: {}", resp.body);
    }
}

#[tokio::test]
async fn an_internal_error_is_a_500_page_with_the_request_id_and_no_internals() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    // A query that fails for another reason than a lost database is a bug: a 500.
    sqlx::query("alter table customer_settings rename to customer_settings_away")
        .execute(&app.pool)
        .await
        .unwrap();
    let resp = client.get("/settings").await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = resp.header("x-request-id").to_owned();
    assert!(!id.is_empty());
    assert!(resp.header("content-type").starts_with("text/html"));
    assert_eq!(resp.text(".request-id"), id, "the page shows the request id");
    let lower = resp.body.to_lowercase();
    for leak in ["sqlx", "pool", "postgres", "select ", "panicked"] {
        assert!(!lower.contains(leak), "the page leaks {leak:?}: {}", resp.body);
    }
}
