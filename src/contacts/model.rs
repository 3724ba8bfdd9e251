//! Contacts, their contact methods (from the catalogue `contact_method_types`, each with
//! options validated by method) and their subscriptions to notice types (each with its
//! minimum severity). Every query filters by the customer.

use serde_json::{Value, json};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::audit::record;
use crate::delivery::address;
use crate::identity::{CustomerId, Email, Who};
use crate::notices::model::Severity;
use crate::validation::{Field, FieldErrors, Names};

crate::id_type!(ContactId, MethodId, SubscriptionId);

/// A contact's name: 1 to 100 characters after trimming, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactName(String);

impl std::str::FromStr for ContactName {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        crate::validation::one_line(raw, 100, "Give the contact a name, such as \"On-call team\".").map(Self)
    }
}

impl ContactName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A way to reach a contact (`contact_methods.method_id`); the catalogue's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum MethodKind {
    Email,
    Sms,
    Phone,
    Webhook,
}

/// Every option key any method takes; the method form has one field for each.
pub const OPTION_KEYS: [&str; 3] = ["address", "number", "url"];

impl MethodKind {
    pub const ALL: [MethodKind; 4] = [Self::Email, Self::Sms, Self::Phone, Self::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Phone => "phone",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw.trim())
    }

    /// The one option the method needs.
    pub fn option(self) -> OptionKey {
        match self {
            Self::Email => OptionKey::Address,
            Self::Sms | Self::Phone => OptionKey::Number,
            Self::Webhook => OptionKey::Url,
        }
    }

    /// The key of the one option the method needs.
    pub fn option_key(self) -> &'static str {
        match self {
            Self::Email => "address",
            Self::Sms | Self::Phone => "number",
            Self::Webhook => "url",
        }
    }

    /// Checks the option's value; answers it as stored.
    fn check(self, raw: &str) -> Result<String, &'static str> {
        match self {
            Self::Email => raw.parse::<Email>().map(|e| e.as_str().to_owned()),
            Self::Sms | Self::Phone => e164(raw),
            Self::Webhook => https_url(raw),
        }
    }
}

impl std::fmt::Display for MethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An E.164 number: `+`, then 8 to 15 digits, the first not 0. Spaces typed between the
/// digits are dropped.
pub fn e164(raw: &str) -> Result<String, &'static str> {
    let bad = "Enter the number in international form: + then 8 to 15 digits, such as +4930123456.";
    let s: String = raw.trim().chars().filter(|c| *c != ' ').collect();
    let Some(digits) = s.strip_prefix('+') else {
        return Err(bad);
    };
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if ok { Ok(s) } else { Err(bad) }
}

/// A webhook URL: `https://` with a host (and an optional port), no user name or password,
/// no spaces or control characters, at most 2048 bytes.
pub fn https_url(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.len() > 2048 {
        return Err("Use a URL of at most 2048 characters.");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("A URL has no spaces or control characters.");
    }
    let Some(rest) = s
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &s[8..])
    else {
        return Err("Use an https:// URL, such as https://hooks.example.com/berth.");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("Leave the user name and password out of the URL.");
    }
    let (host_ok, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 address: `[2001:db8::1]` or `[2001:db8::1]:8443`.
        let (ip, tail) = bracketed.split_once(']').unwrap_or((bracketed, "!"));
        let port = match tail {
            "" => None,
            tail => Some(tail.strip_prefix(':').unwrap_or("!")),
        };
        (ip.parse::<std::net::Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && !host.starts_with(['.', '-'])
            && !host.contains("..")
            && host.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        (ok, port)
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err("The URL needs a host name, such as https://hooks.example.com/berth.");
    }
    let url = format!("https://{rest}");
    // The host as a URL parser reads it (so `127.1` and `0x7f.1` are the addresses they
    // are): an address that is not globally routable, or a name for this machine, is
    // refused now; names are checked again each time they are resolved for a delivery.
    let local = match url::Url::parse(&url).map(|u| u.host().map(|h| h.to_owned())) {
        Ok(Some(url::Host::Ipv4(ip))) => !address::is_global(ip.into()),
        Ok(Some(url::Host::Ipv6(ip))) => !address::is_global(ip.into()),
        Ok(Some(url::Host::Domain(name))) => address::is_localhost(&name),
        _ => return Err("The URL needs a host name, such as https://hooks.example.com/berth."),
    };
    if local {
        return Err(
            "Use a public host: Berth does not post to local, private or reserved addresses, such as localhost or 10.0.0.1.",
        );
    }
    Ok(url)
}

