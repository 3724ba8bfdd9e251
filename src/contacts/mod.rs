//! Contacts (`/contacts`, `/contacts/{id}/delete`, `/contacts/{id}/methods`,
//! `/contact-methods/{id}/delete`, `/contact-methods/{id}/notices`,
//! `/contact-method-notices/{id}/delete`): createContact, destroyContact,
//! createContactMethod, destroyContactMethod, createContactMethodNotice,
//! destroyContactMethodNotice, listContacts, listContactMethods, listContactNoticeTypes.
//!
//! One page shows every contact as a block (`contacts/_contact.html`): a grid of its
//! methods (rows) by notice types (columns). Every change to a contact swaps its block in
//! place for htmx; without JavaScript it redirects to the page, or re-renders it at 422.
//! Posting a subscription for a method and type that already has one changes its minimum
//! severity.
//!
//! A webhook's signing secret is shown from when the webhook is added until the customer
//! dismisses it (`/contact-methods/{id}/secret/dismiss`), across the block's other
//! changes. The session keeps only which methods' secrets are still shown, never a secret:
//! each is read where it is kept for signing, and every answer showing one is `no-store`.

pub mod api;
pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;

use crate::notices::model::{NoticeType, SEVERITIES, Severity};
use crate::page;
use crate::state::AppState;
use crate::validation::Names;
use crate::web::once::REPEATED;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, SignedIn, render, see_other};
use model::{Contact, ContactId, Method, MethodId, MethodType, Problems, SubscriptionId};
use ops::{ContactError, MethodInput, SubscriptionInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(index).post(create))
        .route("/contacts/{id}/delete", post(delete))
        .route("/contacts/{id}/methods", post(add_method))
        .route("/contact-methods/{id}/delete", post(delete_method))
        .route("/contact-methods/{id}/notices", post(subscribe))
        .route("/contact-method-notices/{id}/delete", post(unsubscribe))
        .route("/contact-methods/{id}/secret/dismiss", post(dismiss_secret))
}

/// The session's list of webhook methods whose signing secret is still shown.
const SHOWN_SECRETS: &str = "contacts.shown_secrets";

/// A webhook's signing secret, shown in its contact's block until dismissed.
#[derive(Debug, Clone)]
pub struct ShownSecret {
    pub method: MethodId,
    pub secret: String,
}

/// The signing secrets still shown to this session, by contact. Methods deleted since
/// drop out of the session's list.
async fn shown_secrets(state: &AppState, me: &SignedIn) -> Result<Vec<(ContactId, ShownSecret)>, AppError> {
    let listed: Vec<MethodId> = me.session.get(SHOWN_SECRETS).await?.unwrap_or_default();
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let found = model::signing_secrets(&state.pool, me.id(), &listed).await?;
    if found.len() != listed.len() {
        let kept: Vec<MethodId> = found.iter().map(|(_, m, _)| *m).collect();
        me.session.insert(SHOWN_SECRETS, kept).await?;
    }
    Ok(found
        .into_iter()
        .map(|(contact, method, secret)| (contact, ShownSecret { method, secret }))
        .collect())
}

/// Shows `method`'s signing secret from now on, until dismissed.
async fn show_secret(me: &SignedIn, method: MethodId) -> Result<(), AppError> {
    let mut listed: Vec<MethodId> = me.session.get(SHOWN_SECRETS).await?.unwrap_or_default();
    if !listed.contains(&method) {
        listed.push(method);
        me.session.insert(SHOWN_SECRETS, listed).await?;
    }
    Ok(())
}

/// A response that shows a secret is kept by no cache.
fn no_store(mut response: Response, secret_shown: bool) -> Response {
    if secret_shown {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The two catalogues: ways to reach a contact, and the notice types.
struct Catalogues {
    methods: Vec<MethodType>,
    notices: Vec<NoticeType>,
}

impl Catalogues {
    async fn load(state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            methods: model::method_types(&state.pool).await?,
            notices: crate::notices::model::types(&state.pool).await?,
        })
    }
}

