//! The second factor's decisions (issue 16), for customers and staff alike: enrolling a
//! TOTP authenticator (a secret shown once as a QR code and as text, turned on by one code),
//! checking a code (a TOTP code works once, within one step of the clock either way; a
//! recovery code works once), recovery codes (ten, shown once, stored as hashes,
//! regenerable), turning it off (a customer's: password and code), an operator's reset of a
//! staff member's, and sealing the secrets again under a new key.
//!
//! Wrong codes are counted per account wherever a code is checked (the sign-in's second
//! step, fresh checks, turning off): after [`MAX_FAILED_CHECKS`] of them, checks wait
//! [`LOCK_SECS`] from the last one, so six digits cannot be walked through.

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::audit;
use crate::audit::staff::StaffEvent;
use crate::db::Tx;
use crate::identity::{UsernameKey, Who};
use crate::password::Hasher;
use crate::sealed::{SealError, Sealer};
use crate::security::model::{self, Account};

/// The name authenticator apps show above the code.
const ISSUER: &str = "Berth";
const STEP_SECS: i64 = 30;
const DIGITS: usize = 6;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes in a row before checks wait.
pub const MAX_FAILED_CHECKS: i32 = 5;
/// How long checks wait after the last of too many wrong codes.
pub const LOCK_SECS: i64 = 5 * 60;

/// What an account has to prove itself with besides its password: ONE answer for the
/// sign-in, the fresh checks and the pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactor {
    /// An enrolled TOTP authenticator (with its recovery codes).
    pub totp: bool,
    /// At least one passkey (customers only; staff have none).
    pub passkeys: bool,
}

impl SecondFactor {
    /// Whether the account has any second factor at all.
    pub fn any(self) -> bool {
        self.totp || self.passkeys
    }
}

/// The account's second factor.
pub async fn second_factor(pool: &PgPool, account: Account) -> sqlx::Result<SecondFactor> {
    let totp = model::authenticator(pool, account).await?.is_some_and(|a| a.confirmed);
    let passkeys = match account {
        Account::Customer(customer) => crate::passkeys::model::count(pool, customer).await? > 0,
        Account::Staff(_) => false,
    };
    Ok(SecondFactor { totp, passkeys })
}

#[derive(Debug)]
pub enum SecurityError {
    /// The code is not right (or was used before): one answer for both.
    WrongCode,
    /// Too many wrong codes: checks wait this many more seconds.
    TooMany {
        wait_secs: i64,
    },
    /// The current password was wrong (turning it off).
    WrongPassword,
    /// No second factor is on (or no enrolment is in progress) to act on.
    NotEnrolled,
    /// A second factor is on already.
    AlreadyOn,
    /// No BERTH_SECRET_KEY is set, so no secret can be stored.
    NoKey,
    Db(sqlx::Error),
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for SecurityError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl From<anyhow::Error> for SecurityError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl From<SealError> for SecurityError {
    fn from(err: SealError) -> Self {
        match err {
            SealError::NoKey => Self::NoKey,
            // A secret the configured keys cannot open: the operator's to fix, not the user's.
            SealError::WrongKey => Self::Internal(anyhow::anyhow!("a TOTP secret does not open: {err}")),
        }
    }
}

impl SecurityError {
    /// The message beside the code field, for the errors that are the user's to fix.
    pub fn field_message(&self) -> Option<String> {
        match self {
            Self::WrongCode => Some(
                "That code is not right. Enter the current code from your app, or an unused recovery code.".to_owned(),
            ),
            Self::TooMany { wait_secs } => Some(format!(
                "Too many wrong codes. Wait {wait_secs} seconds, then try again."
            )),
            Self::WrongPassword => Some("That is not your current password.".to_owned()),
            Self::NotEnrolled => Some("Two-factor sign-in is not on.".to_owned()),
            Self::AlreadyOn => Some("Two-factor sign-in is on already.".to_owned()),
            Self::NoKey => Some(
                "Two-factor sign-in cannot be turned on yet: the operator must set BERTH_SECRET_KEY first.".to_owned(),
            ),
            Self::Db(_) | Self::Internal(_) => None,
        }
    }
}

/// An enrolment in progress, as the page shows it: the secret as text and as a QR code.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret in base32, in groups of four for reading aloud and typing.
    pub secret: String,
    /// The `otpauth://` URL as an inline SVG QR code, shown with `|safe`: the `qrcode`
    /// renderer writes only its own markup (fixed colours, a path of the modules), never the
    /// encoded text, so no part of the label reaches the markup (see the test
    /// `the_qr_code_carries_no_text_of_the_label`).
    pub qr_svg: String,
}

/// What proved a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Totp,
    /// A recovery code, now used; this many are left.
    RecoveryCode {
        left: i64,
    },
}

