//! The onboarding wizard and the sites it creates.

pub mod browser;

use berth::identity::CustomerId;
use reqwest::StatusCode;
use scraper::Selector;

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

// ---- helpers ------------------------------------------------------------------------------

const CONTAINER_FIELDS: [&str; 5] = [
    "container_name",
    "container_type",
    "container_os_id",
    "container_size",
    "container_disk_space",
];

/// Markup a hostile input might smuggle in; none of it may reach a page raw.
const RAW_MARKUP: [&str; 3] = ["<script>alert", "<img src=x", "onerror=alert(1)>"];

/// A plain form post or an htmx one.
async fn post(client: &Client, htmx: bool, path: &str, fields: &[(&str, &str)]) -> Resp {
    if htmx {
        client.post_htmx(path, fields).await
    } else {
        client.post_form(path, fields).await
    }
}

/// A whole page for a plain request, a fragment (no `<html`) for htmx.
fn assert_shape(resp: &Resp, htmx: bool) {
    assert_eq!(
        resp.body.contains("<html"),
        !htmx,
        "htmx={htmx}: expected {}; body:\n{}",
        if htmx { "a fragment" } else { "a whole page" },
        resp.body
    );
}

/// Nothing the user typed came back as live markup.
fn assert_no_raw_markup(resp: &Resp) {
    for raw in RAW_MARKUP {
        assert!(!resp.body.contains(raw), "raw markup {raw:?} in:\n{}", resp.body);
    }
}

/// The ids of every control marked `aria-invalid="true"`.
fn invalid_ids(resp: &Resp) -> Vec<String> {
    let sel = Selector::parse(r#"[aria-invalid="true"]"#).unwrap();
    resp.html()
        .select(&sel)
        .map(|e| e.value().attr("id").unwrap_or("").to_owned())
        .collect()
}

/// The `value` of the input with this id.
fn input_value(resp: &Resp, id: &str) -> String {
    resp.text_attr(&format!("#{id}"), "value")
}

/// The value of the selected option of a `<select>`, if any.
fn selected(resp: &Resp, id: &str) -> Option<String> {
    let sel = Selector::parse(&format!("#{id} option[selected]")).unwrap();
    resp.html()
        .select(&sel)
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
}

/// A list entry (`wiz-env-N`, `wiz-alias-N`) is marked invalid and points at its message,
/// which contains `expected`: `assert_field_error` for inputs that share one name.
fn assert_entry_error(resp: &Resp, id: &str, expected: &str) -> String {
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected 422 for {id}; body:\n{}",
        resp.body
    );
    let described = resp.text_attr(&format!(r#"#{id}[aria-invalid="true"]"#), "aria-describedby");
    assert_eq!(described, format!("{id}-error"), "{id} points at its message");
    let message = resp.text(&format!("#{id}-error"));
    assert!(
        message.contains(expected),
        "{id}: expected a message containing {expected:?}, got {message:?}"
    );
    message
}

/// A message about a whole list (`environment_names`, `alias_names`).
fn assert_list_error(resp: &Resp, list: &str, expected: &str) {
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected 422 for {list}; body:\n{}",
        resp.body
    );
    let message = resp.text(&format!("#wiz-{list}-error"));
    assert!(
        message.contains(expected),
        "{list}: expected a message containing {expected:?}, got {message:?}"
    );
}

/// A redirect (plain) or an htmx navigation (`HX-Location`) to `path`.
fn assert_goes_to(resp: &Resp, htmx: bool, path: &str) {
    if htmx {
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let location: serde_json::Value =
            serde_json::from_str(resp.header("hx-location")).expect("HX-Location is JSON");
        assert_eq!(location["path"], path, "HX-Location: {location}");
    } else {
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
        assert_eq!(resp.location(), path);
    }
}

async fn site_step(client: &Client, name: &str, hostname: &str) -> Resp {
    client.get("/wizard/site").await;
    client
        .post_form("/wizard/site", &[("site_name", name), ("site_hostname", hostname)])
        .await
}

fn container_fields<'a>(values: &[&'a str; 5]) -> Vec<(&'static str, &'a str)> {
    CONTAINER_FIELDS.iter().copied().zip(values.iter().copied()).collect()
}

async fn container_step(client: &Client, name: &str) -> Resp {
    client
        .post_form(
            "/wizard/container",
            &container_fields(&[name, "lamp", "debian-12", "small", "20"]),
        )
        .await
}

fn list_fields<'a>(environments: &'a [String], aliases: &'a [String]) -> Vec<(&'static str, &'a str)> {
    environments
        .iter()
        .map(|e| ("environment_names", e.as_str()))
        .chain(aliases.iter().map(|a| ("alias_names", a.as_str())))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The review page's draft token (the page must open).
async fn review_token(client: &Client) -> String {
    let review = client.get("/wizard/review").await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    review.text_attr(r#"input[name="draft_token"]"#, "value")
}

async fn submit_create(client: &Client, token: &str) -> Resp {
    client
        .post_form("/wizard/review", &[("draft_token", token), ("nav", "create")])
        .await
}

/// Walks the wizard and creates the site; its page's path.
async fn create_site(client: &Client, hostname: &str, container: &str) -> String {
    fill_wizard(client, hostname, container).await;
    let token = review_token(client).await;
    let created = submit_create(client, &token).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert!(created.location().starts_with("/sites/"), "{}", created.location());
    created.location().to_owned()
}

fn site_id(path: &str) -> i64 {
    path.trim_start_matches("/sites/").parse().expect("a site path")
}

/// How many rows of each kind the customer owns.
async fn owned(app: &TestApp, customer: CustomerId) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "sites",
        "containers",
        "environments",
        "hostnames",
        "dns_records",
        "provisioning_jobs",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table} where customer_id = $1"))
            .bind(customer)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        out.push((table, n));
    }
    let steps: i64 = sqlx::query_scalar(
        "select count(*) from job_steps s join provisioning_jobs j on j.id = s.job_id where j.customer_id = $1",
    )
    .bind(customer)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    out.push(("job_steps", steps));
    out
}

fn nothing_owned() -> Vec<(&'static str, i64)> {
    [
        "sites",
        "containers",
        "environments",
        "hostnames",
        "dns_records",
        "provisioning_jobs",
        "job_steps",
    ]
    .into_iter()
    .map(|t| (t, 0))
    .collect()
}

