//! The signed-in sessions list (issue 16): both sessions of two browsers are listed, the
//! current one marked; signing one out ends it at its next request; "everywhere else" keeps
//! the current one; another account's session id is not found, and nothing changes. The
//! same for staff.

use axum::http::StatusCode;

use crate::helpers::{Client, PASSWORD, Resp, STAFF_PASSWORD, TestApp};

/// The session ids in the list, and which one is marked current.
fn listed(r: &Resp) -> (Vec<String>, Option<String>) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let html = r.html();
    let rows = scraper::Selector::parse("#sessions tbody tr[id]").unwrap();
    let mut ids = Vec::new();
    let mut current = None;
    for row in html.select(&rows) {
        let id = row
            .value()
            .attr("id")
            .unwrap()
            .trim_start_matches("session-")
            .to_owned();
        if row.value().attr("aria-current") == Some("true") {
            current = Some(id.clone());
        }
        ids.push(id);
    }
    (ids, current)
}

/// A second browser signed in as `username`, having loaded a page as a browser does after
/// signing in (a session is listed from its first page).
async fn another_browser(app: &TestApp, username: &str) -> Client {
    let client = app.client();
    assert_eq!(client.sign_in(username, PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(client.get("/account").await.status, StatusCode::OK);
    client
}

async fn signed_out(client: &Client) -> bool {
    let r = client.get("/account").await;
    r.status == StatusCode::SEE_OTHER && r.location().starts_with("/login")
}

#[tokio::test]
async fn the_list_shows_both_sessions_and_signing_one_out_ends_it_at_once() {
    let app = TestApp::spawn().await;
    let (first, id) = app.signed_in_client("alice").await;
    let account = first.get("/account").await;
    assert!(account.body.contains(r#"href="/account/security#signed-in-sessions""#));
    let second = another_browser(&app, "alice").await;

    let (ids, current) = listed(&first.get("/account/security").await);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mine = current.expect("the current session is marked");
    let theirs = ids.iter().find(|i| **i != mine).unwrap().clone();
    let page = first.get("/account/security").await;
    assert_eq!(page.text(&format!("#session-{mine} td:last-child")), "This session");
    // The second browser sees the same two, with its own marked.
    let (ids2, current2) = listed(&second.get("/account/security").await);
    assert_eq!(ids2.len(), 2);
    assert_eq!(current2.as_deref(), Some(theirs.as_str()));

    // The current session cannot be signed out from the list.
    let r = first
        .post_form(&format!("/account/sessions/{mine}/sign-out"), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(first.get("/account").await.status, StatusCode::OK);

    first.get("/account/security").await;
    let r = first
        .post_form(&format!("/account/sessions/{theirs}/sign-out"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/account/security");
    // Ended at its very next request.
    assert!(signed_out(&second).await);
    assert_eq!(first.get("/account").await.status, StatusCode::OK);
    let (ids, _) = listed(&first.get("/account/security").await);
    assert_eq!(ids, vec![mine.clone()]);

    // A session signed out with Sign out leaves the list at once.
    let third = another_browser(&app, "alice").await;
    assert_eq!(listed(&first.get("/account/security").await).0.len(), 2);
    third.post_form("/logout", &[]).await;
    assert_eq!(listed(&first.get("/account/security").await).0, vec![mine]);
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from activity where customer_id = $1 and kind = 'sessions_signed_out'")
            .bind(id.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_the_current_session() {
    let app = TestApp::spawn().await;
    let (first, _) = app.signed_in_client("alice").await;
    first.get("/account").await;
    let second = another_browser(&app, "alice").await;
    // Signed in, and not listed yet (no page loaded): it ends too.
    let third = app.client();
    assert_eq!(third.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);

    let (ids, _) = listed(&first.get("/account/security").await);
    assert_eq!(ids.len(), 2);
    let r = first.post_form("/account/sessions/others/sign-out", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(signed_out(&second).await);
    assert!(signed_out(&third).await);
    assert_eq!(first.get("/account").await.status, StatusCode::OK);
    let (ids, current) = listed(&first.get("/account/security").await);
    assert_eq!(ids.len(), 1);
    assert_eq!(current.as_ref(), ids.first());
}

#[tokio::test]
async fn another_customers_session_is_not_found_and_goes_on() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    alice.get("/account").await;
    let (bob, _) = app.signed_in_client("bob").await;
    let (bobs, _) = listed(&bob.get("/account/security").await);
    let r = alice.get("/account/security").await;
    assert!(!r.body.contains(&format!("session-{}", bobs[0])));
    let r = alice
        .post_form(&format!("/account/sessions/{}/sign-out", bobs[0]), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(bob.get("/account").await.status, StatusCode::OK);
    let (still, _) = listed(&bob.get("/account/security").await);
    assert_eq!(still, bobs);
    // Nor is a staff session reachable from a customer's list.
    let staff = app.staff_client("sam", false).await;
    let (staff_ids, _) = listed(&staff.get("/staff/sessions").await);
    alice.get("/account/security").await;
    let r = alice
        .post_form(&format!("/account/sessions/{}/sign-out", staff_ids[0]), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(staff.get("/staff").await.status, StatusCode::OK);
}

#[tokio::test]
async fn staff_list_and_sign_out_their_own_sessions() {
    let app = TestApp::spawn().await;
    let first = app.staff_client("sam", false).await;
    let second = app.client();
    second.get("/staff/login").await;
    let r = second
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.staff_second_step(&second, "sam").await;
    assert_eq!(second.get("/staff").await.status, StatusCode::OK);
    let other_staff = app.staff_client("tina", false).await;

    let (ids, current) = listed(&first.get("/staff/sessions").await);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mine = current.unwrap();
    let theirs = ids.iter().find(|i| **i != mine).unwrap().clone();
    let (tinas, _) = listed(&other_staff.get("/staff/sessions").await);

    // Another staff member's session: not found, and it goes on.
    let r = first
        .post_form(&format!("/staff/sessions/{}/sign-out", tinas[0]), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(other_staff.get("/staff").await.status, StatusCode::OK);

    first.get("/staff/sessions").await;
    let r = first
        .post_form(&format!("/staff/sessions/{theirs}/sign-out"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = second.get("/staff").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/staff/login"), "{}", r.location());
    assert_eq!(first.get("/staff").await.status, StatusCode::OK);

    // Everywhere else, with a third session.
    let third = app.client();
    third.get("/staff/login").await;
    third
        .post_form("/staff/login", &[("username", "sam"), ("password", STAFF_PASSWORD)])
        .await;
    app.staff_second_step(&third, "sam").await;
    assert_eq!(third.get("/staff").await.status, StatusCode::OK);
    first.get("/staff/sessions").await;
    let r = first.post_form("/staff/sessions/others/sign-out", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(third.get("/staff").await.status, StatusCode::SEE_OTHER);
    assert_eq!(first.get("/staff").await.status, StatusCode::OK);
    assert_eq!(other_staff.get("/staff").await.status, StatusCode::OK);
}