/// What a contact's block shows besides the contact itself.
enum Shown {
    /// The add-method form failed.
    AddFailed(FormState),
    /// A subscription form of this method failed.
    SubscribeFailed(MethodId, FormState),
}

/// One cell of the grid: a method and a notice type.
pub struct Cell {
    pub notice_type: String,
    pub label: String,
    pub subscription: Option<SubscriptionId>,
    /// The current minimum severity, or what was typed when the form failed.
    pub severity: String,
    pub error: Option<String>,
    /// The prefix of the ids of the cell's fields.
    pub prefix: String,
}

/// One row of the grid: a method with a cell per notice type.
pub struct Row {
    pub method: Method,
    pub cells: Vec<Cell>,
    /// A subscription form that failed on a notice type that is no column.
    pub stray: Option<FormState>,
}

impl Row {
    /// What deleting the method takes with it: its subscriptions, by notice type.
    pub fn delete_consequence(&self) -> String {
        let types: Vec<&str> = self
            .cells
            .iter()
            .filter(|c| c.subscription.is_some())
            .map(|c| c.label.as_str())
            .collect();
        let reached = format!("{} {} is no longer reached", self.method.label, self.method.target);
        match self.method.subscriptions.len() {
            0 => format!("{reached}; it has no subscriptions."),
            1 => format!("{reached}: its subscription to {} goes with it.", types.join(", ")),
            n => format!("{reached}: its {n} subscriptions go with it ({}).", types.join(", ")),
        }
    }

    pub fn stray_prefix(&self) -> String {
        format!("method-{}-subscribe", self.method.id)
    }
}

/// A contact as its block shows it.
pub struct ContactView {
    pub contact: Contact,
    pub rows: Vec<Row>,
    pub notice_types: Vec<NoticeType>,
    pub method_types: Vec<MethodType>,
    pub severities: &'static [&'static str],
    pub csrf: String,
    /// The add-method form's one-time token (see `web::once`).
    pub once: String,
    pub add_form: FormState,
    /// Signing secrets of its webhooks, shown until dismissed.
    pub secrets: Vec<ShownSecret>,
}

impl ContactView {
    fn new(
        contact: Contact,
        catalogues: &Catalogues,
        csrf: &str,
        shown: Option<Shown>,
        secrets: Vec<ShownSecret>,
    ) -> Self {
        let (add_form, failed) = match shown {
            None => (FormState::default(), None),
            Some(Shown::AddFailed(form)) => (form, None),
            Some(Shown::SubscribeFailed(method, form)) => (FormState::default(), Some((method, form))),
        };
        let rows = contact
            .methods
            .iter()
            .map(|method| {
                let failed = failed.as_ref().filter(|(m, _)| *m == method.id).map(|(_, f)| f);
                let failed_type = failed.map(|f| f.value("notice_type_id"));
                let cells = catalogues
                    .notices
                    .iter()
                    .map(|t| {
                        let subscription = method.subscriptions.iter().find(|s| s.notice_type_id == t.id);
                        let form = failed.filter(|_| failed_type == Some(t.id.as_str()));
                        let stored = subscription.map_or(Severity::Info, |s| s.min_severity).as_str();
                        Cell {
                            notice_type: t.id.clone(),
                            label: t.label.clone(),
                            subscription: subscription.map(|s| s.id),
                            severity: form.map_or(stored, |f| f.value("options[min_severity]")).to_owned(),
                            error: form.and_then(|f| f.error("options[min_severity]")).map(str::to_owned),
                            prefix: format!("cell-{}-{}", method.id, t.id),
                        }
                    })
                    .collect();
                let stray = failed
                    .filter(|_| !catalogues.notices.iter().any(|t| Some(t.id.as_str()) == failed_type))
                    .cloned();
                Row {
                    method: method.clone(),
                    cells,
                    stray,
                }
            })
            .collect();
        Self {
            rows,
            notice_types: catalogues.notices.clone(),
            method_types: catalogues.methods.clone(),
            severities: &SEVERITIES,
            csrf: csrf.to_owned(),
            once: crate::web::once::token(),
            add_form,
            secrets,
            contact,
        }
    }

