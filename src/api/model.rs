//! What the API asks of the database for itself: whether a customer exists, and whose an
//! object is (for internal keys, which act for the object's owner).

use sqlx::PgExecutor;

use crate::identity::CustomerId;

/// The objects methods name by their own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Key,
    KeyAcl,
    FtpUser,
    /// A notice of one customer's; a global notice has no owner.
    Notice,
    Contact,
    ContactMethod,
    ContactMethodNotice,
}

impl Object {
    fn table(self) -> &'static str {
        match self {
            Self::Key => "api_keys",
            Self::KeyAcl => "api_key_acls",
            Self::FtpUser => "ftp_users",
            Self::Notice => "notices",
            Self::Contact => "contacts",
            Self::ContactMethod => "contact_methods",
            Self::ContactMethodNotice => "contact_method_notices",
        }
    }
}

pub async fn customer_exists(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists(select 1 from customers where id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}

/// The customer whose `object` with `id` is, if there is one.
pub async fn owner(db: impl PgExecutor<'_>, object: Object, id: i64) -> sqlx::Result<Option<CustomerId>> {
    // The table name comes from the enum above, never from input.
    sqlx::query_scalar(&format!("select customer_id from {} where id = $1", object.table()))
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}