/// An option a method or a subscription takes, by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKey {
    Address,
    Number,
    Url,
    MinSeverity,
}

/// The fields of the contacts' forms and API arguments, each with its form name and its
/// seed name (createContact, createContactMethod, createContactMethodNotice): the one
/// table both the page and the API report mistakes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    Name,
    Method,
    NoticeType,
    Option(OptionKey),
}

impl Field for ContactField {
    fn form(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Method => "method_id",
            Self::NoticeType => "notice_type_id",
            Self::Option(OptionKey::Address) => "options[address]",
            Self::Option(OptionKey::Number) => "options[number]",
            Self::Option(OptionKey::Url) => "options[url]",
            Self::Option(OptionKey::MinSeverity) => "options[min_severity]",
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Method => "methodId",
            Self::NoticeType => "noticeTypeId",
            Self::Option(OptionKey::Address) => "options.address",
            Self::Option(OptionKey::Number) => "options.number",
            Self::Option(OptionKey::Url) => "options.url",
            Self::Option(OptionKey::MinSeverity) => "options.min_severity",
        }
    }
}

impl ContactField {
    /// The name of option `key`, any key (one that no method takes too), spelt as the
    /// table spells the known ones: `options[KEY]` in a form, `options.KEY` in the API.
    pub fn option_name(names: Names, key: &str) -> String {
        match names {
            Names::Form => format!("options[{key}]"),
            Names::Seed => format!("options.{key}"),
        }
    }
}

/// What takes options: a method of some kind, or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taker {
    Method(MethodKind),
    Subscription,
}

/// One mistake in a contact's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A message on a field.
    On(ContactField, String),
    /// Option `key` is not one of those `taker` takes (it takes only `wanted`). Its message
    /// names both options, so it is worded once the names are known.
    Stray {
        key: String,
        wanted: ContactField,
        taker: Taker,
    },
}

/// The mistakes in a contact's input, in the order found, before it is known whether a
/// form or an API call sent it: [`Problems::errors`] tells them under either's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn one(field: ContactField, message: impl Into<String>) -> Self {
        Self(vec![Problem::On(field, message.into())])
    }

    fn on(&mut self, field: ContactField, message: impl Into<String>) {
        self.0.push(Problem::On(field, message.into()));
    }

    fn stray(&mut self, key: &str, wanted: ContactField, taker: Taker) {
        self.0.push(Problem::Stray {
            key: key.to_owned(),
            wanted,
            taker,
        });
    }

    fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The messages under the form's or the API's names; a field keeps its first. A stray
    /// option is refused on its own name in the API; a form has no field of that name to
    /// show it on, so there it goes on the field that decides which options are allowed.
    pub fn errors(&self, names: Names) -> FieldErrors {
        let name = |field: ContactField| match names {
            Names::Form => field.form(),
            Names::Seed => field.seed(),
        };
        let mut errors = FieldErrors::default();
        for problem in &self.0 {
            match problem {
                Problem::On(field, message) => errors.add(name(*field), message.clone()),
                Problem::Stray { key, wanted, taker } => {
                    let stray = ContactField::option_name(names, key);
                    let wanted_name = name(*wanted);
                    let message = match taker {
                        Taker::Method(kind) => {
                            format!("A {kind} method takes only {wanted_name}; {stray} is not one of its options.")
                        }
                        Taker::Subscription => {
                            format!("A subscription takes only {wanted_name}; {stray} is not one of its options.")
                        }
                    };
                    let place = match (names, taker) {
                        (Names::Seed, _) => stray,
                        (Names::Form, Taker::Method(_)) => name(ContactField::Method).to_owned(),
                        (Names::Form, Taker::Subscription) => wanted_name.to_owned(),
                    };
                    errors.add(place, message);
                }
            }
        }
        errors
    }
}

/// `options[KEY]` of a form: the key.
fn option_key(name: &str) -> Option<&str> {
    name.strip_prefix("options[").and_then(|k| k.strip_suffix(']'))
}