    /// The address or URL of the method whose secret is shown, to name it.
    pub fn secret_target(&self, shown: &ShownSecret) -> &str {
        self.contact
            .methods
            .iter()
            .find(|m| m.id == shown.method)
            .map_or("", |m| m.target.as_str())
    }

    /// The prefix of the ids of the add-method form's fields.
    pub fn add_prefix(&self) -> String {
        format!("contact-{}-method", self.contact.id)
    }

    /// What deleting the contact takes with it, in words.
    pub fn delete_consequence(&self) -> String {
        let methods = self.contact.methods.len();
        if methods == 0 {
            return format!("{} has no contact methods: only the name goes.", self.contact.name);
        }
        format!(
            "Its {} and {} {} go with it.",
            crate::web::counted(methods, "contact method", "contact methods"),
            if methods == 1 { "its" } else { "their" },
            crate::web::counted(self.contact.subscription_count(), "subscription", "subscriptions")
        )
    }
}

#[derive(Template)]
#[template(path = "contacts/_contact.html")]
struct ContactBlock {
    view: ContactView,
}

/// An htmx change to one contact answers with the contact's block alone.
impl crate::web::Page for ContactBlock {
    fn content(&self) -> askama::Result<String> {
        self.render()
    }
}

#[derive(Template)]
#[template(source = "", ext = "html")]
struct Removed;

impl crate::web::Page for Removed {
    fn content(&self) -> askama::Result<String> {
        Ok(String::new())
    }
}

#[derive(Template)]
#[template(path = "contacts/index.html", blocks = ["content"])]
struct ContactsPage {
    layout: Layout,
    contacts: Vec<ContactView>,
    method_types: Vec<MethodType>,
    notice_types: Vec<NoticeType>,
    form: FormState,
    /// Whether a signing secret is on the page (it is then kept by no cache).
    secret_shown: bool,
}
page!(ContactsPage);

impl ContactsPage {
    /// The page; `shown` goes with one contact's block.
    async fn load(
        state: &AppState,
        me: &SignedIn,
        form: FormState,
        mut shown: Option<(ContactId, Shown)>,
    ) -> Result<Self, AppError> {
        let catalogues = Catalogues::load(state).await?;
        let mut secrets = shown_secrets(state, me).await?;
        let secret_shown = !secrets.is_empty();
        let contacts = model::list(&state.pool, me.id())
            .await?
            .into_iter()
            .map(|contact| {
                let extra = shown.take_if(|(id, _)| *id == contact.id).map(|(_, s)| s);
                let its = secrets
                    .extract_if(.., |(id, _)| *id == contact.id)
                    .map(|(_, s)| s)
                    .collect();
                ContactView::new(contact, &catalogues, &me.csrf, extra, its)
            })
            .collect();
        Ok(Self {
            layout: Layout::new(me, "contacts", "Contacts").await?,
            contacts,
            method_types: catalogues.methods,
            notice_types: catalogues.notices,
            form,
            secret_shown,
        })
    }
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    let page = ContactsPage::load(&state, &me, FormState::default(), None).await?;
    Ok(no_store(render(htmx, StatusCode::OK, &page, None)?, page.secret_shown))
}

