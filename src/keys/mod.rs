//! API keys (`/keys`, `/keys/{id}`, `/keys/{id}/revoke`, `/keys/{id}/acls`, `/acls/{id}`,
//! `/acls/{id}/delete`): createKey, getKeys, revokeKey, createKeyACL, updateKeyACL,
//! deleteKeyACL, and the "would this address be allowed?" check on a key's page.
//!
//! A key's block (`keys/_key.html`) is the same on the list and on the key's page; htmx
//! changes to a key swap that block in place. Without JavaScript, a change to one key lands
//! on the key's own page.

pub mod api;
pub mod model;
pub mod ops;

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
use crate::identity::network::{self, Verdict};
use crate::identity::{KeyId, KeyType};
use crate::page;
use crate::settings::Current;
use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::once::REPEATED;
use crate::web::{
    AppError, ClientIp, Form, FormState, Layout, PageQuery, Pager, PathId, SignedIn, render, see_other, session,
};
use model::{Acl, AclId, Key};
use ops::{AclChange, KeyError, NewKeyInput};

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
    /// The ACL add form's one-time token (see `web::once`).
    pub once: String,
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
            once: crate::web::once::token(),
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

    /// What deleting `acl` does: the last one opens the key to every address.
    pub fn acl_consequence(&self, acl: &Acl) -> String {
        if self.key.acls.len() == 1 {
            format!(
                "{} is the key's only ACL: once it goes, {} may be used from any address.",
                acl.network, self.key.name
            )
        } else {
            let others = match self.key.acls.len() - 1 {
                1 => "the key's other ACL stays".to_owned(),
                n => format!("the key's other {n} ACLs stay"),
            };
            format!("Calls from {} are refused once it goes; {others}.", acl.network)
        }
    }

    /// What revoking the key does, and what goes with it.
    pub fn revoke_consequence(&self) -> String {
        let acls = match self.key.acls.len() {
            0 => String::new(),
            1 => " Its ACL stays listed with it.".to_owned(),
            n => format!(" Its {n} ACLs stay listed with it."),
        };
        format!(
            "Scripts using {} stop working at once, and it can never be used again. It stays listed, marked revoked.{acls}",
            self.key.name
        )
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
    /// The create form's one-time token (the page's, see `web::once`).
    form_token: String,
    /// For the API's arguments that name the customer.
    customer_id: CustomerId,
    /// Whether creating a key asks for a two-factor code, or a passkey first (see
    /// [`fresh_check`]).
    code_needed: bool,
    passkey_needed: bool,
}
page!(KeysPage);

/// What creating a key from the panel asks for first (issue 16; the API is unaffected, keys
/// are their own factor): nothing while this session proved its second factor in the last
/// [`session::FRESH_SECS`] (or the customer has none), else a code when an authenticator
/// app is on, else a passkey (`passkeys::confirm`). Staff impersonating proved their own
/// when they started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreshCheck {
    None,
    Code,
    Passkey,
}

async fn fresh_check(state: &AppState, me: &SignedIn) -> Result<FreshCheck, AppError> {
    let Some(auth) = &me.auth else {
        return Ok(FreshCheck::None);
    };
    if session::is_fresh(auth.second_factor_at, state.clock.unix()) {
        return Ok(FreshCheck::None);
    }
    let account = crate::security::model::Account::Customer(me.id());
    let factor = crate::security::ops::second_factor(&state.pool, account).await?;
    Ok(if factor.totp {
        FreshCheck::Code
    } else if factor.passkeys {
        FreshCheck::Passkey
    } else {
        FreshCheck::None
    })
}

impl KeysPage {
    /// The first page, unfiltered, with the create form as `form` left it: what the create
    /// form answers when it is refused or sent twice.
    async fn after_create(
        state: &AppState,
        me: &SignedIn,
        settings: &Current,
        form: FormState,
    ) -> Result<Self, AppError> {
        Self::load(state, me, settings, &TypeFilter::default(), &PageQuery::default(), form).await
    }

