//! The onboarding wizard and the sites it creates.

use reqwest::StatusCode;

use crate::helpers::*;

/// Walks the wizard to the review page with valid input.
pub async fn fill_wizard(client: &Client, hostname: &str, container: &str) {
    client.get("/wizard/site").await;
    let r = client
        .post_form("/wizard/site", &[("site_name", "My shop"), ("site_hostname", hostname)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/wizard/container");
    let r = client
        .post_form(
            "/wizard/container",
            &[
                ("container_name", container),
                ("container_type", "lamp"),
                ("container_os_id", "debian-12"),
                ("container_size", "small"),
                ("container_disk_space", "20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = client
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("environment_names", "staging"),
                ("alias_names", &format!("alias.{hostname}")),
                ("create_dns", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/wizard/review");
}

#[tokio::test]
async fn wizard_creates_a_site_once() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    fill_wizard(&client, "shop.example.com", "web").await;
    let review = client.get("/wizard/review").await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert_eq!(review.text("#review-hostname"), "shop.example.com");
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let again = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(
        again.location(),
        created.location(),
        "a double submit lands on the same site"
    );
    let sites: i64 = app.scalar("select count(*) from sites").await;
    assert_eq!(sites, 1);
    let page = client.get(created.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("#site-hostname"), "shop.example.com");
    let zone = client.get(&format!("{}/zone", created.location())).await;
    assert!(zone.header("content-type").starts_with("text/plain"));
    assert!(zone.body.contains("$ORIGIN shop.example.com."));
}
