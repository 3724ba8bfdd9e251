//! Issue 19, double submits: every form that creates something carries a one-time token,
//! kept in PostgreSQL (`used_form_tokens`) and recorded in the create's own transaction.
//! Sent twice, a form creates one thing and the second answer (200) says so; a fresh token
//! creates again; a refused form (422) can be corrected and sent with its token; another
//! customer's token is their own; and a second Berth process on the same database refuses a
//! token the first one used.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use berth::identity::CustomerId;
use berth::web::once::REPEATED;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

const FTP_PASSWORD: &str = "ftp password for once";

/// A create form: the page that shows it, its token's selector, where it posts, and three
/// different inputs (each creates one thing).
struct CreateForm {
    page: String,
    token: String,
    path: String,
    inputs: [Vec<(&'static str, String)>; 3],
    /// Counts what the form creates; `$1` is `owner`.
    count: &'static str,
    owner: i64,
}

async fn count(app: &TestApp, form: &CreateForm) -> i64 {
    sqlx::query_scalar(form.count)
        .bind(form.owner)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The form's token as its page shows it now.
async fn token_of(client: &Client, form: &CreateForm) -> String {
    let token = client.get(&form.page).await.text_attr(&form.token, "value");
    assert!(
        uuid::Uuid::try_parse(&token).is_ok(),
        "{}: a token ({token:?})",
        form.page
    );
    token
}

fn with_token<'a>(input: &'a [(&'static str, String)], token: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut fields: Vec<(&str, &str)> = input.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("form_token", token));
    fields
}

/// One form, sent twice with htmx, once more without, then with a fresh token, and then
/// twice at once with a third: one thing each time the token is new.
async fn acts_once_per_token(app: &TestApp, client: &Client, form: CreateForm) {
    let before = count(app, &form).await;
    let what = &form.path;

    let token = token_of(client, &form).await;
    let first = client.post_htmx(&form.path, &with_token(&form.inputs[0], &token)).await;
    assert!(first.status.is_success(), "{what}: {} {}", first.status, first.body);
    assert_eq!(count(app, &form).await, before + 1, "{what}: the first creates");

    // Sent again: nothing more, and a 200 that says so (not an error page).
    let again = client.post_htmx(&form.path, &with_token(&form.inputs[0], &token)).await;
    assert_eq!(again.status, StatusCode::OK, "{what}: {}", again.body);
    assert!(again.text("#toasts").contains(REPEATED), "{what}: {}", again.body);
    assert_eq!(
        count(app, &form).await,
        before + 1,
        "{what}: the second creates nothing"
    );

    // Without JavaScript too: redirect-after-post, and the next page says it.
    let plain = client.post_form(&form.path, &with_token(&form.inputs[0], &token)).await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER, "{what}: {}", plain.body);
    let landed = client.get(plain.location()).await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(landed.body.contains(REPEATED), "{what}: {}", landed.body);
    assert_eq!(count(app, &form).await, before + 1);

    // A fresh page is a fresh form.
    let token = token_of(client, &form).await;
    let second = client.post_htmx(&form.path, &with_token(&form.inputs[1], &token)).await;
    assert!(second.status.is_success(), "{what}: {} {}", second.status, second.body);
    assert_eq!(count(app, &form).await, before + 2, "{what}: another token creates");

    // A double click: two requests on their way at once, one thing.
    let token = token_of(client, &form).await;
    let fields = with_token(&form.inputs[2], &token);
    let (a, b) = tokio::join!(
        client.post_htmx(&form.path, &fields),
        client.post_htmx(&form.path, &fields)
    );
    assert!(
        a.status.is_success() && b.status.is_success(),
        "{what}: {} {}",
        a.body,
        b.body
    );
    assert_eq!(
        [&a, &b].iter().filter(|r| r.body.contains(REPEATED)).count(),
        1,
        "{what}: one of the two says it was sent twice"
    );
    assert_eq!(count(app, &form).await, before + 3, "{what}: at once, one");
}

fn inputs(make: impl Fn(usize) -> Vec<(&'static str, String)>) -> [Vec<(&'static str, String)>; 3] {
    [make(0), make(1), make(2)]
}

/// A key of the customer's through the form; its id.
async fn key_of(app: &TestApp, client: &Client, customer: CustomerId) -> i64 {
    let token = client
        .get("/keys")
        .await
        .text_attr(r#"form[action="/keys"] input[name="form_token"]"#, "value");
    let r = client
        .post_form(
            "/keys",
            &[("name", "fenced"), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    sqlx::query_scalar("select max(id) from api_keys where customer_id = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn contact_of(app: &TestApp, client: &Client, customer: CustomerId) -> i64 {
    let token = client
        .get("/contacts")
        .await
        .text_attr(r#"form.contact-create input[name="form_token"]"#, "value");
    let r = client
        .post_form("/contacts", &[("name", "On call"), ("form_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    sqlx::query_scalar("select max(id) from contacts where customer_id = $1")
        .bind(customer)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_create_form_acts_once_per_token() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let owner = alice.0;

    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: "/addresses".into(),
            token: r#"form[action="/addresses"] input[name="form_token"]"#.into(),
            path: "/addresses".into(),
            inputs: inputs(|_| vec![("family", "ipv4".into())]),
            count: "select count(*) from ip_pool where customer_id = $1",
            owner,
        },
    )
    .await;

    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: "/keys".into(),
            token: r#"form[action="/keys"] input[name="form_token"]"#.into(),
            path: "/keys".into(),
            inputs: inputs(|i| vec![("name", format!("deploy {i}")), ("type", "standard".into())]),
            count: "select count(*) from api_keys where customer_id = $1",
            owner,
        },
    )
    .await;

    let key = key_of(&app, &client, alice).await;
    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: format!("/keys/{key}"),
            token: r#"form.acl-add input[name="form_token"]"#.into(),
            path: format!("/keys/{key}/acls"),
            inputs: inputs(|i| vec![("address", format!("192.0.{i}.0")), ("cidr", "24".into())]),
            count: "select count(*) from api_key_acls where key_id = $1",
            owner: key,
        },
    )
    .await;

    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: "/contacts".into(),
            token: r#"form.contact-create input[name="form_token"]"#.into(),
            path: "/contacts".into(),
            inputs: inputs(|i| vec![("name", format!("Team {i}"))]),
            count: "select count(*) from contacts where customer_id = $1",
            owner,
        },
    )
    .await;

    let contact = contact_of(&app, &client, alice).await;
    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: "/contacts".into(),
            token: format!(r#"#contact-{contact} form.method-add input[name="form_token"]"#),
            path: format!("/contacts/{contact}/methods"),
            inputs: inputs(|i| {
                vec![
                    ("method_id", "email".into()),
                    ("options[address]", format!("ops{i}@example.com")),
                ]
            }),
            count: "select count(*) from contact_methods where contact_id = $1",
            owner: contact,
        },
    )
    .await;

    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: "/ftp-users".into(),
            token: r#"form.ftp-create input[name="form_token"]"#.into(),
            path: "/ftp-users".into(),
            inputs: inputs(|i| {
                vec![
                    ("name", "Designer".into()),
                    ("username", format!("designer{i}")),
                    ("password", FTP_PASSWORD.into()),
                    ("relative_root", "public_html".into()),
                    ("type", "read-write".into()),
                    ("site_id", String::new()),
                    ("environment_id", String::new()),
                ]
            }),
            count: "select count(*) from ftp_users where customer_id = $1",
            owner,
        },
    )
    .await;