/// A form's `options[KEY]` pairs as (key, value).
pub fn form_options(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(name, value)| option_key(name).map(|key| (key.to_owned(), value.clone())))
        .collect()
}

/// The value of a form's field `name`.
pub fn form_value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A contact method as asked for: the method and its checked options.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMethod {
    pub kind: MethodKind,
    pub options: Value,
}

impl NewMethod {
    /// Checks a method id and its options. Every option key any method takes may be given
    /// empty (the form has a field for each), and is then ignored; any other key, or
    /// another method's key with a value, is refused.
    pub fn check(method: Option<&str>, options: &[(String, String)]) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let Some(kind) = method.and_then(MethodKind::parse) else {
            return Err(Problems::one(
                ContactField::Method,
                "Choose email, SMS, phone or webhook.",
            ));
        };
        let wanted = kind.option_key();
        let field = ContactField::Option(kind.option());
        let mut value = None;
        for (key, raw) in options {
            if key == wanted {
                if value.is_some() {
                    problems.on(field, "This option was given twice.");
                }
                value = Some(raw.as_str());
            } else if !OPTION_KEYS.contains(&key.as_str()) || !raw.trim().is_empty() {
                problems.stray(key, field, Taker::Method(kind));
            }
        }
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => problems.on(field, missing(kind)),
            Some(raw) => match kind.check(raw) {
                Ok(v) => {
                    problems.into_result()?;
                    return Ok(Self {
                        kind,
                        options: json!({ wanted: v }),
                    });
                }
                Err(message) => problems.on(field, message),
            },
        }
        Err(problems)
    }
}

fn missing(kind: MethodKind) -> &'static str {
    match kind {
        MethodKind::Email => "An email method needs an address.",
        MethodKind::Sms | MethodKind::Phone => "This method needs a number, such as +4930123456.",
        MethodKind::Webhook => "A webhook needs an https:// URL.",
    }
}

/// A subscription as asked for: a notice type and the least severe notice it hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub notice_type: String,
    pub min_severity: Severity,
}

impl NewSubscription {
    /// Checks a notice type (one of `types`) and the options: only `min_severity`, one of
    /// the severities (default info).
    pub fn check(notice_type: Option<&str>, options: &[(String, String)], types: &[&str]) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let notice_type = notice_type.map(str::trim).unwrap_or_default();
        if !types.contains(&notice_type) {
            problems.on(
                ContactField::NoticeType,
                format!("Choose one of: {}.", types.join(", ")),
            );
        }
        let field = ContactField::Option(OptionKey::MinSeverity);
        let mut min_severity = None;
        for (key, raw) in options {
            if key == "min_severity" {
                match raw.parse::<Severity>() {
                    Ok(s) if min_severity.is_none() => min_severity = Some(s),
                    Ok(_) => problems.on(field, "This option was given twice."),
                    Err(message) => problems.on(field, message),
                }
            } else {
                problems.stray(key, field, Taker::Subscription);
            }
        }
        problems.into_result()?;
        Ok(Self {
            notice_type: notice_type.to_owned(),
            min_severity: min_severity.unwrap_or(Severity::Info),
        })
    }
}

/// A method of the catalogue (listContactMethods).
#[derive(Debug, Clone)]
pub struct MethodType {
    pub id: MethodKind,
    pub label: String,
}