async fn draft_data(app: &TestApp, customer: CustomerId) -> Option<String> {
    sqlx::query_scalar("select data::text from wizard_drafts where customer_id = $1")
        .bind(customer)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

async fn sign_out(client: &Client) {
    client.get("/").await;
    let out = client.post_form("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
}

// ---- validation, step by step -------------------------------------------------------------

#[tokio::test]
async fn site_step_refuses_each_bad_field_with_a_message() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let long_name = "a".repeat(65);
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_hostname = format!("{}.com", ["abcdefghij"; 25].join("."));
    let ok_name = "My shop";
    let ok_host = "shop.example.com";
    // (site name, hostname, the field that is wrong, part of its message)
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("", ok_host, "site_name", "1 to 64 letters"),
        ("   ", ok_host, "site_name", "1 to 64 letters"),
        (&long_name, ok_host, "site_name", "1 to 64 letters"),
        ("<script>alert(1)</script>", ok_host, "site_name", "1 to 64 letters"),
        (
            "\"><img src=x onerror=alert(1)>",
            ok_host,
            "site_name",
            "1 to 64 letters",
        ),
        ("shop'); drop table sites;--", ok_host, "site_name", "1 to 64 letters"),
        ("a/b", ok_host, "site_name", "1 to 64 letters"),
        ("rocket 🚀", ok_host, "site_name", "1 to 64 letters"),
        (ok_name, "", "site_hostname", "Enter a hostname"),
        (ok_name, "   ", "site_hostname", "Enter a hostname"),
        (ok_name, "localhost", "site_hostname", "at least two labels"),
        (ok_name, "example.com.", "site_hostname", "final dot"),
        (ok_name, "shop.example.com..", "site_hostname", "final dot"),
        (ok_name, "192.0.2.1", "site_hostname", "not an IP address"),
        (ok_name, "::1", "site_hostname", "not an IP address"),
        (ok_name, "[2001:db8::1]", "site_hostname", "not an IP address"),
        (ok_name, "1.2.3.4.5", "site_hostname", "not an IP address"),
        (
            ok_name,
            "pаypal.com",
            "site_hostname",
            "mixes letters of different scripts",
        ),
        (
            ok_name,
            "gооgle.com",
            "site_hostname",
            "mixes letters of different scripts",
        ),
        (ok_name, &long_label, "site_hostname", "at most 63 characters"),
        (ok_name, &long_hostname, "site_hostname", "at most 253 characters"),
        (ok_name, "<script>alert(1)</script>.com", "site_hostname", ""),
        (ok_name, "\"><img src=x onerror=alert(1)>.com", "site_hostname", ""),
        (ok_name, "exa mple.com", "site_hostname", ""),
        (ok_name, "-example.com", "site_hostname", ""),
        (ok_name, "example-.com", "site_hostname", ""),
        (ok_name, "example..com", "site_hostname", ""),
        (ok_name, ".example.com", "site_hostname", ""),
        (ok_name, "under_score.example.com", "site_hostname", ""),
        (ok_name, "*.example.com", "site_hostname", ""),
        (ok_name, "http://example.com", "site_hostname", ""),
        (ok_name, "example.com/path", "site_hostname", ""),
        (ok_name, "user@example.com", "site_hostname", ""),
        (ok_name, "javascript:alert(1)", "site_hostname", ""),
    ];
    client.get("/wizard/site").await;
    // Control characters are refused before any handler, by the form extractor (issue 13):
    // a 422 naming the field.
    let r = post(
        &client,
        false,
        "/wizard/site",
        &[("site_name", "tab\there"), ("site_hostname", ok_host)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("site_name") && r.body.contains("control character"),
        "{}",
        r.body
    );
    for (name, hostname, field, message) in &cases {
        for htmx in [false, true] {
            let r = post(
                &client,
                htmx,
                "/wizard/site",
                &[("site_name", name), ("site_hostname", hostname)],
            )
            .await;
            let context = format!("htmx={htmx} name={name:?} hostname={hostname:?}");
            let shown = assert_field_error(&r, field, message);
            assert!(!shown.trim().is_empty(), "{context}: an empty message");
            assert_eq!(invalid_ids(&r), vec![format!("wiz-{field}")], "{context}");
            assert_shape(&r, htmx);
            assert_no_raw_markup(&r);
            // What was typed is shown again, as text.
            assert_eq!(input_value(&r, "wiz-site_name"), *name, "{context}");
            assert_eq!(input_value(&r, "wiz-site_hostname"), *hostname, "{context}");
        }
    }
    // Both wrong at once: both marked.
    let r = client
        .post_form("/wizard/site", &[("site_name", ""), ("site_hostname", "localhost")])
        .await;
    assert_field_error(&r, "site_name", "1 to 64 letters");
    assert_field_error(&r, "site_hostname", "at least two labels");
    assert_eq!(
        app.scalar::<i64>("select count(*) from wizard_drafts where data->'done' ? 'site'")
            .await,
        0,
        "a refused site step is not marked done"
    );
    assert_eq!(client.get("/wizard").await.location(), "/wizard/site");
}

#[tokio::test]
async fn site_step_accepts_valid_names_and_hostnames() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let longest_name = "a".repeat(64);
    let wide_name = "ü".repeat(64);
    let longest_label = format!("{}.example.com", "a".repeat(63));
    // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253
    let longest_hostname = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
    assert_eq!(longest_hostname.len(), 253);
    let cases: Vec<(&str, &str)> = vec![
        ("My shop", "shop.example.com"),
        ("x", "a.io"),
        ("Ünïcödé shop_2 - test", "Shop.EXAMPLE.com"),
        (&longest_name, "  padded.example.org  "),
        (&wide_name, &longest_label),
        ("Long", &longest_hostname),
        ("Bücher", "bücher.example"),
        ("Пример", "пример.рф"),
        ("Puny", "xn--bcher-kva.example"),
        ("Digits 123", "123.example.com"),
    ];
    client.get("/wizard/site").await;
    for (i, (name, hostname)) in cases.iter().enumerate() {
        let htmx = i % 2 == 1;
        let r = post(
            &client,
            htmx,
            "/wizard/site",
            &[("site_name", name), ("site_hostname", hostname)],
        )
        .await;
        assert_goes_to(&r, htmx, "/wizard/container");
    }
}

#[tokio::test]
async fn container_step_refuses_each_bad_field_with_a_message() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    assert_eq!(
        site_step(&client, "My shop", "shop.example.com").await.location(),
        "/wizard/container"
    );
    client.get("/wizard/container").await;
    let long = "a".repeat(64);
    let any_type = "Choose a container type from the list.";
    let any_os = "Choose an operating system from the list.";
    let any_size = "Choose a size from the list.";
    let whole = "Enter the disk space in GiB, a whole number.";
    let label = "1 to 63 lowercase letters";
    let static_os = "Not offered for this container type; choose one of: Debian 13 (trixie), Alpine Linux 3.20.";
    // ([name, type, os, size, disk], the field that is wrong, part of its message)
    let cases: Vec<([&str; 5], &str, &str)> = vec![
        (["", "lamp", "debian-12", "small", "20"], "container_name", label),
        (["-web", "lamp", "debian-12", "small", "20"], "container_name", label),
        (["web-", "lamp", "debian-12", "small", "20"], "container_name", label),
        (["web_1", "lamp", "debian-12", "small", "20"], "container_name", label),
        (["web.1", "lamp", "debian-12", "small", "20"], "container_name", label),
        (["ünï", "lamp", "debian-12", "small", "20"], "container_name", label),
        ([&long, "lamp", "debian-12", "small", "20"], "container_name", label),
        (
            ["<script>alert(1)</script>", "lamp", "debian-12", "small", "20"],
            "container_name",
            label,
        ),
        (
            ["\"><img src=x onerror=alert(1)>", "lamp", "debian-12", "small", "20"],
            "container_name",
            label,
        ),
        (["web", "", "debian-12", "small", "20"], "container_type", any_type),
        (
            ["web", "windows", "debian-12", "small", "20"],
            "container_type",
            any_type,
        ),
        (["web", "LAMP", "debian-12", "small", "20"], "container_type", any_type),
        (
            ["web", "<script>alert(1)</script>", "debian-12", "small", "20"],
            "container_type",
            any_type,
        ),
        (["web", "lamp", "", "small", "20"], "container_os_id", any_os),
        (["web", "lamp", "windows-11", "small", "20"], "container_os_id", any_os),
        (
            ["web", "lamp", "\"><img src=x onerror=alert(1)>", "small", "20"],
            "container_os_id",
            any_os,
        ),
        (
            ["web", "static", "debian-12", "small", "20"],
            "container_os_id",
            static_os,
        ),
        (
            ["web", "static", "ubuntu-24.04", "small", "20"],
            "container_os_id",
            static_os,
        ),
        (
            ["web", "lamp", "alpine-3.20", "small", "20"],
            "container_os_id",
            "Not offered for this container type",
        ),
        (
            ["web", "python", "almalinux-9", "small", "20"],
            "container_os_id",
            "Not offered for this container type",
        ),
        (["web", "lamp", "debian-12", "", "20"], "container_size", any_size),
        (["web", "lamp", "debian-12", "huge", "20"], "container_size", any_size),
        (
            ["web", "lamp", "debian-12", "<script>alert(1)</script>", "20"],
            "container_size",
            any_size,
        ),
        (["web", "lamp", "debian-12", "small", ""], "container_disk_space", whole),
        (
            ["web", "lamp", "debian-12", "small", "abc"],
            "container_disk_space",
            whole,
        ),
        (
            ["web", "lamp", "debian-12", "small", "20.5"],
            "container_disk_space",
            whole,
        ),
        (
            ["web", "lamp", "debian-12", "small", "1e2"],
            "container_disk_space",
            whole,
        ),
        (
            ["web", "lamp", "debian-12", "small", "99999999999"],
            "container_disk_space",
            whole,
        ),
        (
            ["web", "lamp", "debian-12", "small", "<script>alert(1)</script>"],
            "container_disk_space",
            whole,
        ),
        (
            ["web", "lamp", "debian-12", "small", "9"],
            "container_disk_space",
            "The Small size takes 10 to 50 GiB.",
        ),
        (
            ["web", "lamp", "debian-12", "small", "51"],
            "container_disk_space",
            "The Small size takes 10 to 50 GiB.",
        ),
        (
            ["web", "lamp", "debian-12", "small", "0"],
            "container_disk_space",
            "10 to 50 GiB",
        ),
        (
            ["web", "lamp", "debian-12", "small", "-20"],
            "container_disk_space",
            "10 to 50 GiB",
        ),
        (
            ["web", "lamp", "debian-12", "medium", "19"],
            "container_disk_space",
            "The Medium size takes 20 to 200 GiB.",
        ),
        (
            ["web", "lamp", "debian-12", "medium", "201"],
            "container_disk_space",
            "20 to 200 GiB",
        ),
        (
            ["web", "lamp", "debian-12", "large", "39"],
            "container_disk_space",
            "The Large size takes 40 to 500 GiB.",
        ),
        (
            ["web", "lamp", "debian-12", "large", "501"],
            "container_disk_space",
            "40 to 500 GiB",
        ),
        (
            ["web", "lamp", "debian-12", "xlarge", "79"],
            "container_disk_space",
            "80 to 1000 GiB",
        ),
        (
            ["web", "lamp", "debian-12", "xlarge", "1001"],
            "container_disk_space",
            "80 to 1000 GiB",
        ),
    ];
    for (values, field, message) in &cases {
        for htmx in [false, true] {
            let r = post(&client, htmx, "/wizard/container", &container_fields(values)).await;
            let context = format!("htmx={htmx} {values:?}");
            assert_field_error(&r, field, message);
            assert_eq!(invalid_ids(&r), vec![format!("wiz-{field}")], "{context}");
            assert_shape(&r, htmx);
            assert_no_raw_markup(&r);
            assert_eq!(input_value(&r, "wiz-container_name"), values[0], "{context}");
            assert_eq!(input_value(&r, "wiz-container_disk_space"), values[4], "{context}");
            if *field != "container_type" {
                assert_eq!(
                    selected(&r, "wiz-container_type").as_deref(),
                    Some(values[1]),
                    "{context}"
                );
            }
        }
    }
    // Everything wrong at once: every field marked.
    let r = client
        .post_form("/wizard/container", &container_fields(&["", "", "", "", ""]))
        .await;
    for field in CONTAINER_FIELDS {
        assert_field_error(&r, field, "");
    }
    assert_eq!(client.get("/wizard").await.location(), "/wizard/container");
}

