//! Contacts, their methods and subscriptions: every option rule refused at 422 (plain and
//! htmx) with nothing written, other customers refused like nonexistent rows (404) and
//! nothing changed, the webhook's signing secret shown once, the delete confirmation's
//! counts, and the grid.

pub mod browser;
pub mod hardening;

use berth::identity::CustomerId;
use reqwest::StatusCode;

use crate::helpers::*;

/// A form's fields.
type Fields<'a> = Vec<(&'a str, &'a str)>;
/// A form, the field it must be refused on, and part of the message.
type Case<'a> = (Fields<'a>, &'a str, &'a str);

/// Creates a contact through the form; returns its id.
async fn add_contact(app: &TestApp, client: &Client, name: &str) -> i64 {
    // The page gives the session's CSRF token, as a browser would have it.
    client.get("/contacts").await;
    let r = client.post_form("/contacts", &[("name", name)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    app.scalar("select max(id) from contacts").await
}

/// Adds a method through the form; returns its id.
async fn add_method(app: &TestApp, client: &Client, contact: i64, method: &str, key: &str, value: &str) -> i64 {
    let field = format!("options[{key}]");
    let r = client
        .post_form(
            &format!("/contacts/{contact}/methods"),
            &[("method_id", method), (field.as_str(), value)],
        )
        .await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.body);
    app.scalar("select max(id) from contact_methods").await
}

/// Subscribes a method through the form; returns the subscription's id.
async fn subscribe(app: &TestApp, client: &Client, method: i64, notice_type: &str, severity: &str) -> i64 {
    let r = client
        .post_form(
            &format!("/contact-methods/{method}/notices"),
            &[("notice_type_id", notice_type), ("options[min_severity]", severity)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    sqlx::query_scalar("select id from contact_method_notices where contact_method_id = $1 and notice_type_id = $2")
        .bind(method)
        .bind(notice_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Everything about a customer's contacts, to compare before and after.
async fn snapshot(app: &TestApp, customer: CustomerId) -> Vec<String> {
    sqlx::query_scalar(
        "select concat_ws(' ', c.id, c.name, m.id, m.method_id, m.options::text, m.signing_secret,
                          s.id, s.notice_type_id, s.options::text)
         from contacts c left join contact_methods m on m.contact_id = c.id
         left join contact_method_notices s on s.contact_method_id = m.id
         where c.customer_id = $1 order by c.id, m.id, s.id",
    )
    .bind(customer)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn everything(app: &TestApp) -> (i64, i64, i64) {
    (
        app.scalar("select count(*) from contacts").await,
        app.scalar("select count(*) from contact_methods").await,
        app.scalar("select count(*) from contact_method_notices").await,
    )
}

#[tokio::test]
async fn contacts_methods_and_subscriptions_make_the_grid() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let page = client.get("/contacts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No contacts yet."));
    // The catalogues are on the page.
    for label in [
        "Email",
        "SMS",
        "Phone",
        "Webhook",
        "Billing",
        "Maintenance",
        "Outage",
        "Security",
        "Abuse",
    ] {
        assert!(page.body.contains(label), "{label}");
    }

    let contact = add_contact(&app, &client, " On-call team ").await;
    let email = add_method(&app, &client, contact, "email", "address", "ops@example.com").await;
    let sms = add_method(&app, &client, contact, "sms", "number", "+49 30 1234567").await;
    let options: String = sqlx::query_scalar("select options::text from contact_methods where id = $1")
        .bind(sms)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(options, r#"{"number": "+49301234567"}"#);
    let outage = subscribe(&app, &client, email, "outage", "warning").await;
    subscribe(&app, &client, sms, "security", "critical").await;

    let page = client.get("/contacts").await;
    let block = format!("#contact-{contact}");
    assert_eq!(page.text(&format!("{block} .contact-name")), "On-call team");
    assert_eq!(page.texts(&format!("{block} tr.method")).len(), 2);
    assert_eq!(
        page.texts(&format!("{block} thead th")).len(),
        6,
        "a column per notice type"
    );
    assert_eq!(page.texts(&format!("{block} td.subscribed")).len(), 2);
    let cell = format!("#cell-{email}-outage");
    assert!(page.text_attr(&cell, "class").contains("subscribed"));
    assert_eq!(
        page.text_attr(&format!("{cell}-severity option[selected]"), "value"),
        "warning"
    );
    assert_eq!(
        page.text_attr(&format!("{cell} form.cell-remove"), "action"),
        format!("/contact-method-notices/{outage}/delete")
    );
    assert!(
        !page
            .text_attr(&format!("#cell-{email}-billing"), "class")
            .contains("subscribed")
    );
    assert_eq!(
        page.text_attr(&format!("#cell-{email}-billing form.cell-add"), "action"),
        format!("/contact-methods/{email}/notices")
    );

    // Posting again for a subscribed cell changes its minimum severity (htmx: the block).
    let r = client
        .post_htmx(
            &format!("/contact-methods/{email}/notices"),
            &[("notice_type_id", "outage"), ("options[min_severity]", "critical")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("<html"));
    assert!(r.body.contains("Outage now from critical."));
    assert_eq!(
        r.text_attr(&format!("{cell}-severity option[selected]"), "value"),
        "critical"
    );
    let stored: String =
        sqlx::query_scalar("select options ->> 'min_severity' from contact_method_notices where id = $1")
            .bind(outage)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, "critical");
    // Without a severity a subscription hears everything from info.
    let r = client
        .post_htmx(
            &format!("/contact-methods/{email}/notices"),
            &[("notice_type_id", "billing")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.text_attr(&format!("#cell-{email}-billing-severity option[selected]"), "value"),
        "info"
    );
    assert_eq!(everything(&app).await, (1, 2, 3));

    // Removing over htmx: the block without that subscription.
    let r = client
        .post_htmx(&format!("/contact-method-notices/{outage}/delete"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.text_attr(&cell, "class").contains("subscribed"));
    assert!(r.body.contains("Unsubscribed from"));
    // Deleting a method takes its subscriptions.
    let r = client.post_form(&format!("/contact-methods/{sms}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(everything(&app).await, (1, 1, 1));

    let activity = client.get("/activity").await;
    let labels = activity.texts("td");
    for label in [
        "Contact added",
        "Contact method added",
        "Contact subscribed",
        "Contact subscription changed",
        "Contact unsubscribed",
        "Contact method deleted",
    ] {
        assert!(labels.iter().any(|t| t == label), "{label} in Activity");
    }
    assert_eq!(snapshot(&app, alice).await.len(), 1);
}

#[tokio::test]
async fn every_option_rule_is_a_field_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let contact = add_contact(&app, &client, "Ops").await;
    let email = add_method(&app, &client, contact, "email", "address", "ops@example.com").await;
    let before = snapshot(&app, alice).await;
    let methods = format!("/contacts/{contact}/methods");
    let too_long = format!("https://example.com/{}", "a".repeat(2100));

    let method_cases: Vec<Case> = vec![
        (
            vec![("method_id", "email"), ("options[address]", "not-an-address")],
            "options[address]",
            "email address",
        ),
        (
            vec![("method_id", "email"), ("options[address]", "")],
            "options[address]",
            "needs an address",
        ),
        (vec![("method_id", "email")], "options[address]", "needs an address"),
        (
            vec![("method_id", "sms"), ("options[number]", "030 1234567")],
            "options[number]",
            "international form",
        ),
        (
            vec![("method_id", "sms"), ("options[number]", "+0301234567")],
            "options[number]",
            "international form",
        ),
        (
            vec![("method_id", "phone"), ("options[number]", "+1234567")],
            "options[number]",
            "international form",
        ),
        (
            vec![("method_id", "phone"), ("options[number]", "+1234567890123456")],
            "options[number]",
            "international form",
        ),
        (vec![("method_id", "phone")], "options[number]", "needs a number"),
        (
            vec![("method_id", "webhook"), ("options[url]", "http://hooks.example.com/x")],
            "options[url]",
            "https://",
        ),
        (
            vec![
                ("method_id", "webhook"),
                ("options[url]", "https://user:pw@hooks.example.com/x"),
            ],
            "options[url]",
            "user name",
        ),
        (
            vec![("method_id", "webhook"), ("options[url]", "https:///x")],
            "options[url]",
            "host name",
        ),
        (
            vec![
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/a b"),
            ],
            "options[url]",
            "no spaces",
        ),
        (
            vec![("method_id", "webhook"), ("options[url]", &too_long)],
            "options[url]",
            "2048",
        ),
        (vec![("method_id", "webhook")], "options[url]", "https:// URL"),
        (
            vec![
                ("method_id", "email"),
                ("options[address]", "a@example.com"),
                ("options[colour]", "red"),
            ],
            "method_id",
            "options[colour] is not one of its options",
        ),
        (
            vec![
                ("method_id", "sms"),
                ("options[number]", "+4930123456"),
                ("options[url]", "https://example.com"),
            ],
            "method_id",
            "options[url] is not one of its options",
        ),
        (
            vec![("method_id", "pigeon"), ("options[address]", "a@example.com")],
            "method_id",
            "Choose email",
        ),
        (vec![("options[address]", "a@example.com")], "method_id", "Choose email"),
    ];
    for (fields, field, message) in &method_cases {
        for htmx in [false, true] {
            let r = if htmx {
                client.post_htmx(&methods, fields).await
            } else {
                client.post_form(&methods, fields).await
            };
            assert_field_error(&r, field, message);
            assert_eq!(r.body.contains("<html"), !htmx, "{fields:?}");
            assert!(r.body.contains(&format!("id=\"contact-{contact}\"")));
        }
    }
    // What was typed is kept.
    let r = client
        .post_form(&methods, &[("method_id", "sms"), ("options[number]", "12345")])
        .await;
    assert_eq!(
        r.text_attr(&format!("#contact-{contact}-method-number"), "value"),
        "12345"
    );
    assert_eq!(
        r.text_attr(&format!("#contact-{contact}-method-method option[selected]"), "value"),
        "sms"
    );

    let notices = format!("/contact-methods/{email}/notices");
    let subscription_cases: Vec<Case> = vec![
        (
            vec![("notice_type_id", "outage"), ("options[min_severity]", "loud")],
            "options[min_severity]",
            "Choose info",
        ),
        (
            vec![("notice_type_id", "outage"), ("options[min_severity]", "")],
            "options[min_severity]",
            "Choose info",
        ),
        (
            vec![("notice_type_id", "outage"), ("options[channel]", "x")],
            "options[min_severity]",
            "options[channel] is not one of its options",
        ),
        (
            vec![("notice_type_id", "weather"), ("options[min_severity]", "info")],
            "notice_type_id",
            "Choose one of",
        ),
        (
            vec![("options[min_severity]", "info")],
            "notice_type_id",
            "Choose one of",
        ),
    ];
    for (fields, field, message) in &subscription_cases {
        for htmx in [false, true] {
            let r = if htmx {
                client.post_htmx(&notices, fields).await
            } else {
                client.post_form(&notices, fields).await
            };
            assert_field_error(&r, field, message);
            assert_eq!(r.body.contains("<html"), !htmx, "{fields:?}");
        }
    }

    // Contact names: empty, blank, too long.
    let long = "x".repeat(101);
    for name in ["", "   ", long.as_str()] {
        for htmx in [false, true] {
            let r = if htmx {
                client.post_htmx("/contacts", &[("name", name)]).await
            } else {
                client.post_form("/contacts", &[("name", name)]).await
            };
            assert_field_error(
                &r,
                "name",
                if name.len() > 100 {
                    "at most 100"
                } else {
                    "Give the contact a name"
                },
            );
        }
    }
    assert_eq!(snapshot(&app, alice).await, before, "nothing was written");
    assert_eq!(everything(&app).await, (1, 1, 0));
    // 100 characters is fine.
    add_contact(&app, &client, &"y".repeat(100)).await;
}

/// The signing secrets a contacts answer shows.
fn secrets_in(r: &Resp) -> Vec<String> {
    r.texts(".webhook-secret .webhook-secret-value")
}

#[tokio::test]
async fn a_webhook_secret_is_shown_until_dismissed_and_stored() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let contact = add_contact(&app, &client, "Automation").await;
    let r = client
        .post_form(
            &format!("/contacts/{contact}/methods"),
            &[
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/berth"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.text_attr(".webhook-secret", "hx-history"), "false");
    let secrets = secrets_in(&r);
    assert_eq!(secrets.len(), 1, "{}", r.body);
    let secret = secrets[0].clone();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70 && secret[6..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );
    let (method, stored, options): (i64, String, String) =
        sqlx::query_as("select id, signing_secret, options::text from contact_methods where contact_id = $1")
            .bind(contact)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, secret);
    assert_eq!(options, r#"{"url": "https://hooks.example.com/berth"}"#);
    // Until dismissed, the page shows it again (kept by no cache); Activity never does.
    let page = client.get("/contacts").await;
    assert_eq!(secrets_in(&page), [secret.as_str()]);
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(!client.get("/activity").await.body.contains(&secret));
    let in_activity: i64 = sqlx::query_scalar("select count(*) from activity where detail like '%' || $1 || '%'")
        .bind(&secret)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(in_activity, 0, "the secret is not in Activity");
    // The session keeps which secret is shown, never the secret.
    let in_sessions: i64 = sqlx::query_scalar(
        "select count(*) from tower_sessions.session where position(convert_to($1, 'UTF8') in data) > 0",
    )
    .bind(&secret)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(in_sessions, 0, "the secret is not in a session");

    // Over htmx: the block with both secrets, not stored by the browser either.
    let r = client
        .post_htmx(
            &format!("/contacts/{contact}/methods"),
            &[
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/other"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    assert!(!r.body.contains("<html"));
    let shown = secrets_in(&r);
    assert_eq!(shown.len(), 2, "{}", r.body);
    assert_eq!(shown[0], secret);
    let second = shown[1].clone();
    assert!(second.starts_with("whsec_") && second != secret);

    // Dismissing the first (htmx) hides it for good; the second stays.
    let r = client
        .post_htmx(&format!("/contact-methods/{method}/secret/dismiss"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(secrets_in(&r), [second.as_str()]);
    assert!(r.body.contains("Signing secret hidden"));
    let page = client.get("/contacts").await;
    assert_eq!(secrets_in(&page), [second.as_str()]);
    assert!(!page.body.contains(&secret));
    // The second, without JavaScript: back to the page, which shows none and may be kept.
    let other: i64 = app
        .scalar(&format!(
            "select id from contact_methods where contact_id = {contact} and id <> {method}"
        ))
        .await;
    let r = client
        .post_form(&format!("/contact-methods/{other}/secret/dismiss"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = client.get("/contacts").await;
    assert!(secrets_in(&page).is_empty() && !page.body.contains(&second));
    assert_ne!(page.header("cache-control"), "no-store");
    // The secrets are kept for signing all the same.
    let kept: i64 = app
        .scalar("select count(*) from contact_methods where signing_secret is not null")
        .await;
    assert_eq!(kept, 2);
    // Other methods get no secret.
    add_method(&app, &client, contact, "email", "address", "a@example.com").await;
    let without: i64 = app
        .scalar("select count(*) from contact_methods where method_id <> 'webhook' and signing_secret is not null")
        .await;
    assert_eq!(without, 0);
}

#[tokio::test]
async fn a_webhook_secret_stays_through_the_blocks_other_changes() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let contact = add_contact(&app, &client, "Automation").await;
    let other_contact = add_contact(&app, &client, "Billing").await;
    let r = client
        .post_htmx(
            &format!("/contacts/{contact}/methods"),
            &[
                ("method_id", "webhook"),
                ("options[url]", "https://hooks.example.com/berth"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = secrets_in(&r).pop().expect("the secret");
    let webhook: i64 = app
        .scalar(&format!("select id from contact_methods where contact_id = {contact}"))
        .await;

    // Each in-place change of the same block answers with the block: the secret stays.
    let r = client
        .post_htmx(
            &format!("/contact-methods/{webhook}/notices"),
            &[("notice_type_id", "outage"), ("options[min_severity]", "info")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(secrets_in(&r), [secret.as_str()], "after subscribing");
    assert_eq!(r.header("cache-control"), "no-store");
    let subscription: i64 = app
        .scalar(&format!(
            "select id from contact_method_notices where contact_method_id = {webhook}"
        ))
        .await;
    let r = client
        .post_htmx(
            &format!("/contacts/{contact}/methods"),
            &[("method_id", "email"), ("options[address]", "ops@example.com")],
        )
        .await;
    assert_eq!(secrets_in(&r), [secret.as_str()], "after adding an email");
    let r = client
        .post_htmx(
            &format!("/contacts/{contact}/methods"),
            &[("method_id", "email"), ("options[address]", "not an address")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(secrets_in(&r), [secret.as_str()], "after a refused add");
    let r = client
        .post_htmx(&format!("/contact-method-notices/{subscription}/delete"), &[])
        .await;
    assert_eq!(secrets_in(&r), [secret.as_str()], "after unsubscribing");
    // Another contact's block does not show it; the page shows it in its own block.
    let r = client
        .post_htmx(
            &format!("/contacts/{other_contact}/methods"),
            &[("method_id", "email"), ("options[address]", "billing@example.com")],
        )
        .await;
    assert!(secrets_in(&r).is_empty() && !r.body.contains(&secret));
    let page = client.get("/contacts").await;
    assert_eq!(
        page.texts(&format!("#contact-{contact} .webhook-secret-value")),
        [secret.as_str()]
    );
    assert!(
        page.texts(&format!("#contact-{other_contact} .webhook-secret"))
            .is_empty()
    );
    // Deleting the webhook takes its secret off the page too.
    let r = client
        .post_htmx(&format!("/contact-methods/{webhook}/delete"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(secrets_in(&r).is_empty() && !r.body.contains(&secret));
    assert!(!client.get("/contacts").await.body.contains(&secret));
}

#[tokio::test]
async fn deleting_a_contact_says_what_goes_and_takes_it_all() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let contact = add_contact(&app, &client, "Ops").await;
    let other = add_contact(&app, &client, "Billing desk").await;
    let email = add_method(&app, &client, contact, "email", "address", "ops@example.com").await;
    let phone = add_method(&app, &client, contact, "phone", "number", "+4930123456").await;
    subscribe(&app, &client, email, "outage", "info").await;
    subscribe(&app, &client, email, "security", "warning").await;
    subscribe(&app, &client, phone, "outage", "critical").await;
    let billing = add_method(&app, &client, other, "email", "address", "billing@example.com").await;
    subscribe(&app, &client, billing, "billing", "info").await;

    let page = client.get("/contacts").await;
    assert_eq!(
        page.text(&format!("#contact-{contact} details.confirm.contact-delete summary")),
        "Delete contact “Ops”"
    );
    assert_eq!(
        page.text(&format!("#contact-{contact} details.contact-delete .consequence")),
        "Its 2 contact methods and their 3 subscriptions go with it."
    );
    assert_eq!(
        page.text(&format!("#contact-{other} details.contact-delete .consequence")),
        "Its 1 contact method and its 1 subscription go with it."
    );
    // Deleting one method names what goes with it too: its subscriptions, by notice type.
    assert_eq!(
        page.text(&format!("#method-{email} details.method-delete .consequence")),
        "Email ops@example.com is no longer reached: its 2 subscriptions go with it (Outage, Security)."
    );
    assert_eq!(
        page.text_attr(&format!("#method-{phone} details.method-delete form"), "hx-post"),
        format!("/contact-methods/{phone}/delete")
    );
    assert_eq!(
        page.text_attr(&format!("#contact-{contact} details.contact-delete form"), "action"),
        format!("/contacts/{contact}/delete")
    );

    let r = client.post_htmx(&format!("/contacts/{contact}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains(&format!("contact-{contact}")), "the block goes");
    assert!(r.body.contains("Contact Ops deleted"));
    assert_eq!(everything(&app).await, (1, 1, 1), "the other contact stays");
    let r = client.post_form(&format!("/contacts/{other}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(everything(&app).await, (0, 0, 0));
    let activity = client.get("/activity").await;
    assert!(activity.texts("td").iter().any(|t| t == "Contact deleted"));
    // Gone is gone.
    let r = client.post_form(&format!("/contacts/{other}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_customers_contacts_are_not_found_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/contacts").await;
    let contact = add_contact(&app, &alice_client, "Ops").await;
    let email = add_method(&app, &alice_client, contact, "email", "address", "ops@example.com").await;
    let subscription = subscribe(&app, &alice_client, email, "outage", "info").await;
    let before = snapshot(&app, alice).await;

    let routes: Vec<(String, Vec<Fields>)> = vec![
        (format!("/contacts/{contact}/delete"), vec![vec![]]),
        (
            format!("/contacts/{contact}/methods"),
            vec![
                vec![("method_id", "email"), ("options[address]", "bob@example.com")],
                vec![("method_id", "email"), ("options[address]", "bad")],
                vec![("method_id", "webhook"), ("options[url]", "https://bob.example.com/")],
                vec![("method_id", "pigeon")],
            ],
        ),
        (format!("/contact-methods/{email}/delete"), vec![vec![]]),
        (
            format!("/contact-methods/{email}/notices"),
            vec![
                vec![("notice_type_id", "billing"), ("options[min_severity]", "info")],
                vec![("notice_type_id", "outage"), ("options[min_severity]", "critical")],
                vec![("notice_type_id", "weather"), ("options[min_severity]", "loud")],
                vec![("notice_type_id", "outage"), ("options[x]", "y")],
            ],
        ),
        (format!("/contact-method-notices/{subscription}/delete"), vec![vec![]]),
        (format!("/contact-methods/{email}/secret/dismiss"), vec![vec![]]),
    ];
    for (path, inputs) in &routes {
        for fields in inputs {
            let plain = bob.post_form(path, fields).await;
            assert_eq!(plain.status, StatusCode::NOT_FOUND, "{path} {fields:?}: {}", plain.body);
            let htmx = bob.post_htmx(path, fields).await;
            assert_eq!(htmx.status, StatusCode::NOT_FOUND, "htmx {path} {fields:?}");
            assert!(!htmx.body.contains("ops@example.com"));
        }
    }
    // Nonexistent rows answer the same.
    for path in [
        "/contacts/999999/delete",
        "/contact-methods/999999/delete",
        "/contact-method-notices/999999/delete",
        "/contact-methods/999999/secret/dismiss",
        "/contacts/x/delete",
    ] {
        assert_eq!(
            alice_client.post_form(path, &[]).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(snapshot(&app, alice).await, before, "nothing of alice's changed");
    assert_eq!(everything(&app).await, (1, 1, 1), "bob wrote nothing");
    let bobs_page = bob.get("/contacts").await;
    assert!(!bobs_page.body.contains("ops@example.com"));
    assert!(bobs_page.texts("article.contact").is_empty());
}

#[tokio::test]
async fn the_page_and_the_api_tell_each_mistake_in_the_same_words_on_the_same_field() {
    // One operation decides for both: the page names the field as its form does, the API
    // as the seed does, and the message is the same.
    let fx = crate::api::Fixture::new().await;
    let contact = fx
        .ok(
            "createContact",
            serde_json::json!({"customerId": fx.alice.0, "name": "Ops"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    client.get("/contacts").await;
    let methods = [
        (
            "email",
            "address",
            "not-an-address",
            "options[address]",
            "options.address",
        ),
        ("sms", "number", "030 1234567", "options[number]", "options.number"),
        (
            "webhook",
            "url",
            "http://hooks.example.com/x",
            "options[url]",
            "options.url",
        ),
        ("webhook", "url", "https://127.0.0.1/x", "options[url]", "options.url"),
        ("pigeon", "address", "a@example.com", "method_id", "methodId"),
    ];
    for (method, key, value, form_name, seed_name) in methods {
        let option = format!("options[{key}]");
        let r = client
            .post_form(
                &format!("/contacts/{contact}/methods"),
                &[("method_id", method), (option.as_str(), value)],
            )
            .await;
        let on_page = assert_field_error(&r, form_name, "");
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "createContactMethod",
                serde_json::json!({"contactId": contact, "methodId": method, "options": {key: value}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["error"]["fields"][seed_name].as_str(),
            Some(on_page.trim()),
            "{method} {value}: {body}"
        );
    }
    let method = add_method(&fx.app, &client, contact, "email", "address", "ops@example.com").await;
    let subscriptions = [
        ("weather", "info", "notice_type_id", "noticeTypeId"),
        ("outage", "loud", "options[min_severity]", "options.min_severity"),
    ];
    for (notice_type, severity, form_name, seed_name) in subscriptions {
        let r = client
            .post_form(
                &format!("/contact-methods/{method}/notices"),
                &[("notice_type_id", notice_type), ("options[min_severity]", severity)],
            )
            .await;
        let on_page = assert_field_error(&r, form_name, "");
        let (status, body) = fx
            .call_with(
                &fx.alice_key,
                "createContactMethodNotice",
                serde_json::json!({"contactMethodId": method, "noticeTypeId": notice_type,
                    "options": {"min_severity": severity}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["error"]["fields"][seed_name].as_str(),
            Some(on_page.trim()),
            "{notice_type} {severity}: {body}"
        );
    }
    assert_eq!(everything(&fx.app).await, (1, 1, 0));
}
