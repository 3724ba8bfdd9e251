//! The DNS area's operations, the one place that decides about records and claims: the
//! site page's record forms call these, and the wizard asks [`claim`] about every hostname.
//!
//! A record belongs to a site: its name is one of the site's hostnames or under one, and no
//! closer hostname on the platform (another site's) holds it; that is the zone PowerDNS
//! answers it from (`pdns.records`).

use sqlx::PgPool;

use super::model::{self, Fields, Record, RecordId, SiteZone};
use super::rdata;
use crate::audit;
use crate::db::{self, Tx};
use crate::identity::once::{self, FormToken};
use crate::identity::{CustomerId, Who};
use crate::sites::model::{RecordType, SiteId};
use crate::sites::names::Hostname;
use crate::validation::{Field, Invalid, Names};
use crate::web::AppError;

/// A record's fields, by their form and API argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    Name,
    Type,
    Value,
    Ttl,
}

impl Field for RecordField {
    fn form(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Type => "type",
            Self::Value => "value",
            Self::Ttl => "ttl",
        }
    }

    fn seed(self) -> &'static str {
        self.form()
    }
}

/// Why an operation on records was refused.
#[derive(Debug)]
pub enum DnsError {
    Invalid(Invalid<RecordField>),
    /// No such site or record of the customer's.
    NotFound,
    /// The add form was sent before with its one-time token: that one added the record.
    Repeated,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for DnsError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl DnsError {
    /// What the user is told, under the form's or the API's field names.
    pub fn into_app(self, names: Names) -> AppError {
        match self {
            Self::Invalid(invalid) => AppError::Invalid(invalid.errors(names)),
            Self::NotFound => AppError::NotFound,
            Self::Repeated => AppError::Conflict(crate::web::once::REPEATED.into()),
            Self::Db(err) => err.into(),
        }
    }
}

/// A record's fields as typed; on a change, a field left out (`None`) keeps its value.
#[derive(Debug, Clone, Default)]
pub struct RecordInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub value: Option<String>,
    pub ttl: Option<String>,
}

impl RecordInput {
    /// What the fields hold: those given, else `current`'s.
    pub fn shown(&self, current: Option<&Record>) -> Shown {
        let keep = |given: &Option<String>, now: Option<String>| given.clone().or(now).unwrap_or_default();
        Shown {
            name: keep(&self.name, current.map(|r| crate::sites::names::to_unicode(&r.name))),
            kind: keep(&self.kind, current.map(|r| r.kind.to_string())),
            value: keep(&self.value, current.and_then(|r| r.value.clone())),
            ttl: keep(&self.ttl, current.map(|r| r.ttl.to_string())),
        }
    }
}

/// The fields as an operation read them, to show a failed form again.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub name: String,
    pub kind: String,
    pub value: String,
    pub ttl: String,
}

/// What a record operation did, for the message.
#[derive(Debug, Clone)]
pub struct Saved {
    pub site: SiteId,
    pub record: RecordId,
    /// `www.example.com A 192.0.2.10`.
    pub summary: String,
    pub changed: bool,
}

const OUTSIDE: &str =
    "Use a name in this site's zone: such as www, or a name ending in the site's hostname or one of its aliases.";
const OTHER_ZONE: &str = "This name is in another site's zone; change it on that site's page.";
const APEX_CNAME: &str =
    "A zone's own name cannot hold a CNAME: it holds the zone's SOA and NS records. Use an A or AAAA record.";
const SAME: &str = "This record exists already.";

