//! What passkeys decide: the relying party Berth is, the name and number of a customer's
//! passkeys, and each WebAuthn ceremony (adding a passkey, signing in with one alone, or
//! with one as the second factor) from its options to the checked answer. The pages
//! (`passkeys`) and the sign-in (`auth::passkey`) only carry states and answers.

use serde_json::Value;
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use crate::audit;
use crate::identity::{Customer, CustomerId, Who};
use crate::state::{AppState, WebConfig};
use crate::validation::one_line;
use crate::web::AppError;

use super::model::{self, Inserted, Stored};
pub use super::model::{Listed, PasskeyId, count};

/// A customer has at most this many passkeys.
pub const MAX_PASSKEYS: i64 = 20;
/// A passkey's name is at most this long.
pub const MAX_NAME: usize = 60;

/// Why a passkey operation did not happen; each says so in plain words ([`Self::message`]).
#[derive(Debug)]
pub enum PasskeyError {
    /// The name is empty, too long, or another passkey's; or the customer has
    /// [`MAX_PASSKEYS`] already. Told beside the name field.
    Name(String),
    /// No such passkey of this customer.
    NotFound,
    /// Berth does not know the address it is reached at (see [`relying_party`]).
    NoRelyingParty,
    /// The session holds no ceremony to check the answer against: none was started, it
    /// was used already, or it expired.
    NoCeremony,
    /// The browser's answer did not prove a passkey this ceremony allows.
    Refused,
    /// A good passkey of a cancelled account: told so, and where support is (the message,
    /// from `WebConfig::cancelled_message`), as the password sign-in tells it.
    Cancelled(String),
    /// This authenticator's passkey is registered already.
    Duplicate,
    /// A second factor is asked of an account that has no passkey.
    NoPasskeys,
    /// The browser's answer is not a WebAuthn credential in JSON.
    Unreadable,
    /// Too many failed sign-ins: refused for this many more seconds.
    TooMany(i64),
    Internal(AppError),
}

impl From<sqlx::Error> for PasskeyError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<AppError> for PasskeyError {
    fn from(err: AppError) -> Self {
        Self::Internal(err)
    }
}

impl PasskeyError {
    pub fn message(&self) -> String {
        match self {
            Self::Name(message) => message.clone(),
            Self::NotFound => AppError::NotFound.message(),
            Self::NoRelyingParty => {
                "Passkeys work only at Berth's public address (BERTH_PUBLIC_URL), or at http://localhost.".into()
            }
            Self::NoCeremony => "The passkey request expired or was used already; please try again.".into(),
            Self::Refused => "That passkey was not accepted.".into(),
            Self::Cancelled(message) => message.clone(),
            Self::Duplicate => "This passkey is registered already.".into(),
            Self::NoPasskeys => "This account has no passkey.".into(),
            Self::Unreadable => "The browser's answer could not be read; please try again.".into(),
            Self::TooMany(wait_secs) => {
                format!("Too many failed sign-ins. Wait {wait_secs} seconds, then try again.")
            }
            Self::Internal(err) => err.message(),
        }
    }
}

/// Berth as a WebAuthn relying party: its id is the host of `BERTH_PUBLIC_URL`, and
/// answers must come from that URL's origin. Without `BERTH_PUBLIC_URL` (development),
/// Berth is the relying party `localhost` when it is reached as `http://localhost:PORT`
/// (or a name under `.localhost`), as `host` (the request's Host header) says; reached at
/// any other name or at an IP address (which is never a relying party id), there are no
/// passkeys.
pub fn relying_party(web: &WebConfig, host: Option<&str>) -> Result<Webauthn, PasskeyError> {
    let origin = match &web.public_origin {
        Some(origin) => origin.clone(),
        None => {
            let host = host.filter(|h| is_localhost(h)).ok_or(PasskeyError::NoRelyingParty)?;
            format!("http://{}", host.to_ascii_lowercase())
        }
    };
    let url = Url::parse(&origin).map_err(|_| PasskeyError::NoRelyingParty)?;
    let rp_id = url.host_str().ok_or(PasskeyError::NoRelyingParty)?.to_owned();
    WebauthnBuilder::new(&rp_id, &url)
        .and_then(|builder| builder.rp_name("Berth").build())
        .map_err(|err| {
            tracing::warn!(%err, origin, "no passkeys: not a relying party");
            PasskeyError::NoRelyingParty
        })
}

