//! DNS (`/sites/{id}/records`, `/dns-records/{id}`, `/dns-records/{id}/edit`,
//! `/dns-records/{id}/delete`): the records of a site's zones, added, changed and deleted on
//! the site page, and answered by PowerDNS through the `pdns` views (`pdns.rs`, the
//! migration `…_dns.sql`).
//!
//! The records section (`dns/_records.html`) is the same on the site page and on the
//! site's DNS page; htmx swaps the whole section after each change. Without JavaScript, a
//! change lands back on the site page, and a form with a mistake on the DNS page, at 422.

pub mod model;
pub mod ops;
pub mod pdns;
pub mod rdata;
pub mod verify;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::page;
use crate::sites::model::{Detail, SiteId};
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, SignedIn, render};
use model::RecordId;
use ops::{DnsError, RecordInput, Shown};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sites/{id}/records", get(index).post(add))
        .route("/dns-records/{id}", post(update))
        .route("/dns-records/{id}/edit", get(edit_form))
        .route("/dns-records/{id}/delete", post(delete))
        .route("/sites/{id}/verify", post(verify_zones))
}

/// The records section: the site, and which form shows what.
pub struct Section {
    detail: Detail,
    csrf: String,
    /// The add form's one-time token (see `web::once`).
    once: String,
    add: FormState,
    /// The record whose edit form is open (0: none), and that form.
    open: i64,
    edit: FormState,
}

impl Section {
    async fn load(state: &AppState, me: &SignedIn, ip: std::net::IpAddr, site: SiteId) -> Result<Self, AppError> {
        let detail = crate::sites::ops::detail(&state.pool, &me.who(ip), site)
            .await
            .map_err(|err| err.into_app(crate::validation::Names::Form))?;
        Ok(Self {
            detail,
            csrf: me.csrf.clone(),
            once: crate::web::once::token(),
            add: FormState::default(),
            open: 0,
            edit: FormState::default(),
        })
    }

    fn with(mut self, failed: Option<Failed>) -> Self {
        match failed {
            Some(Failed::Add(form)) => self.add = form,
            Some(Failed::Edit(id, form)) => {
                self.open = id.0;
                self.edit = form;
            }
            None => {}
        }
        self
    }

    fn block(self) -> RecordsBlock {
        RecordsBlock {
            dns_csrf: self.csrf,
            dns_once: self.once,
            dns_form: self.add,
            dns_open: self.open,
            dns_edit: self.edit,
            detail: self.detail,
        }
    }

    async fn page(self, me: &SignedIn) -> Result<RecordsPage, AppError> {
        Ok(RecordsPage {
            layout: Layout::new(me, "sites", format!("DNS records of {}", self.detail.site.name)).await?,
            dns_csrf: self.csrf,
            dns_once: self.once,
            dns_form: self.add,
            dns_open: self.open,
            dns_edit: self.edit,
            detail: self.detail,
        })
    }
}

/// A form that failed: the add form, or a record's edit form.
pub enum Failed {
    Add(FormState),
    Edit(RecordId, FormState),
}

#[derive(Template)]
#[template(path = "dns/_records.html")]
struct RecordsBlock {
    detail: Detail,
    dns_csrf: String,
    dns_once: String,
    dns_form: FormState,
    dns_open: i64,
    dns_edit: FormState,
}

/// An htmx change answers with the section alone.
impl crate::web::Page for RecordsBlock {
    fn content(&self) -> askama::Result<String> {
        self.render()
    }
}

#[derive(Template)]
#[template(path = "dns/index.html", blocks = ["content"])]
struct RecordsPage {
    layout: Layout,
    detail: Detail,
    dns_csrf: String,
    dns_once: String,
    dns_form: FormState,
    dns_open: i64,
    dns_edit: FormState,
}
page!(RecordsPage);

/// The site's DNS page; for htmx, its records section (a form's "Cancel").
async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(site): PathId<SiteId>,
) -> Result<Response, AppError> {
    let section = Section::load(&state, &me, ip, site).await?;
    if htmx {
        return render(true, StatusCode::OK, &section.block(), None);
    }
    render(false, StatusCode::OK, &section.page(&me).await?, None)
}

/// A record's fields as typed.
#[derive(Deserialize, Default)]
struct RecordForm {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<String>,
    ttl: Option<String>,
    /// The add form's one-time token: sent twice, one record (see `web::once`).
    #[serde(default)]
    form_token: Option<String>,
}