#[tokio::test]
async fn container_step_accepts_catalogue_choices() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    site_step(&client, "My shop", "shop.example.com").await;
    let page = client.get("/wizard/container").await;
    assert_eq!(page.status, StatusCode::OK);
    let longest = "a".repeat(63);
    let cases: Vec<[&str; 5]> = vec![
        ["web", "lamp", "debian-12", "small", "20"],
        ["Web-01", "lemp", "almalinux-9", "medium", "200"],
        ["w", "static", "debian-13", "small", "10"],
        ["w", "static", "alpine-3.20", "small", "50"],
        [&longest, "node", "alpine-3.20", "xlarge", "1000"],
        ["py", "python", "ubuntu-22.04", "large", " 40 "],
        ["x1", "node", "ubuntu-24.04", "xlarge", "80"],
    ];
    for (i, values) in cases.iter().enumerate() {
        let htmx = i % 2 == 1;
        let r = post(&client, htmx, "/wizard/container", &container_fields(values)).await;
        assert_goes_to(&r, htmx, "/wizard/environments");
    }
}

#[tokio::test]
async fn environments_step_refuses_each_bad_entry_and_list_with_a_message() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    site_step(&client, "My shop", "shop.example.com").await;
    container_step(&client, "web").await;
    let page = client.get("/wizard/environments").await;
    assert_eq!(page.status, StatusCode::OK);
    let label = "1 to 63 lowercase letters";
    let eleven: Vec<String> = (1..=11).map(|i| format!("env{i}")).collect();
    let twenty_one: Vec<String> = (1..=21).map(|i| format!("a{i}.example.net")).collect();
    let long = "a".repeat(64);
    let prod = strings(&["production"]);
    // (environment names, aliases, `wiz-...` entry or list name, part of its message)
    let cases: Vec<(Vec<String>, Vec<String>, &str, &str)> = vec![
        (vec![], vec![], "environment_names", "at least one environment"),
        (
            strings(&["", "  "]),
            vec![],
            "environment_names",
            "at least one environment",
        ),
        (eleven.clone(), vec![], "environment_names", "At most 10 environments."),
        (strings(&["<script>alert(1)</script>"]), vec![], "wiz-env-0", label),
        (
            strings(&["\"><img src=x onerror=alert(1)>"]),
            vec![],
            "wiz-env-0",
            label,
        ),
        (strings(&["prod_1"]), vec![], "wiz-env-0", label),
        (strings(&["-prod"]), vec![], "wiz-env-0", label),
        (strings(&["prod."]), vec![], "wiz-env-0", label),
        (strings(&["prödüction"]), vec![], "wiz-env-0", label),
        (vec![long.clone()], vec![], "wiz-env-0", label),
        (strings(&["production", "Production"]), vec![], "wiz-env-1", "only once"),
        (
            strings(&["production", "staging", "production"]),
            vec![],
            "wiz-env-2",
            "only once",
        ),
        // Blank entries are ignored, so the bad one is the second value.
        (strings(&["production", "", "bad name"]), vec![], "wiz-env-1", label),
        (
            prod.clone(),
            strings(&["shop.example.com"]),
            "wiz-alias-0",
            "cannot repeat the site's hostname",
        ),
        (
            prod.clone(),
            strings(&["SHOP.Example.COM"]),
            "wiz-alias-0",
            "cannot repeat the site's hostname",
        ),
        (
            prod.clone(),
            strings(&["www.example.com", "www.example.com"]),
            "wiz-alias-1",
            "only once",
        ),
        (
            prod.clone(),
            strings(&["www.example.com", "WWW.example.com"]),
            "wiz-alias-1",
            "only once",
        ),
        (
            prod.clone(),
            strings(&["www.example.com", "www.example.com."]),
            "wiz-alias-1",
            "final dot",
        ),
        (
            prod.clone(),
            strings(&["localhost"]),
            "wiz-alias-0",
            "at least two labels",
        ),
        (
            prod.clone(),
            strings(&["192.0.2.1"]),
            "wiz-alias-0",
            "not an IP address",
        ),
        (prod.clone(), strings(&["[::1]"]), "wiz-alias-0", "not an IP address"),
        (prod.clone(), strings(&["pаypal.com"]), "wiz-alias-0", "mixes letters"),
        (
            prod.clone(),
            vec![format!("{long}.example.com")],
            "wiz-alias-0",
            "at most 63",
        ),
        (
            prod.clone(),
            strings(&["<script>alert(1)</script>.com"]),
            "wiz-alias-0",
            "",
        ),
        (
            prod.clone(),
            strings(&["\"><img src=x onerror=alert(1)>.com"]),
            "wiz-alias-0",
            "",
        ),
        (
            prod.clone(),
            strings(&["ok.example.com", "", "under_score.example.com"]),
            "wiz-alias-1",
            "",
        ),
        (prod.clone(), twenty_one.clone(), "alias_names", "At most 20 aliases."),
    ];
    for (environments, aliases, target, message) in &cases {
        for htmx in [false, true] {
            let fields = list_fields(environments, aliases);
            let r = post(&client, htmx, "/wizard/environments", &fields).await;
            let context = format!("htmx={htmx} {environments:?} {aliases:?}");
            if target.starts_with("wiz-") {
                let shown = assert_entry_error(&r, target, message);
                assert!(!shown.trim().is_empty(), "{context}");
                assert_eq!(invalid_ids(&r), vec![(*target).to_owned()], "{context}");
            } else {
                assert_list_error(&r, target, message);
                assert!(invalid_ids(&r).is_empty(), "{context}: {:?}", invalid_ids(&r));
            }
            assert_shape(&r, htmx);
            assert_no_raw_markup(&r);
            // The typed (non-blank) values are shown again, in order.
            let kept: Vec<&String> = environments.iter().filter(|e| !e.trim().is_empty()).collect();
            for (i, value) in kept.iter().enumerate() {
                assert_eq!(input_value(&r, &format!("wiz-env-{i}")), value.trim(), "{context}");
            }
            let kept: Vec<&String> = aliases.iter().filter(|a| !a.trim().is_empty()).collect();
            for (i, value) in kept.iter().enumerate() {
                assert_eq!(input_value(&r, &format!("wiz-alias-{i}")), value.trim(), "{context}");
            }
        }
    }
    assert_eq!(client.get("/wizard").await.location(), "/wizard/environments");
}

