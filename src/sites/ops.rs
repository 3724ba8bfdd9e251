//! The sites area's operations: what the site pages read, each only of the acting
//! customer's sites (another's is not found). Sites are created by the wizard's operation
//! (`wizard::ops::create`), which writes them through [`model::create`].

use crate::identity::Who;
use crate::sites::model::{self, Detail, DnsRecord, JobStatus, Site, SiteId, SiteRow, Step};

/// Why a sites operation answered nothing.
#[derive(Debug)]
pub enum SiteError {
    /// No such site of the customer's.
    NotFound,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for SiteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

/// One page of the customer's sites, and how many they have in all.
pub async fn list(db: &sqlx::PgPool, who: &Who, limit: i64, offset: i64) -> Result<(Vec<SiteRow>, i64), SiteError> {
    Ok(model::list(db, who.customer, limit, offset).await?)
}

/// The site with everything its page shows.
pub async fn detail(db: &sqlx::PgPool, who: &Who, id: SiteId) -> Result<Detail, SiteError> {
    model::detail(db, who.customer, id).await?.ok_or(SiteError::NotFound)
}

/// The site's provisioning job: its status and its steps in order.
pub async fn progress(db: &sqlx::PgPool, who: &Who, id: SiteId) -> Result<(Option<JobStatus>, Vec<Step>), SiteError> {
    model::site(db, who.customer, id).await?.ok_or(SiteError::NotFound)?;
    Ok(model::progress(db, who.customer, id).await?)
}

/// The site's DNS records as a BIND zone file.
pub async fn zone(db: &sqlx::PgPool, who: &Who, id: SiteId) -> Result<String, SiteError> {
    let site: Site = model::site(db, who.customer, id).await?.ok_or(SiteError::NotFound)?;
    let records = model::records(db, who.customer, id).await?;
    Ok(zone_file(&site.hostname, &records))
}

/// A zone file for `origin` with the records that have a value (planned ones are comments).
pub fn zone_file(origin: &str, records: &[DnsRecord]) -> String {
    let mut out = format!("; Zone file for {origin}, written by Berth\n$ORIGIN {origin}.\n$TTL 3600\n");
    for record in records {
        let name = format!("{}.", record.name);
        match &record.value {
            Some(value) => out.push_str(&format!("{name}\t{}\tIN\t{}\t{value}\n", record.ttl, record.kind)),
            None => out.push_str(&format!(
                "; {name}\t{}\tIN\t{}\t(address not allocated yet)\n",
                record.ttl, record.kind
            )),
        }
    }
    out
}