impl Proof {
    /// The detail of the sign-in record, e.g. "with a recovery code (9 left)".
    pub fn how(self) -> String {
        match self {
            Self::Totp => "with an authenticator code".to_owned(),
            Self::RecoveryCode { left } => format!("with a recovery code ({left} left)"),
        }
    }

    /// What to tell the user after a recovery code, if anything.
    pub fn notice(self) -> Option<String> {
        match self {
            Self::Totp => None,
            Self::RecoveryCode { left: 0 } => {
                Some("You used your last recovery code. Make new ones on the Security page now.".to_owned())
            }
            Self::RecoveryCode { left } => Some(format!(
                "You used a recovery code; {left} are left. Each works only once."
            )),
        }
    }
}

fn totp(secret: Vec<u8>, label: &str) -> TOTP {
    // Six digits, 30-second steps, SHA-1: what every authenticator app reads.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS as u64,
        secret,
        Some(ISSUER.to_owned()),
        label.replace(':', "_"),
    )
}

fn enrolment_of(totp: &TOTP) -> Result<Enrolment, SecurityError> {
    let secret = totp
        .get_secret_base32()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let qr = qrcode::QrCode::new(totp.get_url()).map_err(|err| anyhow::anyhow!("QR code: {err}"))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment { secret, qr_svg })
}

/// Starts (or starts over) an enrolment: a new random secret, sealed and stored, not on
/// until [`confirm_enrolment`]. `label` names the account in the app (its username).
pub async fn start_enrolment(
    pool: &PgPool,
    sealer: &Sealer,
    account: Account,
    label: &str,
) -> Result<Enrolment, SecurityError> {
    let secret = Secret::generate_secret()
        .to_bytes()
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let sealed = sealer.seal(&secret)?;
    let mut tx = Tx::begin(pool).await?;
    if !model::start_enrolment(&mut tx, account, &sealed).await? {
        return Err(SecurityError::AlreadyOn);
    }
    tx.commit().await?;
    enrolment_of(&totp(secret, label))
}

/// The enrolment in progress, if there is one.
pub async fn enrolment(
    pool: &PgPool,
    sealer: &Sealer,
    account: Account,
    label: &str,
) -> Result<Option<Enrolment>, SecurityError> {
    match model::authenticator(pool, account).await? {
        Some(a) if !a.confirmed => Ok(Some(enrolment_of(&totp(sealer.open(&a.sealed)?, label))?)),
        _ => Ok(None),
    }
}

