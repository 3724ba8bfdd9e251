//! The customer's audit log: sign-ins (successful, failed, locked), sign-outs and every
//! change to the account, with who did it and from where; and the staff's own log
//! ([`staff`]).

pub mod staff;

use std::net::IpAddr;

use sqlx::PgExecutor;
use sqlx::types::ipnetwork::IpNetwork;
use time::OffsetDateTime;

use crate::identity::{CustomerId, Who};

/// Who acted: the customer themself, or a staff member (when impersonating).
pub const BY_CUSTOMER: &str = "customer";
/// Someone at the sign-in form who did not get in: it may not be the customer.
pub const BY_ANONYMOUS: &str = "anonymous";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub at: OffsetDateTime,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub address: Option<IpAddr>,
}

impl Entry {
    /// How the kind reads on the Activity page.
    pub fn label(&self) -> &'static str {
        match self.kind.as_str() {
            "sign_in" => "Signed in",
            "sign_in_failed" => "Failed sign-in",
            "sign_in_locked" => "Sign-in locked",
            "sign_out" => "Signed out",
            "second_factor_enabled" => "Two-factor sign-in turned on",
            "second_factor_disabled" => "Two-factor sign-in turned off",
            "second_factor_failed" => "Wrong two-factor code",
            "recovery_code_used" => "Recovery code used",
            "recovery_codes_regenerated" => "New recovery codes",
            "email_changed" => "Email changed",
            "password_changed" => "Password changed",
            "pin_changed" => "PIN changed",
            "password_check_failed" => "Wrong current password",
            "password_check_locked" => "Password changes locked",
            "display_name_changed" => "Display name changed",
            "settings_changed" => "Settings changed",
            "cancellation_requested" => "Cancellation requested",
            "cancellation_withdrawn" => "Cancellation withdrawn",
            "passkey_added" => "Passkey added",
            "passkey_renamed" => "Passkey renamed",
            "passkey_removed" => "Passkey removed",
            "api_key_created" => "API key created",
            "api_key_revoked" => "API key revoked",
            "api_key_acl_added" => "API key ACL added",
            "api_key_acl_changed" => "API key ACL changed",
            "api_key_acl_deleted" => "API key ACL deleted",
            "api_key_refused" => "API key refused",
            "api_internal_call" => "Internal API call",
            "address_added" => "IP address added",
            "address_freed" => "IP address freed",
            "address_quota_changed" => "IP address quota changed",
            "reverse_dns_changed" => "Reverse DNS changed",
            "ftp_user_created" => "FTP user created",
            "ftp_user_changed" => "FTP user changed",
            "ftp_user_deleted" => "FTP user deleted",
            "dns_record_added" => "DNS record added",
            "dns_record_changed" => "DNS record changed",
            "dns_record_deleted" => "DNS record deleted",
            "dns_zone_verified" => "Domain verified",
            "ftp_login_new_address" => "FTP login from a new address",
            "ftp_login_locked" => "FTP logins locked",
            "role_granted" => "Role granted",
            "role_revoked" => "Role revoked",
            "cancellation_completed" => "Cancellation handled",
            "pin_check_passed" => "PIN checked by support: match",
            "pin_check_failed" => "PIN checked by support: no match",
            "pin_check_locked" => "PIN check refused: locked",
            "contact_created" => "Contact added",
            "contact_deleted" => "Contact deleted",
            "contact_method_added" => "Contact method added",
            "contact_method_deleted" => "Contact method deleted",
            "contact_subscribed" => "Contact subscribed",
            "contact_subscription_changed" => "Contact subscription changed",
            "contact_unsubscribed" => "Contact unsubscribed",
            "impersonation_started" => "Support viewed your account",
            "impersonation_ended" => "Support stopped viewing your account",
            "impersonated_request" => "Support submitted a change",
            "site_created" => "Site created",
            "site_start_requested" => "Site start requested",
            "site_stop_requested" => "Site stop requested",
            "site_restart_requested" => "Site restart requested",
            "site_deleted" => "Site deleted",
            "site_restored" => "Site restored by support",
            "site_files_removed" => "Deleted site's files removed",
            _ => "Other",
        }
    }

    pub fn address_text(&self) -> String {
        self.address.map(|a| a.to_string()).unwrap_or_default()
    }
}

/// Writes one Activity entry of `who`'s customer, naming `who`'s actor and address.
pub async fn record(db: impl PgExecutor<'_>, who: &Who, kind: &str, detail: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into activity (customer_id, actor, kind, detail, address) values ($1, $2, $3, $4, $5)",
        who.customer as CustomerId,
        who.actor,
        kind,
        detail,
        who.address.map(IpNetwork::from),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `limit` entries of `customer` after skipping `offset`, newest first.
pub async fn recent(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        r#"select at, actor, kind, detail, address as "address: IpAddr" from activity where customer_id = $1
         order by at desc, id desc limit $2 offset $3"#,
        customer as CustomerId,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}
