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
    Site,
}

pub async fn customer_exists(db: impl PgExecutor<'_>, id: CustomerId) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from customers where id = $1) as "exists!""#,
        id as CustomerId
    )
    .fetch_one(db)
    .await
}

/// The customer whose `object` with `id` is, if there is one.
pub async fn owner(db: impl PgExecutor<'_>, object: Object, id: i64) -> sqlx::Result<Option<CustomerId>> {
    // One query per table: a table name cannot be a parameter.
    let owner = match object {
        Object::Key => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from api_keys where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::KeyAcl => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from api_key_acls where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::FtpUser => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from ftp_users where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::Notice => sqlx::query_scalar!(
            r#"select customer_id as "c?: CustomerId" from notices where id = $1"#,
            id
        )
        .fetch_optional(db)
        .await?
        .flatten(),
        Object::Contact => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from contacts where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::ContactMethod => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from contact_methods where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::ContactMethodNotice => {
            sqlx::query_scalar!(
                r#"select customer_id as "c!: CustomerId" from contact_method_notices where id = $1"#,
                id
            )
            .fetch_optional(db)
            .await?
        }
        Object::Site => {
            sqlx::query_scalar!(r#"select customer_id as "c!: CustomerId" from sites where id = $1"#, id)
                .fetch_optional(db)
                .await?
        }
    };
    Ok(owner)
}
