//! The API reference page (`/api/docs`), rendered on the server from the same OpenAPI
//! document `/api/openapi.json` serves: every operation by tag (method, path, summary,
//! parameters, request and response bodies) and every schema, with `$ref`s as links. No
//! script runs, so it reads with JavaScript off and by screen readers like any other page.

use askama::Template;
use utoipa::openapi::path::Operation;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ArrayItems, Schema, SchemaType, Type};
use utoipa::openapi::{Content, OpenApi, RefOr, Required};

use crate::web::Layout;

/// The page, built once when the router is.
#[derive(Template)]
#[template(path = "api/docs.html")]
pub struct Reference {
    pub layout: Layout,
    pub title: String,
    pub version: String,
    /// The document's description, a paragraph per line.
    pub description: Vec<Prose>,
    /// How calls are authorised (the security schemes' descriptions).
    pub auth: Vec<String>,
    pub tags: Vec<TagView>,
    pub schemas: Vec<SchemaView>,
}

pub struct TagView {
    pub name: String,
    pub anchor: String,
    pub operations: Vec<OperationView>,
}

pub struct OperationView {
    pub anchor: String,
    pub method: &'static str,
    pub path: String,
    pub summary: Prose,
    pub description: Prose,
    pub parameters: Vec<FieldView>,
    pub request: Option<BodyView>,
    pub responses: Vec<ResponseView>,
}

/// A request or response body: its media type and its schema.
pub struct BodyView {
    pub media_type: String,
    pub required: bool,
    pub description: Prose,
    pub schema: TypeView,
    /// The fields of an inline object (a referenced schema lists its own).
    pub fields: Vec<FieldView>,
}

pub struct ResponseView {
    pub status: String,
    pub description: Prose,
    pub body: Option<BodyView>,
}

/// A schema under `components`, with its anchor (`schema-NAME`).
pub struct SchemaView {
    pub name: String,
    pub anchor: String,
    pub description: Prose,
    pub schema: TypeView,
    pub fields: Vec<FieldView>,
}

/// One property (nested ones named with dots, array items with `[]`), or one parameter.
pub struct FieldView {
    pub name: String,
    pub required: bool,
    pub schema: TypeView,
    pub description: Prose,
}

/// A type in words, with links to the schemas it names: "array of" + [ApiKey](#schema-ApiKey).
#[derive(Default)]
pub struct TypeView {
    pub parts: Vec<Part>,
}

pub struct Part {
    pub text: String,
    /// The anchor of a named schema.
    pub link: Option<String>,
}

impl TypeView {
    fn text(text: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::text(text)],
        }
    }

    fn push(&mut self, other: TypeView) {
        self.parts.extend(other.parts);
    }
}

impl Part {
    fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            link: None,
        }
    }
}

/// A description, its `backticked` words as code.
#[derive(Default)]
pub struct Prose {
    pub spans: Vec<Span>,
}

pub struct Span {
    pub text: String,
    pub code: bool,
}

