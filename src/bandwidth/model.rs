//! Billable bandwidth: the billing period, what was transferred in it (in all, per day,
//! per site), importing hourly samples, and the meter's readings. Every query of what a
//! customer sees filters by the customer.

use sqlx::{PgConnection, PgPool};
use time::{Date, Duration, OffsetDateTime, Time};

use crate::bandwidth::import::{Line, Parsed, Problem, SiteRef};
use crate::identity::CustomerId;
use crate::sites::model::{ResourceStatus, SiteId};

/// The billing period holding `now`: its calendar month in UTC, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Period {
    pub fn containing(now: OffsetDateTime) -> Self {
        let now = now.to_offset(time::UtcOffset::UTC);
        let first = Date::from_calendar_date(now.year(), now.month(), 1).expect("day 1 exists");
        let next = if now.month() == time::Month::December {
            Date::from_calendar_date(now.year() + 1, time::Month::January, 1)
        } else {
            Date::from_calendar_date(now.year(), now.month().next(), 1)
        }
        .expect("day 1 exists");
        Self {
            start: first.with_time(Time::MIDNIGHT).assume_utc(),
            end: next.with_time(Time::MIDNIGHT).assume_utc(),
        }
    }

    pub fn days(&self) -> Vec<Date> {
        let mut days = Vec::new();
        let mut day = self.start.date();
        while day < self.end.date() {
            days.push(day);
            day = day.next_day().expect("not the end of time");
        }
        days
    }

    /// A straight line through what was transferred so far, to the end of the period.
    /// The elapsed time counts at least one hour, so the first minutes do not explode.
    pub fn projection(&self, total: i64, now: OffsetDateTime) -> i64 {
        let elapsed = (now.min(self.end) - self.start).max(Duration::HOUR);
        let length = self.end - self.start;
        (total as f64 * (length.as_seconds_f64() / elapsed.as_seconds_f64())).round() as i64
    }
}

#[derive(Debug, Clone)]
pub struct SiteUsage {
    pub site_id: i64,
    pub name: String,
    pub bytes_in: i64,
    pub bytes_out: i64,
}

#[derive(Debug, Clone)]
pub struct Usage {
    pub period: Period,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Every day of the period, with the bytes (in + out) of that day.
    pub days: Vec<(Date, i64)>,
    /// Every site of the customer's, most traffic first.
    pub sites: Vec<SiteUsage>,
}

impl Usage {
    pub fn total(&self) -> i64 {
        self.bytes_in.saturating_add(self.bytes_out)
    }
}

/// A sum of byte counts that stops at `i64::MAX` rather than overflowing: samples stored
/// before the import refused impossible counts (`import::MAX_BYTES_PER_HOUR`) can still
/// be in the database, and the pages must show them, not panic.
fn sum(counts: impl Iterator<Item = i64>) -> i64 {
    counts.fold(0, i64::saturating_add)
}

impl SiteUsage {
    pub fn total(&self) -> i64 {
        self.bytes_in.saturating_add(self.bytes_out)
    }
}

/// What the customer transferred in `period` (in and out). Reads the daily rollup
/// (migration `bandwidth_rollups`), at most 31 rows.
pub async fn totals(db: &PgPool, customer: CustomerId, period: Period) -> sqlx::Result<(i64, i64)> {
    let totals = sqlx::query!(
        r#"select least(coalesce(sum(bytes_in), 0), 9223372036854775807)::bigint as "bytes_in!",
                least(coalesce(sum(bytes_out), 0), 9223372036854775807)::bigint as "bytes_out!"
         from bandwidth_customer_days where customer_id = $1 and day >= $2 and day < $3"#,
        customer as CustomerId,
        period.start.date(),
        period.end.date(),
    )
    .fetch_one(db)
    .await?;
    Ok((totals.bytes_in, totals.bytes_out))
}

/// currentBillableBandwidth, with the days and sites the page shows; from the rollups, so
/// a month of hourly samples costs a few dozen rows.
pub async fn usage(db: &PgPool, customer: CustomerId, now: OffsetDateTime) -> sqlx::Result<Usage> {
    let period = Period::containing(now);
    let per_day: Vec<(Date, i64)> = sqlx::query!(
        r#"select day, least(bytes_in::numeric + bytes_out, 9223372036854775807)::bigint as "bytes!"
         from bandwidth_customer_days
         where customer_id = $1 and day >= $2 and day < $3 order by day"#,
        customer as CustomerId,
        period.start.date(),
        period.end.date(),
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|row| (row.day, row.bytes))
    .collect();
    let sites: Vec<SiteUsage> = sqlx::query_as!(
        SiteUsage,
        r#"select s.id as site_id, s.name,
                coalesce(m.bytes_in, 0) as "bytes_in!", coalesce(m.bytes_out, 0) as "bytes_out!"
         from sites s left join bandwidth_site_months m on m.site_id = s.id and m.month = $2
         where s.customer_id = $1
         order by coalesce(m.bytes_in::numeric + m.bytes_out, 0) desc, s.name, s.id"#,
        customer as CustomerId,
        period.start.date(),
    )
    .fetch_all(db)
    .await?;
    let days = period
        .days()
        .into_iter()
        .map(|day| {
            let bytes = per_day.iter().find(|(d, _)| *d == day).map_or(0, |(_, b)| *b);
            (day, bytes)
        })
        .collect();
    Ok(Usage {
        period,
        bytes_in: sum(sites.iter().map(|s| s.bytes_in)),
        bytes_out: sum(sites.iter().map(|s| s.bytes_out)),
        days,
        sites,
    })
}

