//! Destructive actions confirm the same way (issue 19): a `<details class="confirm">` whose
//! summary is the action, a sentence saying what goes and what goes with it, and a plain
//! form whose button does it (with htmx, the same form posts in place).

use reqwest::StatusCode;

use crate::helpers::*;
use crate::keys::create_key;

/// The confirmation `details.confirm.<class>` within `scope` of a page: its summary, its
/// consequence and its form's action; the form posts plainly and, where it says so, by htmx
/// to the same action, and its button submits.
fn confirmation(page: &Resp, scope: &str, class: &str) -> (String, String, String) {
    let at = format!("{scope} details.confirm.{class}");
    let action = page.text_attr(&format!("{at} > form[method=post]"), "action");
    if let Some(hx) = page
        .html()
        .select(&scraper::Selector::parse(&format!("{at} > form[hx-post]")).unwrap())
        .next()
    {
        assert_eq!(hx.value().attr("hx-post"), Some(action.as_str()), "{at}");
    }
    assert!(!page.text(&format!("{at} > form button[type=submit]")).is_empty());
    assert!(
        !page
            .text_attr(&format!("{at} > form input[name=csrf_token]"), "value")
            .is_empty()
    );
    (
        page.text(&format!("{at} > summary")),
        page.text(&format!("{at} > .consequence")),
        action,
    )
}

#[tokio::test]
async fn acls_and_keys_say_what_deleting_and_revoking_take() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let (key, _) = create_key(&client, "deploy", "standard").await;
    for network in ["10.0.0.0", "192.0.2.0"] {
        let r = client
            .post_form(&format!("/keys/{key}/acls"), &[("address", network), ("cidr", "24")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let block = format!("#key-{key}");
    let page = client.get("/keys").await;
    let acls: Vec<i64> = sqlx::query_scalar("select id from api_key_acls where key_id = $1 order by network")
        .bind(key)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let (summary, consequence, action) = confirmation(&page, &format!("#acl-{}", acls[0]), "acl-delete");
    assert_eq!(summary, "Delete ACL 10.0.0.0/24");
    assert_eq!(
        consequence,
        "Calls from 10.0.0.0/24 are refused once it goes; the key's other ACL stays."
    );
    let (summary, consequence, revoke) = confirmation(&page, &block, "revoke");
    assert_eq!(summary, "Revoke key “deploy”");
    assert_eq!(
        consequence,
        "Scripts using deploy stop working at once, and it can never be used again. It stays listed, marked revoked. Its 2 ACLs stay listed with it."
    );

    // The button works: the ACL goes; the last one says the key opens to every address.
    let r = client.post_htmx(&action, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = client.get("/keys").await;
    let (_, consequence, _) = confirmation(&page, &format!("#acl-{}", acls[1]), "acl-delete");
    assert_eq!(
        consequence,
        "192.0.2.0/24 is the key's only ACL: once it goes, deploy may be used from any address."
    );
    let r = client.post_form(&revoke, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let revoked: bool = app
        .scalar(&format!("select revoked_at is not null from api_keys where id = {key}"))
        .await;
    assert!(revoked);
    assert!(
        client
            .get("/keys")
            .await
            .texts(&format!("{block} details.confirm"))
            .is_empty()
    );
}

#[tokio::test]
async fn freeing_an_address_says_its_reverse_dns_goes_with_it() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    client.get("/addresses").await;
    assert_eq!(
        client.post_form("/addresses", &[("family", "ipv4")]).await.status,
        StatusCode::SEE_OTHER
    );
    let row = r#"tr[data-address="192.0.2.10"]"#;
    let (summary, consequence, _) = confirmation(&client.get("/addresses").await, row, "free");
    assert_eq!(summary, "Free 192.0.2.10");
    assert_eq!(
        consequence,
        "192.0.2.10 goes back to the pool and may be given to another customer; getting it back is not guaranteed."
    );
    client
        .post_form(
            "/addresses/192.0.2.10/reverse",
            &[("reverse_dns", "mail.bücher.example")],
        )
        .await;
    let (_, consequence, action) = confirmation(&client.get("/addresses").await, row, "free");
    assert!(
        consequence.ends_with(" Its reverse DNS name mail.bücher.example goes with it."),
        "{consequence}"
    );
    let r = client.post_htmx(&action, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let held: i64 = app
        .scalar(&format!("select count(*) from ip_pool where customer_id = {}", alice.0))
        .await;
    assert_eq!(held, 0);
}

#[tokio::test]
async fn starting_the_wizard_over_says_what_is_forgotten() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let page = client.get("/wizard/site").await;
    let (summary, consequence, action) = confirmation(&page, "#main", "wizard-reset");
    assert_eq!(summary, "Start over");
    assert!(
        consequence.starts_with("Whatever you typed on this step is forgotten"),
        "{consequence}"
    );
    assert!(consequence.contains("Nothing has been created yet"));
    let r = client
        .post_form(
            "/wizard/site",
            &[("site_name", "My shop"), ("site_hostname", "shop.example.com")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = client.get("/wizard/container").await;
    let (_, consequence, _) = confirmation(&page, "#main", "wizard-reset");
    assert!(
        consequence.starts_with("Your answers so far (site name and hostname) are forgotten"),
        "{consequence}"
    );
    let r = client.post_form(&action, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let drafts: i64 = app.scalar("select count(*) from wizard_drafts").await;
    assert_eq!(drafts, 0, "the draft is gone");
}

#[tokio::test]
async fn marking_a_cancellation_handled_says_it_cancels_the_account() {
    let app = TestApp::spawn().await;
    let (customer, alice) = app.signed_in_client("alice").await;
    customer.get("/account/cancel").await;
    customer.post_form("/account/cancel", &[("reason", "Moving on")]).await;
    let staff = app.staff_client("writer", true).await;
    let page = staff.get(&format!("/staff/customers/{alice}")).await;
    let (summary, consequence, action) = confirmation(&page, "#cancellations", "cancellation-complete");
    assert_eq!(summary, "Mark handled (cancels the account)");
    assert!(
        consequence.starts_with("Marking it handled cancels the account of alice: they can no longer sign in"),
        "{consequence}"
    );
    assert_eq!(
        page.text("#cancellations details.confirm button[type=submit]"),
        "Yes, cancel the account of alice"
    );
    let r = staff.post_form(&action, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let status: String = app
        .scalar(&format!("select status::text from customers where id = {}", alice.0))
        .await;
    assert_eq!(status, "cancelled");
}

#[tokio::test]
async fn removing_a_passkey_names_it_and_what_still_works() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let laptop = crate::passkeys::insert_passkey(&app, alice, "Laptop").await;
    crate::passkeys::insert_passkey(&app, alice, "Phone").await;
    let page = client.get("/account/security/passkeys").await;
    let (summary, consequence, action) = confirmation(&page, "#passkeys", "passkey-delete");
    assert_eq!(summary, "Remove passkey “Laptop”");
    assert!(
        consequence.starts_with("You can no longer sign in with “Laptop”, nor use it as your second step"),
        "{consequence}"
    );
    assert!(
        consequence.contains("your password and other passkeys still work"),
        "{consequence}"
    );
    assert_eq!(action, format!("/account/security/passkeys/{laptop}/delete"));
    assert_eq!(
        page.text("#passkeys details.confirm.passkey-delete button[type=submit]"),
        "Yes, remove “Laptop”"
    );
    let r = client.post_form(&action, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let left: Vec<String> = sqlx::query_scalar("select name from passkeys where customer_id = $1")
        .bind(alice)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, ["Phone"]);
}