impl From<RecordForm> for RecordInput {
    fn from(form: RecordForm) -> Self {
        Self {
            name: form.name,
            kind: form.kind,
            value: form.value,
            ttl: form.ttl,
        }
    }
}

/// The form again with what was typed and the errors.
fn failed_form(shown: &Shown, errors: FieldErrors) -> FormState {
    FormState::failed(
        &[
            ("name", &shown.name),
            ("type", &shown.kind),
            ("value", &shown.value),
            ("ttl", &shown.ttl),
        ],
        errors,
    )
}

/// The answer to a change of `site`'s records: for htmx the section (with a toast, or at 422
/// with the form's errors); otherwise the site page by redirect, or the DNS page at 422.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    ip: std::net::IpAddr,
    htmx: bool,
    site: SiteId,
    outcome: Result<String, Failed>,
) -> Result<Response, AppError> {
    let back = format!("/sites/{site}#dns");
    let block = async |failed: Option<Failed>| Ok(Section::load(state, me, ip, site).await?.with(failed).block());
    let page = async |failed: Failed| {
        Section::load(state, me, ip, site)
            .await?
            .with(Some(failed))
            .page(me)
            .await
    };
    crate::web::respond(me, htmx, &back, StatusCode::UNPROCESSABLE_ENTITY, outcome, block, page).await
}

async fn add(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(site): PathId<SiteId>,
    Form(form): Form<RecordForm>,
) -> Result<Response, AppError> {
    let once = crate::web::once::sent(form.form_token.as_deref());
    let input = RecordInput::from(form);
    let outcome = match ops::add(&state.pool, &me.who(ip), site, &input, once).await {
        Ok(saved) => Ok(format!("Record added: {}.", saved.summary)),
        Err(DnsError::Repeated) => Ok(crate::web::once::REPEATED.to_owned()),
        Err(DnsError::Invalid(invalid)) => Err(Failed::Add(failed_form(
            &input.shown(None),
            invalid.errors(Names::Form),
        ))),
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, ip, htmx, site, outcome).await
}

/// A record's edit form, open in its row: the section for htmx, the DNS page otherwise.
async fn edit_form(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<RecordId>,
) -> Result<Response, AppError> {
    let record = ops::record(&state.pool, &me.who(ip), id)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let form = failed_form(&RecordInput::default().shown(Some(&record)), FieldErrors::default());
    let section = Section::load(&state, &me, ip, record.site_id)
        .await?
        .with(Some(Failed::Edit(id, form)));
    if htmx {
        return render(true, StatusCode::OK, &section.block(), None);
    }
    render(false, StatusCode::OK, &section.page(&me).await?, None)
}

async fn update(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<RecordId>,
    Form(form): Form<RecordForm>,
) -> Result<Response, AppError> {
    let input = RecordInput::from(form);
    let who = me.who(ip);
    let (site, outcome) = match ops::update(&state.pool, &who, id, &input).await {
        Ok(saved) if saved.changed => (saved.site, Ok(format!("Record saved: {}.", saved.summary))),
        Ok(saved) => (saved.site, Ok(format!("Nothing changed: {}.", saved.summary))),
        Err(DnsError::Invalid(invalid)) => {
            let current = ops::record(&state.pool, &who, id)
                .await
                .map_err(|err| err.into_app(Names::Form))?;
            let form = failed_form(&input.shown(Some(&current)), invalid.errors(Names::Form));
            (current.site_id, Err(Failed::Edit(id, form)))
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, ip, htmx, site, outcome).await
}

async fn delete(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(id): PathId<RecordId>,
) -> Result<Response, AppError> {
    let saved = ops::delete(&state.pool, &me.who(ip), id)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let outcome: Result<String, Failed> = Ok(format!("Record deleted: {}.", saved.summary));
    respond(&state, &me, ip, htmx, saved.site, outcome).await
}

/// "Check now": looks up the site's `_berth-verify` records through `/etc/resolv.conf`.
async fn verify_zones(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(site): PathId<SiteId>,
) -> Result<Response, AppError> {
    let message = match verify::system_resolver() {
        Ok(resolver) => ops::verify(&state.pool, &me.who(ip), site, &resolver)
            .await
            .map_err(|err| err.into_app(Names::Form))?
            .message(),
        Err(err) => {
            // The site must still be the customer's before anything is said.
            Section::load(&state, &me, ip, site).await?;
            tracing::warn!(%err, "DNS verification has no resolver");
            "The platform cannot look up DNS records right now; try again later.".to_owned()
        }
    };
    let outcome: Result<String, Failed> = Ok(message);
    respond(&state, &me, ip, htmx, site, outcome).await
}
