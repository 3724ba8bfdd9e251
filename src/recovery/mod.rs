//! Account recovery (issue 16): "Forgot password?" (`/password-reset`; the emailed link
//! `/password-reset?token=…` shows the form that posts to `/password-reset/new`), and the
//! undo of an email change (`/email-undo?token=…`, the link emailed to the old address).
//! Every page works signed out. A token travels in the query string and in forms, never in
//! the path, which the request log records.

pub mod model;
pub mod ops;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::page;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::{AppError, ClientIp, Form, FormState, Layout, render, session};
use ops::{Links, RecoveryError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password-reset", get(request_or_reset_page).post(request))
        .route("/password-reset/new", post(reset))
        .route("/email-undo", get(undo_page).post(undo))
}

/// The one answer to a reset request, whether or not the account exists.
const SENT: &str = "If that username is an account's, a link to set a new password is on its way to the account's \
                    email address. It works once, for 30 minutes.";

const ASK_AGAIN: &str = "You can ask for a new one on the sign-in page (\"Forgot password?\").";

/// The token of an emailed link (`?token=`), or of the form its page shows.
#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "recovery/request.html", blocks = ["content"])]
struct RequestPage {
    layout: Layout,
    form: FormState,
    /// The answer, once the form was sent.
    message: Option<String>,
}
page!(RequestPage);

#[derive(Template)]
#[template(path = "recovery/reset.html", blocks = ["content"])]
struct ResetPage {
    layout: Layout,
    token: String,
    form: FormState,
}
page!(ResetPage);

#[derive(Template)]
#[template(path = "recovery/undo.html", blocks = ["content"])]
struct UndoPage {
    layout: Layout,
    token: String,
    undo: model::Undo,
}
page!(UndoPage);

#[derive(Template)]
#[template(path = "recovery/message.html", blocks = ["content"])]
struct MessagePage {
    layout: Layout,
    heading: &'static str,
    message: String,
}
page!(MessagePage);

/// The form asking for a link; with a link's token, the form setting the new password.
async fn request_or_reset_page(
    State(state): State<AppState>,
    session: Session,
    Query(Token { token }): Query<Token>,
) -> Result<Response, AppError> {
    let csrf = session::csrf_token(&session).await?;
    if token.is_empty() {
        let page = RequestPage {
            layout: Layout::anonymous(csrf, "Forgot password"),
            form: FormState::default(),
            message: None,
        };
        return render(false, StatusCode::OK, &page, None);
    }
    if !ops::reset_link_works(&state.pool, &state.clock, &token)
        .await
        .map_err(into_app)?
    {
        return dead_link(&session, "Set a new password", ASK_AGAIN).await;
    }
    let page = ResetPage {
        layout: Layout::anonymous(csrf, "Set a new password"),
        token,
        form: FormState::default(),
    };
    render(false, StatusCode::OK, &page, None)
}

#[derive(Deserialize)]
struct RequestInput {
    #[serde(default)]
    username: String,
}

async fn request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Form(input): Form<RequestInput>,
) -> Result<Response, AppError> {
    let layout = Layout::anonymous(session::csrf_token(&session).await?, "Forgot password");
    if input.username.trim().is_empty() {
        let mut errors = FieldErrors::default();
        errors.add("username", "Enter your username.");
        let page = RequestPage {
            layout,
            form: FormState::failed(&[], errors),
            message: None,
        };
        return render(false, StatusCode::UNPROCESSABLE_ENTITY, &page, None);
    }
    let (status, message) = match ops::request_reset(&state.pool, &Links::of(&state), ip, &input.username).await {
        Ok(()) => (StatusCode::OK, SENT.to_owned()),
        Err(RecoveryError::TooMany { wait_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests. Wait {wait_secs} seconds, then try again."),
        ),
        Err(err) => return Err(into_app(err)),
    };
    let page = RequestPage {
        layout,
        form: FormState::default(),
        message: Some(message),
    };
    render(false, status, &page, None)
}

#[derive(Deserialize)]
struct ResetInput {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Form(input): Form<ResetInput>,
) -> Result<Response, AppError> {
    let done = ops::reset_password(
        &state.pool,
        &state.hasher,
        &state.clock,
        ip,
        &input.token,
        &input.password,
        &input.password_confirm,
    )
    .await;
    match done {
        // Not signed in: the sign-in (and its second factor, when one is enrolled) follows.
        Ok(_) => {
            let done = "Your new password is set, and every session was signed out. Sign in with it.";
            session::flash(&session, done).await?;
            Ok(Redirect::to("/login").into_response())
        }
        Err(RecoveryError::LinkInvalid) => dead_link(&session, "Set a new password", ASK_AGAIN).await,
        Err(RecoveryError::Invalid(errors)) => {
            let page = ResetPage {
                layout: Layout::anonymous(session::csrf_token(&session).await?, "Set a new password"),
                token: input.token,
                form: FormState::failed(&[], errors),
            };
            render(false, StatusCode::UNPROCESSABLE_ENTITY, &page, None)
        }
        Err(err) => Err(into_app(err)),
    }
}

async fn undo_page(
    State(state): State<AppState>,
    session: Session,
    Query(Token { token }): Query<Token>,
) -> Result<Response, AppError> {
    let Some(undo) = ops::undo_link(&state.pool, &state.clock, &token)
        .await
        .map_err(into_app)?
    else {
        return dead_link(&session, "Undo an email change", "").await;
    };
    let page = UndoPage {
        layout: Layout::anonymous(session::csrf_token(&session).await?, "Undo an email change"),
        token,
        undo,
    };
    render(false, StatusCode::OK, &page, None)
}

async fn undo(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Form(Token { token }): Form<Token>,
) -> Result<Response, AppError> {
    let undo = match ops::undo_email_change(&state.pool, &state.clock, ip, &token).await {
        Ok(undo) => undo,
        Err(RecoveryError::LinkInvalid) => return dead_link(&session, "Undo an email change", "").await,
        Err(err) => return Err(into_app(err)),
    };
    let page = MessagePage {
        layout: Layout::anonymous(session::csrf_token(&session).await?, "Email change undone"),
        heading: "Email change undone",
        message: format!(
            "The account's email address is {} again, and every session of it was signed out. If someone else \
             changed it, set a new password now: \"Forgot password?\" on the sign-in page.",
            undo.old_email
        ),
    };
    render(false, StatusCode::OK, &page, None)
}

/// A link that no longer works: used, expired or never made.
async fn dead_link(session: &Session, heading: &'static str, what: &str) -> Result<Response, AppError> {
    let page = MessagePage {
        layout: Layout::anonymous(session::csrf_token(session).await?, heading),
        heading,
        message: format!("This link does not work: it was used already, or it expired. {what}"),
    };
    render(false, StatusCode::NOT_FOUND, &page, None)
}

fn into_app(err: RecoveryError) -> AppError {
    match err {
        RecoveryError::Invalid(errors) => AppError::Invalid(errors),
        RecoveryError::LinkInvalid => AppError::NotFound,
        RecoveryError::TooMany { .. } => AppError::Conflict("Too many requests; wait, then try again.".into()),
        RecoveryError::Internal(err) => AppError::Internal(err),
    }
}