/// Turns the enrolment in progress on with a code from the app, and makes the first
/// recovery codes (returned, to be shown this once). Recorded.
pub async fn confirm_enrolment(
    pool: &PgPool,
    sealer: &Sealer,
    actor: &Actor,
    code: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, SecurityError> {
    let account = actor.account();
    let Some(found) = model::authenticator(pool, account).await?.filter(|a| !a.confirmed) else {
        return Err(SecurityError::NotEnrolled);
    };
    let secret = sealer.open(&found.sealed)?;
    let Some(step) = matching_step(&totp(secret, ""), code, now, 0) else {
        return Err(SecurityError::WrongCode);
    };
    let codes = new_recovery_codes();
    let mut tx = Tx::begin(pool).await?;
    if !model::confirm(&mut tx, account, step, now).await? {
        return Err(SecurityError::NotEnrolled);
    }
    model::replace_recovery_codes(
        &mut tx,
        account,
        &codes.iter().map(|c| hash_code(c)).collect::<Vec<_>>(),
    )
    .await?;
    match actor {
        Actor::Customer(who) => audit::record(&mut *tx, who, "second_factor_enabled", "authenticator app").await?,
        Actor::Staff { id, username, ip } => {
            audit::staff::record(
                &mut *tx,
                Some(*id),
                username,
                StaffEvent::SecondFactorEnrolled,
                "authenticator app",
                *ip,
            )
            .await?
        }
    }
    tx.commit().await?;
    Ok(codes)
}

/// Who acts on their own second factor: a customer (their Activity records it) or a staff
/// member (the staff log does).
#[derive(Debug, Clone)]
pub enum Actor {
    Customer(Who),
    Staff {
        id: i64,
        username: UsernameKey,
        ip: Option<std::net::IpAddr>,
    },
}

impl Actor {
    pub fn account(&self) -> Account {
        match self {
            Self::Customer(who) => Account::Customer(who.customer),
            Self::Staff { id, .. } => Account::Staff(*id),
        }
    }
}

/// Checks a code of the account's enrolled second factor at `now`: a TOTP code of the
/// current step or the one before or after, never one of a step used before; or an unused
/// recovery code, used by this (recorded in a customer's Activity). Wrong codes are counted
/// (see the module's comment).
pub async fn check(
    pool: &PgPool,
    sealer: &Sealer,
    actor: &Actor,
    code: &str,
    now: OffsetDateTime,
) -> Result<Proof, SecurityError> {
    let account = actor.account();
    let Some(found) = model::authenticator(pool, account).await?.filter(|a| a.confirmed) else {
        return Err(SecurityError::NotEnrolled);
    };
    if found.failed_checks >= MAX_FAILED_CHECKS
        && let Some(last) = found.last_failed_at
    {
        let wait = (last + time::Duration::seconds(LOCK_SECS) - now).whole_seconds();
        if wait >= 0 {
            return Err(SecurityError::TooMany { wait_secs: wait + 1 });
        }
    }
    let proof = match normalize(code) {
        Code::Totp(digits) => {
            let secret = sealer.open(&found.sealed)?;
            match matching_step(&totp(secret, ""), &digits, now, found.last_step) {
                Some(step) if model::use_step(pool, account, step).await? => Some(Proof::Totp),
                _ => None,
            }
        }
        Code::Recovery(text) => {
            if model::use_recovery_code(pool, account, &hash_code(&text), now).await? {
                let left = model::recovery_codes_left(pool, account).await?;
                if let Actor::Customer(who) = actor {
                    audit::record(pool, who, "recovery_code_used", &format!("{left} left")).await?;
                }
                Some(Proof::RecoveryCode { left })
            } else {
                None
            }
        }
        Code::Neither => None,
    };
    match proof {
        Some(proof) => Ok(proof),
        None => {
            model::failed_check(pool, account, now).await?;
            if let Actor::Customer(who) = actor {
                audit::record(pool, who, "second_factor_failed", "").await?;
            }
            Err(SecurityError::WrongCode)
        }
    }
}

/// New recovery codes for an enrolled account, after a code proves it is theirs; the old
/// ones stop working. Returned to be shown this once; recorded.
pub async fn regenerate_recovery_codes(
    pool: &PgPool,
    sealer: &Sealer,
    actor: &Actor,
    code: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, SecurityError> {
    check(pool, sealer, actor, code, now).await?;
    let codes = new_recovery_codes();
    let mut tx = Tx::begin(pool).await?;
    let hashes = codes.iter().map(|c| hash_code(c)).collect::<Vec<_>>();
    model::replace_recovery_codes(&mut tx, actor.account(), &hashes).await?;
    if let Actor::Customer(who) = actor {
        audit::record(&mut *tx, who, "recovery_codes_regenerated", "").await?;
    }
    tx.commit().await?;
    Ok(codes)
}

/// Turns a customer's second factor off: their current password and a code. Recorded.
pub async fn turn_off(
    pool: &PgPool,
    hasher: &Hasher,
    sealer: &Sealer,
    who: &Who,
    password: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), SecurityError> {
    let hash = crate::identity::customer::password_hash(pool, who.customer).await?;
    if !hasher.verify(Some(&hash), password).await? {
        return Err(SecurityError::WrongPassword);
    }
    let actor = Actor::Customer(who.clone());
    check(pool, sealer, &actor, code, now).await?;
    let mut tx = Tx::begin(pool).await?;
    model::remove(&mut tx, Account::Customer(who.customer)).await?;
    audit::record(&mut *tx, who, "second_factor_disabled", "").await?;
    tx.commit().await?;
    Ok(())
}

/// An operator removes a staff member's second factor (`berth staff reset-2fa`): their
/// sessions end, their next sign-in leads to enrolment only; recorded in the staff log.
/// `false` when there is no such staff member.
pub async fn reset_staff(pool: &PgPool, username: &UsernameKey, by: &str) -> sqlx::Result<bool> {
    let Some((staff, _)) = crate::identity::staff::credentials(pool, username).await? else {
        return Ok(false);
    };
    let mut tx = Tx::begin(pool).await?;
    let had = model::remove(&mut tx, Account::Staff(staff.id)).await?;
    model::end_staff_sessions(&mut *tx, staff.id).await?;
    let detail = format!("by {by}{}", if had { "" } else { " (none was enrolled)" });
    audit::staff::record(
        &mut *tx,
        Some(staff.id),
        username,
        StaffEvent::SecondFactorReset,
        &detail,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Seals every stored secret again under the current key (a rotation: each opens with the
/// current or the previous key); how many.
pub async fn reseal_all(pool: &PgPool, sealer: &Sealer) -> Result<usize, SecurityError> {
    let all = model::all_sealed(pool).await?;
    let mut tx = Tx::begin(pool).await?;
    for (id, sealed) in &all {
        model::reseal(&mut *tx, *id, &sealer.seal(&sealer.open(sealed)?)?).await?;
    }
    tx.commit().await?;
    Ok(all.len())
}

/// Whether `berth serve` may start: stored secrets need a key, and the key must open them.
pub async fn check_key(pool: &PgPool, sealer: &Sealer) -> anyhow::Result<()> {
    let all = model::all_sealed(pool).await?;
    let Some((_, first)) = all.first() else {
        return Ok(());
    };
    match sealer.open(first) {
        Ok(_) => Ok(()),
        Err(SealError::NoKey) => anyhow::bail!(
            "accounts have two-factor sign-in, and BERTH_SECRET_KEY is not set: set it to the key \
             their secrets were sealed with (see the README, \"Two-factor sign-in\")"
        ),
        Err(SealError::WrongKey) => anyhow::bail!(
            "BERTH_SECRET_KEY (and BERTH_SECRET_KEY_PREVIOUS) do not open the stored TOTP secrets: \
             set the key they were sealed with"
        ),
    }
}

/// A code as typed: spaces and dashes do not matter, nor case.
enum Code {
    Totp(String),
    Recovery(String),
    Neither,
}

fn normalize(code: &str) -> Code {
    let clean: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if clean.len() == DIGITS && clean.bytes().all(|b| b.is_ascii_digit()) {
        Code::Totp(clean)
    } else if clean.len() == RECOVERY_LEN && clean.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        Code::Recovery(clean)
    } else {
        Code::Neither
    }
}

/// The step whose code `code` is, among the current step and one either side, if it is
/// later than `after` (the last step used).
fn matching_step(totp: &TOTP, code: &str, now: OffsetDateTime, after: i64) -> Option<i64> {
    let Code::Totp(code) = normalize(code) else {
        return None;
    };
    let current = now.unix_timestamp().div_euclid(STEP_SECS);
    (current - 1..=current + 1)
        .filter(|step| *step > after && *step >= 0)
        // `check` compares in constant time; with no skew it checks exactly this step.
        .find(|step| totp.check(&code, (*step * STEP_SECS) as u64))
}

/// Lower-case letters and digits that cannot be misread (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// 16 characters of 31: about 79 bits, too many to guess, so a fast hash is enough.
const RECOVERY_LEN: usize = 16;

/// Ten new recovery codes, as shown: `abcd-efgh-jkmn-pqrs`.
fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw: Vec<u8> = (0..RECOVERY_LEN)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())])
                .collect();
            raw.chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// The stored form of a recovery code: the SHA-256 of its normalized text.
fn hash_code(code: &str) -> String {
    let clean = match normalize(code) {
        Code::Recovery(clean) => clean,
        _ => code.to_owned(),
    };
    hex::encode(Sha256::digest(clean.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_carries_no_text_of_the_label() {
        let label = "<script>alert(1)</script>\"'&";
        let enrolment = enrolment_of(&totp(vec![7; 20], label)).unwrap();
        let svg = &enrolment.qr_svg;
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{svg:.80}");
        for part in ["script", "alert", "otpauth", "Berth"] {
            assert!(!svg.contains(part), "{part} in the SVG");
        }
        // Only the renderer's own elements.
        let tags: std::collections::BTreeSet<&str> = svg
            .split('<')
            .skip(1)
            .map(|t| t.split([' ', '>', '/']).next().unwrap_or(""))
            .filter(|t| !t.is_empty())
            .collect();
        assert!(
            tags.iter().all(|t| ["?xml", "svg", "rect", "path"].contains(t)),
            "{tags:?}"
        );
    }

    #[test]
    fn codes_are_read_leniently() {
        assert!(matches!(normalize(" 123 456 "), Code::Totp(c) if c == "123456"));
        assert!(matches!(normalize("ABCD-efgh-jkmn-pqrs"), Code::Recovery(c) if c == "abcdefghjkmnpqrs"));
        assert!(matches!(normalize("12345"), Code::Neither));
        assert!(matches!(normalize("abcd-efgh-jkmn-pqr0"), Code::Neither));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_readable() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        for code in &codes {
            assert!(matches!(normalize(code), Code::Recovery(_)), "{code}");
            assert_eq!(hash_code(code), hash_code(&code.to_uppercase().replace('-', " ")));
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
    }

    #[test]
    fn a_code_matches_its_step_and_the_ones_beside_it_only() {
        let t = totp(vec![7; 20], "iris");
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_015).unwrap();
        let step = 1_800_000_015 / STEP_SECS;
        let code_at = |s: i64| t.generate((s * STEP_SECS) as u64);
        assert_eq!(matching_step(&t, &code_at(step), now, 0), Some(step));
        assert_eq!(matching_step(&t, &code_at(step - 1), now, 0), Some(step - 1));
        assert_eq!(matching_step(&t, &code_at(step + 1), now, 0), Some(step + 1));
        assert_eq!(matching_step(&t, &code_at(step - 2), now, 0), None);
        // Used before: refused.
        assert_eq!(matching_step(&t, &code_at(step), now, step), None);
    }
}
