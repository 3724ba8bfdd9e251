//! IP addresses (`/addresses`, `/addresses/{address}/reverse`, `/addresses/{address}/free`):
//! addIpAddress, getIpAddresses, getDetailedIpAddresses, freeIpAddress, and the reverse DNS
//! name of an address the customer holds.

pub mod api;
pub mod model;
pub mod ops;

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::page;
use crate::settings::Current;
use crate::state::AppState;
use crate::validation::{FieldErrors, Names};
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, SignedIn, render};
use model::Held;
use ops::{AddInput, AddressError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/addresses", get(index).post(add))
        .route("/addresses/{address}/reverse", post(set_reverse_dns))
        .route("/addresses/{address}/free", post(free))
}

pub struct Row {
    pub held: Held,
    pub allocated: String,
    pub form: FormState,
}

impl Row {
    /// What freeing the address does, and what goes with it.
    pub fn free_consequence(&self) -> String {
        let reverse = match self.held.reverse_dns.as_deref() {
            Some(_) => format!(
                " Its reverse DNS name {} goes with it.",
                self.held.reverse_dns_unicode()
            ),
            None => String::new(),
        };
        format!(
            "{} goes back to the pool and may be given to another customer; getting it back is not guaranteed.{reverse}",
            self.held.address
        )
    }
}

#[derive(Template)]
#[template(path = "addresses/index.html", blocks = ["content"])]
struct AddressesPage {
    layout: Layout,
    rows: Vec<Row>,
    add_form: FormState,
    /// (held, quota) of IPv4 and of IPv6 addresses.
    ipv4: (usize, i32),
    ipv6: (usize, i32),
}
page!(AddressesPage);

/// Which form failed, with what was typed.
enum Failed {
    Add(FormState),
    Reverse(IpAddr, FormState),
}

impl AddressesPage {
    async fn load(
        state: &AppState,
        me: &SignedIn,
        settings: &Current,
        failed: Option<Failed>,
    ) -> Result<Self, AppError> {
        let prefs = settings.preferences();
        let (mut add_form, mut reverse) = (FormState::default(), None);
        match failed {
            Some(Failed::Add(form)) => add_form = form,
            Some(Failed::Reverse(address, form)) => reverse = Some((address, form)),
            None => {}
        }
        let rows = model::held(&state.pool, me.id())
            .await?
            .into_iter()
            .map(|held| Row {
                allocated: held.allocated_at.map(|at| prefs.format(at)).unwrap_or_default(),
                form: match &reverse {
                    Some((address, form)) if *address == held.address => form.clone(),
                    _ => FormState::failed(&[("reverse_dns", &held.reverse_dns_unicode())], FieldErrors::default()),
                },
                held,
            })
            .collect();
        let (quota_v4, quota_v6) = model::quotas(&state.pool, me.id()).await?.unwrap_or_default();
        let rows: Vec<Row> = rows;
        let v4 = rows.iter().filter(|r| r.held.address.is_ipv4()).count();
        Ok(Self {
            layout: Layout::new(me, "addresses", "IP addresses").await?,
            ipv4: (v4, quota_v4),
            ipv6: (rows.len() - v4, quota_v6),
            rows,
            add_form,
        })
    }
}

/// The answer to a form on the addresses page, through [`crate::web::respond`]: the page
/// is its own block.
async fn respond(
    state: &AppState,
    me: &SignedIn,
    settings: &Current,
    htmx: bool,
    outcome: Result<String, Failed>,
) -> Result<Response, AppError> {
    let block = async |failed| AddressesPage::load(state, me, settings, failed).await;
    let page = async |failed| AddressesPage::load(state, me, settings, Some(failed)).await;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    crate::web::respond(me, htmx, "/addresses", status, outcome, block, page).await
}

async fn index(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    me: SignedIn,
    settings: Current,
) -> Result<Response, AppError> {
    let page = AddressesPage::load(&state, &me, &settings, None).await?;
    render(htmx, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    family: Option<String>,
    /// `role: internal`: refused on this page (see `ops::add_address`).
    #[serde(default)]
    address: Option<String>,
    /// The page's one-time token: a double submit takes one address (see `web::once`).
    #[serde(default)]
    form_token: Option<String>,
}

async fn add(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    let typed = form.family.clone().unwrap_or_default();
    let input = AddInput {
        family: form.family,
        address: form.address,
        internal: false,
        once: crate::web::once::sent(form.form_token.as_deref()),
    };
    let failed = |errors: FieldErrors| Err(Failed::Add(FormState::failed(&[("family", &typed)], errors)));
    let outcome = match ops::add_address(&state.pool, &me.who(ip), input).await {
        Ok(address) => Ok(format!("{address} is yours.")),
        Err(AddressError::Repeated) => Ok(crate::web::once::REPEATED.to_owned()),
        Err(AddressError::Invalid(invalid)) => failed(invalid.errors(Names::Form)),
        // The pool or the quota: said on the form, about the family asked for.
        Err(err) if err.unavailable().is_some() => {
            let mut errors = FieldErrors::default();
            errors.add("family", err.unavailable().unwrap_or_default());
            failed(errors)
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, &settings, htmx, outcome).await
}

#[derive(Deserialize)]
struct ReverseInput {
    #[serde(default)]
    reverse_dns: String,
}

async fn set_reverse_dns(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(address): PathId<IpAddr>,
    Form(input): Form<ReverseInput>,
) -> Result<Response, AppError> {
    let outcome = match ops::set_reverse_dns(&state.pool, &me.who(ip), address, &input.reverse_dns).await {
        Ok(name) => Ok(match name.ascii() {
            Some(host) => format!("The reverse DNS name of {address} is now {host}."),
            None => format!("{address} has no reverse DNS name now."),
        }),
        Err(AddressError::Invalid(invalid)) => {
            let form = FormState::failed(&[("reverse_dns", &input.reverse_dns)], invalid.errors(Names::Form));
            Err(Failed::Reverse(address, form))
        }
        Err(err) => return Err(err.into_app(Names::Form)),
    };
    respond(&state, &me, &settings, htmx, outcome).await
}

async fn free(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    settings: Current,
    PathId(address): PathId<IpAddr>,
) -> Result<Response, AppError> {
    ops::free_address(&state.pool, &me.who(ip), address)
        .await
        .map_err(|err| err.into_app(Names::Form))?;
    let message = format!("{address} went back to the pool.");
    respond(&state, &me, &settings, htmx, Ok(message)).await
}