#[tokio::test]
async fn environments_step_accepts_valid_lists() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    site_step(&client, "My shop", "shop.example.com").await;
    container_step(&client, "web").await;
    let page = client.get("/wizard/environments").await;
    // Production is offered by default; DNS records too.
    assert_eq!(input_value(&page, "wiz-env-0"), "production");
    assert_eq!(input_value(&page, "wiz-alias-0"), "");
    let dns = Selector::parse(r#"input[type="checkbox"][name="create_dns"][checked]"#).unwrap();
    assert!(page.html().select(&dns).next().is_some(), "create_dns is on by default");
    let ten: Vec<String> = (1..=10).map(|i| format!("env{i}")).collect();
    let twenty: Vec<String> = (1..=20).map(|i| format!("a{i}.example.net")).collect();
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (strings(&["production"]), vec![]),
        (
            strings(&["Production", "", "staging", " qa "]),
            strings(&["", "www.shop.example.com", ""]),
        ),
        (ten.clone(), twenty.clone()),
        (vec!["a".repeat(63)], strings(&["bücher.example", "xn--mnchen-3ya.de"])),
    ];
    for (i, (environments, aliases)) in cases.iter().enumerate() {
        let htmx = i % 2 == 1;
        let r = post(
            &client,
            htmx,
            "/wizard/environments",
            &list_fields(environments, aliases),
        )
        .await;
        assert_goes_to(&r, htmx, "/wizard/review");
    }
    // The last list is what the review shows.
    let review = client.get("/wizard/review").await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert_eq!(review.text("#review-environments"), "a".repeat(63));
    assert_eq!(review.text("#review-aliases"), "bücher.example, münchen.de");
}

#[tokio::test]
async fn hostile_input_is_kept_as_text_on_every_step() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    let payloads = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "'><img src=x onerror=alert(1)>",
    ];
    for payload in payloads {
        for htmx in [false, true] {
            client.get("/wizard/site").await;
            let r = post(
                &client,
                htmx,
                "/wizard/site",
                &[("site_name", payload), ("site_hostname", payload)],
            )
            .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_no_raw_markup(&r);
            assert_eq!(input_value(&r, "wiz-site_name"), payload);
            // Back saves without checking; the page that shows it again escapes it.
            let back = post(
                &client,
                htmx,
                "/wizard/container",
                &container_fields(&[payload, payload, payload, payload, payload]),
            )
            .await;
            assert_eq!(back.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_no_raw_markup(&back);
            let envs = [
                ("environment_names", payload),
                ("alias_names", payload),
                ("nav", "back"),
            ];
            let r = post(&client, htmx, "/wizard/environments", &envs).await;
            assert_goes_to(&r, htmx, "/wizard/container");
            for path in ["/wizard/site", "/wizard/container", "/wizard/environments"] {
                let page = if htmx {
                    client.get_htmx(path).await
                } else {
                    client.get(path).await
                };
                assert_no_raw_markup(&page);
            }
        }
    }
    // The site step never passed, so later steps send the customer back to it.
    assert_eq!(client.get("/wizard/environments").await.location(), "/wizard/site");
    site_step(&client, "Fine", "fine.example.com").await;
    let env = client.get("/wizard/environments").await;
    assert_eq!(env.location(), "/wizard/container", "the container step did not pass");
    let container = client.get("/wizard/container").await;
    assert_no_raw_markup(&container);
    assert_eq!(input_value(&container, "wiz-container_name"), payloads[2]);
}

// ---- hostnames: IDN, taken, not naming who has them ---------------------------------------

#[tokio::test]
async fn idn_hostname_is_stored_as_punycode_and_shown_in_unicode() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    fill_wizard(&client, "Bücher.Example", "web").await;
    let review = client.get("/wizard/review").await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert_eq!(review.text("#review-hostname"), "bücher.example");
    assert_eq!(review.text("#review-aliases"), "alias.bücher.example");
    let dns = review.texts("#review-dns tbody td:first-child");
    assert_eq!(dns, ["bücher.example", "alias.bücher.example"]);
    assert!(
        !review.body.contains("xn--"),
        "the review shows Unicode:\n{}",
        review.body
    );
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = submit_create(&client, &token).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);

    let stored: String = sqlx::query_scalar("select hostname from sites where customer_id = $1")
        .bind(alice)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, "xn--bcher-kva.example");
    let names: Vec<String> = sqlx::query_scalar("select hostname from hostnames order by hostname")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(names, ["alias.xn--bcher-kva.example", "xn--bcher-kva.example"]);
    let records: Vec<String> = sqlx::query_scalar("select name from dns_records order by name")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(records, ["alias.xn--bcher-kva.example", "xn--bcher-kva.example"]);

    let page = client.get(created.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("#site-hostname"), "bücher.example");
    assert_eq!(page.texts("#site-aliases li"), ["alias.bücher.example"]);
    let shown: Vec<String> = page.texts("#dns-records tbody td:first-child");
    assert_eq!(shown, ["alias.bücher.example", "bücher.example"]);
    let list = client.get("/sites").await;
    assert!(
        list.texts("#sites tbody td").contains(&"bücher.example".to_owned()),
        "{}",
        list.body
    );
    // The zone file is for DNS software: ASCII.
    let zone = client.get(&format!("{}/zone", created.location())).await;
    assert!(zone.body.contains("$ORIGIN xn--bcher-kva.example."), "{}", zone.body);

    // The same name in any spelling is taken now.
    let (bob, _) = app.signed_in_client("bob").await;
    for spelling in ["xn--bcher-kva.example", "BÜCHER.example", "bücher.example"] {
        let r = site_step(&bob, "Bob", spelling).await;
        assert_field_error(&r, "site_hostname", "already in use");
    }
    // An alias may not repeat the primary in its other spelling either.
    assert_eq!(
        site_step(&bob, "Bob", "münchen.example").await.status,
        StatusCode::SEE_OTHER
    );
    container_step(&bob, "web").await;
    let r = bob
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("alias_names", "xn--mnchen-3ya.example"),
            ],
        )
        .await;
    assert_entry_error(&r, "wiz-alias-0", "cannot repeat the site's hostname");
}

#[tokio::test]
async fn a_hostname_taken_by_another_customer_is_a_field_error_that_names_no_one() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("acme-hosting").await;
    create_site(&alice, "shop.example.com", "web").await;
    let (bob, bob_id) = app.signed_in_client("zenith-web").await;
    let secret = ["acme-hosting", "acme-hosting@example.com", "My shop"];
    let check = |r: &Resp| {
        for s in secret {
            assert!(!r.body.contains(s), "the answer names {s:?}:\n{}", r.body);
        }
    };
    for (htmx, hostname) in [
        (false, "shop.example.com"),
        (true, "shop.example.com"),
        (false, "SHOP.Example.Com"),
        (true, "alias.shop.example.com"),
    ] {
        bob.get("/wizard/site").await;
        let r = post(
            &bob,
            htmx,
            "/wizard/site",
            &[("site_name", "Mine"), ("site_hostname", hostname)],
        )
        .await;
        let message = assert_field_error(&r, "site_hostname", "already in use on the platform");
        assert_eq!(message, "This hostname is already in use on the platform.");
        assert_shape(&r, htmx);
        check(&r);
    }
    // An alias that is someone's hostname or alias.
    assert_eq!(
        site_step(&bob, "Mine", "mine.example.com").await.status,
        StatusCode::SEE_OTHER
    );
    container_step(&bob, "web").await;
    for (htmx, aliases, id) in [
        (false, vec!["alias.shop.example.com"], "wiz-alias-0"),
        (true, vec!["free.example.com", "shop.example.com"], "wiz-alias-1"),
    ] {
        let mut fields = vec![("environment_names", "production")];
        fields.extend(aliases.iter().map(|a| ("alias_names", *a)));
        let r = post(&bob, htmx, "/wizard/environments", &fields).await;
        let message = assert_entry_error(&r, id, "already in use on the platform");
        assert_eq!(message, "This hostname is already in use on the platform.");
        assert_eq!(invalid_ids(&r), [id]);
        check(&r);
    }
    assert_eq!(owned(&app, bob_id).await, nothing_owned());
}

// ---- the draft: resume, back, start over, order of steps ----------------------------------