    async fn load(
        state: &AppState,
        me: &SignedIn,
        settings: &Current,
        filter: &TypeFilter,
        paging: &PageQuery,
        form: FormState,
    ) -> Result<Self, AppError> {
        let prefs = settings.preferences();
        let kind = filter.kind.as_deref().and_then(KeyType::parse);
        let pager = Pager::new(paging, settings.per_page());
        let (keys, total) = model::list(&state.pool, me.id(), kind, pager.limit(), pager.offset()).await?;
        let check = fresh_check(state, me).await?;
        let layout = Layout::new(me, "keys", "API keys").await?;
        Ok(Self {
            form_token: layout.once.clone(),
            layout,
            keys: keys.into_iter().map(|k| KeyView::new(k, &prefs, &me.csrf)).collect(),
            filter: kind.map_or("", KeyType::as_str),
            types: KeyType::CUSTOMER.iter().map(|t| t.as_str()).collect(),
            pager: pager.counted(total),
            form,
            customer_id: me.id(),
            code_needed: check == FreshCheck::Code,
            passkey_needed: check == FreshCheck::Passkey,
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

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    settings: Current,
    Query(filter): Query<TypeFilter>,
    Query(paging): Query<PageQuery>,
) -> Result<Response, AppError> {
    let page = KeysPage::load(&state, &me, &settings, &filter, &paging, FormState::default()).await?;
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
    /// A fresh two-factor code, when [`code_needed`].
    #[serde(default)]
    code: String,
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
    settings: Current,
    Form(input): Form<CreateInput>,
) -> Result<Response, AppError> {
    let refused = match fresh_check(&state, &me).await? {
        FreshCheck::None => None,
        FreshCheck::Passkey => {
            let mut errors = crate::validation::FieldErrors::default();
            errors.add("passkey", "Confirm with a passkey first; then create the key.");
            Some(errors)
        }
        FreshCheck::Code => {
            let now = state.clock.now();
            let actor = crate::security::ops::Actor::Customer(me.who(ip));
            match crate::security::ops::check(&state.pool, &state.sealer, &actor, &input.code, now).await {
                Ok(_) => {
                    session::second_factor_proven(&me.session, now.unix_timestamp()).await?;
                    None
                }
                Err(err) => Some(crate::security::failed_form(err, "code")?.errors),
            }
        }
    };
    if let Some(errors) = refused {
        let values = [("name", input.name.as_str()), ("type", input.kind.as_str())];
        let form = FormState::failed(&values, errors);
        let page = KeysPage::after_create(&state, &me, &settings, form).await?;
        return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
    }
    let new = NewKeyInput {
        name: input.name.clone(),
        kind: KeyType::parse(&input.kind),
        once: crate::web::once::sent(Some(&input.form_token)),
    };
    let created = match ops::create_key(&state.pool, &me.who(ip), new).await {
        Ok(created) => created,
        Err(KeyError::Invalid(invalid)) => {
            let form = FormState::failed(
                &[("name", &input.name), ("type", &input.kind)],
                invalid.errors(Names::Form),
            );
            let page = KeysPage::after_create(&state, &me, &settings, form).await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
        // Sent twice: the first made the key and showed its secret.
        Err(KeyError::Repeated) if !htmx => {
            return see_other(&me.session, "/keys", &crate::web::once::repeated_key()).await;
        }
        Err(KeyError::Repeated) => {
            let page = KeysPage::after_create(&state, &me, &settings, FormState::default()).await?;
            return render(true, StatusCode::OK, &page, Some(&crate::web::once::repeated_key()));
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    let page = CreatedPage {
        layout: Layout::new(&me, "keys", "New API key").await?,
        id: created.id,
        name: created.name.as_str().to_owned(),
        kind: created.kind.as_str(),
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
    settings: Current,
    PathId(id): PathId<KeyId>,
    Query(query): Query<CheckQuery>,
) -> Result<Response, AppError> {
    let key = load_key(&state, &me, &settings, id).await?;
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

async fn load_key(state: &AppState, me: &SignedIn, settings: &Current, id: KeyId) -> Result<KeyView, AppError> {
    let key = model::key(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
    Ok(KeyView::new(key, &settings.preferences(), &me.csrf))
}

/// The answer to a change of one key: for htmx its block (with a toast, or at 422 with the
/// form's errors); otherwise its page, by redirect or at 422.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    settings: &Current,
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
        let view = load_key(state, me, settings, key).await?;
        Ok(KeyBlock {
            view: match failed {
                Some(failed) => view.failed(failed),
                None => view,
            },
        })
    };
    let page = async |failed: Failed| {
        let view = load_key(state, me, settings, key).await?.failed(failed);
        Ok(KeyPage {
            layout: Layout::new(me, "keys", view.key.name.clone()).await?,
            view,
            check: FormState::default(),
            result: None,
        })
    };
    crate::web::respond(me, htmx, &back, status, outcome, block, page).await
}

async fn revoke(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(key): PathId<KeyId>,
) -> Result<Response, AppError> {
    ops::revoke_key(&state.pool, &me.who(ip), key)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let message = "Key revoked. It can no longer be used.".to_owned();
    respond(&state, &me, &settings, htmx, key, Ok(message)).await
}

#[derive(Deserialize)]
struct AclForm {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    cidr: Option<String>,
    /// The ACL's network as the edit form showed it; the add form has none.
    #[serde(default)]
    version: Option<String>,
    /// The add form's one-time token: sent twice, it adds one ACL (see `web::once`).
    #[serde(default)]
    form_token: Option<String>,
}

async fn add_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(key): PathId<KeyId>,
    Form(input): Form<AclForm>,
) -> Result<Response, AppError> {
    let address = input.address.unwrap_or_default();
    let cidr = input.cidr.unwrap_or_default();
    let typed = ops::AclInput {
        address: address.clone(),
        cidr: cidr.clone(),
    };
    let once = crate::web::once::sent(input.form_token.as_deref());
    let outcome = match ops::add_acl(&state.pool, &me.who(ip), key, typed, once).await {
        Ok(saved) => Ok(saved.message("added")),
        Err(KeyError::Repeated) => Ok(REPEATED.to_owned()),
        Err(KeyError::Invalid(invalid)) => Err(Failed::Add(FormState::failed(
            &[("address", &address), ("cidr", &cidr)],
            invalid.errors(Names::Form),
        ))),
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, &settings, htmx, key, outcome).await
}

async fn update_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(id): PathId<AclId>,
    Form(input): Form<AclForm>,
) -> Result<Response, AppError> {
    let change = AclChange {
        address: input.address.clone(),
        cidr: input.cidr.clone(),
        version: input.version.clone(),
    };
    // The form again with what was typed, a part left out showing the ACL's.
    let form = |current: &Acl, errors: FieldErrors| {
        let address = input.address.clone().unwrap_or_else(|| current.address());
        let cidr = input.cidr.clone().unwrap_or_else(|| current.cidr().to_string());
        FormState::failed(&[("address", &address), ("cidr", &cidr)], errors)
    };
    let (key, outcome) = match ops::update_acl(&state.pool, &me.who(ip), id, change).await {
        Ok(saved) => (saved.acl.key_id, Ok(saved.message("saved"))),
        Err(KeyError::Stale { current }) => {
            let mut errors = FieldErrors::default();
            errors.add("address", ops::changed_meanwhile(&current));
            (current.key_id, Err(Failed::Stale(id, form(&current, errors))))
        }
        Err(KeyError::Invalid(invalid)) => {
            let current = model::acl(&state.pool, me.id(), id).await?.ok_or(AppError::NotFound)?;
            let failed = Failed::Edit(id, form(&current, invalid.errors(Names::Form)));
            (current.key_id, Err(failed))
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, &settings, htmx, key, outcome).await
}

async fn delete_acl(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(id): PathId<AclId>,
) -> Result<Response, AppError> {
    let deleted = ops::delete_acl(&state.pool, &me.who(ip), id)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let message = format!("ACL {} deleted.", deleted.network);
    respond(&state, &me, &settings, htmx, deleted.key_id, Ok(message)).await
}