#[derive(serde::Deserialize)]
struct CreateInput {
    #[serde(default)]
    name: String,
    /// The page's one-time token: sent twice, one contact (see `web::once`).
    #[serde(default)]
    form_token: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<CreateInput>,
) -> Result<Response, AppError> {
    let once = crate::web::once::sent(input.form_token.as_deref());
    let message = match ops::create_contact(&state.pool, &me.who(ip), &input.name, once).await {
        Ok((_, name)) => format!("Contact {} added.", name.as_str()),
        Err(ContactError::Repeated) => REPEATED.to_owned(),
        Err(err) => {
            let form = FormState::failed(&[("name", &input.name)], problems(err)?.errors(Names::Form));
            let page = ContactsPage::load(&state, &me, form, None).await?;
            return render(htmx, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
        }
    };
    if !htmx {
        return see_other(&me.session, "/contacts", &message).await;
    }
    let page = ContactsPage::load(&state, &me, FormState::default(), None).await?;
    render(true, StatusCode::OK, &page, Some(&message))
}

async fn delete(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(contact): PathId<ContactId>,
) -> Result<Response, AppError> {
    let name = ops::delete_contact(&state.pool, &me.who(ip), contact)
        .await
        .map_err(page_error)?;
    let message = format!("Contact {name} deleted, with its methods and subscriptions.");
    if htmx {
        render(true, StatusCode::OK, &Removed, Some(&message))
    } else {
        see_other(&me.session, "/contacts", &message).await
    }
}

/// A contacts operation's failure as the page tells it: input problems go back to the form;
/// anything else is the page's error.
fn problems(err: ContactError) -> Result<Problems, AppError> {
    match err {
        ContactError::Invalid(problems) => Ok(problems),
        other => Err(page_error(other)),
    }
}

/// A contacts operation's failure where no form is shown again.
fn page_error(err: ContactError) -> AppError {
    match err {
        ContactError::Invalid(problems) => AppError::Invalid(problems.errors(Names::Form)),
        ContactError::NotFound => AppError::NotFound,
        ContactError::Repeated => AppError::Conflict(REPEATED.into()),
        ContactError::Db(err) => err.into(),
    }
}

/// The answer to a change of one contact: for htmx its block (with a toast, or at 422 with
/// the failed form), otherwise the page, by redirect or at 422.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    contact: ContactId,
    outcome: Result<String, Shown>,
) -> Result<Response, AppError> {
    respond_with(state, me, htmx, contact, StatusCode::OK, outcome).await
}

/// [`respond`], with the status of a success answered in place (201 for a new method).
async fn respond_with(
    state: &AppState,
    me: &SignedIn,
    htmx: bool,
    contact: ContactId,
    done: StatusCode,
    outcome: Result<String, Shown>,
) -> Result<Response, AppError> {
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut secret_shown = false;
    let block = async |shown: Option<Shown>| {
        let found = model::contact(&state.pool, me.id(), contact).await?;
        let secrets: Vec<ShownSecret> = shown_secrets(state, me)
            .await?
            .into_iter()
            .filter(|(id, _)| *id == contact)
            .map(|(_, s)| s)
            .collect();
        secret_shown = !secrets.is_empty();
        let view = ContactView::new(
            found.ok_or(AppError::NotFound)?,
            &Catalogues::load(state).await?,
            &me.csrf,
            shown,
            secrets,
        );
        Ok(ContactBlock { view })
    };
    let page = async |shown| ContactsPage::load(state, me, FormState::default(), Some((contact, shown))).await;
    let mut response = crate::web::respond(me, htmx, "/contacts", status, outcome, block, page).await?;
    if response.status() == StatusCode::OK {
        *response.status_mut() = done;
    }
    // A page without htmx is shown by the redirect's GET, which says `no-store` itself.
    Ok(no_store(response, secret_shown))
}

/// The values a form showed, to show them again.
fn typed<'a>(pairs: &'a [(String, String)], names: &[&'static str]) -> Vec<(&'static str, &'a str)> {
    names
        .iter()
        .map(|name| {
            let value = pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
            (*name, value)
        })
        .collect()
}

