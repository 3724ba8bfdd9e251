//! Security: CSRF and the origin check, security headers, session cookies, the `next=`
//! target after sign-in, escaping of hostile text, bad input, forms answering 422, error pages.

use berth::identity::CustomerId;
use berth::state::WebConfig;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Helpers for this file.
// ---------------------------------------------------------------------------------------

/// Sends a hand-built request (extra headers, raw bodies) and reads the answer.
async fn send(req: reqwest::RequestBuilder) -> Resp {
    let resp = req.send().await.expect("the request is answered");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Resp { status, headers, body }
}

/// A POST of `fields` (form-encoded, in this order) with extra `headers`, through the
/// client's cookie jar; no token is added.
async fn post_with(client: &Client, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
    let mut req = client.http.post(format!("{}{path}", client.base)).form(fields);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(req).await
}

/// A POST of a raw body with the given content type, through the client's cookie jar.
async fn post_bytes(client: &Client, path: &str, content_type: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
    let mut req = client
        .http
        .post(format!("{}{path}", client.base))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(req).await
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The attribute `attr` of every element matching `selector`.
fn attrs(resp: &Resp, selector: &str, attr: &str) -> Vec<String> {
    let sel = Selector::parse(selector).expect("valid selector");
    resp.html()
        .select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

/// The attribute `attr` of the first element matching `selector`.
fn attr_of(resp: &Resp, selector: &str, attr: &str) -> String {
    attrs(resp, selector, attr)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {selector}[{attr}] in:\n{}", resp.body))
}

/// Everything the tests below must leave alone, as one comparable string: the customer's
/// row, settings, cancellation requests and the number of activity entries.
async fn snapshot(app: &TestApp, id: CustomerId) -> String {
    sqlx::query_scalar(
        "select concat_ws(' | ',
            (select row_to_json(c)::text from (
                select username, display_name, email, password_hash, pin_hash, status, auth_version
                from customers where id = $1) c),
            (select coalesce(json_agg(s order by s.key), '[]')::text from (
                select key, value, updated_at from customer_settings where customer_id = $1) s),
            (select coalesce(json_agg(r order by r.id), '[]')::text from (
                select id, reason, status from cancellation_requests where customer_id = $1) r),
            (select count(*)::text from activity where customer_id = $1))",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn setting(app: &TestApp, id: CustomerId, key: &str) -> Option<String> {
    sqlx::query_scalar("select value from customer_settings where customer_id = $1 and key = $2")
        .bind(id)
        .bind(key)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

async fn email_of(app: &TestApp, id: CustomerId) -> String {
    sqlx::query_scalar("select email from customers where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A signed-in client that has loaded `page`, so it holds the session's current CSRF token
/// (the sign-in page's token is replaced on sign-in).
async fn ready_client(app: &TestApp, username: &str, page: &str) -> (Client, CustomerId) {
    let (client, id) = app.signed_in_client(username).await;
    let resp = client.get(page).await;
    assert_eq!(resp.status, StatusCode::OK, "GET {page}: {}", resp.body);
    (client, id)
}

/// Every `Set-Cookie` header of a response.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// A cookie's value and its attributes (lower-cased names, values as sent).
struct SetCookie {
    name: String,
    value: String,
    attrs: Vec<(String, String)>,
}

impl SetCookie {
    fn parse(header: &str) -> Self {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next().unwrap().split_once('=').expect("name=value");
        let attrs = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_owned()),
                None => (p.to_ascii_lowercase(), String::new()),
            })
            .collect();
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attrs,
        }
    }

    fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|(k, _)| k == attr)
    }

    fn get(&self, attr: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == attr).map(|(_, v)| v.as_str())
    }
}

/// The one `Set-Cookie` for `name` in a response.
fn session_cookie(headers: &HeaderMap, name: &str) -> SetCookie {
    let all = set_cookies(headers);
    let mut found = all.iter().map(|h| SetCookie::parse(h)).filter(|c| c.name == name);
    let cookie = found
        .next()
        .unwrap_or_else(|| panic!("no {name} cookie set; Set-Cookie: {all:?}"));
    assert!(found.next().is_none(), "{name} set twice: {all:?}");
    cookie
}

fn assert_session_cookie_attributes(cookie: &SetCookie, secure: bool) {
    assert!(cookie.has("httponly"), "{}: HttpOnly missing", cookie.name);
    let same_site = cookie.get("samesite").unwrap_or("").to_ascii_lowercase();
    assert!(
        same_site == "lax" || same_site == "strict",
        "{}: SameSite is {same_site:?}",
        cookie.name
    );
    assert_eq!(
        cookie.has("secure"),
        secure,
        "{}: Secure should be {secure}",
        cookie.name
    );
    assert!(!cookie.has("domain"), "{}: no Domain attribute", cookie.name);
    assert_eq!(cookie.get("path"), Some("/"), "{}: Path=/", cookie.name);
}

/// CSP without inline script and with `frame-ancestors 'none'`, nosniff, a strict
/// Referrer-Policy.
fn assert_security_headers(resp: &Resp, what: &str) {
    let csp = resp.header("content-security-policy");
    assert!(!csp.is_empty(), "{what}: no Content-Security-Policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    let directive = |name: &str| {
        directives
            .iter()
            .find(|d| d.split_whitespace().next() == Some(name))
            .copied()
    };
    let frame = directive("frame-ancestors").unwrap_or_else(|| panic!("{what}: no frame-ancestors in {csp}"));
    assert_eq!(frame, "frame-ancestors 'none'", "{what}");
    let script = directive("script-src")
        .or_else(|| directive("default-src"))
        .unwrap_or_else(|| panic!("{what}: neither script-src nor default-src in {csp}"));
    assert!(!script.contains("'unsafe-inline'"), "{what}: {script}");
    assert!(!script.contains("'unsafe-eval'"), "{what}: {script}");
    assert!(!script.contains('*'), "{what}: {script}");
    assert_eq!(resp.header("x-content-type-options"), "nosniff", "{what}");
    let referrer = resp.header("referrer-policy").to_ascii_lowercase();
    assert!(
        referrer == "same-origin" || referrer == "no-referrer" || referrer.starts_with("strict-origin"),
        "{what}: Referrer-Policy {referrer:?}"
    );
}

