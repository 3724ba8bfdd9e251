//! The contacts' Customer API methods: createContact, destroyContact, createContactMethod,
//! destroyContactMethod, createContactMethodNotice, destroyContactMethodNotice,
//! listContactNoticeTypes, listContactMethods, listContacts; the same operations as the
//! `/contacts` page (`ops`), their mistakes told under the API's field names (`methodId`,
//! `noticeTypeId`, `options.<key>`).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, Contact, ContactId, Method, MethodId, Subscription, SubscriptionId};
use super::ops::{self, ContactError, MethodInput, SubscriptionInput};
use crate::api::model::Object;
use crate::api::{ApiErrors, Args, Caller, Done, Reply};
use crate::identity::CustomerId;
use crate::state::AppState;
use crate::validation::Names;
use crate::web::AppError;

/// A contacts operation's failure as the API tells it: mistakes under the seed's names.
fn api_error(err: ContactError) -> AppError {
    match err {
        ContactError::Invalid(problems) => AppError::Invalid(problems.errors(Names::Seed)),
        ContactError::NotFound => AppError::NotFound,
        ContactError::Repeated => AppError::Conflict(crate::web::once::REPEATED.into()),
        ContactError::Db(err) => err.into(),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_contact))
        .routes(routes!(destroy_contact))
        .routes(routes!(create_contact_method))
        .routes(routes!(destroy_contact_method))
        .routes(routes!(create_contact_method_notice))
        .routes(routes!(destroy_contact_method_notice))
        .routes(routes!(list_contact_notice_types))
        .routes(routes!(list_contact_methods))
        .routes(routes!(list_contacts))
}

/// A contact with its methods and their subscriptions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerContact {
    pub id: i64,
    pub name: String,
    /// Its contact methods, oldest first.
    pub methods: Vec<ContactMethod>,
}

impl From<Contact> for CustomerContact {
    fn from(contact: Contact) -> Self {
        Self {
            id: contact.id.0,
            name: contact.name,
            methods: contact.methods.into_iter().map(ContactMethod::from).collect(),
        }
    }
}

/// A way to reach a contact, with the notice types it hears about.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactMethod {
    pub id: i64,
    pub contact_id: i64,
    /// The method's id in the catalogue (listContactMethods): email, sms, phone or webhook.
    pub method_id: String,
    /// The method's name, e.g. `Email`.
    pub label: String,
    /// Its settings, as stored (normalised): `{"address": …}`, `{"number": …}` or
    /// `{"url": …}`.
    pub options: BTreeMap<String, String>,
    /// Its subscriptions to notice types.
    pub subscriptions: Vec<ContactMethodNotice>,
    /// Only in createContactMethod's answer for a webhook: the secret its deliveries are
    /// signed with. It is not returned again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<Method> for ContactMethod {
    fn from(method: Method) -> Self {
        let options = BTreeMap::from([(method.method_id.option_key().to_owned(), method.target)]);
        Self {
            id: method.id.0,
            contact_id: method.contact_id.0,
            method_id: method.method_id.as_str().to_owned(),
            label: method.label,
            options,
            subscriptions: method
                .subscriptions
                .into_iter()
                .map(ContactMethodNotice::from)
                .collect(),
            signing_secret: None,
        }
    }
}

/// A contact method's subscription to a notice type.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactMethodNotice {
    pub id: i64,
    pub contact_method_id: i64,
    /// The notice type's id (listContactNoticeTypes).
    pub notice_type_id: String,
    /// `{"min_severity": "info" | "warning" | "critical"}`: the least severe notice it
    /// hears about.
    pub options: BTreeMap<String, String>,
}

impl From<Subscription> for ContactMethodNotice {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id.0,
            contact_method_id: s.contact_method_id.0,
            notice_type_id: s.notice_type_id,
            options: BTreeMap::from([("min_severity".to_owned(), s.min_severity.as_str().to_owned())]),
        }
    }
}

/// A notice type of the catalogue (Types.ContactNoticeType).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactNoticeType {
    /// Its id, as `noticeTypeId` takes it.
    pub id: String,
    pub label: String,
}

/// A contact method of the catalogue (Types.ContactMethod).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactMethodType {
    /// Its id, as `methodId` takes it.
    pub id: String,
    pub label: String,
    /// The options it needs, each required: `address` (email), `number` (sms, phone: `+`
    /// and 8 to 15 digits) or `url` (webhook: `https://`).
    pub options: Vec<String>,
}