#[tokio::test]
async fn the_wizard_resumes_after_sign_out_and_on_another_device() {
    let app = TestApp::spawn().await;
    let (laptop, _) = app.signed_in_client("alice").await;
    site_step(&laptop, "My shop", "shop.example.com").await;
    assert_eq!(container_step(&laptop, "web").await.location(), "/wizard/environments");
    laptop.get("/wizard/environments").await;
    let r = laptop
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("environment_names", "Bad_Env"),
                ("alias_names", "www.shop.example.com"),
            ],
        )
        .await;
    assert_entry_error(&r, "wiz-env-1", "1 to 63 lowercase letters");

    sign_out(&laptop).await;
    assert!(
        laptop.get("/wizard").await.location().starts_with("/login"),
        "signed out"
    );
    assert_eq!(laptop.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);

    let phone = app.client();
    assert_eq!(phone.sign_in("alice", PASSWORD).await.status, StatusCode::SEE_OTHER);
    for device in [&laptop, &phone] {
        assert_eq!(device.get("/wizard").await.location(), "/wizard/environments");
        let env = device.get("/wizard/environments").await;
        assert_eq!(env.status, StatusCode::OK);
        assert_eq!(input_value(&env, "wiz-env-0"), "production");
        assert_eq!(input_value(&env, "wiz-env-1"), "Bad_Env");
        assert_eq!(input_value(&env, "wiz-alias-0"), "www.shop.example.com");
        let site = device.get("/wizard/site").await;
        assert_eq!(input_value(&site, "wiz-site_name"), "My shop");
        assert_eq!(input_value(&site, "wiz-site_hostname"), "shop.example.com");
        let container = device.get("/wizard/container").await;
        assert_eq!(input_value(&container, "wiz-container_name"), "web");
        assert_eq!(selected(&container, "wiz-container_type").as_deref(), Some("lamp"));
        assert_eq!(
            selected(&container, "wiz-container_os_id").as_deref(),
            Some("debian-12")
        );
        assert_eq!(selected(&container, "wiz-container_size").as_deref(), Some("small"));
        assert_eq!(input_value(&container, "wiz-container_disk_space"), "20");
    }
    // Finish on the phone; the laptop is at the same review.
    phone.get("/wizard/environments").await;
    let r = phone
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("environment_names", "staging"),
                ("alias_names", "www.shop.example.com"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/wizard/review", "{}", r.body);
    assert_eq!(laptop.get("/wizard").await.location(), "/wizard/review");
    let token = review_token(&laptop).await;
    assert_eq!(review_token(&phone).await, token);
    let created = submit_create(&phone, &token).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    // The laptop's review is now stale: submitting it lands on the same site.
    assert_eq!(submit_create(&laptop, &token).await.location(), created.location());
    assert_eq!(app.scalar::<i64>("select count(*) from sites").await, 1);
}

