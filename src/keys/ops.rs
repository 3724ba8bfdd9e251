//! The keys' operations, the one place that decides about API keys and their ACLs: the
//! `/keys` pages, the Customer API methods, the staff console and `berth create-key` all
//! call these, and only translate their input and their errors.

use sqlx::PgPool;
use sqlx::types::ipnetwork::IpNetwork;

use super::model::{self, Acl, AclId, KeyName, Maker, NewKey};
use crate::audit;
use crate::db::Tx;
use crate::identity::key::forget_verified;
use crate::identity::network::{AclNetwork, AclPart};
use crate::identity::once::{self, FormToken};
use crate::identity::secret::Secret;
use crate::identity::{KeyId, KeyType, Who};
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;

/// The keys' fields, by their form and API argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Name,
    Type,
    Address,
    Cidr,
}

impl Field for KeyField {
    fn form(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Type => "type",
            Self::Address => "address",
            Self::Cidr => "cidr",
        }
    }

    fn seed(self) -> &'static str {
        self.form()
    }
}

impl From<AclPart> for KeyField {
    fn from(part: AclPart) -> Self {
        match part {
            AclPart::Address => Self::Address,
            AclPart::Cidr => Self::Cidr,
        }
    }
}

/// Why an operation on keys was refused.
#[derive(Debug)]
pub enum KeyError {
    Invalid(Invalid<KeyField>),
    /// No such key or ACL of this customer's (or, internal, of the platform's).
    NotFound,
    Revoked,
    /// The form (or call) was sent before with its one-time token: its key (or ACL) exists,
    /// and a key's secret was shown then.
    Repeated,
    /// An internal key was asked for a customer: internal keys are the platform's.
    Internal,
    /// An ACL edit from a form shown before another change of the ACL: `current` is what it
    /// holds now. Nothing was saved.
    Stale {
        current: Acl,
    },
    Db(sqlx::Error),
}

impl From<sqlx::Error> for KeyError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl From<Invalid<AclPart>> for KeyError {
    fn from(invalid: Invalid<AclPart>) -> Self {
        let mut fields = Invalid::default();
        for part in [AclPart::Address, AclPart::Cidr] {
            if let Some(message) = invalid.get(part) {
                fields.add(KeyField::from(part), message);
            }
        }
        Self::Invalid(fields)
    }
}

impl KeyError {
    fn invalid(field: KeyField, message: impl Into<String>) -> Self {
        Self::Invalid(Invalid::one(field, message))
    }

    /// What the user is told, under the form's or the API's field names.
    pub fn into_app(self, names: Names) -> AppError {
        match self {
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::NotFound => AppError::NotFound,
            Self::Revoked => AppError::Conflict("This key is revoked: it cannot be used or changed.".into()),
            Self::Repeated => AppError::Conflict(
                "This form was already sent and its key created; the secret was shown then and cannot be shown \
                 again. If you did not keep it, revoke that key and create another."
                    .into(),
            ),
            Self::Internal => AppError::Forbidden(
                "internal keys are made only in the staff console or with berth create-key --internal",
            ),
            Self::Stale { current } => AppError::Conflict(changed_meanwhile(&current)),
            Self::Db(err) => err.into(),
        }
    }
}

/// What a stale ACL edit is told: what the ACL holds now.
pub fn changed_meanwhile(current: &Acl) -> String {
    format!(
        "This ACL was changed in another tab or device since you opened it: it is now {}. \
         Nothing was saved; save again to replace it with what you typed.",
        current.network
    )
}

/// A key to create, as typed.
#[derive(Debug, Clone, Default)]
pub struct NewKeyInput {
    pub name: String,
    /// `None`: not a type Berth knows.
    pub kind: Option<KeyType>,
    /// The one-time token of the form (or the call) that asks for it: sent twice, it makes one
    /// key (see `identity::once`).
    pub once: Option<FormToken>,
}

/// A key just created, with the secret that is shown this once.
#[derive(Debug)]
pub struct Created {
    pub id: KeyId,
    pub name: KeyName,
    pub kind: KeyType,
    pub prefix: String,
    pub secret: Secret,
}

