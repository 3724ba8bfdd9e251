//! IP addresses (`/addresses`, `/addresses/{address}/reverse`, `/addresses/{address}/free`):
//! addIpAddress, getIpAddresses, getDetailedIpAddresses, freeIpAddress, and the reverse DNS
//! name of an address the customer holds.

pub mod api;
pub mod model;

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_htmx::HxRequest;
use serde::Deserialize;

use crate::settings::model::Preferences;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, PathId, SignedIn, render};
use crate::{page, settings};
use model::{Family, Held, Refused, ReverseName};

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
    async fn load(state: &AppState, me: &SignedIn, failed: Option<Failed>) -> Result<Self, AppError> {
        let prefs = Preferences::from_values(&settings::model::load(&state.pool, me.id()).await?);
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
    htmx: bool,
    outcome: Result<String, Failed>,
) -> Result<Response, AppError> {
    let block = async |failed| AddressesPage::load(state, me, failed).await;
    let page = async |failed| AddressesPage::load(state, me, Some(failed)).await;
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    crate::web::respond(me, htmx, "/addresses", status, outcome, block, page).await
}

async fn index(State(state): State<AppState>, HxRequest(htmx): HxRequest, me: SignedIn) -> Result<Response, AppError> {
    render(
        htmx,
        StatusCode::OK,
        &AddressesPage::load(&state, &me, None).await?,
        None,
    )
}

const NOT_AN_ADDRESS: &str = "That is not an IP address.";

/// Why an address could not be taken, as the page and the API say it.
fn not_taken(refused: &Refused, family: Family) -> String {
    match refused {
        Refused::NotFree => "That address is not a free address of the pool.".to_owned(),
        Refused::OverQuota { held, quota } => format!(
            "You hold {held} of your {quota} {} addresses; free one first, or ask support for a larger quota.",
            family.label()
        ),
        _ => format!(
            "No free {} address is left in the pool. Try the other kind, or ask support to add addresses.",
            family.label()
        ),
    }
}

/// Why an attached address cannot be freed, as the page and the API say it.
fn attached(address: IpAddr, holder: &str) -> String {
    format!("{address} cannot be freed: it is attached to {holder}.")
}

#[derive(Deserialize)]
struct AddInput {
    #[serde(default)]
    family: String,
    /// `role: internal`: refused on this page (see `add`).
    #[serde(default)]
    address: String,
}

async fn add(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    Form(input): Form<AddInput>,
) -> Result<Response, AppError> {
    // Naming a specific pool address is a `role: internal` power: never on a customer's
    // page, impersonating or not (an internal API key may, for any customer).
    if !input.address.trim().is_empty() {
        return Err(AppError::Forbidden(
            "a specific address is chosen only with an internal API key",
        ));
    }
    let failed = |message: &str| {
        let mut errors = FieldErrors::default();
        errors.add("family", message);
        Err(Failed::Add(FormState::failed(&[("family", &input.family)], errors)))
    };
    let Some(family) = Family::parse(&input.family) else {
        return respond(&state, &me, htmx, failed("Choose IPv4 or IPv6.")).await;
    };
    let mut tx = state.pool.begin().await?;
    let outcome = match model::add(&mut tx, me.id(), &me.actor(), family, None, Some(ip)).await? {
        Ok(address) => {
            tx.commit().await?;
            Ok(format!("{address} is yours."))
        }
        Err(refused) => {
            // Before the page is rendered: the transaction holds the customer's row lock
            // (`model::add`), which parallel requests wait for.
            tx.rollback().await?;
            failed(&not_taken(&refused, family))
        }
    };
    respond(&state, &me, htmx, outcome).await
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
    PathId(address): PathId<IpAddr>,
    Form(input): Form<ReverseInput>,
) -> Result<Response, AppError> {
    model::one(&state.pool, me.id(), address)
        .await?
        .ok_or(AppError::NotFound)?;
    let name = match input.reverse_dns.parse::<ReverseName>() {
        Ok(name) => name,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("reverse_dns", message);
            let form = FormState::failed(&[("reverse_dns", &input.reverse_dns)], errors);
            return respond(&state, &me, htmx, Err(Failed::Reverse(address, form))).await;
        }
    };
    let mut tx = state.pool.begin().await?;
    model::set_reverse_dns(&mut tx, me.id(), &me.actor(), address, &name, Some(ip))
        .await?
        .map_err(|_| AppError::NotFound)?;
    tx.commit().await?;
    let message = match name.ascii() {
        Some(host) => format!("The reverse DNS name of {address} is now {host}."),
        None => format!("{address} has no reverse DNS name now."),
    };
    respond(&state, &me, htmx, Ok(message)).await
}

async fn free(
    State(state): State<AppState>,
    HxRequest(htmx): HxRequest,
    ClientIp(ip): ClientIp,
    me: SignedIn,
    PathId(address): PathId<IpAddr>,
) -> Result<Response, AppError> {
    let mut tx = state.pool.begin().await?;
    match model::free(&mut tx, me.id(), &me.actor(), address, Some(ip)).await? {
        Ok(()) => tx.commit().await?,
        Err(Refused::Attached(holder)) => return Err(AppError::Conflict(attached(address, &holder))),
        Err(_) => return Err(AppError::NotFound),
    }
    respond(&state, &me, htmx, Ok(format!("{address} went back to the pool."))).await
}