#[tokio::test]
async fn back_keeps_input_without_checking_it() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    site_step(&client, "My shop", "shop.example.com").await;
    client.get("/wizard/container").await;
    // Half-typed, wrong: "back" keeps it anyway.
    let mut fields = container_fields(&["Bad_Name", "node", "", "medium", "abc"]);
    fields.push(("nav", "back"));
    let r = client.post_form("/wizard/container", &fields).await;
    assert_goes_to(&r, false, "/wizard/site");
    let site = client.get("/wizard/site").await;
    assert_eq!(input_value(&site, "wiz-site_name"), "My shop");
    assert_eq!(input_value(&site, "wiz-site_hostname"), "shop.example.com");
    assert_eq!(client.get("/wizard").await.location(), "/wizard/container");
    let container = client.get("/wizard/container").await;
    assert_eq!(container.status, StatusCode::OK);
    assert!(invalid_ids(&container).is_empty(), "nothing was checked");
    assert_eq!(input_value(&container, "wiz-container_name"), "Bad_Name");
    assert_eq!(selected(&container, "wiz-container_type").as_deref(), Some("node"));
    assert_eq!(selected(&container, "wiz-container_os_id"), None);
    assert_eq!(selected(&container, "wiz-container_size").as_deref(), Some("medium"));
    assert_eq!(input_value(&container, "wiz-container_disk_space"), "abc");

    // Back over htmx from the site step stays on it, keeping what was typed.
    let r = client
        .post_htmx(
            "/wizard/site",
            &[
                ("site_name", "Renamed"),
                ("site_hostname", "new.example.com"),
                ("nav", "back"),
            ],
        )
        .await;
    assert_goes_to(&r, true, "/wizard/site");
    let site = client.get("/wizard/site").await;
    assert_eq!(input_value(&site, "wiz-site_name"), "Renamed");
    assert_eq!(client.get("/wizard").await.location(), "/wizard/site");
    site_step(&client, "Renamed", "new.example.com").await;

    // Forward, then back from environments and from the review.
    assert_eq!(container_step(&client, "web").await.location(), "/wizard/environments");
    client.get("/wizard/environments").await;
    let r = client
        .post_htmx(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("environment_names", "qa"),
                ("alias_names", "www.new.example.com"),
                ("create_dns", "false"),
                ("nav", "back"),
            ],
        )
        .await;
    assert_goes_to(&r, true, "/wizard/container");
    let container = client.get("/wizard/container").await;
    assert_eq!(input_value(&container, "wiz-container_name"), "web");
    let env = client.get("/wizard/environments").await;
    assert_eq!(input_value(&env, "wiz-env-0"), "production");
    assert_eq!(input_value(&env, "wiz-env-1"), "qa");
    assert_eq!(input_value(&env, "wiz-alias-0"), "www.new.example.com");
    let dns = Selector::parse(r#"input[type="checkbox"][name="create_dns"][checked]"#).unwrap();
    assert!(env.html().select(&dns).next().is_none(), "create_dns off is kept");
    let r = client
        .post_form(
            "/wizard/environments",
            &[
                ("environment_names", "production"),
                ("environment_names", "qa"),
                ("alias_names", "www.new.example.com"),
                ("create_dns", "false"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/wizard/review");
    let token = review_token(&client).await;
    let r = client
        .post_form("/wizard/review", &[("draft_token", &token), ("nav", "back")])
        .await;
    assert_goes_to(&r, false, "/wizard/environments");
    assert_eq!(app.scalar::<i64>("select count(*) from sites").await, 0);
    let env = client.get("/wizard/environments").await;
    assert_eq!(input_value(&env, "wiz-env-1"), "qa");
    // Still ready: the review opens again with the same plan.
    assert_eq!(client.get("/wizard").await.location(), "/wizard/review");
    let review = client.get("/wizard/review").await;
    assert_eq!(review.text("#review-site"), "Renamed");
    assert_eq!(review.text("#review-environments"), "production, qa");
    assert!(review.body.contains("None: you manage DNS yourself"));
}

#[tokio::test]
async fn start_over_discards_the_draft() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    fill_wizard(&client, "shop.example.com", "web").await;
    let token = review_token(&client).await;
    let r = client.post_form("/wizard/reset", &[]).await;
    assert_goes_to(&r, false, "/wizard/site");
    assert_eq!(draft_data(&app, alice).await, None);
    assert_eq!(client.get("/wizard").await.location(), "/wizard/site");
    for path in ["/wizard/container", "/wizard/environments", "/wizard/review"] {
        assert_eq!(client.get(path).await.location(), "/wizard/site", "{path}");
    }
    let site = client.get("/wizard/site").await;
    assert_eq!(input_value(&site, "wiz-site_name"), "");
    assert_eq!(input_value(&site, "wiz-site_hostname"), "");
    // The old review's token creates nothing.
    let r = submit_create(&client, &token).await;
    assert_eq!(r.location(), "/wizard");
    assert_eq!(app.scalar::<i64>("select count(*) from sites").await, 0);
    // The new draft starts from the defaults.
    site_step(&client, "Other", "other.example.com").await;
    container_step(&client, "web").await;
    let env = client.get("/wizard/environments").await;
    assert_eq!(input_value(&env, "wiz-env-0"), "production");
    assert_eq!(input_value(&env, "wiz-env-1"), "");
    assert_eq!(input_value(&env, "wiz-alias-0"), "");
    // Over htmx too.
    let r = client.post_htmx("/wizard/reset", &[]).await;
    assert_goes_to(&r, true, "/wizard/site");
    assert_eq!(draft_data(&app, alice).await, None);
}

#[tokio::test]
async fn later_steps_and_the_review_send_back_to_the_first_unfinished_step() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    for path in ["/wizard", "/wizard/container", "/wizard/environments", "/wizard/review"] {
        let r = client.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/wizard/site", "{path}");
    }
    assert_eq!(client.get("/wizard/site").await.status, StatusCode::OK);
    site_step(&client, "My shop", "shop.example.com").await;
    for path in ["/wizard", "/wizard/environments", "/wizard/review"] {
        assert_eq!(client.get(path).await.location(), "/wizard/container", "{path}");
    }
    container_step(&client, "web").await;
    for path in ["/wizard", "/wizard/review"] {
        assert_eq!(client.get(path).await.location(), "/wizard/environments", "{path}");
    }
    // Going back to the site step and failing it closes everything after it again.
    let r = client
        .post_form("/wizard/site", &[("site_name", "My shop"), ("site_hostname", "nope")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for path in ["/wizard", "/wizard/container", "/wizard/environments", "/wizard/review"] {
        assert_eq!(client.get(path).await.location(), "/wizard/site", "{path}");
    }
    // A create without a ready draft goes back to the wizard and creates nothing.
    let r = client
        .post_form("/wizard/review", &[("draft_token", "not-a-token"), ("nav", "create")])
        .await;
    assert_eq!(r.location(), "/wizard");
    assert_eq!(app.scalar::<i64>("select count(*) from sites").await, 0);
    assert_eq!(client.get("/wizard/nowhere").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        client.post_form("/wizard/nowhere", &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

// ---- creating: one transaction, once --------------------------------------------------------

#[tokio::test]
async fn create_writes_the_whole_plan_in_one_go() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    fill_wizard(&client, "shop.example.com", "web").await;
    let review = client.get("/wizard/review").await;
    assert_eq!(review.text("#review-site"), "My shop");
    assert_eq!(review.text("#review-hostname"), "shop.example.com");
    let container = review.text("#review-container");
    assert!(container.starts_with("web: LAMP"), "{container}");
    assert!(
        container.contains("Debian 12 (bookworm)") && container.contains("20 GiB disk"),
        "{container}"
    );
    assert_eq!(review.text("#review-environments"), "production, staging");
    assert_eq!(review.text("#review-aliases"), "alias.shop.example.com");
    assert_eq!(
        review.texts("#review-dns tbody td:first-child"),
        ["shop.example.com", "alias.shop.example.com"]
    );
    // Nothing exists before "Create".
    assert_eq!(owned(&app, alice).await, nothing_owned());
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = submit_create(&client, &token).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let site = site_id(created.location());

    let row: (i64, String, String, String, bool) =
        sqlx::query_as("select id, name, hostname, status, create_dns from sites where customer_id = $1")
            .bind(alice)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        (
            site,
            "My shop".into(),
            "shop.example.com".into(),
            "provisioning".into(),
            true
        )
    );
    /// site, name, type, OS, size, disk, status, no address yet
    type ContainerRow = (i64, String, String, String, String, i32, String, bool);
    let containers: Vec<ContainerRow> = sqlx::query_as(
        "select site_id, name, type_id, os_id, size_id, disk_gib, status, address is null
         from containers where customer_id = $1",
    )
    .bind(alice)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        containers,
        [(
            site,
            "web".into(),
            "lamp".into(),
            "debian-12".into(),
            "small".into(),
            20,
            "pending".into(),
            true
        )]
    );
    let environments: Vec<(i64, String, String)> =
        sqlx::query_as("select site_id, name, status from environments where customer_id = $1 order by name")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        environments,
        [
            (site, "production".into(), "pending".into()),
            (site, "staging".into(), "pending".into())
        ]
    );
    let hostnames: Vec<(i64, String, bool)> =
        sqlx::query_as("select site_id, hostname, is_primary from hostnames where customer_id = $1 order by hostname")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        hostnames,
        [
            (site, "alias.shop.example.com".into(), false),
            (site, "shop.example.com".into(), true)
        ]
    );
    let records: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("select site_id, name, type, value from dns_records where customer_id = $1 order by name")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        records,
        [
            (site, "alias.shop.example.com".into(), "A".into(), None),
            (site, "shop.example.com".into(), "A".into(), None)
        ]
    );
    let jobs: Vec<(i64, String)> =
        sqlx::query_as("select site_id, status from provisioning_jobs where customer_id = $1")
            .bind(alice)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(jobs, [(site, "pending".into())]);
    let steps: Vec<(i32, String, String, i32)> = sqlx::query_as(
        "select s.position, s.name, s.status, s.attempts from job_steps s
         join provisioning_jobs j on j.id = s.job_id where j.customer_id = $1 order by s.position",
    )
    .bind(alice)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let names: Vec<&str> = steps.iter().map(|(_, n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "allocate_address",
            "create_container",
            "create_environments",
            "attach_aliases",
            "write_dns"
        ]
    );
    assert_eq!(steps.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert!(
        steps
            .iter()
            .all(|(_, _, status, attempts)| status == "pending" && *attempts == 0)
    );
    assert_eq!(draft_data(&app, alice).await, None, "the draft is used up");
    assert_eq!(client.get("/wizard").await.location(), "/wizard/site");

    // The site page shows all of it.
    let page = client.get(created.location()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("h1"), "My shop");
    assert_eq!(page.text("#site-status"), "provisioning");
    assert_eq!(page.text("#site-hostname"), "shop.example.com");
    assert_eq!(page.texts("#site-aliases li"), ["alias.shop.example.com"]);
    assert_eq!(page.text("#container-name"), "web (pending)");
    assert_eq!(page.text("#container-address"), "not allocated yet");
    assert_eq!(
        page.texts("#site-environments li"),
        ["production (pending)", "staging (pending)"]
    );
    assert_eq!(
        page.texts("#dns-records tbody td:first-child"),
        ["alias.shop.example.com", "shop.example.com"]
    );
    assert_eq!(page.texts("#job-steps li").len(), 5);
    assert_eq!(page.text("#job-status"), "pending");
    let progress = client.get(&format!("{}/progress", created.location())).await;
    assert_eq!(progress.status, StatusCode::OK);
    assert!(!progress.body.contains("<html"));
    assert_eq!(progress.texts("#job-steps li").len(), 5);
    // The zone file: planned records are comments until provisioning gives an address.
    let zone = client.get(&format!("{}/zone", created.location())).await;
    assert_eq!(zone.status, StatusCode::OK);
    assert!(
        zone.header("content-type").starts_with("text/plain"),
        "{:?}",
        zone.headers
    );
    assert!(zone.body.contains("$ORIGIN shop.example.com."), "{}", zone.body);
    assert!(
        zone.body
            .contains("; shop.example.com.\t3600\tIN\tA\t(address not allocated yet)"),
        "{}",
        zone.body
    );
    assert!(zone.body.contains("; alias.shop.example.com.\t3600"), "{}", zone.body);
}

#[tokio::test]
async fn create_without_dns_writes_no_records() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    site_step(&client, "Quiet", "quiet.example.com").await;
    container_step(&client, "web").await;
    let r = client
        .post_form(
            "/wizard/environments",
            &[("environment_names", "production"), ("create_dns", "false")],
        )
        .await;
    assert_eq!(r.location(), "/wizard/review");
    let review = client.get("/wizard/review").await;
    assert!(review.body.contains("None: you manage DNS yourself"), "{}", review.body);
    assert_eq!(review.text("#review-aliases"), "None");
    let token = review.text_attr(r#"input[name="draft_token"]"#, "value");
    let created = submit_create(&client, &token).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let counts = owned(&app, alice).await;
    assert_eq!(
        counts,
        [
            ("sites", 1),
            ("containers", 1),
            ("environments", 1),
            ("hostnames", 1),
            ("dns_records", 0),
            ("provisioning_jobs", 1),
            ("job_steps", 5)
        ]
    );
    let zone = client.get(&format!("{}/zone", created.location())).await;
    assert!(!zone.body.contains("\tIN\t"), "{}", zone.body);
}

#[tokio::test]
async fn a_double_submit_creates_one_site() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    fill_wizard(&client, "shop.example.com", "web").await;
    let token = review_token(&client).await;
    let first = submit_create(&client, &token).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    // A double click, a retried request, the htmx form.
    assert_eq!(submit_create(&client, &token).await.location(), first.location());
    assert_eq!(submit_create(&client, &token).await.location(), first.location());
    let htmx = client
        .post_htmx("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(htmx.status, StatusCode::OK);
    assert_eq!(htmx.header("hx-redirect"), first.location());
    assert_eq!(owned(&app, alice).await[0], ("sites", 1));
    assert_eq!(owned(&app, alice).await[6], ("job_steps", 5));
    assert_eq!(draft_data(&app, alice).await, None);

    // The first submit over htmx answers with HX-Redirect too.
    fill_wizard(&client, "two.example.com", "web2").await;
    let token = review_token(&client).await;
    let r = client
        .post_htmx("/wizard/review", &[("draft_token", &token), ("nav", "create")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.header("hx-redirect").starts_with("/sites/"));
    assert_ne!(r.header("hx-redirect"), first.location());
    assert_eq!(owned(&app, alice).await[0], ("sites", 2));
}

#[tokio::test]
async fn two_concurrent_submits_create_one_site() {
    let app = TestApp::spawn().await;
    let (tab, alice) = app.signed_in_client("alice").await;
    let other_tab = tab.clone();
    for round in 1..=5_i64 {
        fill_wizard(&tab, &format!("shop{round}.example.com"), &format!("web{round}")).await;
        let token = review_token(&tab).await;
        let (a, b) = tokio::join!(submit_create(&tab, &token), submit_create(&other_tab, &token));
        assert_eq!(a.status, StatusCode::SEE_OTHER, "round {round}: {}", a.body);
        assert_eq!(b.status, StatusCode::SEE_OTHER, "round {round}: {}", b.body);
        assert!(a.location().starts_with("/sites/"), "round {round}: {}", a.location());
        assert_eq!(a.location(), b.location(), "round {round}: both land on the site");
        let counts = owned(&app, alice).await;
        assert_eq!(
            counts,
            [
                ("sites", round),
                ("containers", round),
                ("environments", 2 * round),
                ("hostnames", 2 * round),
                ("dns_records", 2 * round),
                ("provisioning_jobs", round),
                ("job_steps", 5 * round)
            ],
            "round {round}"
        );
        assert_eq!(
            draft_data(&app, alice).await,
            None,
            "round {round}: no draft comes back"
        );
    }
}

#[tokio::test]
async fn two_customers_racing_for_one_hostname_get_one_site_and_one_field_error() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        let first_name = format!("acme-{round}");
        let second_name = format!("zenith-{round}");
        let hostname = format!("race{round}.example.com");
        let (first, first_id) = app.signed_in_client(&first_name).await;
        let (second, second_id) = app.signed_in_client(&second_name).await;
        // Both reach the review: nobody has the hostname yet.
        fill_wizard(&first, &hostname, "web").await;
        fill_wizard(&second, &hostname, "web").await;
        let first_token = review_token(&first).await;
        let second_token = review_token(&second).await;
        let (a, b) = tokio::join!(
            submit_create(&first, &first_token),
            submit_create(&second, &second_token)
        );
        let (winner, loser, loser_client, loser_id, winner_name) = match (a.status, b.status) {
            (StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY) => (a, b, &second, second_id, &first_name),
            (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::SEE_OTHER) => (b, a, &first, first_id, &second_name),
            other => panic!(
                "round {round}: expected one 303 and one 422, got {other:?}:\n{}\n{}",
                a.body, b.body
            ),
        };
        assert!(winner.location().starts_with("/sites/"));
        // The loser is back at the site step with the hostname marked, not told who won.
        // Which check catches it depends on when the winner committed: the hostname's unique
        // index, or (already committed) the winner's DNS domain around it. Both name no one.
        let message = assert_field_error(&loser, "site_hostname", "on the platform");
        assert!(
            message == "This hostname is already in use on the platform."
                || message.starts_with("This hostname is inside (or around) a domain another account holds"),
            "round {round}: {message}"
        );
        assert_eq!(input_value(&loser, "wiz-site_hostname"), hostname);
        assert!(!loser.body.contains(winner_name.as_str()), "{}", loser.body);
        assert_eq!(
            app.scalar::<i64>(&format!("select count(*) from sites where hostname = '{hostname}'"))
                .await,
            1
        );
        assert_eq!(owned(&app, loser_id).await, nothing_owned(), "round {round}");
        // The loser's draft is kept and resumes at the site step.
        assert_eq!(loser_client.get("/wizard").await.location(), "/wizard/site");
        let site = loser_client.get("/wizard/site").await;
        assert_eq!(input_value(&site, "wiz-site_hostname"), hostname);
        // Another hostname: the alias is the winner's too, so the review says so.
        let other = format!("other{round}.example.com");
        let r = site_step(loser_client, "My shop", &other).await;
        assert_eq!(r.location(), "/wizard/review");
        let review = loser_client.get("/wizard/review").await;
        assert_entry_error(&review, "wiz-alias-0", "already in use on the platform");
        let r = loser_client
            .post_form(
                "/wizard/environments",
                &[
                    ("environment_names", "production"),
                    ("alias_names", &format!("www.{other}")),
                ],
            )
            .await;
        assert_eq!(r.location(), "/wizard/review", "{}", r.body);
        let token = review_token(loser_client).await;
        assert_eq!(
            token,
            if loser_id == first_id {
                first_token
            } else {
                second_token
            }
        );
        let created = submit_create(loser_client, &token).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
        assert_eq!(owned(&app, loser_id).await[0], ("sites", 1));
    }
}