    let site = insert_site_with_job(&app, alice, "shop.example.com", &[], true).await.0;
    crate::dns::provision(&app).await;
    acts_once_per_token(
        &app,
        &client,
        CreateForm {
            page: format!("/sites/{site}"),
            token: r#"form.dns-add-form input[name="form_token"]"#.into(),
            path: format!("/sites/{site}/records"),
            inputs: inputs(|i| {
                vec![
                    ("name", format!("mail{i}")),
                    ("type", "A".into()),
                    ("value", format!("192.0.2.{}", 10 + i)),
                    ("ttl", "300".into()),
                ]
            }),
            count: "select count(*) from dns_records where site_id = $1",
            owner: site,
        },
    )
    .await;

    // The tokens are in the database, one per form that acted.
    let kept: i64 = app
        .scalar(&format!(
            "select count(*) from used_form_tokens where customer_id = {owner}"
        ))
        .await;
    assert!(kept >= 7 * 3, "{kept} tokens kept");
}

#[tokio::test]
async fn a_refused_form_can_be_corrected_and_sent_with_its_token() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let count = async |sql: &str| -> i64 { sqlx::query_scalar(sql).bind(alice).fetch_one(&app.pool).await.unwrap() };

    // A contact without a name, then with one: the same token creates it.
    let token = client
        .get("/contacts")
        .await
        .text_attr(r#"form.contact-create input[name="form_token"]"#, "value");
    let refused = client
        .post_htmx("/contacts", &[("name", " "), ("form_token", &token)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let done = client
        .post_htmx("/contacts", &[("name", "Ops"), ("form_token", &token)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(!done.body.contains(REPEATED), "{}", done.body);
    assert_eq!(count("select count(*) from contacts where customer_id = $1").await, 1);

    // A key with too long a name, then a good one.
    let token = client
        .get("/keys")
        .await
        .text_attr(r#"form[action="/keys"] input[name="form_token"]"#, "value");
    let long = "k".repeat(65);
    let refused = client
        .post_form(
            "/keys",
            &[("name", &long), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let done = client
        .post_form(
            "/keys",
            &[("name", "deploy"), ("type", "standard"), ("form_token", &token)],
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(count("select count(*) from api_keys where customer_id = $1").await, 1);

    // An FTP user with a short password, then a good one; sent again after that, it is
    // the repeat it is, not "username taken".
    let token = client
        .get("/ftp-users")
        .await
        .text_attr(r#"form.ftp-create input[name="form_token"]"#, "value");
    let ftp = |password: &'static str| {
        vec![
            ("name", "Designer"),
            ("username", "designer"),
            ("password", password),
            ("relative_root", "public_html"),
            ("type", "read-write"),
            ("site_id", ""),
            ("environment_id", ""),
        ]
    };
    let mut fields = ftp("short");
    fields.push(("form_token", &token));
    let refused = client.post_htmx("/ftp-users", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let mut fields = ftp(FTP_PASSWORD);
    fields.push(("form_token", &token));
    let done = client.post_htmx("/ftp-users", &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let again = client.post_htmx("/ftp-users", &fields).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.text("#toasts").contains(REPEATED), "{}", again.body);
    assert!(!again.body.contains("taken"), "{}", again.body);
    assert_eq!(count("select count(*) from ftp_users where customer_id = $1").await, 1);

    // An address of a family that does not exist, then IPv4.
    let token = client
        .get("/addresses")
        .await
        .text_attr(r#"form[action="/addresses"] input[name="form_token"]"#, "value");
    let refused = client
        .post_htmx("/addresses", &[("family", "ipv5"), ("form_token", &token)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let done = client
        .post_htmx("/addresses", &[("family", "ipv4"), ("form_token", &token)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(!done.body.contains(REPEATED), "{}", done.body);
    assert_eq!(count("select count(*) from ip_pool where customer_id = $1").await, 1);
}

#[tokio::test]
async fn a_token_is_the_customers_own_and_is_forgotten_after_an_hour() {
    let app = TestApp::spawn().await;
    let (alice_client, alice) = app.signed_in_client("alice").await;
    let (bob_client, bob) = app.signed_in_client("bob").await;
    let contacts = async |customer: CustomerId| -> i64 {
        sqlx::query_scalar("select count(*) from contacts where customer_id = $1")
            .bind(customer)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let token = alice_client
        .get("/contacts")
        .await
        .text_attr(r#"form.contact-create input[name="form_token"]"#, "value");
    let fields = [("name", "Ops"), ("form_token", token.as_str())];
    alice_client.post_htmx("/contacts", &fields).await;
    bob_client.get("/contacts").await;
    let bobs = bob_client.post_htmx("/contacts", &fields).await;
    assert_eq!(bobs.status, StatusCode::OK, "{}", bobs.body);
    assert!(
        !bobs.body.contains(REPEATED),
        "alice's token does not stop bob: {}",
        bobs.body
    );
    assert_eq!((contacts(alice).await, contacts(bob).await), (1, 1));
    assert!(
        alice_client
            .post_htmx("/contacts", &fields)
            .await
            .body
            .contains(REPEATED),
        "alice's is still used"
    );

    // An hour on, the next token alice uses prunes hers, not bob's.
    sqlx::query("update used_form_tokens set used_at = now() - interval '61 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let other = uuid::Uuid::new_v4().to_string();
    alice_client
        .post_htmx("/contacts", &[("name", "Dev"), ("form_token", &other)])
        .await;
    let kept: Vec<(i64, String)> =
        sqlx::query_as("select customer_id, token::text from used_form_tokens order by customer_id, token")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let mut expected = vec![(alice.0, other.clone()), (bob.0, token.clone())];
    expected.sort();
    assert_eq!(kept, expected);
    assert_eq!(contacts(alice).await, 2);
}

/// A `berth serve` of its own (another process, with its own memory) on the app's database;
/// killed when dropped.
struct OtherBerth(std::process::Child);

impl Drop for OtherBerth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn other_berth(app: &TestApp) -> (OtherBerth, String) {
    let url = app.database_url().await;
    tokio::task::block_in_place(|| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("BERTH_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let berth = OtherBerth(child);
        let base = loop {
            let line = lines.next().expect("berth printed where it serves").unwrap();
            if let Some(rest) = line.trim().strip_prefix("Berth is serving on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep reading so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (berth, base)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_berth_on_the_same_database_refuses_a_token_the_first_used() {
    let app = TestApp::spawn().await;
    let (here, alice) = app.signed_in_client("alice").await;
    let (_other, base) = other_berth(&app).await;
    let there = Client::new(&base);
    assert_eq!(there.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let contacts = async || -> i64 {
        sqlx::query_scalar("select count(*) from contacts where customer_id = $1")
            .bind(alice)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let selector = r#"form.contact-create input[name="form_token"]"#;

    // Used here, refused there.
    let token = here.get("/contacts").await.text_attr(selector, "value");
    let fields = [("name", "Ops"), ("form_token", token.as_str())];
    assert_eq!(here.post_htmx("/contacts", &fields).await.status, StatusCode::OK);
    there.get("/contacts").await;
    let r = there.post_htmx("/contacts", &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.text("#toasts").contains(REPEATED), "{}", r.body);
    assert_eq!(contacts().await, 1);

    // And the other way round, for an address (the form of the issue).
    let token = there
        .get("/addresses")
        .await
        .text_attr(r#"form[action="/addresses"] input[name="form_token"]"#, "value");
    let fields = [("family", "ipv4"), ("form_token", token.as_str())];
    assert_eq!(there.post_htmx("/addresses", &fields).await.status, StatusCode::OK);
    here.get("/addresses").await;
    let r = here.post_htmx("/addresses", &fields).await;
    assert!(r.text("#toasts").contains(REPEATED), "{}", r.body);
    let held: i64 = sqlx::query_scalar("select count(*) from ip_pool where customer_id = $1")
        .bind(alice)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(held, 1);
}

/// The staff console's create forms (an internal key, a notice): a token acts once, the
/// repeat says so, and two at once create one.
#[tokio::test]
async fn staff_create_forms_act_once_per_token() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let staff = app.staff_client("sam", true).await;
    // Each form: where it posts, its token's selector, what it sends, what counts it.
    type StaffForm = (
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    let forms: [StaffForm; 2] = [
        (
            "/staff/keys",
            r#"form[action="/staff/keys"] input[name="form_token"]"#,
            vec![("name", "billing sync")],
            "select count(*) from api_keys where customer_id is null",
        ),
        (
            "/staff/notices",
            r#"form[action="/staff/notices"] input[name="form_token"]"#,
            vec![
                ("type", "maintenance"),
                ("severity", "info"),
                ("title", "Planned work"),
                ("body", "Tonight."),
                ("customer", "alice"),
            ],
            "select count(*) from notices",
        ),
    ];
    for (path, selector, input, count) in forms {
        let count = || async { app.scalar::<i64>(count).await };
        let before = count().await;
        let token = staff.get(path).await.text_attr(selector, "value");
        assert!(uuid::Uuid::try_parse(&token).is_ok(), "{path}: {token:?}");
        let mut fields = input.clone();
        fields.push(("form_token", &token));

        let first = staff.post_form(path, &fields).await;
        assert!(
            first.status.is_success() || first.status == StatusCode::SEE_OTHER,
            "{path}: {} {}",
            first.status,
            first.body
        );
        assert_eq!(count().await, before + 1, "{path}: the first creates");

        let again = staff.post_form(path, &fields).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{path}: {}", again.body);
        let landed = staff.get(again.location()).await;
        assert!(landed.body.contains(REPEATED), "{path}: {}", landed.body);
        assert_eq!(count().await, before + 1, "{path}: the repeat creates nothing");

        // Two at once with a fresh token: one.
        let token = staff.get(path).await.text_attr(selector, "value");
        let mut fields = input.clone();
        fields.push(("form_token", &token));
        let (a, b) = tokio::join!(staff.post_form(path, &fields), staff.post_form(path, &fields));
        assert!(
            !a.status.is_server_error() && !b.status.is_server_error(),
            "{path}: {} {} {} {}",
            a.status,
            a.body,
            b.status,
            b.body
        );
        assert_eq!(count().await, before + 2, "{path}: at once, one");
    }
}