/// Internal keys act for any customer and are the platform's: they are made in the staff
/// console under the staff member's own name or by an operator, never for a customer, and
/// impersonation grants no such power (DESIGN §5). The API asks this before it looks the
/// customer up, so a refused call is written to no customer's Activity.
pub fn refuse_internal(kind: Option<KeyType>) -> Result<(), KeyError> {
    if kind == Some(KeyType::Internal) {
        return Err(KeyError::Internal);
    }
    Ok(())
}

/// Creates a key of `who`'s customer (createKey, the `/keys` form, `berth create-key`).
pub async fn create_key(db: &PgPool, who: &Who, input: NewKeyInput) -> Result<Created, KeyError> {
    refuse_internal(input.kind)?;
    let mut invalid = Invalid::default();
    let name = invalid.check(KeyField::Name, input.name.parse::<KeyName>());
    if input.kind.is_none() {
        invalid.add(KeyField::Type, "Choose standard or read-only.");
    }
    invalid.into_result().map_err(KeyError::Invalid)?;
    let (Some(name), Some(kind)) = (name, input.kind) else {
        unreachable!("checked above");
    };
    let mut tx = Tx::begin(db).await?;
    model::lock_customer(&mut tx, who.customer).await?;
    if !once::first_use_of(&mut *tx, who.customer, input.once).await? {
        return Err(KeyError::Repeated);
    }
    if model::active_keys(&mut *tx, who.customer).await? >= model::MAX_ACTIVE_KEYS {
        return Err(KeyError::invalid(
            KeyField::Name,
            format!(
                "This account has {} active keys, the most allowed. Revoke one you no longer use first.",
                model::MAX_ACTIVE_KEYS
            ),
        ));
    }
    let secret = Secret::generate();
    let prefix = secret.prefix();
    let id = model::insert_key(
        &mut *tx,
        NewKey {
            customer: Some(who.customer),
            name: &name,
            kind,
            prefix: &prefix,
            secret_hash: &secret.hash(),
            created_by: None,
            created_by_staff: None,
        },
    )
    .await?;
    let detail = format!("{} ({prefix}, {kind})", name.as_str());
    audit::record(&mut *tx, who, "api_key_created", &detail).await?;
    tx.commit().await?;
    Ok(Created {
        id,
        name,
        kind,
        prefix,
        secret,
    })
}