#[tokio::test]
async fn a_hostname_taken_between_review_and_create_sends_back_to_the_site_step() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("acme-hosting").await;
    let (bob, bob_id) = app.signed_in_client("zenith-web").await;
    fill_wizard(&alice, "shop.example.com", "web").await;
    fill_wizard(&bob, "shop.example.com", "web").await;
    let bob_token = review_token(&bob).await;
    let alice_token = review_token(&alice).await;
    assert_eq!(submit_create(&alice, &alice_token).await.status, StatusCode::SEE_OTHER);
    let r = bob
        .post_htmx("/wizard/review", &[("draft_token", &bob_token), ("nav", "create")])
        .await;
    assert_field_error(&r, "site_hostname", "already in use on the platform");
    assert_shape(&r, true);
    assert!(!r.body.contains("acme-hosting"), "{}", r.body);
    assert_eq!(owned(&app, bob_id).await, nothing_owned());
    // The site step is open again, with what was typed; the review waits for it.
    assert_eq!(bob.get("/wizard").await.location(), "/wizard/site");
    assert_eq!(bob.get("/wizard/review").await.location(), "/wizard/site");
    let site = bob.get("/wizard/site").await;
    assert_eq!(input_value(&site, "wiz-site_hostname"), "shop.example.com");
    let r = bob
        .post_form(
            "/wizard/site",
            &[("site_name", "My shop"), ("site_hostname", "shop.example.com")],
        )
        .await;
    assert_field_error(&r, "site_hostname", "already in use on the platform");
}

#[tokio::test]
async fn a_container_name_is_unique_per_customer_only() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    create_site(&alice, "shop.example.com", "web").await;
    site_step(&alice, "Second", "second.example.com").await;
    alice.get("/wizard/container").await;
    for (htmx, name) in [(false, "web"), (true, "web"), (false, "WEB"), (false, " web ")] {
        let r = post(
            &alice,
            htmx,
            "/wizard/container",
            &container_fields(&[name, "lamp", "debian-12", "small", "20"]),
        )
        .await;
        assert_field_error(&r, "container_name", "You already have a container with this name.");
        assert_eq!(invalid_ids(&r), ["wiz-container_name"]);
    }
    assert_eq!(container_step(&alice, "web2").await.location(), "/wizard/environments");
    // Another customer may use the same name.
    let (bob, bob_id) = app.signed_in_client("bob").await;
    let path = create_site(&bob, "bob.example.com", "web").await;
    let names: Vec<(i64, String)> =
        sqlx::query_as("select customer_id, name from containers where name = 'web' order by customer_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(names, [(alice_id.0, "web".into()), (bob_id.0, "web".into())]);
    assert_eq!(bob.get(&path).await.text("#container-name"), "web (pending)");
}

// ---- isolation ------------------------------------------------------------------------------

#[tokio::test]
async fn another_customers_site_zone_and_progress_are_not_found() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    let path = create_site(&alice, "secret-shop.example.com", "web").await;
    let before = owned(&app, alice_id).await;
    let (bob, _) = app.signed_in_client("bob").await;
    for suffix in ["", "/zone", "/progress"] {
        let url = format!("{path}{suffix}");
        for r in [bob.get(&url).await, bob.get_htmx(&url).await] {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{url}: {}", r.body);
            assert!(!r.body.contains("secret-shop"), "{url}: {}", r.body);
            assert!(!r.body.contains("My shop"), "{url}: {}", r.body);
        }
        assert_eq!(alice.get(&url).await.status, StatusCode::OK, "{url}");
    }
    for url in [
        "/sites/abc",
        "/sites/999999",
        "/sites/-1",
        "/sites/1.5",
        "/sites/99999999999999999999",
        "/sites/abc/zone",
        "/sites/999999/zone",
        "/sites/999999/progress",
    ] {
        assert_eq!(alice.get(url).await.status, StatusCode::NOT_FOUND, "{url}");
    }
    assert_eq!(owned(&app, alice_id).await, before, "untouched");
    let bobs = bob.get("/sites").await;
    assert!(!bobs.body.contains("secret-shop"), "{}", bobs.body);
    assert!(bobs.texts("#sites tr[data-site]").is_empty());
}