pub async fn method_types(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<MethodType>> {
    sqlx::query_as!(
        MethodType,
        r#"select id as "id: MethodKind", label from contact_method_types order by sort"#
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub contact_method_id: MethodId,
    pub notice_type_id: String,
    pub min_severity: Severity,
}

#[derive(Debug, Clone)]
pub struct Method {
    pub id: MethodId,
    pub contact_id: ContactId,
    pub method_id: MethodKind,
    pub label: String,
    /// The address, number or URL.
    pub target: String,
    pub subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub methods: Vec<Method>,
}

impl Contact {
    pub fn subscription_count(&self) -> usize {
        self.methods.iter().map(|m| m.subscriptions.len()).sum()
    }
}

/// A contact, one of its methods and one of that method's subscriptions (or none), as
/// [`load`] reads them.
struct Row {
    contact: ContactId,
    name: String,
    method: Option<MethodId>,
    method_id: Option<MethodKind>,
    label: Option<String>,
    target: Option<String>,
    subscription: Option<SubscriptionId>,
    notice_type_id: Option<String>,
    min_severity: Option<Severity>,
}

/// The customer's contacts (all, or the one `only`), by name, with their methods (oldest
/// first) and subscriptions.
async fn load(db: &PgPool, customer: CustomerId, only: Option<ContactId>) -> sqlx::Result<Vec<Contact>> {
    // One statement; and one for every contact and another for a single one (not `$2 is
    // null or …`), so PostgreSQL keeps a plan for each instead of planning every call.
    let rows = match only {
        None => {
            sqlx::query_as!(
                Row,
                r#"select c.id as "contact: ContactId", c.name, m.id as "method?: MethodId",
                        m.method_id as "method_id?: MethodKind", t.label as "label?",
                        coalesce(m.options ->> 'address', m.options ->> 'number', m.options ->> 'url', '') as target,
                        s.id as "subscription?: SubscriptionId", s.notice_type_id as "notice_type_id?",
                        coalesce(s.options ->> 'min_severity', 'info') as "min_severity: Severity"
                 from contacts c
                 left join contact_methods m on m.customer_id = c.customer_id and m.contact_id = c.id
                 left join contact_method_types t on t.id = m.method_id
                 left join contact_method_notices s on s.customer_id = c.customer_id and s.contact_method_id = m.id
                 where c.customer_id = $1
                 order by lower(c.name), c.id, m.id, s.id"#,
                customer as CustomerId,
            )
            .fetch_all(db)
            .await?
        }
        Some(id) => {
            sqlx::query_as!(
                Row,
                r#"select c.id as "contact: ContactId", c.name, m.id as "method?: MethodId",
                        m.method_id as "method_id?: MethodKind", t.label as "label?",
                        coalesce(m.options ->> 'address', m.options ->> 'number', m.options ->> 'url', '') as target,
                        s.id as "subscription?: SubscriptionId", s.notice_type_id as "notice_type_id?",
                        coalesce(s.options ->> 'min_severity', 'info') as "min_severity: Severity"
                 from contacts c
                 left join contact_methods m on m.customer_id = c.customer_id and m.contact_id = c.id
                 left join contact_method_types t on t.id = m.method_id
                 left join contact_method_notices s on s.customer_id = c.customer_id and s.contact_method_id = m.id
                 where c.customer_id = $1 and c.id = $2
                 order by lower(c.name), c.id, m.id, s.id"#,
                customer as CustomerId,
                id as ContactId,
            )
            .fetch_all(db)
            .await?
        }
    };
    let mut contacts: Vec<Contact> = Vec::new();
    for row in rows {
        if contacts.last().is_none_or(|c| c.id != row.contact) {
            contacts.push(Contact {
                id: row.contact,
                name: row.name,
                methods: Vec::new(),
            });
        }
        let contact = contacts.last_mut().expect("pushed above");
        let (Some(method), Some(method_id), Some(label), Some(target)) =
            (row.method, row.method_id, row.label, row.target)
        else {
            continue;
        };
        if contact.methods.last().is_none_or(|m| m.id != method) {
            contact.methods.push(Method {
                id: method,
                contact_id: contact.id,
                method_id,
                label,
                target,
                subscriptions: Vec::new(),
            });
        }
        if let (Some(id), Some(notice_type_id), Some(min_severity)) =
            (row.subscription, row.notice_type_id, row.min_severity)
        {
            let method = contact.methods.last_mut().expect("pushed above");
            method.subscriptions.push(Subscription {
                id,
                contact_method_id: method.id,
                notice_type_id,
                min_severity,
            });
        }
    }
    Ok(contacts)
}

/// Every contact of the customer's (listContacts).
pub async fn list(db: &PgPool, customer: CustomerId) -> sqlx::Result<Vec<Contact>> {
    load(db, customer, None).await
}

/// One contact of the customer's.
pub async fn contact(db: &PgPool, customer: CustomerId, id: ContactId) -> sqlx::Result<Option<Contact>> {
    Ok(load(db, customer, Some(id)).await?.pop())
}

/// The contact a method of the customer's belongs to.
pub async fn method_contact(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: MethodId,
) -> sqlx::Result<Option<ContactId>> {
    sqlx::query_scalar!(
        r#"select contact_id as "contact_id: ContactId" from contact_methods where customer_id = $1 and id = $2"#,
        customer as CustomerId,
        id as MethodId,
    )
    .fetch_optional(db)
    .await
}

/// The signing secrets of the customer's webhooks among `methods`, with their contacts:
/// read where they are kept for signing, to show them again until dismissed.
pub async fn signing_secrets(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    methods: &[MethodId],
) -> sqlx::Result<Vec<(ContactId, MethodId, String)>> {
    let ids: Vec<i64> = methods.iter().map(|m| m.0).collect();
    let rows = sqlx::query!(
        r#"select contact_id as "contact_id: ContactId", id as "id: MethodId", signing_secret as "secret!"
         from contact_methods where customer_id = $1 and id = any($2) and signing_secret is not null
         order by id"#,
        customer as CustomerId,
        &ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.contact_id, r.id, r.secret)).collect())
}