/// The contact of the customer's, as the API shows it.
async fn contact_reply(state: &AppState, customer: CustomerId, id: ContactId) -> Result<CustomerContact, AppError> {
    let contact = model::contact(&state.pool, customer, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(contact.into())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateContactArgs {
    /// The customer.
    pub customer_id: i64,
    /// 1 to 100 characters on one line (trimmed).
    pub name: String,
}

#[utoipa::path(post, path = "/createContact", operation_id = "createContact", tag = "Contacts",
    summary = "Create a contact",
    request_body = CreateContactArgs,
    responses((status = 200, description = "The contact, without methods yet", body = Reply<CustomerContact>),
        ApiErrors))]
async fn create_contact(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateContactArgs>,
) -> Result<Reply<CustomerContact>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    let (id, _) = ops::create_contact(&state.pool, &caller.who(customer), &args.name, None)
        .await
        .map_err(api_error)?;
    Ok(Reply::new(contact_reply(&state, customer, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContactIdArgs {
    /// The contact.
    pub contact_id: i64,
}

#[utoipa::path(post, path = "/destroyContact", operation_id = "destroyContact", tag = "Contacts",
    summary = "Delete a contact",
    description = "Deletes the contact with its methods and their subscriptions.",
    request_body = ContactIdArgs,
    responses((status = 200, description = "Deleted", body = Done), ApiErrors))]
async fn destroy_contact(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ContactIdArgs>,
) -> Result<Done, AppError> {
    let customer = caller.owner(&state.pool, Object::Contact, args.contact_id).await?;
    ops::delete_contact(&state.pool, &caller.who(customer), ContactId(args.contact_id))
        .await
        .map_err(api_error)?;
    Ok(Done::YES)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateContactMethodArgs {
    /// The contact.
    pub contact_id: i64,
    /// The method's id in the catalogue (listContactMethods): email, sms, phone or webhook.
    pub method_id: String,
    /// The method's one option: `{"address": "ops@example.com"}` (email),
    /// `{"number": "+4930123456"}` (sms, phone) or `{"url": "https://hooks.example.com/x"}`
    /// (webhook). Another method's option may be given empty and is then ignored; any other
    /// is refused on `options.<key>`.
    pub options: Option<BTreeMap<String, String>>,
}

#[utoipa::path(post, path = "/createContactMethod", operation_id = "createContactMethod", tag = "Contacts",
    summary = "Associate a contact method with a contact",
    description = "Errors name `methodId` or the option, as `options.address`, `options.number`, `options.url`. \
        A webhook's URL must name a public host (not `localhost`, nor a local, private or reserved address), \
        and a customer has at most 10 webhooks (422 on `options.url`). \
        A webhook's answer carries its `signingSecret`, which is not returned again.",
    request_body = CreateContactMethodArgs,
    responses((status = 200, description = "The contact method", body = Reply<ContactMethod>), ApiErrors))]
async fn create_contact_method(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateContactMethodArgs>,
) -> Result<Reply<ContactMethod>, AppError> {
    let customer = caller.owner(&state.pool, Object::Contact, args.contact_id).await?;
    let contact = ContactId(args.contact_id);
    let input = MethodInput {
        method: Some(args.method_id),
        options: args.options.into_iter().flatten().collect(),
        once: None,
    };
    let added = ops::add_method(&state.pool, &caller.who(customer), contact, input)
        .await
        .map_err(api_error)?;
    let mut method: ContactMethod = method_of(&state, customer, contact, added.id).await?.into();
    method.signing_secret = added.secret;
    Ok(Reply::new(method))
}

/// A method of a contact of the customer's.
async fn method_of(
    state: &AppState,
    customer: CustomerId,
    contact: ContactId,
    id: MethodId,
) -> Result<Method, AppError> {
    model::contact(&state.pool, customer, contact)
        .await?
        .and_then(|c| c.methods.into_iter().find(|m| m.id == id))
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContactMethodIdArgs {
    /// The contact method.
    pub contact_method_id: i64,
}

#[utoipa::path(post, path = "/destroyContactMethod", operation_id = "destroyContactMethod", tag = "Contacts",
    summary = "Delete a contact method",
    description = "Deletes the contact method with its subscriptions.",
    request_body = ContactMethodIdArgs,
    responses((status = 200, description = "Deleted", body = Done), ApiErrors))]