/// Reads `input` (given fields, else `current`'s) into a record of `zone`'s site, held to
/// every rule: the type's value, the name in the site's zone, CNAME alone at its name.
async fn check(
    db: &mut sqlx::PgConnection,
    customer: CustomerId,
    zone: &SiteZone,
    input: &RecordInput,
    current: Option<&Record>,
) -> Result<Fields, DnsError> {
    let shown = input.shown(current);
    let mut invalid = Invalid::default();
    let kind = invalid.check(RecordField::Type, rdata::parse_type(&shown.kind));
    let name = invalid.check(RecordField::Name, rdata::parse_name(&shown.name, &zone.hostname));
    let value = match kind {
        Some(kind) => invalid.check(RecordField::Value, rdata::parse_value(kind, &shown.value)),
        None => None,
    };
    let ttl = invalid.check(RecordField::Ttl, rdata::parse_ttl(&shown.ttl));
    if let Some(name) = &name {
        let in_site = zone.hostnames.iter().any(|h| within(name, h));
        if !in_site {
            invalid.add(RecordField::Name, OUTSIDE);
        } else if model::owner_of_name(&mut *db, name).await? != Some((customer, zone.site)) {
            invalid.add(RecordField::Name, OTHER_ZONE);
        } else if kind == Some(RecordType::Cname) && apexes(&zone.hostnames).any(|apex| apex == name) {
            invalid.add(RecordField::Name, APEX_CNAME);
        }
    }
    if let (Some(name), Some(kind)) = (&name, kind)
        && invalid.get(RecordField::Name).is_none()
    {
        let others: Vec<Record> = model::records_at(&mut *db, customer, zone.site, name)
            .await?
            .into_iter()
            .filter(|r| Some(r.id) != current.map(|c| c.id))
            .collect();
        if kind == RecordType::Cname && !others.is_empty() {
            let mut types: Vec<&str> = others.iter().map(|r| r.kind.as_str()).collect();
            types.dedup();
            invalid.add(
                RecordField::Name,
                format!(
                    "A CNAME cannot sit beside other records, and {name} has {} already. Delete those first, or use another name.",
                    types.join(", ")
                ),
            );
        } else if kind != RecordType::Cname && others.iter().any(|r| r.kind == RecordType::Cname) {
            invalid.add(
                RecordField::Name,
                format!(
                    "{name} has a CNAME, which cannot sit beside other records. Delete it first, or use another name."
                ),
            );
        } else if let Some(value) = &value
            && others
                .iter()
                .any(|r| r.kind == kind && r.value.as_deref() == Some(value))
        {
            invalid.add(RecordField::Value, SAME);
        }
    }
    match (name, kind, value, ttl) {
        (Some(name), Some(kind), Some(value), Some(ttl)) if invalid.is_empty() => Ok(Fields { name, kind, value, ttl }),
        _ => Err(DnsError::Invalid(invalid)),
    }
}

/// `name` is `zone` or under it.
fn within(name: &str, zone: &str) -> bool {
    name == zone || name.strip_suffix(zone).is_some_and(|head| head.ends_with('.'))
}

/// The site's zones: its hostnames that are under none of its others.
fn apexes(hostnames: &[String]) -> impl Iterator<Item = &String> {
    hostnames
        .iter()
        .filter(|h| !hostnames.iter().any(|other| other != *h && within(h, other)))
}

fn summary(fields: &Fields) -> String {
    format!("{} {} {}", fields.name, fields.kind, fields.value)
}

/// A write's failure: the same record written meanwhile, or a database error.
fn write_error(err: sqlx::Error) -> DnsError {
    if db::violated(&err) == Some(model::SAME_RECORD) {
        return DnsError::Invalid(Invalid::one(RecordField::Value, SAME));
    }
    DnsError::Db(err)
}

/// Adds a record to the customer's site. `once`: the add form's one-time token; sent
/// before, nothing is added ([`DnsError::Repeated`]).
pub async fn add(
    db: &PgPool,
    who: &Who,
    site: SiteId,
    input: &RecordInput,
    once: Option<FormToken>,
) -> Result<Saved, DnsError> {
    let mut tx = Tx::begin(db).await?;
    if !once::first_use_of(&mut *tx, who.customer, once).await? {
        return Err(DnsError::Repeated);
    }
    let zone = model::lock_site(&mut tx, who.customer, site)
        .await?
        .ok_or(DnsError::NotFound)?;
    let fields = check(&mut tx, who.customer, &zone, input, None).await?;
    if model::count(&mut *tx, who.customer, site).await? >= model::MAX_RECORDS {
        return Err(DnsError::Invalid(Invalid::one(
            RecordField::Name,
            format!("A site has at most {} records; delete one first.", model::MAX_RECORDS),
        )));
    }
    let record = model::insert(&mut *tx, who.customer, site, &fields)
        .await
        .map_err(write_error)?;
    let summary = summary(&fields);
    audit::record(&mut *tx, who, "dns_record_added", &summary).await?;
    tx.commit().await?;
    Ok(Saved {
        site,
        record,
        summary,
        changed: true,
    })
}

/// Changes a record of the customer's: a field left out keeps its value.
pub async fn update(db: &PgPool, who: &Who, id: RecordId, input: &RecordInput) -> Result<Saved, DnsError> {
    let current = model::record(db, who.customer, id).await?.ok_or(DnsError::NotFound)?;
    let mut tx = Tx::begin(db).await?;
    let zone = model::lock_site(&mut tx, who.customer, current.site_id)
        .await?
        .ok_or(DnsError::NotFound)?;
    // Read again under the site's lock: what the checks compare with.
    let current = model::record(&mut *tx, who.customer, id)
        .await?
        .ok_or(DnsError::NotFound)?;
    let fields = check(&mut tx, who.customer, &zone, input, Some(&current)).await?;
    let summary = summary(&fields);
    let unchanged = current.name == fields.name
        && current.kind == fields.kind
        && current.value.as_deref() == Some(fields.value.as_str())
        && current.ttl == fields.ttl;
    if unchanged {
        return Ok(Saved {
            site: current.site_id,
            record: id,
            summary,
            changed: false,
        });
    }
    if !model::update(&mut *tx, who.customer, id, &fields)
        .await
        .map_err(write_error)?
    {
        return Err(DnsError::NotFound);
    }
    let before = format!(
        "{} {} {}",
        current.name,
        current.kind,
        current.value.as_deref().unwrap_or("(pending)")
    );
    audit::record(&mut *tx, who, "dns_record_changed", &format!("{before} → {summary}")).await?;
    tx.commit().await?;
    Ok(Saved {
        site: current.site_id,
        record: id,
        summary,
        changed: true,
    })
}

