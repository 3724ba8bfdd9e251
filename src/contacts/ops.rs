//! The contacts' operations, shared by the `/contacts` page and the Customer API: the one
//! place that decides what a change does and what is wrong with it.

use sqlx::PgPool;

use super::model::{
    self, ContactField, ContactId, ContactName, MethodId, MethodKind, NewMethod, NewSubscription, OptionKey, Problems,
    Subscribed, SubscriptionId,
};
use crate::identity::Who;
use crate::identity::once::{self, FormToken};
use crate::notices::model::Severity;

/// Why a contacts operation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// The input is wrong, by field ([`Problems::errors`] names them for a form or a call).
    #[error("invalid contact input")]
    Invalid(Problems),
    /// The customer has no such contact, method or subscription.
    #[error("not found")]
    NotFound,
    /// The form was sent before with its one-time token: that one created it.
    #[error("sent twice")]
    Repeated,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<Problems> for ContactError {
    fn from(problems: Problems) -> Self {
        Self::Invalid(problems)
    }
}

/// A new method as sent: the method's id and its options (key, value), unchecked.
#[derive(Debug, Clone, Default)]
pub struct MethodInput {
    pub method: Option<String>,
    pub options: Vec<(String, String)>,
    /// The form's one-time token: sent before, nothing is added ([`ContactError::Repeated`]).
    pub once: Option<FormToken>,
}

/// A subscription as sent: the notice type and the options (key, value), unchecked.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionInput {
    pub notice_type: Option<String>,
    pub options: Vec<(String, String)>,
}

/// Creates a contact named `name` (1 to 100 characters on one line, trimmed). `once`: the
/// form's one-time token; sent before, nothing is created ([`ContactError::Repeated`]).
pub async fn create_contact(
    db: &PgPool,
    who: &Who,
    name: &str,
    once: Option<FormToken>,
) -> Result<(ContactId, ContactName), ContactError> {
    let name: ContactName = name
        .parse()
        .map_err(|message: String| Problems::one(ContactField::Name, message))?;
    let mut tx = db.begin().await?;
    if !once::first_use_of(&mut *tx, who.customer, once).await? {
        return Err(ContactError::Repeated);
    }
    let id = model::create_contact(&mut tx, who, &name).await?;
    tx.commit().await?;
    Ok((id, name))
}

/// Deletes a contact with its methods and their subscriptions; answers its name.
pub async fn delete_contact(db: &PgPool, who: &Who, id: ContactId) -> Result<String, ContactError> {
    let mut tx = db.begin().await?;
    let name = model::delete_contact(&mut tx, who, id)
        .await?
        .ok_or(ContactError::NotFound)?;
    tx.commit().await?;
    Ok(name)
}

/// A method just added; a webhook's signing secret, to be shown this once.
#[derive(Debug)]
pub struct AddedMethod {
    pub id: MethodId,
    pub secret: Option<String>,
}

/// Adds a method to a contact of the customer's. Another customer's contact is not found,
/// whatever the input says; a customer has at most [`model::MAX_WEBHOOKS`] webhooks.
pub async fn add_method(
    db: &PgPool,
    who: &Who,
    contact: ContactId,
    input: MethodInput,
) -> Result<AddedMethod, ContactError> {
    model::contact(db, who.customer, contact)
        .await?
        .ok_or(ContactError::NotFound)?;
    let method = NewMethod::check(input.method.as_deref(), &input.options)?;
    let secret = (method.kind == MethodKind::Webhook).then(model::signing_secret);
    let mut tx = db.begin().await?;
    if !once::first_use_of(&mut *tx, who.customer, input.once).await? {
        return Err(ContactError::Repeated);
    }
    let id = match model::add_method(&mut tx, who, contact, &method, secret.as_deref()).await? {
        model::Added::Method(id) => id,
        model::Added::NoContact => return Err(ContactError::NotFound),
        model::Added::TooManyWebhooks => {
            return Err(Problems::one(ContactField::Option(OptionKey::Url), model::too_many_webhooks()).into());
        }
    };
    tx.commit().await?;
    Ok(AddedMethod { id, secret })
}

/// Deletes a method of the customer's with its subscriptions; answers its contact.
pub async fn delete_method(db: &PgPool, who: &Who, id: MethodId) -> Result<ContactId, ContactError> {
    let mut tx = db.begin().await?;
    let contact = model::delete_method(&mut tx, who, id)
        .await?
        .ok_or(ContactError::NotFound)?;
    tx.commit().await?;
    Ok(contact)
}

/// A subscription just saved, with what it now hears about.
#[derive(Debug)]
pub struct Saved {
    pub subscribed: Subscribed,
    pub notice_type: String,
    pub min_severity: Severity,
}

/// Subscribes a method of the customer's to a notice type of the catalogue (a method
/// already subscribed to it gets the new minimum severity). A method of another customer's
/// is not found, whatever the input says.
pub async fn subscribe(
    db: &PgPool,
    who: &Who,
    method: MethodId,
    input: SubscriptionInput,
) -> Result<Saved, ContactError> {
    model::method_contact(db, who.customer, method)
        .await?
        .ok_or(ContactError::NotFound)?;
    let types = crate::notices::model::types(db).await?;
    let ids: Vec<&str> = types.iter().map(|t| t.id.as_str()).collect();
    let subscription = NewSubscription::check(input.notice_type.as_deref(), &input.options, &ids)?;
    let mut tx = db.begin().await?;
    let subscribed = model::subscribe(&mut tx, who, method, &subscription)
        .await?
        .ok_or(ContactError::NotFound)?;
    tx.commit().await?;
    Ok(Saved {
        subscribed,
        notice_type: subscription.notice_type,
        min_severity: subscription.min_severity,
    })
}

/// Removes a subscription of the customer's; answers its method's contact and its type.
pub async fn unsubscribe(db: &PgPool, who: &Who, id: SubscriptionId) -> Result<(ContactId, String), ContactError> {
    let mut tx = db.begin().await?;
    let removed = model::unsubscribe(&mut tx, who, id)
        .await?
        .ok_or(ContactError::NotFound)?;
    tx.commit().await?;
    Ok(removed)
}