/// Revokes a key of `who`'s customer. A revoked key stays, marked, for the record.
pub async fn revoke_key(db: &PgPool, who: &Who, key: KeyId) -> Result<(), KeyError> {
    let mut tx = Tx::begin(db).await?;
    let (name, prefix) = revoke_in(&mut tx, Some(who.customer), key).await?;
    audit::record(&mut *tx, who, "api_key_revoked", &format!("{name} ({prefix})")).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an internal key, the platform's: no customer lists, revokes or changes it.
/// Creates an internal key (the staff console's form, `berth create-key --internal`);
/// `None` when the staff member's form was sent before with its one-time token `once`.
pub async fn create_internal(
    db: &PgPool,
    maker: &Maker,
    name: &KeyName,
    once: Option<FormToken>,
) -> sqlx::Result<Option<Created>> {
    let mut tx = Tx::begin(db).await?;
    if let Some(staff) = maker.staff()
        && !once::first_use_by_staff(&mut *tx, staff, once).await?
    {
        return Ok(None);
    }
    let secret = Secret::generate();
    let prefix = secret.prefix();
    let id = model::insert_key(
        &mut *tx,
        NewKey {
            customer: None,
            name,
            kind: KeyType::Internal,
            prefix: &prefix,
            secret_hash: &secret.hash(),
            created_by: Some(maker.describe()),
            created_by_staff: maker.staff(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Created {
        id,
        name: name.clone(),
        kind: KeyType::Internal,
        prefix,
        secret,
    }))
}

/// Revokes an internal key (staff console); its name and prefix.
pub async fn revoke_internal(db: &PgPool, key: KeyId) -> Result<(String, String), KeyError> {
    let mut tx = Tx::begin(db).await?;
    let revoked = revoke_in(&mut tx, None, key).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Marks a key revoked, one of `owner`'s (or with `None` of the platform's), and clears what
/// `verify` remembers once that commits: cleared before, a call in between would keep the key
/// as it was.
async fn revoke_in(
    tx: &mut Tx<'_>,
    owner: Option<crate::identity::CustomerId>,
    key: KeyId,
) -> Result<(String, String), KeyError> {
    let locked = model::lock_key(tx, owner, key).await?.ok_or(KeyError::NotFound)?;
    if locked.revoked {
        return Err(KeyError::Revoked);
    }
    model::mark_revoked(tx, key).await?;
    tx.after_commit(forget_verified);
    Ok((locked.name, locked.prefix))
}

/// An ACL's network as typed (createKeyACL, the add form).
#[derive(Debug, Clone, Default)]
pub struct AclInput {
    pub address: String,
    pub cidr: String,
}

/// A change of an ACL (updateKeyACL, the edit form): a part left out keeps its value.
#[derive(Debug, Clone, Default)]
pub struct AclChange {
    pub address: Option<String>,
    pub cidr: Option<String>,
    /// The ACL's network as the edit form showed it: when it holds another now, nothing is
    /// saved ([`KeyError::Stale`]).
    pub version: Option<String>,
}

/// An ACL as an operation left it.
#[derive(Debug, Clone)]
pub struct AclSaved {
    pub acl: Acl,
    /// Whether it changed (an edit to the same network saves nothing).
    pub changed: bool,
    /// The address had host bits beyond the mask, which were cleared.
    pub cleared: bool,
    /// The address as typed (or kept).
    pub typed: String,
}

impl AclSaved {
    /// The toast: "ACL added: 203.0.113.0/24.", with the host bits when they were cleared.
    pub fn message(&self, verb: &str) -> String {
        if !self.changed {
            format!("Nothing changed: the ACL is {}.", self.acl.network)
        } else if self.cleared {
            format!(
                "ACL {verb}: stored as {} (the host bits of {} were cleared).",
                self.acl.network,
                self.typed.trim()
            )
        } else {
            format!("ACL {verb}: {}.", self.acl.network)
        }
    }

    /// The API's note: "Stored as …: the host bits of … were cleared."
    pub fn note(&self) -> Option<String> {
        self.cleared.then(|| {
            format!(
                "Stored as {}: the host bits of {} were cleared.",
                self.acl.network,
                self.typed.trim()
            )
        })
    }
}

/// Checks, before the input is read, that the key is the customer's (else not found,
/// whatever the input says) and not revoked (its forms are gone, so field errors could not
/// be shown).
async fn changeable(db: &PgPool, who: &Who, key: KeyId) -> Result<(), KeyError> {
    let key = model::key(db, who.customer, key).await?.ok_or(KeyError::NotFound)?;
    if key.revoked() {
        return Err(KeyError::Revoked);
    }
    Ok(())
}

/// Locks a key of the customer's for an ACL change; refuses a revoked one. Its prefix.
async fn lock_for_acls(tx: &mut Tx<'_>, who: &Who, key: KeyId) -> Result<String, KeyError> {
    let locked = model::lock_key(tx, Some(who.customer), key)
        .await?
        .ok_or(KeyError::NotFound)?;
    if locked.revoked {
        return Err(KeyError::Revoked);
    }
    Ok(locked.prefix)
}

/// Adds an ACL to a key of `who`'s customer.
/// `once`: the add form's one-time token; sent before, nothing is added ([`KeyError::Repeated`]).
pub async fn add_acl(
    db: &PgPool,
    who: &Who,
    key: KeyId,
    input: AclInput,
    once: Option<FormToken>,
) -> Result<AclSaved, KeyError> {
    changeable(db, who, key).await?;
    let network = AclNetwork::parse(&input.address, &input.cidr)?;
    let mut tx = Tx::begin(db).await?;
    if !once::first_use_of(&mut *tx, who.customer, once).await? {
        return Err(KeyError::Repeated);
    }
    let prefix = lock_for_acls(&mut tx, who, key).await?;
    if model::acl_count(&mut *tx, key).await? >= model::MAX_ACLS {
        return Err(KeyError::invalid(
            KeyField::Address,
            format!(
                "This key has {} ACLs, the most allowed. Delete one, or widen a network to cover more.",
                model::MAX_ACLS
            ),
        ));
    }
    refuse_duplicate(&mut tx, key, network.network, None).await?;
    let id = model::insert_acl(&mut *tx, who.customer, key, network.network).await?;
    let detail = format!("{} on {prefix}", network.network);
    audit::record(&mut *tx, who, "api_key_acl_added", &detail).await?;
    tx.after_commit(forget_verified);
    tx.commit().await?;
    Ok(AclSaved {
        acl: Acl {
            id,
            key_id: key,
            network: network.network,
        },
        changed: true,
        cleared: network.cleared,
        typed: input.address,
    })
}

async fn refuse_duplicate(
    tx: &mut Tx<'_>,
    key: KeyId,
    network: IpNetwork,
    except: Option<AclId>,
) -> Result<(), KeyError> {
    if model::has_network(&mut **tx, key, network, except).await? {
        return Err(KeyError::invalid(
            KeyField::Address,
            "This key already has that network.",
        ));
    }
    Ok(())
}

/// Changes an ACL of `who`'s customer. The ACL is read under its key's lock: what the
/// version and a part left out are checked against is what is stored until this change
/// commits, so two partial changes at once apply one after the other.
pub async fn update_acl(db: &PgPool, who: &Who, id: AclId, change: AclChange) -> Result<AclSaved, KeyError> {
    let shown = model::acl(db, who.customer, id).await?.ok_or(KeyError::NotFound)?;
    changeable(db, who, shown.key_id).await?;
    let mut tx = Tx::begin(db).await?;
    let prefix = lock_for_acls(&mut tx, who, shown.key_id).await?;
    // Read again under the lock: this statement sees what a change before ours committed.
    let current = model::acl_for_update(&mut *tx, who.customer, id)
        .await?
        .ok_or(KeyError::NotFound)?;
    // Changed since this form was shown (another tab or device): save nothing.
    if let Some(version) = change.version.as_deref()
        && version.trim().parse::<IpNetwork>().ok() != Some(current.network)
    {
        return Err(KeyError::Stale { current });
    }
    // A part left out keeps its current value, except a mask when the address changes family.
    let network = AclNetwork::change(current.network, change.address.as_deref(), change.cidr.as_deref())?;
    let typed = change.address.unwrap_or_else(|| current.address());
    let saved = |changed| AclSaved {
        acl: Acl {
            network: network.network,
            ..current.clone()
        },
        changed,
        cleared: network.cleared,
        typed: typed.clone(),
    };
    if network.network == current.network {
        return Ok(saved(false));
    }
    refuse_duplicate(&mut tx, current.key_id, network.network, Some(current.id)).await?;
    if !model::set_acl_network(&mut *tx, who.customer, current.id, network.network).await? {
        return Err(KeyError::NotFound);
    }
    let detail = format!("{} to {} on {prefix}", current.network, network.network);
    audit::record(&mut *tx, who, "api_key_acl_changed", &detail).await?;
    tx.after_commit(forget_verified);
    tx.commit().await?;
    Ok(saved(true))
}

/// Deletes an ACL of `who`'s customer; the ACL as it was.
pub async fn delete_acl(db: &PgPool, who: &Who, id: AclId) -> Result<Acl, KeyError> {
    let current = model::acl(db, who.customer, id).await?.ok_or(KeyError::NotFound)?;
    let mut tx = Tx::begin(db).await?;
    let prefix = lock_for_acls(&mut tx, who, current.key_id).await?;
    if !model::delete_acl(&mut *tx, who.customer, current.id).await? {
        return Err(KeyError::NotFound);
    }
    let detail = format!("{} on {prefix}", current.network);
    audit::record(&mut *tx, who, "api_key_acl_deleted", &detail).await?;
    tx.after_commit(forget_verified);
    tx.commit().await?;
    Ok(current)
}
