//! Signing in and out, throttling, session lifetime.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn customer_signs_in_and_sees_the_dashboard() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let resp = client.get("/").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text("#signed-in-as"), "alice");
    assert!(resp.text("h1").contains("Welcome, alice"));
}