/// The contact a subscription of the customer's belongs to.
pub async fn subscription_contact(
    db: impl PgExecutor<'_>,
    customer: CustomerId,
    id: SubscriptionId,
) -> sqlx::Result<Option<ContactId>> {
    sqlx::query_scalar!(
        r#"select m.contact_id as "contact_id: ContactId"
         from contact_method_notices s join contact_methods m on m.id = s.contact_method_id
         where s.customer_id = $1 and m.customer_id = $1 and s.id = $2"#,
        customer as CustomerId,
        id as SubscriptionId,
    )
    .fetch_optional(db)
    .await
}

pub async fn create_contact(tx: &mut PgConnection, who: &Who, name: &ContactName) -> sqlx::Result<ContactId> {
    let id = sqlx::query_scalar!(
        r#"insert into contacts (customer_id, name) values ($1, $2) returning id as "id: ContactId""#,
        who.customer as CustomerId,
        name.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    record(&mut *tx, who, "contact_created", name.as_str()).await?;
    Ok(id)
}

/// Deletes a contact with its methods and their subscriptions; answers its name, or None
/// when the customer has no such contact.
pub async fn delete_contact(tx: &mut PgConnection, who: &Who, id: ContactId) -> sqlx::Result<Option<String>> {
    let name = sqlx::query_scalar!(
        "delete from contacts where customer_id = $1 and id = $2 returning name",
        who.customer as CustomerId,
        id as ContactId,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(name) = &name {
        record(&mut *tx, who, "contact_deleted", name).await?;
    }
    Ok(name)
}

/// A webhook's signing secret: `whsec_` and 64 hex digits (256 random bits).
pub fn signing_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// How a method is named in Activity: `<contact>: <method> <target>`, where a webhook's
/// URL is cut to its scheme and host. Full webhook URLs are often secrets (a chat token in
/// the path or query), and Activity is also the staff console's audit log.
pub fn activity_label(contact: &str, method_id: MethodKind, target: &str) -> String {
    let target = if method_id == MethodKind::Webhook {
        match url::Url::parse(target) {
            Ok(url) => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
            Err(_) => "(URL not shown)".to_owned(),
        }
    } else {
        target.to_owned()
    };
    format!("{contact}: {method_id} {target}")
}

/// At most this many webhook methods per customer: each notice is posted to every one.
pub const MAX_WEBHOOKS: i64 = 10;

/// The result of [`add_method`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Method(MethodId),
    /// The customer has no such contact.
    NoContact,
    /// The customer already has [`MAX_WEBHOOKS`] webhooks.
    TooManyWebhooks,
}

/// The message when the customer already has [`MAX_WEBHOOKS`] webhooks.
pub fn too_many_webhooks() -> String {
    format!("You have {MAX_WEBHOOKS} webhooks, the most an account may have. Delete one before adding another.")
}

/// Adds a method to a contact of the customer's. A webhook gets `secret`, which is never
/// recorded in Activity (nor is more of its URL than scheme and host), and is refused
/// when the customer already has [`MAX_WEBHOOKS`]: the count is taken under a lock on the
/// customer's row, so parallel requests cannot pass it together.
pub async fn add_method(
    tx: &mut PgConnection,
    who: &Who,
    contact: ContactId,
    method: &NewMethod,
    secret: Option<&str>,
) -> sqlx::Result<Added> {
    if method.kind == MethodKind::Webhook {
        // The lock first, in its own statement: a count in the same statement would use the
        // snapshot taken before waiting for the lock, and miss the webhooks just committed.
        sqlx::query!(
            "select 1 as locked from customers where id = $1 for update",
            who.customer as CustomerId
        )
        .fetch_optional(&mut *tx)
        .await?;
        let webhooks = sqlx::query_scalar!(
            r#"select count(*) as "count!" from contact_methods where customer_id = $1 and method_id = $2"#,
            who.customer as CustomerId,
            MethodKind::Webhook as MethodKind,
        )
        .fetch_one(&mut *tx)
        .await?;
        if webhooks >= MAX_WEBHOOKS {
            return Ok(Added::TooManyWebhooks);
        }
    }
    let added = sqlx::query!(
        r#"insert into contact_methods (customer_id, contact_id, method_id, options, signing_secret)
         select $1, id, $3, $4, $5 from contacts where customer_id = $1 and id = $2
         returning id as "id: MethodId", (select name from contacts where id = $2) as "name!""#,
        who.customer as CustomerId,
        contact as ContactId,
        method.kind as MethodKind,
        method.options,
        secret,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(added) = added else {
        return Ok(Added::NoContact);
    };
    let target = method.options[method.kind.option_key()].as_str().unwrap_or_default();
    let detail = activity_label(&added.name, method.kind, target);
    record(&mut *tx, who, "contact_method_added", &detail).await?;
    Ok(Added::Method(added.id))
}

/// Deletes a method of the customer's with its subscriptions; answers its contact.
pub async fn delete_method(tx: &mut PgConnection, who: &Who, id: MethodId) -> sqlx::Result<Option<ContactId>> {
    let deleted = sqlx::query!(
        r#"delete from contact_methods m using contacts c
         where m.customer_id = $1 and m.id = $2 and c.id = m.contact_id
         returning m.contact_id as "contact_id: ContactId", c.name, m.method_id as "method_id: MethodKind",
                   coalesce(m.options ->> 'address', m.options ->> 'number', m.options ->> 'url', '') as "target!""#,
        who.customer as CustomerId,
        id as MethodId,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(deleted) = deleted else {
        return Ok(None);
    };
    let detail = activity_label(&deleted.name, deleted.method_id, &deleted.target);
    record(&mut *tx, who, "contact_method_deleted", &detail).await?;
    Ok(Some(deleted.contact_id))
}

/// What [`subscribe`] saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    pub contact: ContactId,
    pub id: SubscriptionId,
    /// Whether the subscription is new (else its minimum severity changed).
    pub created: bool,
}

/// Subscribes a method of the customer's to a notice type; a method already subscribed to
/// that type gets the new minimum severity. None when the customer has no such method.
pub async fn subscribe(
    tx: &mut PgConnection,
    who: &Who,
    method: MethodId,
    subscription: &NewSubscription,
) -> sqlx::Result<Option<Subscribed>> {
    let saved = sqlx::query!(
        r#"with m as (
             select m.id, m.contact_id, c.name, m.method_id,
                    coalesce(m.options ->> 'address', m.options ->> 'number', m.options ->> 'url', '') as target
             from contact_methods m join contacts c on c.id = m.contact_id
             where m.customer_id = $1 and c.customer_id = $1 and m.id = $2
         ), saved as (
             insert into contact_method_notices (customer_id, contact_method_id, notice_type_id, options)
             select $1, id, $3, $4 from m
             on conflict (contact_method_id, notice_type_id) do update set options = excluded.options
             returning id, (xmax = 0) as created
         )
         select m.contact_id as "contact_id!: ContactId", saved.id as "id!: SubscriptionId",
                saved.created as "created!", m.name as "name!", m.method_id as "method_id!: MethodKind",
                m.target as "target!"
         from m, saved"#,
        who.customer as CustomerId,
        method as MethodId,
        subscription.notice_type,
        json!({ "min_severity": subscription.min_severity.as_str() }),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(saved) = saved else {
        return Ok(None);
    };
    let what = activity_label(&saved.name, saved.method_id, &saved.target);
    let (kind, verb) = if saved.created {
        ("contact_subscribed", "subscribed to")
    } else {
        ("contact_subscription_changed", "now hears about")
    };
    let detail = format!(
        "{what} {verb} {} from {}",
        subscription.notice_type, subscription.min_severity
    );
    record(&mut *tx, who, kind, &detail).await?;
    Ok(Some(Subscribed {
        contact: saved.contact_id,
        id: saved.id,
        created: saved.created,
    }))
}

/// Removes a subscription of the customer's; answers its method's contact and its type.
pub async fn unsubscribe(
    tx: &mut PgConnection,
    who: &Who,
    id: SubscriptionId,
) -> sqlx::Result<Option<(ContactId, String)>> {
    let deleted = sqlx::query!(
        r#"delete from contact_method_notices s using contact_methods m, contacts c
         where s.customer_id = $1 and s.id = $2 and m.id = s.contact_method_id and c.id = m.contact_id
         returning m.contact_id as "contact_id: ContactId", s.notice_type_id, c.name,
                   m.method_id as "method_id: MethodKind",
                   coalesce(m.options ->> 'address', m.options ->> 'number', m.options ->> 'url', '') as "target!""#,
        who.customer as CustomerId,
        id as SubscriptionId,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(deleted) = deleted else {
        return Ok(None);
    };
    let what = activity_label(&deleted.name, deleted.method_id, &deleted.target);
    let detail = format!("{what} unsubscribed from {}", deleted.notice_type_id);
    record(&mut *tx, who, "contact_unsubscribed", &detail).await?;
    Ok(Some((deleted.contact_id, deleted.notice_type_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_e164() {
        assert_eq!(e164("+4930123456").unwrap(), "+4930123456");
        assert_eq!(e164(" +49 30 123456 ").unwrap(), "+4930123456");
        assert_eq!(e164("+123456789012345").unwrap(), "+123456789012345");
        for bad in [
            "",
            "4930123456",
            "+0930123456",
            "+1234567",
            "+1234567890123456",
            "+49-30-123456",
            "++4930123456",
            "+49301234ab",
        ] {
            assert!(e164(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_are_https_urls_with_a_host() {
        for ok in [
            "https://hooks.example.com",
            "https://hooks.example.com/berth?x=1",
            "HTTPS://example.com:8443/x",
            "https://[2606:4700:4700::1111]:443/x",
            "https://[2606:4700:4700::1111]/x",
            "https://93.184.216.34/hook",
            "https://localhost.example.com/x",
        ] {
            assert!(https_url(ok).is_ok(), "{ok}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        for bad in [
            "http://example.com",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://exa mple.com",
            "https://example.com/\u{7}",
            "https://example.com:0/",
            "https://example.com:99999/",
            "ftp://example.com",
            "example.com",
            long.as_str(),
        ] {
            assert!(https_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_to_local_private_or_reserved_hosts_are_refused() {
        for bad in [
            "https://127.0.0.1/hook",
            "https://127.1/hook",
            "https://0x7f.0.0.1/hook",
            "https://2130706433/hook",
            "https://0.0.0.0/",
            "https://10.1.2.3:8443/x",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://198.18.0.1/",
            "https://203.0.113.5/",
            "https://240.0.0.1/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/hook",
            "https://[::]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[::ffff:7f00:1]/hook",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[2001:db8::1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://localhost/hook",
            "https://LOCALHOST:8443/hook",
            "https://localhost./hook",
            "https://api.localhost/hook",
        ] {
            let err = https_url(bad).expect_err(bad);
            assert!(err.contains("public host"), "{bad}: {err}");
        }
    }

    #[test]
    fn activity_names_a_webhook_by_scheme_and_host_only() {
        assert_eq!(
            activity_label(
                "Ops",
                MethodKind::Webhook,
                "https://hooks.slack.com:8443/services/T0/B0/s3cr3t?token=x#y"
            ),
            "Ops: webhook https://hooks.slack.com"
        );
        assert_eq!(
            activity_label("Ops", MethodKind::Webhook, "https://[2606:4700::1]/s3cr3t"),
            "Ops: webhook https://[2606:4700::1]"
        );
        assert_eq!(
            activity_label("Ops", MethodKind::Webhook, "not a url s3cr3t"),
            "Ops: webhook (URL not shown)"
        );
        assert_eq!(
            activity_label("Ops", MethodKind::Email, "ops@example.com"),
            "Ops: email ops@example.com"
        );
    }

    fn form(pairs: &[(&str, &str)]) -> (Option<String>, Vec<(String, String)>, Option<String>) {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        (
            form_value(&pairs, "method_id"),
            form_options(&pairs),
            form_value(&pairs, "notice_type_id"),
        )
    }

    fn method(pairs: &[(&str, &str)]) -> Result<NewMethod, FieldErrors> {
        let (method, options, _) = form(pairs);
        NewMethod::check(method.as_deref(), &options).map_err(|p| p.errors(Names::Form))
    }

    fn subscription(pairs: &[(&str, &str)], types: &[&str]) -> Result<NewSubscription, FieldErrors> {
        let (_, options, notice_type) = form(pairs);
        NewSubscription::check(notice_type.as_deref(), &options, types).map_err(|p| p.errors(Names::Form))
    }

    fn api(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_option_names_are_the_tables() {
        for key in [
            OptionKey::Address,
            OptionKey::Number,
            OptionKey::Url,
            OptionKey::MinSeverity,
        ] {
            let field = ContactField::Option(key);
            let bare = field.seed().strip_prefix("options.").unwrap();
            assert_eq!(ContactField::option_name(Names::Form, bare), field.form());
            assert_eq!(ContactField::option_name(Names::Seed, bare), field.seed());
        }
    }

    #[test]
    fn method_options_follow_the_method() {
        let m = method(&[
            ("method_id", "email"),
            ("options[address]", "a@example.com"),
            ("options[number]", ""),
            ("options[url]", ""),
        ])
        .unwrap();
        assert_eq!(m.kind, MethodKind::Email);
        assert_eq!(m.options, json!({"address": "a@example.com"}));
        let unknown = method(&[
            ("method_id", "email"),
            ("options[address]", "a@example.com"),
            ("options[colour]", ""),
        ])
        .unwrap_err();
        assert!(unknown.get("method_id").is_some());
        let other = method(&[
            ("method_id", "sms"),
            ("options[number]", "+4930123456"),
            ("options[url]", "https://example.com"),
        ])
        .unwrap_err();
        assert!(other.get("method_id").is_some());
        let missing = method(&[("method_id", "webhook")]).unwrap_err();
        assert!(missing.get("options[url]").is_some());
        let bogus = method(&[("method_id", "pigeon")]).unwrap_err();
        assert!(bogus.get("method_id").is_some());
    }

    #[test]
    fn subscription_options() {
        let types = ["billing", "outage"];
        let s = subscription(&[("notice_type_id", "outage")], &types).unwrap();
        assert_eq!(s.min_severity, Severity::Info);
        let s = subscription(
            &[("notice_type_id", "outage"), ("options[min_severity]", "critical")],
            &types,
        )
        .unwrap();
        assert_eq!(s.min_severity, Severity::Critical);
        let bad = subscription(
            &[("notice_type_id", "weather"), ("options[min_severity]", "loud")],
            &types,
        )
        .unwrap_err();
        assert!(bad.get("notice_type_id").is_some() && bad.get("options[min_severity]").is_some());
        let unknown = subscription(&[("notice_type_id", "outage"), ("options[channel]", "x")], &types).unwrap_err();
        assert!(unknown.get("options[min_severity]").is_some());
    }

    #[test]
    fn the_api_names_the_same_rules_its_own_way() {
        let m = NewMethod::check(
            Some("webhook"),
            &api(&[("url", "https://example.com/x"), ("address", "")]),
        )
        .unwrap();
        assert_eq!(m.options, json!({"url": "https://example.com/x"}));
        let bad = NewMethod::check(Some("email"), &api(&[("address", "nope"), ("colour", "red")]))
            .unwrap_err()
            .errors(Names::Seed);
        assert!(bad.get("options.address").is_some());
        assert_eq!(
            bad.get("options.colour"),
            Some("A email method takes only options.address; options.colour is not one of its options.")
        );
        assert!(
            NewMethod::check(None, &[])
                .unwrap_err()
                .errors(Names::Seed)
                .get("methodId")
                .is_some()
        );
        let bad = NewSubscription::check(Some("weather"), &api(&[("channel", "x")]), &["outage"])
            .unwrap_err()
            .errors(Names::Seed);
        assert!(bad.get("noticeTypeId").is_some() && bad.get("options.channel").is_some());
    }

    #[test]
    fn secrets_are_long_and_random() {
        let (a, b) = (signing_secret(), signing_secret());
        assert!(a.starts_with("whsec_") && a.len() == 70);
        assert_ne!(a, b);
    }
}
