//! API keys (`/keys`, `/keys/{id}`, `/keys/{id}/revoke`, `/keys/{id}/acls`, `/acls/{id}`,
//! `/acls/{id}/delete`): createKey, getKeys, revokeKey, createKeyACL, updateKeyACL,
//! deleteKeyACL, and the "would this address be allowed?" check on a key's page.
//!
//! A key's block (`keys/_key.html`) is the same on the list and on the key's page; htmx
//! changes to a key swap that block in place. Without JavaScript, a change to one key lands
//! on the key's own page.

pub mod api;
pub mod model;

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::identity::CustomerId;
use crate::identity::network::{self, AclNetwork, Verdict};
use crate::identity::{KeyId, KeyType};
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render};
use crate::{page, settings};
use model::{Acl, AclId, Key, KeyName, Refused};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(index).post(create))
        .route("/keys/{id}", get(show))
        .route("/keys/{id}/revoke", post(revoke))
        .route("/keys/{id}/acls", post(add_acl))
        .route("/acls/{id}", post(update_acl))
        .route("/acls/{id}/delete", post(delete_acl))
}

/// A key as its block shows it, with the state of its forms.
pub struct KeyView {
    pub key: Key,
    pub created: String,
    pub last_used: String,
    pub revoked: Option<String>,
    pub csrf: String,
    pub add_form: FormState,
    /// The ACL whose edit form failed, with what was typed.
    pub failed_edit: Option<(AclId, FormState)>,
}

/// A form of a key's block that failed, with what was typed and why.
enum Failed {
    Add(FormState),
    Edit(AclId, FormState),
    /// An edit from a form shown before another change of the ACL (409).
    Stale(AclId, FormState),
}

impl KeyView {
    fn new(key: Key, prefs: &Preferences, csrf: &str) -> Self {
        let last_used = match (key.last_used_at, key.last_used_address) {
            (Some(at), Some(address)) => format!("{} from {address}", prefs.format(at)),
            (Some(at), None) => prefs.format(at),
            _ => "never".to_owned(),
        };
        Self {
            created: prefs.format(key.created_at),
            revoked: key.revoked_at.map(|at| prefs.format(at)),
            last_used,
            csrf: csrf.to_owned(),
            add_form: FormState::default(),
            failed_edit: None,
            key,
        }
    }

    fn failed(mut self, failed: Failed) -> Self {
        match failed {
            Failed::Add(form) => self.add_form = form,
            Failed::Edit(acl, form) | Failed::Stale(acl, form) => self.failed_edit = Some((acl, form)),
        }
        self
    }

    /// The prefix of the ids of the add form's fields.
    pub fn add_prefix(&self) -> String {
        format!("key-{}-acl", self.key.id)
    }

    /// The edit form of `acl`: what was typed when it failed, else its current parts.
    pub fn acl_form(&self, acl: &Acl) -> FormState {
        match &self.failed_edit {
            Some((id, form)) if *id == acl.id => form.clone(),
            _ => FormState::failed(
                &[("address", &acl.address()), ("cidr", &acl.cidr().to_string())],
                FieldErrors::default(),
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "keys/_key.html")]
struct KeyBlock {
    view: KeyView,
}

/// An htmx change to one key answers with the key's block alone.
impl crate::web::Page for KeyBlock {
    fn content(&self) -> askama::Result<String> {
        self.render()
    }
}

/// `?type=` of the list (getKeys' optional type).
#[derive(Debug, Default, Deserialize)]
struct TypeFilter {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Template)]
#[template(path = "keys/index.html", blocks = ["content"])]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyView>,
    filter: &'static str,
    types: Vec<&'static str>,
    pager: Pager,
    form: FormState,
    form_token: String,
    /// For the API's arguments that name the customer.
    customer_id: CustomerId,
}
page!(KeysPage);

impl KeysPage {
    async fn load(
        state: &AppState,
        me: &SignedIn,
        filter: &TypeFilter,
        paging: &PageQuery,
        form: FormState,
    ) -> Result<Self, AppError> {
        let values = settings::model::load(&state.pool, me.id()).await?;
        let prefs = Preferences::from_values(&values);
        let kind = filter.kind.as_deref().and_then(KeyType::parse);
        let pager = Pager::new(paging, values.number("items_per_page"));
        let (keys, total) = model::list(&state.pool, me.id(), kind, pager.limit(), pager.offset()).await?;
        Ok(Self {
            layout: Layout::new(me, "keys", "API keys").await?,
            keys: keys.into_iter().map(|k| KeyView::new(k, &prefs, &me.csrf)).collect(),
            filter: kind.map_or("", KeyType::as_str),
            types: KeyType::CUSTOMER.iter().map(|t| t.as_str()).collect(),
            pager: pager.counted(total),
            form,
            form_token: form_token(),
            customer_id: me.id(),
        })
    }