impl Prose {
    fn new(text: &str) -> Self {
        let spans = text
            .split('`')
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(n, t)| Span {
                text: t.to_owned(),
                code: n % 2 == 1,
            })
            .collect();
        Self { spans }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// How deep inline objects are unfolded into dotted fields.
const MAX_DEPTH: usize = 4;

impl Reference {
    pub fn new(doc: &OpenApi) -> Self {
        let mut tags: Vec<TagView> = Vec::new();
        for (path, item) in doc.paths.paths.iter() {
            let methods = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (method, operation) in methods {
                let Some(operation) = operation else { continue };
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .cloned()
                    .unwrap_or_else(|| "Other".to_owned());
                let view = operation_view(method, path, operation);
                match tags.iter_mut().find(|t| t.name == tag) {
                    Some(existing) => existing.operations.push(view),
                    None => tags.push(TagView {
                        anchor: format!("tag-{}", anchor(&tag)),
                        name: tag,
                        operations: vec![view],
                    }),
                }
            }
        }
        let components = doc.components.as_ref();
        let schemas = components
            .map(|c| {
                c.schemas
                    .iter()
                    .map(|(name, schema)| {
                        let (schema_view, fields) = unfold(schema);
                        SchemaView {
                            anchor: schema_anchor(name),
                            name: name.clone(),
                            description: description_of(schema),
                            schema: schema_view,
                            fields,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let auth = components
            .map(|c| {
                c.security_schemes
                    .values()
                    .filter_map(|scheme| {
                        let value = serde_json::to_value(scheme).ok()?;
                        let kind = value.get("scheme").and_then(|s| s.as_str()).unwrap_or_default();
                        let description = value.get("description").and_then(|s| s.as_str()).unwrap_or_default();
                        Some(if kind.eq_ignore_ascii_case("bearer") {
                            format!("Authorization: Bearer … ({description})")
                        } else {
                            description.to_owned()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            layout: Layout::anonymous(String::new(), "API reference"),
            title: doc.info.title.clone(),
            version: doc.info.version.clone(),
            description: doc
                .info
                .description
                .as_deref()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Prose::new)
                .collect(),
            auth,
            tags,
            schemas,
        }
    }
}

fn operation_view(method: &'static str, path: &str, operation: &Operation) -> OperationView {
    let id = operation
        .operation_id
        .clone()
        .unwrap_or_else(|| format!("{method} {path}"));
    let parameters = operation
        .parameters
        .iter()
        .flatten()
        .map(|p| {
            let value = serde_json::to_value(p).unwrap_or_default();
            let location = value.get("in").and_then(|v| v.as_str()).unwrap_or_default();
            FieldView {
                name: format!("{} (in {location})", p.name),
                required: matches!(p.required, Required::True),
                schema: p.schema.as_ref().map(type_of).unwrap_or_default(),
                description: Prose::new(p.description.as_deref().unwrap_or_default()),
            }
        })
        .collect();
    let responses = operation
        .responses
        .responses
        .iter()
        .map(|(status, response)| match response {
            RefOr::T(response) => ResponseView {
                status: status.clone(),
                description: Prose::new(&response.description),
                body: response
                    .content
                    .iter()
                    .next()
                    .map(|(media, content)| body_view(media, content, false, "")),
            },
            RefOr::Ref(r) => ResponseView {
                status: status.clone(),
                description: Prose::new(ref_name(&r.ref_location)),
                body: None,
            },
        })
        .collect();
    OperationView {
        anchor: format!("op-{}", anchor(&id)),
        method,
        path: path.to_owned(),
        summary: Prose::new(operation.summary.as_deref().unwrap_or_default()),
        description: Prose::new(operation.description.as_deref().unwrap_or_default()),
        parameters,
        request: operation.request_body.as_ref().and_then(request_view),
        responses,
    }
}

fn request_view(body: &RequestBody) -> Option<BodyView> {
    let (media, content) = body.content.iter().next()?;
    let required = matches!(body.required, Some(Required::True));
    Some(body_view(
        media,
        content,
        required,
        body.description.as_deref().unwrap_or_default(),
    ))
}

fn body_view(media: &str, content: &Content, required: bool, description: &str) -> BodyView {
    let (schema, fields) = content.schema.as_ref().map(unfold).unwrap_or_default();
    BodyView {
        media_type: media.to_owned(),
        required,
        description: Prose::new(description),
        schema,
        fields,
    }
}

/// A schema's type, and the fields of an inline object (or of inline array items).
fn unfold(schema: &RefOr<Schema>) -> (TypeView, Vec<FieldView>) {
    let mut fields = Vec::new();
    if let RefOr::T(schema) = schema {
        collect_fields(schema, "", 0, &mut fields);
    }
    (type_of(schema), fields)
}

fn collect_fields(schema: &Schema, prefix: &str, depth: usize, into: &mut Vec<FieldView>) {
    if depth >= MAX_DEPTH {
        return;
    }
    match schema {
        Schema::Object(object) => {
            for (name, property) in object.properties.iter() {
                let full = format!("{prefix}{name}");
                into.push(FieldView {
                    name: full.clone(),
                    required: object.required.iter().any(|r| r == name),
                    schema: type_of(property),
                    description: description_of(property),
                });
                if let RefOr::T(inner) = property {
                    collect_fields(inner, &format!("{full}."), depth + 1, into);
                }
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &array.items
                && let RefOr::T(inner) = items.as_ref()
            {
                let prefix = format!("{}[].", prefix.trim_end_matches('.'));
                collect_fields(inner, &prefix, depth + 1, into);
            }
        }
        _ => {}
    }
}

/// The type of a schema in words.
fn type_of(schema: &RefOr<Schema>) -> TypeView {
    match schema {
        RefOr::Ref(r) => {
            let name = ref_name(&r.ref_location);
            TypeView {
                parts: vec![Part {
                    text: name.to_owned(),
                    link: Some(schema_anchor(name)),
                }],
            }
        }
        RefOr::T(Schema::Object(object)) => {
            let mut words = type_words(&object.schema_type);
            if let Some(format) = &object.format
                && let Ok(serde_json::Value::String(format)) = serde_json::to_value(format)
            {
                words = format!("{words} ({format})");
            }
            if let Some(values) = &object.enum_values {
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                words = format!("{words}, one of {}", values.join(", "));
            }
            TypeView::text(words)
        }
        RefOr::T(Schema::Array(array)) => {
            let mut view = TypeView::text("array of ");
            match &array.items {
                ArrayItems::RefOrSchema(items) => view.push(type_of(items)),
                ArrayItems::False => view.push(TypeView::text("nothing")),
            }
            if matches!(&array.schema_type, SchemaType::Array(types) if types.contains(&Type::Null)) {
                view.push(TypeView::text(", or null"));
            }
            view
        }
        RefOr::T(Schema::OneOf(one)) => choice("one of", &one.items),
        RefOr::T(Schema::AnyOf(any)) => choice("any of", &any.items),
        RefOr::T(Schema::AllOf(all)) => choice("all of", &all.items),
        RefOr::T(_) => TypeView::text("any value"),
    }
}

fn choice(words: &str, items: &[RefOr<Schema>]) -> TypeView {
    let mut view = TypeView::text(format!("{words}: "));
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            view.push(TypeView::text(" | "));
        }
        view.push(type_of(item));
    }
    view
}

fn type_words(schema_type: &SchemaType) -> String {
    let word = |t: &Type| match t {
        Type::Object => "object",
        Type::String => "string",
        Type::Integer => "integer",
        Type::Number => "number",
        Type::Boolean => "boolean",
        Type::Array => "array",
        Type::Null => "null",
    };
    match schema_type {
        SchemaType::Type(t) => word(t).to_owned(),
        SchemaType::Array(types) => types.iter().map(word).collect::<Vec<_>>().join(" or "),
        SchemaType::AnyValue => "any value".to_owned(),
    }
}

fn description_of(schema: &RefOr<Schema>) -> Prose {
    let RefOr::T(schema) = schema else {
        return Prose::default();
    };
    let description = match schema {
        Schema::Object(o) => o.description.as_deref(),
        Schema::Array(a) => a.description.as_deref(),
        Schema::OneOf(o) => o.description.as_deref(),
        Schema::AllOf(a) => a.description.as_deref(),
        Schema::AnyOf(a) => a.description.as_deref(),
        _ => None,
    };
    Prose::new(description.unwrap_or_default())
}

/// `#/components/schemas/ApiKey` -> `ApiKey`.
fn ref_name(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

fn schema_anchor(name: &str) -> String {
    format!("schema-{}", anchor(name))
}

/// An id attribute's value: letters, digits, `-` and `_`; anything else becomes `-`.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_id_safe() {
        assert_eq!(anchor("API keys"), "API-keys");
        assert_eq!(schema_anchor("Reply_ApiKey"), "schema-Reply_ApiKey");
        assert_eq!(ref_name("#/components/schemas/ApiKey"), "ApiKey");
    }

    #[test]
    fn backticked_words_are_code() {
        let prose = Prose::new("as `POST /api/Customer/{method}`, answering `{}`.");
        let spans: Vec<(&str, bool)> = prose.spans.iter().map(|s| (s.text.as_str(), s.code)).collect();
        assert_eq!(
            spans,
            [
                ("as ", false),
                ("POST /api/Customer/{method}", true),
                (", answering ", false),
                ("{}", true),
                (".", false)
            ]
        );
        assert!(Prose::new("").is_empty());
    }
}