/// `localhost`, `localhost:PORT`, `name.localhost[:PORT]`.
fn is_localhost(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A passkey's name: trimmed, one line, 1 to [`MAX_NAME`] characters.
pub fn parse_name(raw: &str) -> Result<String, PasskeyError> {
    one_line(raw, MAX_NAME, "Name the passkey, for example \"Laptop\" or \"Phone\".").map_err(PasskeyError::Name)
}

/// The customer's passkeys, oldest first.
pub async fn list(state: &AppState, customer: CustomerId) -> Result<Vec<Listed>, PasskeyError> {
    Ok(model::list(&state.pool, customer).await?)
}

/// Starts adding a passkey named `name` to `customer`'s account: the options for
/// `navigator.credentials.create` (as JSON), and the state to finish with. The passkey is
/// made discoverable (a resident key), so it can sign in without a username; an
/// authenticator that holds one of the customer's passkeys already is excluded.
pub async fn start_registration(
    state: &AppState,
    rp: &Webauthn,
    customer: &Customer,
    name: &str,
) -> Result<(Value, PasskeyRegistration, String), PasskeyError> {
    let name = parse_name(name)?;
    check_room(state, customer.id, &name).await?;
    let handle = model::handle(&state.pool, customer.id).await?;
    let existing = model::credentials(&state.pool, customer.id)
        .await?
        .into_iter()
        .map(|p| p.credential.cred_id().clone())
        .collect();
    let display = match customer.display_name.trim() {
        "" => customer.username.as_str(),
        display => display,
    };
    let (options, registration) = rp
        .start_passkey_registration(handle, &customer.username, display, Some(existing))
        .map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    let mut options =
        serde_json::to_value(options).map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    // webauthn-rs asks for no resident key; a password-less sign-in needs one.
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = "required".into();
        selection["requireResidentKey"] = true.into();
    }
    Ok((options, registration, name))
}

/// The name is free and there is room for one more passkey.
async fn check_room(state: &AppState, customer: CustomerId, name: &str) -> Result<(), PasskeyError> {
    if model::count(&state.pool, customer).await? >= MAX_PASSKEYS {
        return Err(PasskeyError::Name(format!(
            "You have {MAX_PASSKEYS} passkeys, the most an account may have; remove one first."
        )));
    }
    if model::name_taken(&state.pool, customer, name, None).await? {
        return Err(PasskeyError::Name("You have a passkey of that name already.".into()));
    }
    Ok(())
}

/// Finishes adding the passkey named `name`: the browser's answer is checked against the
/// registration started in this session, and the passkey is stored and recorded.
pub async fn finish_registration(
    state: &AppState,
    rp: &Webauthn,
    who: &Who,
    name: &str,
    registration: &PasskeyRegistration,
    answer: &RegisterPublicKeyCredential,
) -> Result<PasskeyId, PasskeyError> {
    let passkey = rp.finish_passkey_registration(answer, registration).map_err(|err| {
        tracing::info!(%err, "passkey registration refused");
        PasskeyError::Refused
    })?;
    // Checked again: another tab may have taken the name or the last place meanwhile.
    check_room(state, who.customer, name).await?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let id = match model::insert(&mut *tx, who.customer, name, &passkey, now).await? {
        Inserted::Added(id) => id,
        Inserted::Duplicate => return Err(PasskeyError::Duplicate),
    };
    audit::record(&mut *tx, who, "passkey_added", name).await?;
    tx.commit().await?;
    Ok(id)
}

/// Renames the customer's passkey `id`.
pub async fn rename(state: &AppState, who: &Who, id: PasskeyId, name: &str) -> Result<String, PasskeyError> {
    let name = parse_name(name)?;
    if model::name_taken(&state.pool, who.customer, &name, Some(id)).await? {
        return Err(PasskeyError::Name("You have a passkey of that name already.".into()));
    }
    let mut tx = state.pool.begin().await?;
    let old = model::rename(&mut *tx, who.customer, id, &name)
        .await?
        .ok_or(PasskeyError::NotFound)?;
    audit::record(&mut *tx, who, "passkey_renamed", &format!("{old} → {name}")).await?;
    tx.commit().await?;
    Ok(name)
}

/// Removes the customer's passkey `id`; it signs in no more. Answers its name.
pub async fn remove(state: &AppState, who: &Who, id: PasskeyId) -> Result<String, PasskeyError> {
    let mut tx = state.pool.begin().await?;
    let name = model::remove(&mut *tx, who.customer, id)
        .await?
        .ok_or(PasskeyError::NotFound)?;
    audit::record(&mut *tx, who, "passkey_removed", &name).await?;
    tx.commit().await?;
    Ok(name)
}