async fn destroy_contact_method(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ContactMethodIdArgs>,
) -> Result<Done, AppError> {
    let customer = caller
        .owner(&state.pool, Object::ContactMethod, args.contact_method_id)
        .await?;
    ops::delete_method(&state.pool, &caller.who(customer), MethodId(args.contact_method_id))
        .await
        .map_err(api_error)?;
    Ok(Done::YES)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateContactMethodNoticeArgs {
    /// The contact method.
    pub contact_method_id: i64,
    /// The notice type's id in the catalogue (listContactNoticeTypes).
    pub notice_type_id: String,
    /// `{"min_severity": "info" | "warning" | "critical"}`: the least severe notice to hear
    /// about (default `info`). Any other option is refused on `options.<key>`.
    pub options: Option<BTreeMap<String, String>>,
}

#[utoipa::path(post, path = "/createContactMethodNotice", operation_id = "createContactMethodNotice",
    tag = "Contacts",
    summary = "Associate a notice type with a contact method",
    description = "Answers the subscription's id (Types.CustomerContactMethodNoticeId) as `{\"result\": id}`. \
        A method already subscribed to the notice type keeps its subscription (and id), which takes the new \
        options.",
    request_body = CreateContactMethodNoticeArgs,
    responses((status = 200, description = "The subscription's id", body = Reply<i64>), ApiErrors))]
async fn create_contact_method_notice(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<CreateContactMethodNoticeArgs>,
) -> Result<Reply<i64>, AppError> {
    let customer = caller
        .owner(&state.pool, Object::ContactMethod, args.contact_method_id)
        .await?;
    let input = SubscriptionInput {
        notice_type: Some(args.notice_type_id),
        options: args.options.into_iter().flatten().collect(),
    };
    let saved = ops::subscribe(
        &state.pool,
        &caller.who(customer),
        MethodId(args.contact_method_id),
        input,
    )
    .await
    .map_err(api_error)?;
    Ok(Reply::new(saved.subscribed.id.0))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContactMethodNoticeIdArgs {
    /// The subscription.
    pub contact_method_notice_id: i64,
}

#[utoipa::path(post, path = "/destroyContactMethodNotice", operation_id = "destroyContactMethodNotice",
    tag = "Contacts",
    summary = "Delete a contact method notice association",
    request_body = ContactMethodNoticeIdArgs,
    responses((status = 200, description = "Deleted", body = Done), ApiErrors))]
async fn destroy_contact_method_notice(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ContactMethodNoticeIdArgs>,
) -> Result<Done, AppError> {
    let customer = caller
        .owner(&state.pool, Object::ContactMethodNotice, args.contact_method_notice_id)
        .await?;
    ops::unsubscribe(
        &state.pool,
        &caller.who(customer),
        SubscriptionId(args.contact_method_notice_id),
    )
    .await
    .map_err(api_error)?;
    Ok(Done::YES)
}

/// No arguments.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[utoipa::path(post, path = "/listContactNoticeTypes", operation_id = "listContactNoticeTypes", tag = "Contacts",
    summary = "List contact notice types",
    description = "The catalogue of notice types, the same for every customer.",
    request_body = NoArgs,
    responses((status = 200, description = "The notice types", body = Reply<Vec<ContactNoticeType>>), ApiErrors))]
async fn list_contact_notice_types(
    State(state): State<AppState>,
    _caller: Caller,
    Args(NoArgs {}): Args<NoArgs>,
) -> Result<Reply<Vec<ContactNoticeType>>, AppError> {
    let types = crate::notices::model::types(&state.pool).await?;
    Ok(Reply::new(
        types
            .into_iter()
            .map(|t| ContactNoticeType {
                id: t.id,
                label: t.label,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/listContactMethods", operation_id = "listContactMethods", tag = "Contacts",
    summary = "List contact methods",
    description = "The catalogue of contact methods, the same for every customer, with the options each needs.",
    request_body = NoArgs,
    responses((status = 200, description = "The contact methods", body = Reply<Vec<ContactMethodType>>),
        ApiErrors))]
async fn list_contact_methods(
    State(state): State<AppState>,
    _caller: Caller,
    Args(NoArgs {}): Args<NoArgs>,
) -> Result<Reply<Vec<ContactMethodType>>, AppError> {
    let methods = model::method_types(&state.pool).await?;
    Ok(Reply::new(
        methods
            .into_iter()
            .map(|m| ContactMethodType {
                options: vec![m.id.option_key().to_owned()],
                id: m.id.as_str().to_owned(),
                label: m.label,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListContactsArgs {
    /// The customer.
    pub customer_id: i64,
}

#[utoipa::path(post, path = "/listContacts", operation_id = "listContacts", tag = "Contacts",
    summary = "List contacts and related objects",
    request_body = ListContactsArgs,
    responses((status = 200, description = "The contacts by name, each with its methods and their subscriptions",
        body = Reply<Vec<CustomerContact>>), ApiErrors))]
async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Args(args): Args<ListContactsArgs>,
) -> Result<Reply<Vec<CustomerContact>>, AppError> {
    let customer = caller.customer(&state.pool, args.customer_id).await?;
    let contacts = model::list(&state.pool, customer).await?;
    Ok(Reply::new(contacts.into_iter().map(CustomerContact::from).collect()))
}