    fn filter_query(&self) -> String {
        if self.filter.is_empty() {
            String::new()
        } else {
            format!("type={}&", self.filter)
        }
    }
}

/// A fresh token for the create form: sending one form twice creates one key.
fn form_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    Query(filter): Query<TypeFilter>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = KeysPage::load(&state, &me, &filter, &paging, FormState::default()).await?;
    render(htmx, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    form_token: String,
}

#[derive(Template)]
#[template(path = "keys/created.html", blocks = ["content"])]
struct CreatedPage {
    layout: Layout,
    id: KeyId,
    name: String,
    kind: &'static str,
    secret: String,
}
page!(CreatedPage);

async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<CreateInput>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.check("name", input.name.parse::<KeyName>());
    let kind = match KeyType::parse(&input.kind) {
        // Internal keys act for any customer and are the platform's: they are made in the
        // staff console under the staff member's own name, never on a customer's page, and
        // impersonation grants no such power (DESIGN §5).
        Some(KeyType::Internal) => {
            return Err(AppError::Forbidden(
                "internal keys are made only in the staff console, under the staff member's own name",
            ));
        }
        Some(kind) => Some(kind),
        None => {
            errors.add("type", "Choose standard or read-only.");
            None
        }
    };
    let token = Some(input.form_token.trim()).filter(|t| !t.is_empty() && t.len() <= 64);
    let failed = |errors: FieldErrors| FormState::failed(&[("name", &input.name), ("type", &input.kind)], errors);
    let (Some(name), Some(kind)) = (name, kind) else {
        let page = KeysPage::load(
            &state,
            &me,
            &TypeFilter::default(),
            &PageQuery::default(),
            failed(errors),
        )
        .await?;
        return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
    };
    let mut tx = state.pool.begin().await?;
    let created = match model::create(&mut tx, me.id(), &me.actor(), &name, kind, token, Some(ip)).await? {
        Ok(created) => created,
        Err(Refused::Repeated) => {
            return Err(AppError::Conflict(
                "This form was already sent and its key created; the secret was shown then and cannot be shown \
                 again. If you did not keep it, revoke that key and create another."
                    .into(),
            ));
        }
        Err(_) => {
            errors.add(
                "name",
                format!(
                    "You have {} active keys, the most allowed. Revoke one you no longer use first.",
                    model::MAX_ACTIVE_KEYS
                ),
            );
            let page = KeysPage::load(
                &state,
                &me,
                &TypeFilter::default(),
                &PageQuery::default(),
                failed(errors),
            )
            .await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
    };
    tx.commit().await?;
    let page = CreatedPage {
        layout: Layout::new(&me, "keys", "New API key").await?,
        id: created.id,
        name: name.as_str().to_owned(),
        kind: kind.as_str(),
        secret: created.secret.expose().to_owned(),
    };
    let mut response = render(htmx, StatusCode::CREATED, &page, Some("API key created."))?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
struct CheckQuery {
    #[serde(default)]
    address: Option<String>,
}

/// The answer of the "would this address be allowed?" check.
pub struct CheckResult {
    pub allowed: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "keys/show.html", blocks = ["content"])]
struct KeyPage {
    layout: Layout,
    view: KeyView,
    check: FormState,
    result: Option<CheckResult>,
}
page!(KeyPage);

fn check(key: &Key, address: &str) -> Result<CheckResult, FieldErrors> {
    let Ok(ip) = address.trim().parse::<IpAddr>() else {
        let mut errors = FieldErrors::default();
        errors.add("address", "Enter an IP address, such as 203.0.113.7 or 2001:db8::7.");
        return Err(errors);
    };
    let (allowed, message) = match (key.revoked(), network::verdict(&key.networks(), ip)) {
        (true, _) => (
            false,
            "Refused: the key is revoked, so no address may use it.".to_owned(),
        ),
        (false, Verdict::Anywhere) => (
            true,
            format!("Allowed: {ip} may use this key; it has no ACLs, so any address may."),
        ),
        (false, Verdict::Matched(net)) => (true, format!("Allowed: {ip} is inside the ACL {net}.")),
        (false, Verdict::Outside) => (false, format!("Refused: {ip} is outside every ACL of this key.")),
    };
    Ok(CheckResult { allowed, message })
}