/// Stores the samples of a read file in one transaction: all of them, or, when any line
/// could not be read or names a site that does not exist, none (the errors say which
/// lines, all of them in one report). A sample for a site and hour already stored
/// replaces it. Returns how many were stored.
pub async fn import(db: &PgPool, parsed: Parsed) -> anyhow::Result<Result<u64, Vec<String>>> {
    let mut tx = db.begin().await?;
    let ids: Vec<i64> = parsed
        .lines
        .iter()
        .filter_map(|l| match l.site {
            SiteRef::Id(id) => Some(id),
            SiteRef::Hostname(_) => None,
        })
        .collect();
    let hostnames: Vec<&str> = parsed
        .lines
        .iter()
        .filter_map(|l| match &l.site {
            SiteRef::Hostname(h) => Some(h.as_str()),
            SiteRef::Id(_) => None,
        })
        .collect();
    let by_id: Vec<(i64, i64)> = sqlx::query!("select id, customer_id from sites where id = any($1)", &ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.id, row.customer_id))
        .collect();
    let by_name: Vec<(String, i64, i64)> = sqlx::query!(
        "select hostname, site_id, customer_id from hostnames where hostname = any($1)",
        &hostnames as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.hostname, row.site_id, row.customer_id))
    .collect();
    let mut owners = Vec::with_capacity(parsed.lines.len());
    let mut problems = Vec::new();
    let mut unique = std::collections::HashMap::new();
    for line in &parsed.lines {
        let found = match &line.site {
            SiteRef::Id(id) => by_id.iter().find(|(i, _)| i == id).map(|(i, c)| (*i, *c)),
            SiteRef::Hostname(h) => by_name.iter().find(|(n, _, _)| n == h).map(|(_, i, c)| (*i, *c)),
        };
        let Some((site, customer)) = found else {
            problems.push(Problem::new(line.number, format!("no site {}", line.site)));
            continue;
        };
        // One site written two ways (its id and a hostname, or two of its hostnames).
        if let Some(first) = unique.insert((site, line.hour), line.number) {
            problems.push(Problem::new(
                line.number,
                format!("the same site and hour as line {first}"),
            ));
        }
        owners.push((site, customer));
    }
    let lines = match parsed.finish(problems) {
        Ok(lines) => lines,
        Err(errors) => return Ok(Err(errors)),
    };
    let rows: Vec<(i64, i64, &Line)> = owners.iter().zip(&lines).map(|((s, c), l)| (*s, *c, l)).collect();
    let (sites, customers): (Vec<i64>, Vec<i64>) = rows.iter().map(|(s, c, _)| (*s, *c)).unzip();
    let hours: Vec<OffsetDateTime> = rows.iter().map(|(_, _, l)| l.hour).collect();
    let ins: Vec<i64> = rows.iter().map(|(_, _, l)| l.bytes_in).collect();
    let outs: Vec<i64> = rows.iter().map(|(_, _, l)| l.bytes_out).collect();
    let stored = sqlx::query!(
        "insert into bandwidth_samples (site_id, customer_id, hour, bytes_in, bytes_out)
         select * from unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::bigint[])
         on conflict (site_id, hour) do update set bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out",
        &sites,
        &customers,
        &hours,
        &ins,
        &outs,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Ok(stored))
}

// ---------------------------------------------------------------------------------------
// The meter (src/bandwidth/meter.rs)

/// A site whose container the meter should read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meterable {
    pub site_id: SiteId,
    pub customer_id: CustomerId,
}

