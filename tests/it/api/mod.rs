//! The Customer API: every method of the OpenAPI document (so, of the router) has a success
//! case, an InvalidArguments case and an other-customer case (`every_method_…` below, with
//! the cases of each area in `api_<area>.rs`); and the key checks, the client address, the
//! rate limit and the error envelope.

pub mod browser;

use berth::identity::CustomerId;
use berth::identity::key::KeyType;
use berth::state::WebConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The 35 methods of the seed's Customer service (`shared/seed/customer-service.txt`).
pub const SEED_METHODS: [&str; 35] = [
    "CP_Wizard",
    "requestCancellation",
    "createKey",
    "revokeKey",
    "getKeys",
    "createKeyACL",
    "updateKeyACL",
    "deleteKeyACL",
    "listRoles",
    "getUsername",
    "changePassword",
    "changePIN",
    "changeEmail",
    "setSettings",
    "getSettings",
    "addIpAddress",
    "getIpAddresses",
    "getDetailedIpAddresses",
    "freeIpAddress",
    "createFTPUser",
    "listFTPUsers",
    "updateFTPUser",
    "destroyFTPUser",
    "currentBillableBandwidth",
    "listNotices",
    "acknowledgeNotice",
    "createContact",
    "destroyContact",
    "createContactMethod",
    "destroyContactMethod",
    "createContactMethodNotice",
    "destroyContactMethodNotice",
    "listContactNoticeTypes",
    "listContactMethods",
    "listContacts",
];

/// Berth's own methods beyond the seed's: the site's state and controls (issue 18).
pub const BERTH_METHODS: [&str; 6] = [
    "getSite",
    "startSite",
    "stopSite",
    "restartSite",
    "deleteSite",
    "getSiteLogs",
];

/// Two customers with a standard key each: Alice, whose data the cases touch, and Bob,
/// who must not reach it.
pub struct Fixture {
    pub app: TestApp,
    pub alice: CustomerId,
    pub bob: CustomerId,
    pub alice_key: String,
    pub bob_key: String,
    pub http: reqwest::Client,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with(WebConfig::new(None)).await
    }

    pub async fn with(mut web: WebConfig) -> Self {
        // The cases call quickly; the rate limit has its own test.
        if web.api_rate_per_second == WebConfig::new(None).api_rate_per_second {
            web.api_rate_per_second = 10_000;
            web.api_burst = 10_000;
        }
        let app = TestApp::spawn_with(web).await;
        let alice = app.create_customer("alice").await;
        let bob = app.create_customer("bob").await;
        let alice_key = key(&app, alice, KeyType::Standard).await.1;
        let bob_key = key(&app, bob, KeyType::Standard).await.1;
        Self {
            app,
            alice,
            bob,
            alice_key,
            bob_key,
            http: reqwest::Client::new(),
        }
    }

    /// Calls `method` with `secret`; the status and the JSON body (every answer is JSON).
    pub async fn call_with(&self, secret: &str, method: &str, args: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}/api/Customer/{method}", self.app.base))
                .bearer_auth(secret)
                .json(&args),
        )
        .await
    }

    /// Alice allows her keys to change her sign-in details (the setting "API keys may
    /// change sign-in details", off by default since issue 13).
    pub async fn allow_sign_in_changes(&self) {
        berth::settings::model::save(&self.app.pool, self.alice, &[("api_sign_in_changes", "on".to_owned())])
            .await
            .unwrap();
    }

    /// The OpenAPI document, as served.
    pub async fn document(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/api/openapi.json", self.app.base))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Calls `method` with Alice's key and expects success: its `result`.
    pub async fn ok(&self, method: &str, args: Value) -> Value {
        let (status, body) = self.call_with(&self.alice_key, method, args.clone()).await;
        assert_eq!(status, StatusCode::OK, "{method} {args}: {body}");
        body["result"].clone()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{status} {content_type}: {text}"
        );
        (status, serde_json::from_str(&text).unwrap())
    }

    /// Everything of Alice's (the rows of every table with a customer, and her own), to
    /// compare before and after a call that must change nothing. A key's last use is left
    /// out: using a key records it.
    pub async fn snapshot(&self) -> String {
        let tables: Vec<String> = sqlx::query_scalar(
            "select table_name::text from information_schema.columns
             where table_schema = 'public' and column_name = 'customer_id' order by 1",
        )
        .fetch_all(&self.app.pool)
        .await
        .unwrap();
        let mut all = String::new();
        for table in tables.iter().map(String::as_str).chain(["customers"]) {
            let column = if table == "customers" { "id" } else { "customer_id" };
            let rows: Option<String> = sqlx::query_scalar(&format!(
                "select string_agg((to_jsonb(t) - 'last_used_at' - 'last_used_address')::text, '\n' order by t::text)
                 from {table} t where {column} = $1"
            ))
            .bind(self.alice)
            .fetch_one(&self.app.pool)
            .await
            .unwrap();
            all.push_str(&format!("== {table}\n{}\n", rows.unwrap_or_default()));
        }
        all
    }
}