/// A passkey that proved itself: whose, and which (for the sign-in's record).
#[derive(Debug)]
pub struct Used {
    pub customer: CustomerId,
    pub name: String,
}

/// Starts a password-less sign-in: options that name no account (the browser offers the
/// passkeys it holds for Berth), so they say nothing about who exists.
pub fn start_sign_in(rp: &Webauthn) -> Result<(Value, DiscoverableAuthentication), PasskeyError> {
    let (options, authentication) = rp
        .start_discoverable_authentication()
        .map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    let options =
        serde_json::to_value(options).map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    Ok((options, authentication))
}

/// Checks a password-less sign-in's answer: the passkey it names must be one of Berth's,
/// of the account its user handle names, and its signature must verify.
pub async fn finish_sign_in(
    state: &AppState,
    rp: &Webauthn,
    authentication: DiscoverableAuthentication,
    answer: &PublicKeyCredential,
) -> Result<Used, PasskeyError> {
    let (handle, credential_id) = rp
        .identify_discoverable_authentication(answer)
        .map_err(|_| PasskeyError::Refused)?;
    let Some(passkey) = model::by_credential(&state.pool, handle, credential_id).await? else {
        tracing::info!("password-less sign-in with an unknown passkey");
        return Err(PasskeyError::Refused);
    };
    let key = DiscoverableKey::from(&passkey.credential);
    let result = rp.finish_discoverable_authentication(answer, authentication, &[key]);
    used(state, passkey, result).await
}

/// Starts the second factor of `customer`'s half-done sign-in: options allowing only their
/// passkeys.
pub async fn start_second_factor(
    state: &AppState,
    rp: &Webauthn,
    customer: CustomerId,
) -> Result<(Value, PasskeyAuthentication), PasskeyError> {
    let passkeys: Vec<_> = model::credentials(&state.pool, customer)
        .await?
        .into_iter()
        .map(|p| p.credential)
        .collect();
    if passkeys.is_empty() {
        return Err(PasskeyError::NoPasskeys);
    }
    let (options, authentication) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    let options =
        serde_json::to_value(options).map_err(|err| PasskeyError::Internal(AppError::Internal(err.into())))?;
    Ok((options, authentication))
}

/// Checks the second factor's answer: one of `customer`'s passkeys, its signature verified.
pub async fn finish_second_factor(
    state: &AppState,
    rp: &Webauthn,
    customer: CustomerId,
    authentication: &PasskeyAuthentication,
    answer: &PublicKeyCredential,
) -> Result<Used, PasskeyError> {
    let passkey = model::credentials(&state.pool, customer)
        .await?
        .into_iter()
        .find(|p| p.credential.cred_id().as_slice() == answer.get_credential_id());
    let Some(passkey) = passkey else {
        return Err(PasskeyError::Refused);
    };
    let result = rp.finish_passkey_authentication(answer, authentication);
    used(state, passkey, result).await
}

/// After a check: on success the passkey's counter and last use are stored.
async fn used(
    state: &AppState,
    mut passkey: Stored,
    result: webauthn_rs::prelude::WebauthnResult<webauthn_rs::prelude::AuthenticationResult>,
) -> Result<Used, PasskeyError> {
    let result = result.map_err(|err| {
        tracing::info!(%err, passkey = %passkey.id, "passkey sign-in refused");
        PasskeyError::Refused
    })?;
    passkey.credential.update_credential(&result);
    let now: OffsetDateTime = state.clock.now();
    model::used(&state.pool, &passkey, now).await?;
    Ok(Used {
        customer: passkey.customer_id,
        name: passkey.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_url_or_localhost() {
        let public = WebConfig::new(Some("https://panel.example.com/berth/"));
        assert!(relying_party(&public, Some("anything:1")).is_ok());
        let dev = WebConfig::new(None);
        assert!(relying_party(&dev, Some("localhost:8080")).is_ok());
        assert!(relying_party(&dev, Some("berth.localhost")).is_ok());
        for host in [
            None,
            Some("127.0.0.1:8080"),
            Some("[::1]:8080"),
            Some("panel.example.com"),
        ] {
            assert!(
                matches!(relying_party(&dev, host), Err(PasskeyError::NoRelyingParty)),
                "{host:?}"
            );
        }
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(parse_name("  Laptop ").unwrap(), "Laptop");
        assert!(parse_name("").is_err());
        assert!(parse_name("a\tb").is_err());
        assert!(parse_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }
}
