//! The API's JSON: the arguments a method reads ([`Args`]), the answer it gives ([`Reply`])
//! and the error envelope ([`ErrorBody`]), with the error answers every method documents
//! ([`ApiErrors`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::validation::FieldErrors;
use crate::web::{AppError, RequestError};

/// A method's arguments: a JSON object by the seed's argument names. An empty body is an
/// empty object. JSON that does not parse is a 400 with the parser's position; a value of
/// the wrong type, a missing or an unknown argument is an `InvalidArguments` on that field.
pub struct Args<T>(pub T);

impl<T, S> FromRequest<S> for Args<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::Request(RequestError::TooLarge))?;
        if json == Some(false) || (json.is_none() && !body.is_empty()) {
            return Err(AppError::Request(RequestError::NotJson));
        }
        parse(if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        })
        .map(Args)
    }
}

/// Reads `body` as `T`, telling apart JSON that does not parse from arguments that are wrong.
/// Only a JSON object is accepted (no positional arguments in an array), and no text in it
/// may hold NUL or another control character (see [`crate::validation::control_character`]).
/// Messages name the argument by its seed name and say in plain words what was expected.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let bad_json = |err: &serde_json::Error| {
        AppError::Request(RequestError::BadJson(format!(
            "The body is not a JSON object: {err} (line {}, column {}).",
            err.line(),
            err.column()
        )))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| bad_json(&err))?;
    if !value.is_object() {
        return Err(invalid(
            "arguments",
            format!(
                "Pass the arguments as a JSON object by their names, not {}.",
                json_kind(&value)
            ),
        ));
    }
    let mut errors = FieldErrors::default();
    check_text(&value, "", None, &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let message = err.inner().to_string();
        let path = err.path().to_string();
        // A missing argument is named by the message, not the path (its object's).
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (missing, path.as_str()) {
            (Some(name), ".") => name.to_owned(),
            (Some(name), object) => format!("{object}.{name}"),
            (None, ".") => "arguments".to_owned(),
            (None, _) => path,
        };
        let mut fields = FieldErrors::default();
        fields.add(field, plain_words(&message));
        AppError::Invalid(fields)
    })
}

/// What a JSON value is, in the words of the documentation.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Records, by its path (`name`, `options.url`, `environmentNames[1]`), every string or
/// object key holding a control character; `key` is the innermost argument's name, which
/// says whether tab and newline are allowed.
fn check_text(value: &serde_json::Value, path: &str, key: Option<&str>, errors: &mut FieldErrors) {
    let field = |path: &str| {
        if path.is_empty() {
            "arguments".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) => {
            if let Some(message) = crate::validation::control_character(key.unwrap_or(""), text) {
                errors.add(field(path), message);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_text(item, &format!("{path}[{index}]"), key, errors);
            }
        }
        serde_json::Value::Object(map) => {
            for (name, item) in map {
                let inner = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if let Some(message) = crate::validation::control_character("", name) {
                    errors.add(field(path), format!("An argument's name: {message}"));
                    continue;
                }
                check_text(item, &inner, Some(name), errors);
            }
        }
        _ => {}
    }
}

/// serde's message with its Rust words (`i64`, `struct IdArgs`, `a sequence`) put plainly:
/// "invalid type: string \"x\", expected i64" becomes "Expected a whole number, not a string.".
fn plain_words(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let expected = |rust: &str| -> String {
        let rust = rust.trim();
        match rust {
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
            "f32" | "f64" => "a number".to_owned(),
            "a sequence" | "a sequence of strings" => "an array".to_owned(),
            "a map" => "an object".to_owned(),
            "a borrowed string" | "a character" => "a string".to_owned(),
            "option" | "unit" => "a value or null".to_owned(),
            "a boolean" | "a string" | "a number" => rust.to_owned(),
            s if s.starts_with("struct ") || s.starts_with("tuple struct ") || s.starts_with("enum ") => {
                "an object".to_owned()
            }
            s if s.contains("identifier") => "a known name".to_owned(),
            s if s.starts_with("one of ") || s.starts_with('`') => s.to_owned(),
            _ => "another kind of value".to_owned(),
        }
    };
    let given = |rust: &str| -> String {
        let rust = rust.trim();
        if let Some(n) = rust.strip_prefix("integer ") {
            format!("the number {}", n.trim_matches('`'))
        } else if let Some(n) = rust.strip_prefix("floating point ") {
            format!("the number {}", n.trim_matches('`'))
        } else if rust.starts_with("string ") {
            "a string".to_owned()
        } else if rust.starts_with("boolean ") {
            "a boolean".to_owned()
        } else {
            match rust {
                "sequence" => "an array".to_owned(),
                "map" => "an object".to_owned(),
                "unit value" | "null" => "null".to_owned(),
                _ => "this value".to_owned(),
            }
        }
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, want)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!("Expected {}, not {}.", expected(want), given(got));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let count = rest.split(',').next().unwrap_or("").trim();
        return format!("The wrong number of values ({count}).");
    }
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return format!("The argument {name} is required.");
    }
    if let Some(name) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        let known = message.split_once(", expected ").map_or("", |(_, known)| known);
        return if known.is_empty() || known.contains("no fields") {
            format!("There is no argument {name}.")
        } else {
            format!("There is no argument {name}; expected {known}.")
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, known) = rest.split_once('`').unwrap_or((rest, ""));
        let known = known.trim_start_matches(", expected ");
        return format!("{name} is not one of the choices; expected {known}.");
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        return format!("The argument {} is given twice.", rest.split('`').next().unwrap_or(""));
    }
    // The project's own messages (FromStr of a newtype) are already plain.
    message.to_owned()
}

