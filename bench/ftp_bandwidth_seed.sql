-- Seeds FTP users and a full month of bandwidth samples for bench/load.sh's `ftp-bandwidth`
-- scenario, set-based (no forms, no import).
--
-- Run inside a transaction in psql, with
--   * a temporary table bench_owners (id bigint, username text): the customers to seed;
--   * the psql variable `sites`: how many sites each of them gets;
--   * the psql variable `ftp_users`: how many FTP users each of them gets;
--   * the psql variable `ftp_hash`: the password hash every FTP user gets (an Argon2 PHC
--     string; load.sh copies the demo customer's, so nobody needs to run Argon2 here).
-- Every customer gets
--   * sites bw-1 … bw-N ("Bandwidth site N", active, no DNS), primary hostname
--     bw-N.<username>.example and the alias www.bw-N.<username>.example, each with two
--     environments, production and staging (active). No container, DNS records or
--     provisioning job: /ftp-users and /bandwidth do not read them;
--   * a bandwidth sample for every one of those sites and every hour of the current month in
--     UTC, from its first hour to its last (future hours included: a full month, 720 or 744
--     rows per site), with a daily curve and noise as the demo's own samples have;
--   * FTP users <username>-ftp-0001 … (username order is their number order), a third in
--     the account home, a third on a site, a third on an environment of that site (spread
--     over the sites), half read-write and half read-only, most with a folder below the home.
-- The constraints of ftp_users hold: usernames match ^[a-z][a-z0-9._-]{2,31}$ as long as
-- the customer's username starts with a letter and is at most 23 characters; an
-- environment always comes with its own site.

with s as (
    insert into sites (customer_id, name, hostname, create_dns, status, draft_token, created_at)
    select o.id, 'Bandwidth site ' || n, format('bw-%s.%s.example', n, o.username), false, 'active',
           gen_random_uuid(), now() - make_interval(mins => n)
    from bench_owners o cross join generate_series(1, :sites) as n
    returning id, customer_id, hostname, created_at
),
-- Each owner's new sites numbered 1 … N (the FTP users are spread over them by number).
sn as (
    select s.*, row_number() over (partition by s.customer_id order by s.id) as k from s
),
h as (
    insert into hostnames (hostname, customer_id, site_id, is_primary)
    select a.prefix || s.hostname, s.customer_id, s.id, a.prefix = ''
    from s cross join (values (''), ('www.')) as a (prefix)
),
e as (
    insert into environments (customer_id, site_id, name, status, created_at)
    select s.customer_id, s.id, env.name, 'active', s.created_at
    from s cross join (values ('production'), ('staging')) as env (name)
    returning id, site_id, name
),
b as (
    insert into bandwidth_samples (customer_id, site_id, hour, bytes_in, bytes_out)
    select s.customer_id, s.id, hr,
           (20e6 * (1.2 + sin(extract(hour from hr at time zone 'UTC') / 24 * 2 * pi())) * (0.5 + random()))::bigint,
           (90e6 * (1.2 + sin(extract(hour from hr at time zone 'UTC') / 24 * 2 * pi())) * (0.5 + random()))::bigint
    from s cross join generate_series(
        date_trunc('month', now() at time zone 'UTC') at time zone 'UTC',
        (date_trunc('month', now() at time zone 'UTC') + interval '1 month' - interval '1 hour') at time zone 'UTC',
        interval '1 hour') as hr
    returning 1
),
f as (
    insert into ftp_users (customer_id, name, username, password_hash, relative_root, type, site_id,
                           environment_id, created_at, updated_at)
    select o.id, 'FTP user ' || n, format('%s-ftp-%s', o.username, lpad(n::text, 4, '0')), :'ftp_hash',
           case when n % 4 = 0 then '' else format('uploads/user-%s', n) end,
           case when n % 2 = 0 then 'read-write' else 'read-only' end,
           sn.id, e.id, now() - make_interval(mins => n), now() - make_interval(mins => n)
    from bench_owners o
    cross join generate_series(1, :ftp_users) as n
    left join sn on n % 3 <> 0 and sn.customer_id = o.id and sn.k = (n / 3) % :sites + 1
    left join e on n % 3 = 2 and e.site_id = sn.id
                   and e.name = case when n % 2 = 0 then 'production' else 'staging' end
    returning 1
)
select (select count(*) from s) as sites_seeded, (select count(*) from b) as samples_seeded,
       (select count(*) from f) as ftp_users_seeded;