/// No inline script: every `<script>` has a `src`, no element carries an `on…` handler, no
/// link or form points at a `javascript:` URL.
fn assert_no_inline_script(resp: &Resp, what: &str) {
    let doc = resp.html();
    for script in doc.select(&Selector::parse("script").unwrap()) {
        let src = script.value().attr("src").unwrap_or("");
        assert!(!src.trim().is_empty(), "{what}: inline <script>: {}", script.html());
        assert!(
            script.text().all(|t| t.trim().is_empty()),
            "{what}: <script src> with a body"
        );
    }
    for element in doc.select(&Selector::parse("*").unwrap()) {
        for (name, value) in element.value().attrs() {
            assert!(
                !name.to_ascii_lowercase().starts_with("on"),
                "{what}: event handler attribute on {}",
                element.html()
            );
            if matches!(name, "href" | "src" | "action" | "formaction" | "hx-get" | "hx-post") {
                assert!(
                    !value.trim().to_ascii_lowercase().starts_with("javascript:"),
                    "{what}: javascript: URL in {}",
                    element.html()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. CSRF and the origin check.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn post_without_csrf_token_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let before = snapshot(&app, id).await;

    let resp = client
        .post_raw("/settings", &[("settings[items_per_page]", "50")])
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    let resp = client
        .post_raw(
            "/account/email",
            &[("email", "mallory@evil.example"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    // An htmx-style request without the header and without the field.
    let resp = post_with(
        &client,
        "/account/name",
        &[("display_name", "Mallory")],
        &[("HX-Request", "true")],
    )
    .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    // Signing out is a POST too.
    let resp = client.post_raw("/logout", &[]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);

    assert_eq!(snapshot(&app, id).await, before);
    assert_eq!(setting(&app, id, "items_per_page").await, None);
    assert_eq!(email_of(&app, id).await, "alice@example.com");
    assert_eq!(client.get("/account").await.status, StatusCode::OK, "still signed in");

    // The sign-in form needs the token too (no login CSRF).
    let anonymous = app.client();
    anonymous.get("/login").await;
    let resp = anonymous
        .post_raw("/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    assert_ne!(anonymous.get("/account").await.status, StatusCode::OK);
}

#[tokio::test]
async fn post_with_a_wrong_token_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let (other, _) = ready_client(&app, "bob", "/settings").await;
    let others_token = other.token().await;
    let own_token = client.token().await;
    assert_ne!(own_token, others_token, "each session has its own token");
    let before = snapshot(&app, id).await;

    let zeros = "0".repeat(own_token.len());
    let truncated = &own_token[..own_token.len() - 1];
    let longer = format!("{own_token}0");
    let upper = own_token.to_ascii_uppercase();
    for token in [
        "",
        zeros.as_str(),
        truncated,
        longer.as_str(),
        upper.as_str(),
        others_token.as_str(),
    ] {
        let resp = client
            .post_raw(
                "/settings",
                &[("csrf_token", token), ("settings[items_per_page]", "50")],
            )
            .await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "form token {token:?}: {}",
            resp.body
        );
        let resp = post_with(
            &client,
            "/settings",
            &[("settings[items_per_page]", "50")],
            &[("HX-Request", "true"), ("X-CSRF-Token", token)],
        )
        .await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "header token {token:?}: {}",
            resp.body
        );
    }
    // A wrong header is not rescued by a right form field.
    let resp = post_with(
        &client,
        "/settings",
        &[("csrf_token", own_token.as_str()), ("settings[items_per_page]", "50")],
        &[("X-CSRF-Token", zeros.as_str())],
    )
    .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);

    assert_eq!(snapshot(&app, id).await, before);
    assert_eq!(setting(&app, id, "items_per_page").await, None);
}

#[tokio::test]
async fn sign_in_replaces_the_csrf_token() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let client = app.client();
    client.get("/login").await;
    let before_sign_in = client.token().await;
    let resp = client
        .post_form("/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    // The sign-in page's token is worthless in the signed-in session.
    let resp = client
        .post_raw(
            "/settings",
            &[
                ("csrf_token", before_sign_in.as_str()),
                ("settings[items_per_page]", "50"),
            ],
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    client.get("/settings").await;
    assert_ne!(client.token().await, before_sign_in);
    let resp = client
        .post_form("/settings", &[("settings[items_per_page]", "50")])
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
}

#[tokio::test]
async fn csrf_token_in_the_htmx_header_is_accepted() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let resp = client
        .post_htmx("/settings", &[("settings[items_per_page]", "50")])
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert!(!resp.body.contains("<html"), "htmx gets the fragment");
    assert_eq!(setting(&app, id, "items_per_page").await.as_deref(), Some("50"));

    let resp = client
        .post_htmx(
            "/account/email",
            &[("email", "alice@new.example"), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    assert_eq!(email_of(&app, id).await, "alice@new.example");

    // The token from `hx-headers` on <body> is the one the forms carry.
    let page = client.get("/settings").await;
    let hx_headers = attr_of(&page, "body", "hx-headers");
    let parsed: serde_json::Value = serde_json::from_str(&hx_headers).expect("hx-headers is JSON");
    assert_eq!(parsed["X-CSRF-Token"].as_str(), Some(client.token().await.as_str()));
}

#[tokio::test]
async fn cross_site_post_with_a_valid_token_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let token = client.token().await;
    let before = snapshot(&app, id).await;

    let cross: &[&[(&str, &str)]] = &[
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
        &[("Origin", "https://127.0.0.1")],
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", app.base.as_str())],
    ];
    for headers in cross {
        let resp = post_with(
            &client,
            "/settings",
            &[("csrf_token", token.as_str()), ("settings[items_per_page]", "50")],
            headers,
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{headers:?}: {}", resp.body);
        let mut with_htmx = headers.to_vec();
        with_htmx.extend([("HX-Request", "true"), ("X-CSRF-Token", token.as_str())]);
        let resp = post_with(&client, "/settings", &[("settings[items_per_page]", "50")], &with_htmx).await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "{headers:?} over htmx: {}",
            resp.body
        );
        assert_eq!(resp.header("hx-reswap"), "none", "htmx gets an error toast");
        assert!(!resp.body.contains("<html"), "htmx gets an error toast");
        let resp = post_with(
            &client,
            "/account/email",
            &[
                ("csrf_token", token.as_str()),
                ("email", "mallory@evil.example"),
                ("current_password", PASSWORD),
            ],
            headers,
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{headers:?}: {}", resp.body);
    }

    assert_eq!(snapshot(&app, id).await, before);
    assert_eq!(setting(&app, id, "items_per_page").await, None);
    assert_eq!(email_of(&app, id).await, "alice@example.com");

    // The sign-in form too (no login CSRF from another site).
    let anonymous = app.client();
    anonymous.get("/login").await;
    let token = anonymous.token().await;
    for headers in cross {
        let resp = post_with(
            &anonymous,
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
            headers,
        )
        .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "/login {headers:?}: {}", resp.body);
    }
    assert_eq!(
        anonymous.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "not signed in"
    );
}

#[tokio::test]
async fn same_origin_post_is_accepted() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let token = client.token().await;

    let resp = post_with(
        &client,
        "/settings",
        &[("csrf_token", token.as_str()), ("settings[items_per_page]", "50")],
        &[("Origin", app.base.as_str())],
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(setting(&app, id, "items_per_page").await.as_deref(), Some("50"));

    let resp = post_with(
        &client,
        "/settings",
        &[("csrf_token", token.as_str()), ("settings[items_per_page]", "60")],
        &[("Origin", app.base.as_str()), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(setting(&app, id, "items_per_page").await.as_deref(), Some("60"));

    // A bookmark or typed URL: `Sec-Fetch-Site: none`.
    let resp = post_with(
        &client,
        "/settings",
        &[("csrf_token", token.as_str()), ("settings[items_per_page]", "70")],
        &[("Sec-Fetch-Site", "none")],
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(setting(&app, id, "items_per_page").await.as_deref(), Some("70"));
}

// ---------------------------------------------------------------------------------------
// 2. Security headers.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn security_headers_on_every_page() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let login = anonymous.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_security_headers(&login, "/login");

    let (client, _) = app.signed_in_client("alice").await;
    for path in ["/", "/account", "/settings", "/activity", "/account/cancel"] {
        let resp = client.get(path).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}");
        assert_security_headers(&resp, path);
        let fragment = client.get_htmx(path).await;
        assert_security_headers(&fragment, &format!("{path} (htmx)"));
    }
    // Error pages and answers to POSTs too.
    assert_security_headers(&client.get("/nope").await, "404 page");
    let resp = client
        .post_form("/settings", &[("settings[items_per_page]", "5000")])
        .await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_security_headers(&resp, "422 form");
    let resp = client.post_raw("/settings", &[]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_security_headers(&resp, "403 page");
}

#[tokio::test]
async fn no_page_has_inline_script() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let login = anonymous.get("/login").await;
    assert_no_inline_script(&login, "/login");
    assert!(
        !attrs(&login, "script", "src").is_empty(),
        "the sign-in page loads its scripts by src"
    );

    let (client, _) = app.signed_in_client("alice").await;
    for path in ["/", "/account", "/settings", "/activity", "/account/cancel", "/nope"] {
        let resp = client.get(path).await;
        assert_no_inline_script(&resp, path);
        assert_no_inline_script(&client.get_htmx(path).await, &format!("{path} (htmx)"));
    }
    // Re-rendered forms too.
    let resp = client
        .post_form("/settings", &[("settings[time_zone]", "Mars/Olympus")])
        .await;
    assert_no_inline_script(&resp, "settings with errors");
    let resp = client.post_form("/account/email", &[("email", "nope")]).await;
    assert_no_inline_script(&resp, "account with errors");
    // Every script comes from Berth itself.
    for src in attrs(&client.get("/").await, "script", "src") {
        assert!(src.starts_with("/static/"), "script from {src}");
    }
}

// ---------------------------------------------------------------------------------------
// 3. Session cookies.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn session_cookie_is_httponly_samesite_and_not_secure_over_http() {
    let app = TestApp::spawn().await;
    app.create_customer("alice").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = send(http.get(format!("{}/login", app.base))).await;
    assert_eq!(page.status, StatusCode::OK);
    let anonymous = session_cookie(&page.headers, "berth_session");
    assert_session_cookie_attributes(&anonymous, false);
    assert!(
        !set_cookies(&page.headers).iter().any(|c| c.starts_with("__Host-")),
        "no __Host- cookie over http"
    );

    let token = attr_of(&page, r#"input[name="csrf_token"]"#, "value");
    let resp = send(
        http.post(format!("{}/login", app.base))
            .header("cookie", format!("berth_session={}", anonymous.value))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ]),
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let signed_in = session_cookie(&resp.headers, "berth_session");
    assert_session_cookie_attributes(&signed_in, false);
    assert_ne!(signed_in.value, anonymous.value, "the session id is cycled on sign-in");

    // The old id is worthless; the new one is signed in.
    let old = send(
        http.get(format!("{}/account", app.base))
            .header("cookie", format!("berth_session={}", anonymous.value)),
    )
    .await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
    let new = send(
        http.get(format!("{}/account", app.base))
            .header("cookie", format!("berth_session={}", signed_in.value)),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn session_cookie_over_https_is_host_prefixed_and_secure() {
    let public = "https://panel.example.com";
    let app = TestApp::spawn_with(WebConfig::new(Some(public))).await;
    app.create_customer("alice").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let name = "__Host-berth_session";

    let page = send(http.get(format!("{}/login", app.base))).await;
    assert_eq!(page.status, StatusCode::OK);
    let anonymous = session_cookie(&page.headers, name);
    assert_session_cookie_attributes(&anonymous, true);
    assert!(
        !set_cookies(&page.headers)
            .iter()
            .any(|c| c.starts_with("berth_session=")),
        "no unprefixed cookie over https"
    );

    let token = attr_of(&page, r#"input[name="csrf_token"]"#, "value");
    let form = [
        ("csrf_token", token.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    // The origin check compares against the public origin, not the Host header.
    let resp = send(
        http.post(format!("{}/login", app.base))
            .header("cookie", format!("{name}={}", anonymous.value))
            .header("origin", app.base.as_str())
            .form(&form),
    )
    .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    let resp = send(
        http.post(format!("{}/login", app.base))
            .header("cookie", format!("{name}={}", anonymous.value))
            .header("origin", "http://panel.example.com")
            .form(&form),
    )
    .await;
    assert_eq!(
        resp.status,
        StatusCode::FORBIDDEN,
        "http is another origin: {}",
        resp.body
    );

    let resp = send(
        http.post(format!("{}/login", app.base))
            .header("cookie", format!("{name}={}", anonymous.value))
            .header("origin", public)
            .form(&form),
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let signed_in = session_cookie(&resp.headers, name);
    assert_session_cookie_attributes(&signed_in, true);
    assert_ne!(signed_in.value, anonymous.value, "the session id is cycled on sign-in");
    let account = send(
        http.get(format!("{}/account", app.base))
            .header("cookie", format!("{name}={}", signed_in.value)),
    )
    .await;
    assert_eq!(account.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// 4. `next=` after sign-in.
// ---------------------------------------------------------------------------------------

/// Signs in from `/login?next=…` the way a browser does (posting the form's hidden `next`),
/// and, separately, posting `next` as given (a forged form). Returns both redirects.
async fn sign_in_with_next(app: &TestApp, next: &str) -> (String, String) {
    let client = app.client();
    let page = client.get(&format!("/login?next={}", urlencode(next))).await;
    assert_eq!(page.status, StatusCode::OK, "GET /login?next={next:?}: {}", page.body);
    let hidden = attr_of(&page, r#"input[name="next"]"#, "value");
    let resp = client
        .post_form(
            "/login",
            &[("username", "nina"), ("password", PASSWORD), ("next", hidden.as_str())],
        )
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "next={next:?}: {}", resp.body);
    let from_page = resp.location().to_owned();

    let client = app.client();
    client.get("/login").await;
    let resp = client
        .post_form(
            "/login",
            &[("username", "nina"), ("password", PASSWORD), ("next", next)],
        )
        .await;
    assert_eq!(
        resp.status,
        StatusCode::SEE_OTHER,
        "forged next={next:?}: {}",
        resp.body
    );
    (from_page, resp.location().to_owned())
}

#[tokio::test]
async fn next_after_sign_in_goes_to_a_local_page() {
    let app = TestApp::spawn().await;
    app.create_customer("nina").await;
    assert_eq!(
        sign_in_with_next(&app, "/settings").await,
        ("/settings".to_owned(), "/settings".to_owned())
    );
    assert_eq!(
        sign_in_with_next(&app, "/activity?page=2").await,
        ("/activity?page=2".to_owned(), "/activity?page=2".to_owned())
    );
    assert_eq!(sign_in_with_next(&app, "").await, ("/".to_owned(), "/".to_owned()));
}

#[tokio::test]
async fn next_after_sign_in_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    app.create_customer("nina").await;
    for next in [
        "https://evil.example",
        "http://evil.example/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " //evil.example",
        "/\t/evil.example",
        "/\r\nSet-Cookie: x=1",
        "evil.example",
        "data:text/html,<script>alert(1)</script>",
    ] {
        let (from_page, forged) = sign_in_with_next(&app, next).await;
        for location in [from_page, forged] {
            assert_eq!(location, "/", "next={next:?} led to {location:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 5. Hostile text is rendered escaped.
// ---------------------------------------------------------------------------------------

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "'quoted'",
    "</textarea><b>bold</b>",
    "' onmouseover='alert(1)",
    "&amp; &lt;b&gt;",
    "{{ 7*7 }} {% raw %}",
];

/// The raw markup of `value` appears nowhere in `body` (only its escaped form may).
fn assert_not_raw(body: &str, value: &str, what: &str) {
    if value.contains(['<', '>', '"', '\'', '&']) {
        assert!(!body.contains(value), "{what}: {value:?} appears unescaped");
    }
    for marker in ["<script>alert", "<img src=x", "<b>bold", "onerror=alert(1)>"] {
        if value.contains(marker) {
            assert!(!body.contains(marker), "{what}: {marker:?} appears unescaped");
        }
    }
}

#[tokio::test]
async fn hostile_text_is_rendered_escaped() {
    let app = TestApp::spawn().await;
    let (client, _) = ready_client(&app, "alice", "/account").await;
    let mut earlier_reasons: Vec<&str> = Vec::new();

    for &value in HOSTILE {
        let resp = client.post_form("/account/name", &[("display_name", value)]).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "name {value:?}: {}", resp.body);
        let resp = client
            .post_form("/settings", &[("settings[invoice_reference]", value)])
            .await;
        assert_eq!(
            resp.status,
            StatusCode::SEE_OTHER,
            "invoice reference {value:?}: {}",
            resp.body
        );
        let resp = client.post_form("/account/cancel", &[("reason", value)]).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "reason {value:?}: {}", resp.body);

        let dashboard = client.get("/").await;
        assert_eq!(dashboard.text("#signed-in-as"), value);
        assert_eq!(dashboard.text("h1"), format!("Welcome, {value}"));

        let account = client.get("/account").await;
        assert_eq!(account.text("#signed-in-as"), value);
        assert_eq!(attr_of(&account, r#"input[name="display_name"]"#, "value"), value);

        let cancel = client.get("/account/cancel").await;
        assert_eq!(cancel.text("#signed-in-as"), value);
        assert_eq!(cancel.text("#pending-reason"), value);
        let history: Vec<String> = cancel.texts("table td");
        for earlier in &earlier_reasons {
            assert!(
                history.iter().any(|t| t == earlier),
                "{earlier:?} in the history: {history:?}"
            );
        }

        let settings = client.get("/settings").await;
        assert_eq!(
            attr_of(&settings, r#"input[name="settings[invoice_reference]"]"#, "value"),
            value
        );

        let activity = client.get("/activity").await;
        let details = activity.texts("#activity td");
        assert!(
            details.iter().filter(|t| *t == value).count() >= 2,
            "the name and the reason in the activity log as text: {details:?}"
        );

        let htmx_account = client.get_htmx("/account").await;
        let htmx_cancel = client.get_htmx("/account/cancel").await;
        for (what, page) in [
            ("/", &dashboard),
            ("/account", &account),
            ("/account/cancel", &cancel),
            ("/settings", &settings),
            ("/activity", &activity),
            ("/account (htmx)", &htmx_account),
            ("/account/cancel (htmx)", &htmx_cancel),
        ] {
            assert_not_raw(&page.body, value, what);
            for earlier in &earlier_reasons {
                assert_not_raw(&page.body, earlier, what);
            }
            assert_no_inline_script(page, what);
        }

        // A re-rendered form with errors shows the hostile input escaped too.
        let long = format!("{value}{}", "x".repeat(101));
        let resp = client
            .post_form("/account/name", &[("display_name", long.as_str())])
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_not_raw(&resp.body, value, "name form with errors");
        assert_eq!(attr_of(&resp, r#"input[name="display_name"]"#, "value"), long);
        let resp = client
            .post_form("/settings", &[("settings[invoice_reference]", long.as_str())])
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_not_raw(&resp.body, value, "settings form with errors");

        let resp = client.post_form("/account/cancel", &[("action", "withdraw")]).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "withdraw: {}", resp.body);
        earlier_reasons.push(value);
    }
}

#[tokio::test]
async fn hostile_username_on_the_sign_in_page_is_escaped() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/login").await;
    for &value in HOSTILE {
        let resp = client
            .post_form("/login", &[("username", value), ("password", "whatever")])
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", resp.body);
        assert_not_raw(&resp.body, value, "sign-in page");
        assert_eq!(attr_of(&resp, r#"input[name="username"]"#, "value"), value);
        assert_no_inline_script(&resp, "sign-in page");
    }
}

// ---------------------------------------------------------------------------------------
// 6. Bad input never answers 5xx and changes nothing.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn oversize_bodies_are_413_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let token = client.token().await;
    let before = snapshot(&app, id).await;
    let huge = "9".repeat(1024 * 1024);

    // Plain form: the token is in the body.
    for (path, field) in [
        ("/settings", "settings[invoice_reference]"),
        ("/account/name", "display_name"),
        ("/account/email", "email"),
    ] {
        let resp = client.post_form(path, &[(field, huge.as_str())]).await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {}", resp.body);
        assert!(resp.body.contains("too large"), "{path}: an error page: {}", resp.body);
    }
    // htmx: the token is in the header, the body is read by the handler.
    let resp = post_with(
        &client,
        "/settings",
        &[("settings[invoice_reference]", huge.as_str())],
        &[("HX-Request", "true"), ("X-CSRF-Token", token.as_str())],
    )
    .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", resp.body);
    assert_eq!(resp.header("hx-reswap"), "none", "an error toast for htmx");
    // Just over the limit.
    let just_over = "9".repeat(64 * 1024);
    let resp = client
        .post_form("/settings", &[("settings[invoice_reference]", just_over.as_str())])
        .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", resp.body);
    assert_eq!(snapshot(&app, id).await, before);

    // The sign-in form.
    let anonymous = app.client();
    anonymous.get("/login").await;
    let resp = anonymous
        .post_form(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("pad", huge.as_str())],
        )
        .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", resp.body);
    assert_eq!(
        anonymous.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "not signed in"
    );
    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn invalid_utf8_in_a_form_is_refused_and_changes_nothing() {
    // `web::Form` refuses invalid UTF-8 (axum's lenient decoding would store U+FFFD).
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let token = client.token().await;
    let before = snapshot(&app, id).await;

    let form = "application/x-www-form-urlencoded";
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "/settings",
            format!("csrf_token={token}&settings%5Binvoice_reference%5D=%FF%FE").into_bytes(),
        ),
        (
            "/settings",
            [
                format!("csrf_token={token}&settings%5Binvoice_reference%5D=").into_bytes(),
                vec![0xff, 0xfe, b'a', 0xc3],
            ]
            .concat(),
        ),
        (
            "/settings",
            [
                format!("csrf_token={token}&settings%5B").into_bytes(),
                vec![0xff],
                b"%5D=1".to_vec(),
            ]
            .concat(),
        ),
        (
            "/account/name",
            format!("csrf_token={token}&display_name=ab%C3%28cd").into_bytes(),
        ),
        (
            "/account/name",
            [
                format!("csrf_token={token}&display_name=").into_bytes(),
                vec![0xed, 0xa0, 0x80],
            ]
            .concat(),
        ),
        (
            "/account/cancel",
            format!("csrf_token={token}&reason=%80%80%80").into_bytes(),
        ),
    ];
    let mut problems = Vec::new();
    for (path, body) in bodies {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let before = snapshot(&app, id).await;
        let resp = post_bytes(&client, path, form, body, &[]).await;
        assert!(!resp.status.is_server_error(), "{path} {shown:?}: {}", resp.status);
        if !resp.status.is_client_error() {
            problems.push(format!("{path} {shown:?}: expected 400 or 422, got {}", resp.status));
        }
        if snapshot(&app, id).await != before {
            problems.push(format!("{path} {shown:?}: changed the database"));
        }
    }
    let stored: Vec<(String, String)> = sqlx::query_as(
        "select 'display_name', display_name from customers where id = $1
         union all select key, value from customer_settings where customer_id = $1
         union all select 'reason', reason from cancellation_requests where customer_id = $1",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(problems.is_empty(), "{problems:#?}\nnow stored: {stored:?}");
    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn missing_fields_are_422_with_field_errors() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let before = snapshot(&app, id).await;

    let resp = client.post_form("/account/email", &[]).await;
    assert_field_error(&resp, "email", "email address");
    assert_field_error(&resp, "current_password", "current password");
    let resp = client.post_form("/account/password", &[]).await;
    assert_field_error(&resp, "password", "12 characters");
    assert_field_error(&resp, "current_password", "current password");
    let resp = client.post_form("/account/pin", &[]).await;
    assert_field_error(&resp, "pin", "6 to 12 digits");
    let resp = client.post_form("/account/cancel", &[]).await;
    assert_field_error(&resp, "reason", "why");
    let resp = client.post_form("/settings", &[]).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", resp.body);
    assert!(resp.text("#settings-errors").contains("No settings were given"));
    // Over htmx (token in the header, empty body).
    for path in [
        "/account/email",
        "/account/password",
        "/account/pin",
        "/account/cancel",
        "/settings",
    ] {
        let resp = client.post_htmx(path, &[]).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", resp.body);
        assert!(!resp.body.contains("<html"), "{path}: a fragment");
    }
    // The sign-in form.
    let anonymous = app.client();
    anonymous.get("/login").await;
    let resp = anonymous.post_form("/login", &[]).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", resp.body);

    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn wrong_content_type_is_refused_without_5xx() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let token = client.token().await;
    let before = snapshot(&app, id).await;
    let json = br#"{"settings[items_per_page]": "50", "csrf_token": "x"}"#.to_vec();

    // Without a header token, a JSON body carries no token: refused by the CSRF check.
    let resp = post_bytes(&client, "/settings", "application/json", json.clone(), &[]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.body);
    // With the header token, the handler refuses what is not a form.
    for (content_type, body) in [
        ("application/json", json.clone()),
        ("text/plain", b"settings[items_per_page]=50".to_vec()),
        ("multipart/form-data; boundary=x", b"--x--\r\n".to_vec()),
    ] {
        let resp = post_bytes(
            &client,
            "/settings",
            content_type,
            body,
            &[("X-CSRF-Token", token.as_str())],
        )
        .await;
        assert_eq!(
            resp.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {}",
            resp.body
        );
        assert!(
            resp.header("content-type").starts_with("text/html"),
            "{content_type}: an error page"
        );
    }
    // No content type at all.
    let resp = send(
        client
            .http
            .post(format!("{}/settings", app.base))
            .header("X-CSRF-Token", token.as_str())
            .body("settings[items_per_page]=50"),
    )
    .await;
    assert!(resp.status.is_client_error(), "no content type: {}", resp.status);
    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn unknown_setting_keys_are_422_and_store_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let before = snapshot(&app, id).await;

    for fields in [
        vec![("settings[nope]", "1")],
        vec![("settings[nope]", "1"), ("settings[items_per_page]", "50")],
        vec![("settings[]", "1")],
        vec![("settings[items_per_page][x]", "50")],
        vec![("settings[ITEMS_PER_PAGE]", "50")],
        vec![("settings[time_zone", "UTC")],
    ] {
        let resp = client.post_form("/settings", &fields).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {}",
            resp.body
        );
        assert!(
            resp.html()
                .select(&Selector::parse("#settings-errors").unwrap())
                .next()
                .is_some()
        );
        assert_eq!(snapshot(&app, id).await, before, "{fields:?}");
    }
    let resp = client.post_form("/settings", &[("settings[nope]", "1")]).await;
    assert!(
        resp.text("#settings-errors").contains("There is no such setting"),
        "{}",
        resp.body
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from customer_settings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn extremely_long_values_are_422_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let before = snapshot(&app, id).await;
    let long = "x".repeat(60_000);

    let resp = client
        .post_form("/account/name", &[("display_name", long.as_str())])
        .await;
    assert_field_error(&resp, "display_name", "at most 100 characters");
    let long_email = format!("{long}@example.com");
    let resp = client
        .post_form(
            "/account/email",
            &[("email", long_email.as_str()), ("current_password", PASSWORD)],
        )
        .await;
    assert_field_error(&resp, "email", "email address");
    // Both new-password fields must fit in the 64 KiB body limit together.
    let long_password = "x".repeat(30_000);
    let resp = client
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", long_password.as_str()),
                ("password_confirm", long_password.as_str()),
            ],
        )
        .await;
    assert_field_error(&resp, "password", "at most 1024");
    let resp = client
        .post_form(
            "/account/pin",
            &[("pin", &"1".repeat(60_000)), ("current_password", PASSWORD)],
        )
        .await;
    assert_field_error(&resp, "pin", "6 to 12 digits");
    let resp = client.post_form("/account/cancel", &[("reason", long.as_str())]).await;
    assert_field_error(&resp, "reason", "2000");
    let resp = client
        .post_form("/settings", &[("settings[invoice_reference]", long.as_str())])
        .await;
    assert_field_error(&resp, "settings[invoice_reference]", "100 characters");
    let resp = client
        .post_form("/settings", &[("settings[items_per_page]", &"9".repeat(60_000))])
        .await;
    assert_field_error(&resp, "settings[items_per_page]", "whole number");
    let resp = client
        .post_form("/settings", &[("settings[time_zone]", long.as_str())])
        .await;
    assert_field_error(&resp, "settings[time_zone]", "time zone");

    let anonymous = app.client();
    anonymous.get("/login").await;
    let resp = anonymous
        .post_form("/login", &[("username", long.as_str()), ("password", "x")])
        .await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", resp.body);

    assert_eq!(snapshot(&app, id).await, before);
}

#[tokio::test]
async fn hostile_query_strings_never_5xx() {
    let app = TestApp::spawn().await;
    let (client, _) = app.signed_in_client("alice").await;
    for path in [
        "/activity?page=-1",
        "/activity?page=0",
        "/activity?page=abc",
        "/activity?page=%FF",
        "/activity?page=99999999999999999999999",
        "/activity?page=1&page=2",
        "/activity?page[]=1",
        "/login?next=%00",
        "/login?next=%FF%FE",
        "/login?next=/%0d%0aSet-Cookie:x=1",
        "/settings?settings%5Bnope%5D=1",
    ] {
        let resp = client.get(path).await;
        assert!(!resp.status.is_server_error(), "{path}: {} {}", resp.status, resp.body);
        assert!(
            resp.status.is_success() || resp.status.is_client_error(),
            "{path}: {}",
            resp.status
        );
        assert!(
            set_cookies(&resp.headers).iter().all(|c| !c.starts_with("x=")),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 7. Every form answers bad input with 422, the form again, errors beside the fields.
// ---------------------------------------------------------------------------------------

/// No input in the page shows `secret` as its value.
fn assert_not_echoed(resp: &Resp, secret: &str) {
    for value in attrs(resp, "input", "value") {
        assert_ne!(value, secret, "an input shows the typed secret");
    }
}

#[tokio::test]
async fn email_form_keeps_the_email_and_never_the_password() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let typed_password = "Wrong-Pa$$word-Typed";
    let resp = client
        .post_form(
            "/account/email",
            &[("email", "not an email"), ("current_password", typed_password)],
        )
        .await;
    assert_field_error(&resp, "email", "email address");
    assert_field_error(&resp, "current_password", "not your current password");
    assert_eq!(attr_of(&resp, r#"input[name="email"]"#, "value"), "not an email");
    assert!(!resp.body.contains(typed_password), "the typed password is echoed");
    assert_not_echoed(&resp, typed_password);
    assert!(resp.body.contains("<html"), "a plain post gets the whole page");
    assert_eq!(email_of(&app, id).await, "alice@example.com");

    // The right password, a bad email: only the email is wrong; the password is not echoed.
    let resp = client
        .post_form("/account/email", &[("email", "alice@"), ("current_password", PASSWORD)])
        .await;
    assert_field_error(&resp, "email", "email address");
    assert!(!resp.body.contains(PASSWORD));
    let invalid = attrs(&resp, r#"[aria-invalid="true"]"#, "name");
    assert_eq!(invalid, vec!["email".to_owned()], "only the email is marked");

    // Over htmx: the fragment, same errors.
    let resp = client
        .post_htmx(
            "/account/email",
            &[("email", "not an email"), ("current_password", typed_password)],
        )
        .await;
    assert_field_error(&resp, "email", "email address");
    assert_field_error(&resp, "current_password", "not your current password");
    assert!(!resp.body.contains("<html"), "htmx gets the fragment");
    assert!(!resp.body.contains(typed_password));
}

#[tokio::test]
async fn password_form_explains_each_problem_and_never_echoes_passwords() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let version: i64 = sqlx::query_scalar("select auth_version from customers where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let cases: &[(&str, &str, &str, &str)] = &[
        ("password", "Short-1!", "Short-1!", "at least 12 characters"),
        ("password", "password1234", "password1234", "common"),
        ("password", "PassWord1234", "PassWord1234", "common"),
        (
            "password_confirm",
            "Long-enough-Passphrase!",
            "Long-enough-Passphrase?",
            "differ",
        ),
    ];
    for &(field, password, confirm, message) in cases {
        let resp = client
            .post_form(
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("password", password),
                    ("password_confirm", confirm),
                ],
            )
            .await;
        assert_field_error(&resp, field, message);
        for secret in [PASSWORD, password, confirm] {
            assert!(!resp.body.contains(secret), "{secret:?} echoed");
            assert_not_echoed(&resp, secret);
        }
    }
    // A wrong current password is a message of its own.
    let resp = client
        .post_form(
            "/account/password",
            &[
                ("current_password", "Not-The-Password"),
                ("password", "Long-enough-Passphrase!"),
                ("password_confirm", "Long-enough-Passphrase!"),
            ],
        )
        .await;
    assert_field_error(&resp, "current_password", "not your current password");
    assert!(!resp.body.contains("Not-The-Password"));
    assert!(!resp.body.contains("Long-enough-Passphrase!"));

    let after: i64 = sqlx::query_scalar("select auth_version from customers where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, version, "the password was not changed");
}

#[tokio::test]
async fn pin_form_refuses_letters() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let resp = client
        .post_form("/account/pin", &[("pin", "12ab"), ("current_password", PASSWORD)])
        .await;
    assert_field_error(&resp, "pin", "6 to 12 digits");
    assert_not_echoed(&resp, "12ab");
    assert!(!resp.body.contains(PASSWORD));
    let has_pin: bool = sqlx::query_scalar("select pin_hash is not null from customers where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!has_pin);
}

#[tokio::test]
async fn name_form_refuses_101_characters_and_keeps_them() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account").await;
    let typed = "é".repeat(101);
    let resp = client
        .post_form("/account/name", &[("display_name", typed.as_str())])
        .await;
    assert_field_error(&resp, "display_name", "at most 100 characters");
    assert_eq!(attr_of(&resp, r#"input[name="display_name"]"#, "value"), typed);
    let stored: String = sqlx::query_scalar("select display_name from customers where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, "");
    // 100 characters are fine.
    let resp = client
        .post_form("/account/name", &[("display_name", &"é".repeat(100))])
        .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
}

#[tokio::test]
async fn cancel_form_needs_a_reason() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/account/cancel").await;
    for reason in ["", "   "] {
        let resp = client.post_form("/account/cancel", &[("reason", reason)]).await;
        assert_field_error(&resp, "reason", "why");
        assert!(resp.body.contains("<html"), "the whole page");
    }
    let resp = client.post_htmx("/account/cancel", &[("reason", "")]).await;
    assert_field_error(&resp, "reason", "why");
    assert!(!resp.body.contains("<html"), "htmx gets the fragment");
    let requests: i64 = sqlx::query_scalar("select count(*) from cancellation_requests where customer_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(requests, 0);
}

#[tokio::test]
async fn settings_form_marks_each_bad_field_and_keeps_the_input() {
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    let before = snapshot(&app, id).await;
    let fields = [
        ("settings[items_per_page]", "5000"),
        ("settings[time_zone]", "Mars/Olympus"),
        ("settings[invoice_reference]", "PO-777"),
        ("settings[date_format]", "eu"),
    ];

    let resp = client.post_form("/settings", &fields).await;
    assert_field_error(&resp, "settings[items_per_page]", "10 to 200");
    assert_field_error(&resp, "settings[time_zone]", "time zone");
    assert!(resp.body.contains("<html"), "a plain post gets the whole page");
    assert_eq!(
        attr_of(&resp, r#"input[name="settings[items_per_page]"]"#, "value"),
        "5000"
    );
    assert_eq!(
        attr_of(&resp, r#"input[name="settings[time_zone]"]"#, "value"),
        "Mars/Olympus"
    );
    assert_eq!(
        attr_of(&resp, r#"input[name="settings[invoice_reference]"]"#, "value"),
        "PO-777"
    );
    assert_eq!(
        attr_of(
            &resp,
            r#"select[name="settings[date_format]"] option[selected]"#,
            "value"
        ),
        "eu"
    );
    let invalid = attrs(&resp, r#"[aria-invalid="true"]"#, "name");
    assert_eq!(invalid.len(), 2, "only the bad fields are marked: {invalid:?}");
    assert_eq!(snapshot(&app, id).await, before, "nothing was saved");

    // Over htmx: the fragment, still 422, the same errors.
    let resp = client.post_htmx("/settings", &fields).await;
    assert!(!resp.body.contains("<html"), "htmx gets the fragment:\n{}", resp.body);
    assert_field_error(&resp, "settings[items_per_page]", "10 to 200");
    assert_field_error(&resp, "settings[time_zone]", "time zone");
    assert_eq!(
        attr_of(&resp, r#"input[name="settings[invoice_reference]"]"#, "value"),
        "PO-777"
    );
    assert!(
        resp.header("vary").to_ascii_lowercase().contains("hx-request"),
        "Vary: HX-Request"
    );
    assert_eq!(snapshot(&app, id).await, before, "nothing was saved");
}

// ---------------------------------------------------------------------------------------
// 8. Error pages.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_page_is_a_404_page_or_an_htmx_toast() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let resp = anonymous.get("/nope").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert!(resp.header("content-type").starts_with("text/html"));
    assert!(resp.body.contains("<html"), "a whole page");
    assert!(resp.text("h1").contains("404"));

    let (client, _) = app.signed_in_client("alice").await;
    let resp = client.get("/nope").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert!(resp.text("h1").contains("404"));

    let resp = client.get_htmx("/nope").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.header("hx-reswap"), "none");
    assert!(!resp.body.contains("<html"), "a fragment: {}", resp.body);
    let doc = Html::parse_fragment(&resp.body);
    // The toast (a <dialog>, closable without JavaScript) is announced by its holder.
    doc.select(&Selector::parse(r#"[role="alert"] > .toast.error"#).unwrap())
        .next()
        .unwrap_or_else(|| panic!("an error toast: {}", resp.body));

    // Other refusals are pages too, never a bare status.
    let resp = client.get("/logout").await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn signed_out_visitor_is_sent_to_the_sign_in_page() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let resp = anonymous.get("/account").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(resp.location(), "/login?next=%2Faccount");

    let resp = anonymous.get("/activity?page=2").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(resp.location(), "/login?next=%2Factivity%3Fpage%3D2");

    let resp = anonymous.get_htmx("/account").await;
    let to = resp.header("hx-redirect");
    assert!(
        to.starts_with("/login"),
        "HX-Redirect to the sign-in page, got {to:?} ({})",
        resp.status
    );
    assert_eq!(to, "/login?next=%2Faccount");
    assert!(!resp.status.is_server_error());

    // An expired session (its record gone) answers the same way.
    let (client, _) = app.signed_in_client("alice").await;
    assert_eq!(client.get("/account").await.status, StatusCode::OK);
    sqlx::query("delete from tower_sessions.session")
        .execute(&app.pool)
        .await
        .unwrap();
    // Berth caches a session for a moment; past that, the deleted record is gone for it too.
    app.advance(berth::web::session_store::CACHE_TTL);
    let resp = client.get_htmx("/settings").await;
    assert_eq!(resp.header("hx-redirect"), "/login?next=%2Fsettings");
    let resp = client.get("/settings").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    assert_eq!(resp.location(), "/login?next=%2Fsettings");
}

#[tokio::test]
async fn htmx_post_after_the_session_expired_is_sent_to_the_sign_in_page() {
    // An expired session has no CSRF secret: the guard answers "sign in" (HX-Redirect).
    let app = TestApp::spawn().await;
    let (client, id) = ready_client(&app, "alice", "/settings").await;
    sqlx::query("delete from tower_sessions.session")
        .execute(&app.pool)
        .await
        .unwrap();
    // Berth caches a session for a moment; past that, the deleted record is gone for it too.
    app.advance(berth::web::session_store::CACHE_TTL);
    let resp = client
        .post_htmx("/settings", &[("settings[items_per_page]", "50")])
        .await;
    assert!(!resp.status.is_server_error(), "{}", resp.status);
    assert_eq!(setting(&app, id, "items_per_page").await, None, "nothing was saved");
    assert!(
        resp.header("hx-redirect").starts_with("/login"),
        "expected HX-Redirect to /login, got {} {:?} with body {}",
        resp.status,
        resp.header("hx-redirect"),
        resp.body
    );
}