/// Up to `limit` sites with an active container that the meter has not looked at for
/// `interval_s` seconds (or never), longest waiting first, leaving out `skip` (those this
/// process is reading now). Not a claim: [`lock_reading`] decides who reads.
pub async fn due_for_meter(db: &PgPool, interval_s: f64, skip: &[SiteId], limit: i64) -> sqlx::Result<Vec<Meterable>> {
    let skip: Vec<i64> = skip.iter().map(|s| s.0).collect();
    sqlx::query_as!(
        Meterable,
        r#"select s.id as "site_id: SiteId", s.customer_id as "customer_id: CustomerId"
         from sites s
         left join meter_readings r on r.site_id = s.id
         where exists(select 1 from containers c where c.customer_id = s.customer_id and c.site_id = s.id and c.status = $1)
           and (r.checked_at is null or r.checked_at <= now() - $2 * interval '1 second')
           and s.id <> all($3)
         order by r.checked_at nulls first, s.id
         limit $4"#,
        ResourceStatus::Active as ResourceStatus,
        interval_s,
        &skip,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Makes the site's reading row (zero counters, never read) when it has none. In a
/// statement of its own, so that two meters making it at once do not wait for each other.
pub async fn ensure_reading(db: &PgPool, site: Meterable) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into meter_readings (site_id, customer_id) values ($1, $2) on conflict (site_id) do nothing",
        site.site_id as SiteId,
        site.customer_id as CustomerId,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The last reading of a container's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReading {
    pub run: Option<String>,
    pub received: i64,
    pub sent: i64,
}

/// Locks the site's reading row for this transaction when it is due (not looked at for
/// `interval_s` seconds) and no other meter holds it; `None` otherwise. The meter reads the
/// engine only while it holds this lock, and commits the delta with the new reading.
pub async fn lock_reading(tx: &mut PgConnection, site: SiteId, interval_s: f64) -> sqlx::Result<Option<LastReading>> {
    sqlx::query_as!(
        LastReading,
        "select run, received, sent from meter_readings
         where site_id = $1 and (checked_at is null or checked_at <= now() - $2 * interval '1 second')
         for update skip locked",
        site as SiteId,
        interval_s,
    )
    .fetch_optional(tx)
    .await
}

/// Adds `bytes_in` and `bytes_out` to the site's sample of the current hour (UTC); the
/// rollups follow through their triggers. A sum past `i64::MAX` stops there.
pub async fn add_to_sample(tx: &mut PgConnection, site: Meterable, bytes_in: i64, bytes_out: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into bandwidth_samples as s (customer_id, site_id, hour, bytes_in, bytes_out)
         values ($1, $2, date_trunc('hour', now(), 'UTC'), $3, $4)
         on conflict (site_id, hour) do update
             set bytes_in = least(s.bytes_in::numeric + excluded.bytes_in, 9223372036854775807)::bigint,
                 bytes_out = least(s.bytes_out::numeric + excluded.bytes_out, 9223372036854775807)::bigint",
        site.customer_id as CustomerId,
        site.site_id as SiteId,
        bytes_in,
        bytes_out,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Stores a new reading of the site's counters.
pub async fn record_reading(
    tx: &mut PgConnection,
    site: SiteId,
    run: Option<&str>,
    received: i64,
    sent: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update meter_readings set run = $2, received = $3, sent = $4, read_at = now(), checked_at = now()
         where site_id = $1",
        site as SiteId,
        run,
        received,
        sent,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The meter looked and read nothing (the container is not running, or the engine did not
/// answer): the last reading stays, and the site is due again an interval later.
pub async fn checked(tx: &mut PgConnection, site: SiteId) -> sqlx::Result<()> {
    sqlx::query!(
        "update meter_readings set checked_at = now() where site_id = $1",
        site as SiteId
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Demo samples: every hour of the period so far for `site`, a daily curve with noise.
pub async fn seed_demo(
    tx: &mut sqlx::PgConnection,
    customer: CustomerId,
    site: i64,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out)
         select $1, $2, h,
                (20e6 * (1.2 + sin(extract(hour from h) / 24 * 2 * pi())) * (0.5 + random()))::bigint,
                (90e6 * (1.2 + sin(extract(hour from h) / 24 * 2 * pi())) * (0.5 + random()))::bigint
         from generate_series($3::timestamptz, date_trunc('hour', $4::timestamptz, 'UTC') - interval '1 hour',
                              interval '1 hour') as h
         on conflict do nothing",
        customer as CustomerId,
        site,
        Period::containing(now).start,
        now,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn the_period_is_the_calendar_month_in_utc() {
        let p = Period::containing(datetime!(2026-11-27 13:40 UTC));
        assert_eq!(p.start, datetime!(2026-11-01 00:00 UTC));
        assert_eq!(p.end, datetime!(2026-12-01 00:00 UTC));
        assert_eq!(p.days().len(), 30);
        // The first and last hours belong to their month, whatever the offset given.
        assert_eq!(
            Period::containing(datetime!(2026-12-01 00:00 UTC)).start,
            datetime!(2026-12-01 00:00 UTC)
        );
        let last = Period::containing(datetime!(2026-12-31 23:59:59 UTC));
        assert_eq!(last.end, datetime!(2027-01-01 00:00 UTC));
        assert_eq!(last.days().len(), 31);
        assert_eq!(
            Period::containing(datetime!(2026-12-01 00:30 +01:00)).start,
            datetime!(2026-11-01 00:00 UTC)
        );
        assert_eq!(
            Period::containing(datetime!(2028-02-10 00:00 UTC)).days().last(),
            Some(&date!(2028 - 02 - 29))
        );
    }

    #[test]
    fn the_projection_is_a_straight_line() {
        let p = Period::containing(datetime!(2026-11-16 00:00 UTC));
        // Half of November gone: twice as much by its end.
        assert_eq!(p.projection(1_000, datetime!(2026-11-16 00:00 UTC)), 2_000);
        assert_eq!(p.projection(0, datetime!(2026-11-16 00:00 UTC)), 0);
        // In the first minutes, at least one hour counts as elapsed.
        assert_eq!(p.projection(10, datetime!(2026-11-01 00:01 UTC)), 10 * 720);
        assert_eq!(p.projection(10, datetime!(2026-11-30 23:59:59 UTC)), 10);
    }
}