/// Checks `body`, the answer of `method` with `status`, against the OpenAPI document's schema
/// for it (JSON Schema 2020-12, as OpenAPI 3.1 uses).
pub fn assert_matches_document(doc: &Value, method: &str, status: StatusCode, body: &Value) {
    let errors = document_errors(doc, method, status, body);
    assert!(
        errors.is_empty(),
        "{method} {status}: {body} does not match the document: {errors:?}"
    );
}

/// What in `body` does not match the document's schema for `method`'s `status` answer.
fn document_errors(doc: &Value, method: &str, status: StatusCode, body: &Value) -> Vec<String> {
    let schema = &doc["paths"][format!("/api/Customer/{method}")]["post"]["responses"][status.as_str()]["content"]["application/json"]
        ["schema"];
    assert!(schema.is_object(), "{method}: the document has no {status} answer");
    // The schema's references point into the document's components.
    let root = json!({"components": doc["components"], "allOf": [schema]});
    let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{method}: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{e} (at {})", e.instance_path))
        .collect()
}

/// A new key of `kind` for `customer`: its id and secret. An internal key is the
/// platform's (`customer` is then ignored), made by the operator "test".
pub async fn key(app: &TestApp, customer: CustomerId, kind: KeyType) -> (i64, String) {
    if kind == KeyType::Internal {
        let maker = berth::keys::model::Maker::Operator("test".into());
        let created = berth::keys::ops::create_internal(&app.pool, &maker, &"test key".parse().unwrap(), None)
            .await
            .unwrap()
            .expect("no token, so made");
        return (created.id.0, created.secret.expose().to_owned());
    }
    let who = berth::identity::Who::new(customer, "test", None);
    let input = berth::keys::ops::NewKeyInput {
        name: "test key".into(),
        kind: Some(kind),
        once: None,
    };
    let created = berth::keys::ops::create_key(&app.pool, &who, input).await.unwrap();
    (created.id.0, created.secret.expose().to_owned())
}

/// One method's three cases. Each is checked in this order: `foreign` (Bob's key naming
/// Alice's customer or objects: 404, nothing changes), `invalid` (Alice's key: 422 naming
/// the field, nothing changes), `success` (Alice's key: 200 with a result).
pub struct Case {
    pub method: &'static str,
    pub success: Value,
    pub invalid: (Value, &'static str),
    /// `None` for the catalogues, which are the same for every customer.
    pub foreign: Option<Value>,
}

impl Case {
    pub fn new(method: &'static str, success: Value, invalid: (Value, &'static str), foreign: Option<Value>) -> Self {
        Self {
            method,
            success,
            invalid,
            foreign,
        }
    }
}

#[tokio::test]
async fn every_method_has_a_success_an_invalid_and_an_other_customer_case() {
    let fx = Fixture::new().await;
    fx.allow_sign_in_changes().await;
    let doc = fx.document().await;
    let methods: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| {
            p.strip_prefix("/api/Customer/")
                .expect("every path is a method")
                .to_owned()
        })
        .collect();
    let mut missing: Vec<&str> = SEED_METHODS
        .iter()
        .chain(&BERTH_METHODS)
        .copied()
        .filter(|m| !methods.iter().any(|x| x == m))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "methods the API does not serve: {missing:?}");
    assert_eq!(methods.len(), SEED_METHODS.len() + BERTH_METHODS.len(), "{methods:?}");

    let mut cases = Vec::new();
    cases.extend(crate::keys::api::cases(&fx).await);
    cases.extend(crate::account::api::cases(&fx).await);
    cases.extend(crate::addresses::api::cases(&fx).await);
    cases.extend(crate::notices::api::cases(&fx).await);
    cases.extend(crate::sites::api::cases(&fx).await);
    for method in &methods {
        let case = cases
            .iter()
            .find(|c| c.method == method)
            .unwrap_or_else(|| panic!("{method} has no cases"));
        if let Some(args) = &case.foreign {
            let before = fx.snapshot().await;
            let (status, body) = fx.call_with(&fx.bob_key, method, args.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} by Bob {args}: {body}");
            assert_eq!(body["error"]["type"], "NotFound", "{method}: {body}");
            assert_matches_document(&doc, method, status, &body);
            assert_eq!(fx.snapshot().await, before, "{method} by Bob changed Alice's data");
        }
        let (args, field) = &case.invalid;
        let before = fx.snapshot().await;
        let (status, body) = fx.call_with(&fx.alice_key, method, args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {args}: {body}");
        assert_eq!(body["error"]["type"], "InvalidArguments", "{method}: {body}");
        assert_matches_document(&doc, method, status, &body);
        assert!(
            body["error"]["fields"][field].is_string(),
            "{method} {args}: no message on {field}: {body}"
        );
        assert_eq!(
            fx.snapshot().await,
            before,
            "{method} with invalid arguments changed something"
        );
        let (status, body) = fx.call_with(&fx.alice_key, method, case.success.clone()).await;
        assert_eq!(status, StatusCode::OK, "{method} {}: {body}", case.success);
        assert!(body.get("result").is_some(), "{method}: {body}");
        assert_matches_document(&doc, method, status, &body);
    }
}