/// The arguments of a method that takes only an `id`: the customer's (getUsername,
/// listRoles, getSettings, getIpAddresses, getDetailedIpAddresses) or the object's it names
/// (revokeKey, deleteKeyACL, destroyFTPUser).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArgs {
    /// The customer, or the object the method names.
    pub id: i64,
}

/// An `InvalidArguments` error on one argument.
pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    AppError::Invalid(errors)
}

/// A method's answer: `{"result": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reply<T> {
    pub result: T,
}

impl<T> Reply<T> {
    pub fn new(result: T) -> Self {
        Self { result }
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        ([(header::CACHE_CONTROL, "no-store")], axum::Json(self)).into_response()
    }
}

/// The answer of a method that changes something and has nothing else to tell:
/// `{"result": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always `true`: the change is made.
    pub result: bool,
}

impl Done {
    pub const YES: Done = Done { result: true };
}

impl IntoResponse for Done {
    fn into_response(self) -> Response {
        Reply::new(self.result).into_response()
    }
}

/// `{"error": {"type", "message", "fields"}}`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `InvalidArguments`, `BadRequest`, `Unauthorized`, `Forbidden`, `NotFound`,
    /// `MethodNotAllowed`, `Conflict`, `PayloadTooLarge`, `UnsupportedMediaType`,
    /// `TooManyRequests`, `Unavailable` or `InternalError`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// For `InvalidArguments`: a message per argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

impl ErrorBody {
    pub fn new(kind: &str, message: String, fields: Option<FieldErrors>) -> Self {
        Self {
            error: ErrorDetail {
                kind: kind.to_owned(),
                message,
                fields: fields.map(|f| f.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()),
            },
        }
    }
}

/// The `type` of an error by its status.
pub fn error_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        StatusCode::UNPROCESSABLE_ENTITY => "InvalidArguments",
        StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        s if s.is_server_error() => "InternalError",
        _ => "Refused",
    }
}

/// The error answers every method may give, for the OpenAPI document.
pub struct ApiErrors;

impl utoipa::IntoResponses for ApiErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        [
            ("400", "The body is not JSON (BadRequest), with the parser's position."),
            (
                "401",
                "No key, an unknown or revoked key, or a key of a cancelled account (Unauthorized).",
            ),
            (
                "403",
                "The client address is outside the key's ACLs, a read-only key called a method that changes \
                 something, or a customer key passed an argument reserved to internal keys (Forbidden).",
            ),
            ("404", "No such object, or it is not this customer's (NotFound)."),
            (
                "409",
                "The object cannot change in its state, such as a revoked key; the pool is empty or the \
                 customer holds their quota of addresses (Conflict).",
            ),
            ("413", "The body is too large (PayloadTooLarge)."),
            ("415", "The body is not application/json (UnsupportedMediaType)."),
            (
                "422",
                "An argument is invalid (a control character in text included), or the arguments are not \
                 a JSON object; `fields` says which and why (InvalidArguments).",
            ),
            (
                "429",
                "Too many requests with this key; see Retry-After (TooManyRequests).",
            ),
            ("503", "The service is busy; try again shortly (Unavailable)."),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}