async fn add_method(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(contact): PathId<ContactId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let fields = ["method_id", "options[address]", "options[number]", "options[url]"];
    let input = MethodInput {
        method: model::form_value(&pairs, "method_id"),
        options: model::form_options(&pairs),
        once: crate::web::once::sent(model::form_value(&pairs, "form_token").as_deref()),
    };
    let added = match ops::add_method(&state.pool, &me.who(ip), contact, input).await {
        Ok(added) => added,
        Err(ContactError::Repeated) => {
            return respond(&state, &me, htmx, contact, Ok(REPEATED.to_owned())).await;
        }
        Err(err) => {
            let form = FormState::failed(&typed(&pairs, &fields), problems(err)?.errors(Names::Form));
            return respond(&state, &me, htmx, contact, Err(Shown::AddFailed(form))).await;
        }
    };
    if added.secret.is_none() {
        return respond(&state, &me, htmx, contact, Ok("Contact method added.".into())).await;
    }
    // The signing secret is shown from now on, on pages that are not kept, until dismissed.
    show_secret(&me, added.id).await?;
    let message = "Webhook added. Copy its signing secret now: once you hide it, it is not shown again.";
    if htmx {
        return respond_with(&state, &me, true, contact, StatusCode::CREATED, Ok(message.into())).await;
    }
    let page = ContactsPage::load(&state, &me, FormState::default(), None).await?;
    Ok(no_store(render(false, StatusCode::CREATED, &page, None)?, true))
}

/// Hides a webhook's signing secret for good: it is not shown again.
async fn dismiss_secret(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    PathId(method): PathId<MethodId>,
) -> Result<Response, AppError> {
    // Another customer's method is not found, whatever this session lists.
    let contact = model::method_contact(&state.pool, me.id(), method)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut listed: Vec<MethodId> = me.session.get(SHOWN_SECRETS).await?.unwrap_or_default();
    if listed.contains(&method) {
        listed.retain(|m| *m != method);
        me.session.insert(SHOWN_SECRETS, listed).await?;
    }
    let message = "Signing secret hidden. It is not shown again; delete the webhook and add it anew for a new one.";
    respond(&state, &me, htmx, contact, Ok(message.to_owned())).await
}

async fn delete_method(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(method): PathId<MethodId>,
) -> Result<Response, AppError> {
    let contact = ops::delete_method(&state.pool, &me.who(ip), method)
        .await
        .map_err(page_error)?;
    let message = "Contact method deleted, with its subscriptions.".to_owned();
    respond(&state, &me, htmx, contact, Ok(message)).await
}

async fn subscribe(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(method): PathId<MethodId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let input = SubscriptionInput {
        notice_type: model::form_value(&pairs, "notice_type_id"),
        options: model::form_options(&pairs),
    };
    let saved = match ops::subscribe(&state.pool, &me.who(ip), method, input).await {
        Ok(saved) => saved,
        Err(err) => {
            let errors = problems(err)?.errors(Names::Form);
            // A method of another customer's contact was not found above, whatever the form said.
            let contact = model::method_contact(&state.pool, me.id(), method)
                .await?
                .ok_or(AppError::NotFound)?;
            let form = FormState::failed(&typed(&pairs, &["notice_type_id", "options[min_severity]"]), errors);
            return respond(&state, &me, htmx, contact, Err(Shown::SubscribeFailed(method, form))).await;
        }
    };
    let catalogues = Catalogues::load(&state).await?;
    let label = catalogues
        .notices
        .iter()
        .find(|t| t.id == saved.notice_type)
        .map_or(saved.notice_type.as_str(), |t| t.label.as_str());
    let message = if saved.subscribed.created {
        format!("Subscribed to {label} from {}.", saved.min_severity)
    } else {
        format!("{label} now from {}.", saved.min_severity)
    };
    respond(&state, &me, htmx, saved.subscribed.contact, Ok(message)).await
}

async fn unsubscribe(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(subscription): PathId<SubscriptionId>,
) -> Result<Response, AppError> {
    let (contact, notice_type) = ops::unsubscribe(&state.pool, &me.who(ip), subscription)
        .await
        .map_err(page_error)?;
    respond(
        &state,
        &me,
        htmx,
        contact,
        Ok(format!("Unsubscribed from {notice_type}.")),
    )
    .await
}