/// Deletes a record of the customer's.
pub async fn delete(db: &PgPool, who: &Who, id: RecordId) -> Result<Saved, DnsError> {
    let current = model::record(db, who.customer, id).await?.ok_or(DnsError::NotFound)?;
    let mut tx = Tx::begin(db).await?;
    model::lock_site(&mut tx, who.customer, current.site_id)
        .await?
        .ok_or(DnsError::NotFound)?;
    if !model::delete(&mut *tx, who.customer, id).await? {
        return Err(DnsError::NotFound);
    }
    let summary = format!(
        "{} {} {}",
        current.name,
        current.kind,
        current.value.as_deref().unwrap_or("(pending)")
    );
    audit::record(&mut *tx, who, "dns_record_deleted", &summary).await?;
    tx.commit().await?;
    Ok(Saved {
        site: current.site_id,
        record: id,
        summary,
        changed: true,
    })
}

/// One record of the customer's (for its edit form).
pub async fn record(db: &PgPool, who: &Who, id: RecordId) -> Result<Record, DnsError> {
    model::record(db, who.customer, id).await?.ok_or(DnsError::NotFound)
}

// ---- verification -----------------------------------------------------------------------

/// What a verification found, zone by zone.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub verified: Vec<String>,
    /// Zones whose `_berth-verify` record was not found, or held another token.
    pub missing: Vec<String>,
}

impl Verified {
    /// The message the site page shows.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if !self.verified.is_empty() {
            parts.push(format!(
                "Verified, and served from now on: {}.",
                self.verified.join(", ")
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "Not found yet: a TXT record {} holding the token. A new record can take a while to be seen; check again later.",
                self.missing
                    .iter()
                    .map(|zone| super::verify::record_name(zone))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if parts.is_empty() {
            parts.push("Every zone of this site is verified.".to_owned());
        }
        parts.join(" ")
    }
}

/// Looks up `_berth-verify.<zone>` for each zone of the customer's site not verified yet,
/// through `lookup`, and marks those holding the site's token as verified.
pub async fn verify(
    db: &PgPool,
    who: &Who,
    site: SiteId,
    lookup: &impl super::verify::TxtLookup,
) -> Result<Verified, DnsError> {
    let state = model::verification(db, who.customer, site)
        .await?
        .ok_or(DnsError::NotFound)?;
    let mut found = Verified::default();
    for zone in state.unverified {
        let strings = lookup.txt(&super::verify::record_name(&zone)).await;
        if strings.iter().any(|s| s.trim() == state.token) {
            found.verified.push(zone);
        } else {
            found.missing.push(zone);
        }
    }
    if !found.verified.is_empty() {
        let mut tx = Tx::begin(db).await?;
        for zone in &found.verified {
            model::mark_verified(&mut *tx, who.customer, site, zone).await?;
        }
        audit::record(&mut *tx, who, "dns_zone_verified", &found.verified.join(", ")).await?;
        tx.commit().await?;
    }
    Ok(found)
}

// ---- claims -----------------------------------------------------------------------------

/// What a reserved name says.
pub const RESERVED: &str = "This hostname is reserved by the platform; choose another.";
/// What a name nesting with another customer's says (never whose).
pub const NESTED: &str =
    "This hostname is inside (or around) a domain another account holds on the platform; choose another.";

/// Whether the customer may claim `hostname` for a site, beyond its being free: not a
/// platform-reserved name (BERTH_DNS_RESERVED) or under one, and neither under nor above
/// a hostname another customer holds (their zones would nest). The refusal's message, if
/// refused.
pub async fn claim(db: &PgPool, customer: CustomerId, hostname: &Hostname) -> sqlx::Result<Option<&'static str>> {
    let claim = model::claim(db, customer, hostname.ascii()).await?;
    Ok(if claim.reserved {
        Some(RESERVED)
    } else if claim.nested_with_another {
        Some(NESTED)
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_the_hostnames_under_none_of_the_others() {
        let hostnames: Vec<String> = [
            "shop.example.com",
            "www.shop.example.com",
            "shop.example.org",
            "example.net",
        ]
        .map(str::to_owned)
        .to_vec();
        let apexes: Vec<&String> = apexes(&hostnames).collect();
        assert_eq!(apexes, ["shop.example.com", "shop.example.org", "example.net"]);
        assert!(within("a.shop.example.com", "shop.example.com"));
        assert!(within("shop.example.com", "shop.example.com"));
        assert!(!within("myshop.example.com", "shop.example.com"));
    }
}