#[tokio::test]
async fn keys_are_checked_on_every_call() {
    let fx = Fixture::new().await;
    let args = json!({"id": fx.alice.0});
    let url = format!("{}/api/Customer/getKeys", fx.app.base);
    // No key, a malformed header, an unknown key.
    let (status, body) = fx.send(fx.http.post(&url).json(&args)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["type"], "Unauthorized");
    let (status, _) = fx
        .send(fx.http.post(&url).header("authorization", "Basic abc").json(&args))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = fx
        .call_with(
            "berth_0000000000000000000000000000000000000000",
            "getKeys",
            args.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "This API key is not known.");

    // A revoked key: 401.
    let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
    fx.ok("revokeKey", json!({"id": id})).await;
    let (status, body) = fx.call_with(&secret, "getKeys", args.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "This API key is revoked.");

    // The last use is recorded.
    let used: Option<String> = fx
        .app
        .scalar("select host(last_used_address) from api_keys where id = (select min(id) from api_keys)")
        .await;
    assert_eq!(used.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_client_outside_the_acls_is_refused_and_recorded() {
    let mut web = WebConfig::new(None);
    web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let fx = Fixture::with(web).await;
    let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
    fx.ok("createKeyACL", json!({"id": id, "address": "203.0.113.0", "cidr": 24}))
        .await;
    fx.ok("createKeyACL", json!({"id": id, "address": "2001:db8:1::", "cidr": 48}))
        .await;
    let url = format!("{}/api/Customer/getKeys", fx.app.base);
    let call = |xff: &'static str| {
        fx.send(
            fx.http
                .post(&url)
                .bearer_auth(&secret)
                .header("x-forwarded-for", xff)
                .json(&json!({"id": fx.alice.0})),
        )
    };
    for inside in ["203.0.113.7", "2001:db8:1:2::3", "198.51.100.1, 203.0.113.9"] {
        let (status, body) = call(inside).await;
        assert_eq!(status, StatusCode::OK, "{inside}: {body}");
    }
    for outside in ["198.51.100.1", "2001:db8:2::1", "203.0.113.9, 198.51.100.1"] {
        let (status, body) = call(outside).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{outside}: {body}");
        assert_eq!(body["error"]["type"], "Forbidden");
    }
    let refused: i64 = fx
        .app
        .scalar("select count(*) from activity where kind = 'api_key_refused' and detail like '%2001:db8:2::1%'")
        .await;
    assert_eq!(refused, 1);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The test server's peer is 127.0.0.1, which is not trusted here.
    let fx = Fixture::new().await;
    let (id, secret) = key(&fx.app, fx.alice, KeyType::Standard).await;
    fx.ok("createKeyACL", json!({"id": id, "address": "203.0.113.0", "cidr": 24}))
        .await;
    let (status, _) = fx
        .send(
            fx.http
                .post(format!("{}/api/Customer/getKeys", fx.app.base))
                .bearer_auth(&secret)
                .header("x-forwarded-for", "203.0.113.7")
                .json(&json!({"id": fx.alice.0})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn read_only_keys_only_read() {
    let fx = Fixture::new().await;
    let (_, secret) = key(&fx.app, fx.alice, KeyType::ReadOnly).await;
    let (status, body) = fx.call_with(&secret, "getKeys", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = fx.snapshot().await;
    let (status, body) = fx.call_with(&secret, "createKey", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(fx.snapshot().await, before);
}

#[tokio::test]
async fn internal_arguments_need_an_internal_key_which_acts_for_anyone() {
    let fx = Fixture::new().await;
    let before = fx.snapshot().await;
    let (status, body) = fx
        .call_with(
            &fx.alice_key,
            "createKey",
            json!({"id": fx.alice.0, "type": "internal"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(fx.snapshot().await, before);

    let (_, internal) = key(&fx.app, fx.bob, KeyType::Internal).await;
    let (status, body) = fx.call_with(&internal, "getKeys", json!({"id": fx.alice.0})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Not even an internal key mints internal keys over the API (issue 13): they are made
    // only in the staff console or with `berth create-key --internal`. It may make Alice a
    // key of her own.
    let (status, body) = fx
        .call_with(
            &internal,
            "createKey",
            json!({"id": fx.alice.0, "type": "internal", "name": "ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = fx
        .call_with(&internal, "createKey", json!({"id": fx.alice.0, "name": "ops"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["type"], "standard");
    // A customer that does not exist is not found.
    let (status, _) = fx.call_with(&internal, "getKeys", json!({"id": 999_999})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Every call is in Alice's Activity.
    let recorded: Vec<String> = sqlx::query_scalar(
        "select detail from activity where customer_id = $1 and kind = 'api_internal_call' order by id",
    )
    .bind(fx.alice)
    .fetch_all(&fx.app.pool)
    .await
    .unwrap();
    assert_eq!(recorded, ["getKeys", "createKey"]);
}

#[tokio::test]
async fn each_key_has_a_rate_limit() {
    let mut web = WebConfig::new(None);
    web.api_rate_per_second = 1;
    web.api_burst = 3;
    let fx = Fixture::with(web).await;
    for _ in 0..3 {
        let (status, _) = fx.call_with(&fx.alice_key, "getKeys", json!({"id": fx.alice.0})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = fx
        .http
        .post(format!("{}/api/Customer/getKeys", fx.app.base))
        .bearer_auth(&fx.alice_key)
        .json(&json!({"id": fx.alice.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "TooManyRequests");
    // Bob's key has its own.
    let (status, _) = fx.call_with(&fx.bob_key, "getKeys", json!({"id": fx.bob.0})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_error_is_json_in_the_envelope() {
    let fx = Fixture::new().await;
    let url = |m: &str| format!("{}/api/Customer/{m}", fx.app.base);
    // Unknown method, and another path under /api.
    let (status, body) = fx.call_with(&fx.alice_key, "noSuchMethod", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "NotFound");
    let (status, _) = fx.send(fx.http.get(format!("{}/api/nothing", fx.app.base))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // GET of a method.
    let (status, body) = fx.send(fx.http.get(url("getKeys")).bearer_auth(&fx.alice_key)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    // JSON that does not parse: 400 with the position.
    let (status, body) = fx
        .send(
            fx.http
                .post(url("getKeys"))
                .bearer_auth(&fx.alice_key)
                .header("content-type", "application/json")
                .body("{\"id\": 1,\n \"type\": }"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["type"], "BadRequest");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("line 2, column"),
        "{body}"
    );
    // Trailing text after the object.
    let (status, _) = fx
        .send(
            fx.http
                .post(url("getKeys"))
                .bearer_auth(&fx.alice_key)
                .header("content-type", "application/json")
                .body("{\"id\": 1} x"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Not JSON at all.
    let (status, body) = fx
        .send(
            fx.http
                .post(url("getKeys"))
                .bearer_auth(&fx.alice_key)
                .form(&[("id", "1")]),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // Wrong types, a missing and an unknown argument: InvalidArguments on the field.
    for (args, field) in [
        (json!({"id": "seven"}), "id"),
        (json!({}), "id"),
        (json!({"id": fx.alice.0, "colour": "red"}), "colour"),
        (json!([1]), "arguments"),
        (json!({"id": fx.alice.0, "type": "gold"}), "type"),
    ] {
        let (status, body) = fx.call_with(&fx.alice_key, "getKeys", args.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{args}: {body}");
        assert!(body["error"]["fields"][field].is_string(), "{args}: {body}");
    }
    // Too large.
    let (status, _) = fx
        .send(
            fx.http
                .post(url("getKeys"))
                .bearer_auth(&fx.alice_key)
                .header("content-type", "application/json")
                .body(format!("{{\"name\": \"{}\"}}", "x".repeat(100_000))),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_document_and_its_reference_page_are_served() {
    let fx = Fixture::new().await;
    let doc = fx.document().await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    // The check the method cases use does see a wrong answer.
    let ok = json!({"result": [{"id": 1, "name": "n", "type": "standard", "prefix": "berth_12345678",
        "created": "2026-11-27T00:00:00Z", "lastUsed": null, "lastUsedAddress": null, "revoked": null, "acls": []}]});
    assert_eq!(
        document_errors(&doc, "getKeys", StatusCode::OK, &ok),
        Vec::<String>::new()
    );
    for wrong in [
        json!({"result": "keys"}),
        json!({"result": [{"id": "1"}]}),
        json!({"error": {}}),
    ] {
        assert!(
            !document_errors(&doc, "getKeys", StatusCode::OK, &wrong).is_empty(),
            "{wrong}"
        );
    }
    assert!(!document_errors(&doc, "getKeys", StatusCode::NOT_FOUND, &json!({"error": {"type": 404}})).is_empty());
    // The reference page is HTML from the same document: every method, no viewer's script.
    let page = fx.http.get(format!("{}/api/docs", fx.app.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = scraper::Html::parse_document(&page.text().await.unwrap());
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    for script in html.select(&select("script")) {
        let src = script.value().attr("src").unwrap_or_default();
        assert!(
            src.ends_with("/htmx.min.js") || src.ends_with("/berth.js"),
            "only the shell's scripts: {src}"
        );
    }
    let operations = html.select(&select("article.api-operation")).count();
    assert_eq!(operations, doc["paths"].as_object().unwrap().len());
    for method in SEED_METHODS.iter().chain(&BERTH_METHODS) {
        let path = html
            .select(&select(&format!("#op-{method} .api-path")))
            .next()
            .unwrap_or_else(|| panic!("{method} is on the reference page"))
            .text()
            .collect::<String>();
        assert_eq!(path, format!("/api/Customer/{method}"));
    }
    // createKey: its summary, its request's fields from the document, and its answer's
    // schema linked to where that schema is described.
    let create = html.select(&select("#op-createKey")).next().unwrap();
    let text: String = create.text().collect();
    let summary = doc["paths"]["/api/Customer/createKey"]["post"]["summary"]
        .as_str()
        .unwrap();
    assert!(text.contains(summary), "{text}");
    assert!(text.contains("POST"), "{text}");
    let request =
        doc["paths"]["/api/Customer/createKey"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
    let link = create
        .select(&select(&format!(r##"a[href="#schema-{request}"]"##)))
        .next()
        .unwrap_or_else(|| panic!("a link to {request} in {text}"));
    assert_eq!(link.text().collect::<String>(), request);
    let schema: String = html
        .select(&select(&format!("#schema-{request}")))
        .next()
        .unwrap()
        .text()
        .collect();
    for field in doc["components"]["schemas"][request]["properties"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(schema.contains(field.as_str()), "{field} in {schema}");
    }
    for status in doc["paths"]["/api/Customer/createKey"]["post"]["responses"]
        .as_object()
        .unwrap()
        .keys()
    {
        let shown: Vec<String> = create
            .select(&select(".api-status"))
            .map(|s| s.text().collect())
            .collect();
        assert!(shown.contains(status), "{status} in {shown:?}");
    }
}

#[tokio::test]
async fn a_cancelled_accounts_keys_stop_working() {
    let fx = Fixture::new().await;
    let args = json!({"id": fx.alice.0});
    let (status, _) = fx.call_with(&fx.alice_key, "getKeys", args.clone()).await;
    assert_eq!(status, StatusCode::OK);
    // Alice asks to cancel over the API; support completes it.
    let request = fx
        .ok("requestCancellation", json!({"id": fx.alice.0, "reason": "moving on"}))
        .await;
    let mut tx = fx.app.pool.begin().await.unwrap();
    let completed = berth::staff::model::complete_cancellation(&mut tx, fx.alice, request["id"].as_i64().unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // As the staff console's handler does, after the commit (issue 13).
    berth::identity::key::forget_verified();
    assert!(completed);
    // At once, although the key was just checked (and remembered).
    let (status, body) = fx.call_with(&fx.alice_key, "getKeys", args).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["error"]["message"],
        "This account is cancelled; its API keys no longer work."
    );
    let (status, _) = fx.call_with(&fx.bob_key, "getKeys", json!({"id": fx.bob.0})).await;
    assert_eq!(status, StatusCode::OK);
}