async fn show(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    PathId(id): PathId<KeyId>,
    Query(query): Query<CheckQuery>,
) -> Result<Response, AppError> {
    let key = load_key(&state, &me, id).await?;
    let (check, result, status) = match query.address.as_deref() {
        None => (FormState::default(), None, StatusCode::OK),
        Some(address) => match check(&key.key, address) {
            Ok(result) => (
                FormState::failed(&[("address", address)], FieldErrors::default()),
                Some(result),
                StatusCode::OK,
            ),
            Err(errors) => (
                FormState::failed(&[("address", address)], errors),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        },
    };
    let page = KeyPage {
        layout: Layout::new(&me, "keys", key.key.name.clone()).await?,
        view: key,
        check,
        result,
    };
    render(htmx, status, &page, None)
}

async fn load_key(state: &AppState, me: &SignedIn, id: KeyId) -> Result<KeyView, AppError> {
    let key = model::key(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let prefs = Preferences::from_values(&settings::model::load(&state.pool, me.id()).await?);
    Ok(KeyView::new(key, &prefs, &me.csrf))
}

/// The answer to a change of one key: for htmx its block (with a toast, or at 422 with the
/// form's errors); otherwise its page, by redirect or at 422.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    key: KeyId,
    outcome: Result<String, Failed>,
) -> Result<Response, AppError> {
    let back = format!("/keys/{key}");
    let status = match outcome {
        Err(Failed::Stale(..)) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let block = async |failed: Option<Failed>| {
        let view = load_key(state, me, key).await?;
        Ok(KeyBlock {
            view: match failed {
                Some(failed) => view.failed(failed),
                None => view,
            },
        })
    };
    let page = async |failed: Failed| {
        let view = load_key(state, me, key).await?.failed(failed);
        Ok(KeyPage {
            layout: Layout::new(me, "keys", view.key.name.clone()).await?,
            view,
            check: FormState::default(),
            result: None,
        })
    };
    crate::web::respond(me, htmx, &back, status, outcome, block, page).await
}

/// Checks, before the form is read, that the key is the customer's (else 404, whatever
/// the form says) and not revoked (else 409: its forms are gone, so field errors could not
/// be shown).
async fn changeable_key(state: &AppState, customer: CustomerId, id: KeyId) -> Result<(), AppError> {
    let key = model::key(&state.pool, customer, id).await?.ok_or(AppError::NotFound)?;
    if key.revoked() {
        return Err(refused(Refused::Revoked));
    }
    Ok(())
}

/// A refusal that is not about one field.
fn refused(refusal: Refused) -> AppError {
    match refusal {
        Refused::NotFound => AppError::NotFound,
        Refused::Revoked => AppError::Conflict("This key is revoked: it cannot be used or changed.".into()),
        other => AppError::Internal(anyhow::anyhow!("unexpected refusal {other:?}")),
    }
}

async fn revoke(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(key): PathId<KeyId>,
) -> Result<Response, AppError> {
    let mut tx = state.pool.begin().await?;
    model::revoke(&mut tx, me.id(), &me.actor(), key, Some(ip))
        .await?
        .map_err(refused)?;
    tx.commit().await?;
    // After the commit: cleared before, a call in between would keep the key as it was.
    crate::identity::key::forget_verified();
    respond(
        &state,
        &me,
        htmx,
        key,
        Ok("Key revoked. It can no longer be used.".into()),
    )
    .await
}

#[derive(Deserialize)]
struct AclInput {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    cidr: Option<String>,
    /// The ACL's network as the edit form showed it; the add form has none.
    #[serde(default)]
    version: Option<String>,
}

/// Where a refused ACL change is told: on its form's `address` field.
fn acl_field_error(refusal: &Refused) -> Option<String> {
    match refusal {
        Refused::Duplicate => Some("This key already has that network.".into()),
        Refused::TooManyAcls => Some(format!(
            "This key has {} ACLs, the most allowed. Delete one, or widen a network to cover more.",
            model::MAX_ACLS
        )),
        _ => None,
    }
}

fn saved_message(verb: &str, acl: &AclNetwork, typed: &str) -> String {
    if acl.cleared {
        format!(
            "ACL {verb}: stored as {} (the host bits of {} were cleared).",
            acl.network,
            typed.trim()
        )
    } else {
        format!("ACL {verb}: {}.", acl.network)
    }
}

async fn add_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(key): PathId<KeyId>,
    Form(input): Form<AclInput>,
) -> Result<Response, AppError> {
    let address = input.address.unwrap_or_default();
    let cidr = input.cidr.unwrap_or_default();
    let fail = |errors| Failed::Add(FormState::failed(&[("address", &address), ("cidr", &cidr)], errors));
    changeable_key(&state, me.id(), key).await?;
    let acl = match AclNetwork::parse(&address, &cidr) {
        Ok(acl) => acl,
        Err(errors) => return respond(&state, &me, htmx, key, Err(fail(errors))).await,
    };
    let mut tx = state.pool.begin().await?;
    match model::add_acl(&mut tx, me.id(), &me.actor(), key, &acl, Some(ip)).await? {
        Ok(_) => {
            tx.commit().await?;
            crate::identity::key::forget_verified();
            respond(&state, &me, htmx, key, Ok(saved_message("added", &acl, &address))).await
        }
        Err(refusal) => {
            drop(tx);
            let Some(message) = acl_field_error(&refusal) else {
                return Err(refused(refusal));
            };
            let mut errors = FieldErrors::default();
            errors.add("address", message);
            respond(&state, &me, htmx, key, Err(fail(errors))).await
        }
    }
}

async fn update_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<AclId>,
    Form(input): Form<AclInput>,
) -> Result<Response, AppError> {
    let shown = model::acl(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    changeable_key(&state, me.id(), shown.key_id).await?;
    // The ACL is read under its key's lock: what the version and a part left out are
    // checked against is what is stored until this change commits.
    let mut tx = state.pool.begin().await?;
    let current = model::lock_acl(&mut tx, me.id(), id).await?.map_err(refused)?;
    let address = input.address.clone().unwrap_or_else(|| current.address());
    let cidr = input.cidr.clone().unwrap_or_else(|| current.cidr().to_string());
    let acl_id = current.id;
    let form = |errors| FormState::failed(&[("address", &address), ("cidr", &cidr)], errors);
    // Changed since this form was shown (another tab or device): say what it holds now,
    // keep what was typed, save nothing.
    if let Some(version) = input.version.as_deref()
        && version.trim().parse::<sqlx::types::ipnetwork::IpNetwork>().ok() != Some(current.network)
    {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add("address", changed_meanwhile(&current));
        return respond(
            &state,
            &me,
            htmx,
            current.key_id,
            Err(Failed::Stale(acl_id, form(errors))),
        )
        .await;
    }
    // A part left out keeps its current value (updateKeyACL's arguments are optional),
    // except a mask when the address changes family.
    let acl = match AclNetwork::change(current.network, input.address.as_deref(), input.cidr.as_deref()) {
        Ok(acl) => acl,
        Err(errors) => {
            drop(tx);
            return respond(
                &state,
                &me,
                htmx,
                current.key_id,
                Err(Failed::Edit(acl_id, form(errors))),
            )
            .await;
        }
    };
    if acl.network == current.network {
        drop(tx);
        let message = format!("Nothing changed: the ACL is {}.", acl.network);
        return respond(&state, &me, htmx, current.key_id, Ok(message)).await;
    }
    match model::update_acl(&mut tx, me.id(), &me.actor(), &current, &acl, Some(ip)).await? {
        Ok(()) => {
            tx.commit().await?;
            crate::identity::key::forget_verified();
            let message = saved_message("saved", &acl, &address);
            respond(&state, &me, htmx, current.key_id, Ok(message)).await
        }
        Err(refusal) => {
            drop(tx);
            let Some(message) = acl_field_error(&refusal) else {
                return Err(refused(refusal));
            };
            let mut errors = FieldErrors::default();
            errors.add("address", message);
            respond(
                &state,
                &me,
                htmx,
                current.key_id,
                Err(Failed::Edit(acl_id, form(errors))),
            )
            .await
        }
    }
}

/// What a stale edit form is told: what the ACL holds now.
fn changed_meanwhile(current: &Acl) -> String {
    format!(
        "This ACL was changed in another tab or device since you opened it: it is now {}. \
         Nothing was saved; save again to replace it with what you typed.",
        current.network
    )
}

async fn delete_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<AclId>,
) -> Result<Response, AppError> {
    let current = model::acl(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    let mut tx = state.pool.begin().await?;
    model::delete_acl(&mut tx, me.id(), &me.actor(), &current, Some(ip))
        .await?
        .map_err(refused)?;
    tx.commit().await?;
    crate::identity::key::forget_verified();
    let message = format!("ACL {} deleted.", current.network);
    respond(&state, &me, htmx, current.key_id, Ok(message)).await
}