#[tokio::test]
async fn one_customers_draft_is_never_shown_to_another() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    fill_wizard(&alice, "concealed.example.com", "concealed-web").await;
    let alice_token = review_token(&alice).await;
    let before = draft_data(&app, alice_id).await;
    assert!(before.is_some());

    let (bob, bob_id) = app.signed_in_client("bob").await;
    assert_eq!(bob.get("/wizard").await.location(), "/wizard/site");
    assert_eq!(bob.get("/wizard/review").await.location(), "/wizard/site");
    let site = bob.get("/wizard/site").await;
    assert_eq!(input_value(&site, "wiz-site_name"), "");
    assert_eq!(input_value(&site, "wiz-site_hostname"), "");
    assert!(!site.body.contains("concealed"), "{}", site.body);
    // Alice's token means nothing to Bob: no site, nothing of hers touched.
    let r = submit_create(&bob, &alice_token).await;
    assert_eq!(r.location(), "/wizard");
    let r = bob
        .post_htmx("/wizard/review", &[("draft_token", &alice_token), ("nav", "create")])
        .await;
    assert!(!r.body.contains("concealed"), "{}", r.body);
    assert_eq!(app.scalar::<i64>("select count(*) from sites").await, 0);
    // Bob's own steps and "start over" touch only his draft.
    site_step(&bob, "Bob", "bob.example.com").await;
    let container = bob.get("/wizard/container").await;
    assert!(!container.body.contains("concealed"), "{}", container.body);
    bob.post_form("/wizard/reset", &[]).await;
    assert_eq!(draft_data(&app, bob_id).await, None);
    assert_eq!(draft_data(&app, alice_id).await, before, "Alice's draft is untouched");
    assert_eq!(review_token(&alice).await, alice_token);
}

#[tokio::test]
async fn sites_lists_only_the_customers_own_sites() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    let empty = alice.get("/sites").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No sites yet"));
    let one = create_site(&alice, "one.example.com", "web1").await;
    let two = create_site(&alice, "two.example.com", "web2").await;
    let (bob, _) = app.signed_in_client("bob").await;
    let bobs = create_site(&bob, "bob.example.com", "web").await;

    let list = alice.get("/sites").await;
    assert_eq!(list.status, StatusCode::OK);
    let sel = Selector::parse("#sites tr[data-site]").unwrap();
    let ids: Vec<String> = list
        .html()
        .select(&sel)
        .map(|e| e.value().attr("data-site").unwrap().to_owned())
        .collect();
    let mut expected = vec![site_id(&one).to_string(), site_id(&two).to_string()];
    expected.sort();
    let mut got = ids.clone();
    got.sort();
    assert_eq!(got, expected);
    let rows = list.texts("#sites tr[data-site]");
    assert!(rows.iter().any(|r| r.contains("one.example.com")), "{rows:?}");
    assert!(rows.iter().all(|r| r.contains("provisioning")), "{rows:?}");
    assert!(!list.body.contains("bob.example.com"));
    assert!(!list.body.contains(&format!("href=\"{bobs}\"")));
    let htmx = alice.get_htmx("/sites").await;
    assert!(!htmx.body.contains("<html"));
    assert_eq!(htmx.texts("#sites tr[data-site]").len(), 2);

    let list = bob.get("/sites").await;
    assert_eq!(list.texts("#sites tr[data-site]").len(), 1);
    assert!(!list.body.contains("one.example.com"));
}

#[tokio::test]
async fn sites_are_listed_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let (alice, alice_id) = app.signed_in_client("alice").await;
    let (_bob, bob_id) = app.signed_in_client("bob").await;
    for (customer, count, prefix) in [(alice_id, 30, "alice"), (bob_id, 3, "bob")] {
        sqlx::query(
            "insert into sites (customer_id, name, hostname, create_dns, draft_token)
             select $1, $3 || '-' || lpad(n::text, 2, '0'), $3 || '-' || n || '.example.com', false, gen_random_uuid()
             from generate_series(1, $2) as n",
        )
        .bind(customer)
        .bind(count)
        .bind(prefix)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let first = alice.get("/sites").await;
    assert_eq!(
        first.texts("#sites tbody tr[data-site]").len(),
        25,
        "the default rows per page"
    );
    assert_eq!(first.text("#sites-total"), "30 sites");
    assert!(first.body.contains(r#"href="/sites?page=2""#));
    let second = alice.get("/sites?page=2").await;
    let names = second.texts("#sites tbody tr[data-site] td:first-child");
    assert_eq!(names, ["alice-26", "alice-27", "alice-28", "alice-29", "alice-30"]);
    assert!(!first.body.contains("bob-") && !second.body.contains("bob-"));
    assert_eq!(alice.get("/sites?page=zzz").await.status, StatusCode::OK);
}

/// A repeated create answers alike on the page and over the API, because both go through
/// one operation (`wizard::ops::create`): the same draft submitted again lands on its site
/// and creates nothing; the same plan asked for anew (a new draft, or CP_Wizard, which has
/// no draft) is refused on the same fields with the same messages, and creates nothing.
#[tokio::test]
async fn page_and_api_answer_a_repeated_create_alike() {
    let fx = crate::api::Fixture::new().await;
    let client = fx.app.client();
    client.sign_in("alice", PASSWORD).await;
    fill_wizard(&client, "shop.example.com", "web").await;
    let token = review_token(&client).await;
    let first = submit_create(&client, &token).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(submit_create(&client, &token).await.location(), first.location());
    let created = owned(&fx.app, fx.alice).await;
    assert_eq!(created[0], ("sites", 1));

    // The same plan over the API.
    let args = serde_json::json!({
        "customerId": fx.alice.0,
        "siteName": "My shop",
        "siteHostname": "shop.example.com",
        "containerName": "web",
        "containerType": "lamp",
        "containerOSId": "debian-12",
        "containerDiskSpace": 20,
        "containerSize": "small",
        "environmentNames": ["production", "staging"],
        "aliasNames": ["alias.shop.example.com"],
        "createDNS": true,
    });
    let (status, body) = fx.call_with(&fx.alice_key, "CP_Wizard", args).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let api = &body["error"]["fields"];

    // The same plan on the pages, step by step: each step refuses what the API refused.
    let site = site_step(&client, "My shop", "shop.example.com").await;
    let message = assert_field_error(&site, "site_hostname", "already in use");
    assert_eq!(api["siteHostname"], message.as_str(), "{body}");
    let site = site_step(&client, "My shop", "other.example.com").await;
    assert_eq!(site.status, StatusCode::SEE_OTHER, "{}", site.body);
    let container = container_step(&client, "web").await;
    let message = assert_field_error(&container, "container_name", "already have a container");
    assert_eq!(api["containerName"], message.as_str(), "{body}");
    let container = container_step(&client, "web2").await;
    assert_eq!(container.status, StatusCode::SEE_OTHER, "{}", container.body);
    let environments = client
        .post_form(
            "/wizard/environments",
            &list_fields(
                &strings(&["production", "staging"]),
                &strings(&["alias.shop.example.com"]),
            ),
        )
        .await;
    let message = assert_entry_error(&environments, "wiz-alias-0", "already in use");
    assert_eq!(api["aliasNames.0"], message.as_str(), "{body}");
    assert_eq!(owned(&fx.app, fx.alice).await, created, "nothing more was created");
}

#[tokio::test]
async fn creating_a_site_is_in_activity() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.signed_in_client("alice").await;
    create_site(&alice, "bücher.example.com", "web").await;
    let page = alice.get("/activity").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = page.texts("#activity tr[data-kind=site_created] td");
    assert_eq!(row[1], "Site created", "{row:?}");
    assert_eq!(row[2], "customer", "{row:?}");
    assert_eq!(row[4], "bücher.example.com", "{row:?}");
}
