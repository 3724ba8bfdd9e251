//! Contacts (`/contacts`, `/contacts/{id}/delete`, `/contacts/{id}/methods`,
//! `/contact-methods/{id}/delete`, `/contact-methods/{id}/notices`,
//! `/contact-method-notices/{id}/delete`): createContact, destroyContact,
//! createContactMethod, destroyContactMethod, createContactMethodNotice,
//! destroyContactMethodNotice, listContacts, listContactMethods, listContactNoticeTypes.
//! Not built yet.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
