-- Seeds finished sites for bench/load.sh's `sites` scenario, set-based (no wizard, no worker).
--
-- Run inside a transaction in psql, with
--   * a temporary table bench_owners (id bigint, username text): the customers to seed;
--   * the psql variable `sites`: how many sites each of them gets.
-- Every customer gets sites site-1 … site-N, each as the wizard and the provisioning worker
-- would leave it once provisioning finished:
--   * the site (status active, DNS on), primary hostname site-N.<username>.example;
--   * two aliases, www.site-N.<username>.example and shop.site-N.<username>.example;
--   * one container named site-N (LAMP on Debian 12, small, 20 GiB, active, an address);
--   * two environments, production and staging (active);
--   * an A record for each of the three hostnames, with the container's address;
--   * a provisioning job (done) with its five steps (done, one attempt each).
-- The container addresses are 10.0.0.0 + site id: display only, not from the address pool.

with s as (
    insert into sites (customer_id, name, hostname, create_dns, status, draft_token, created_at)
    select o.id, 'Site ' || n, format('site-%s.%s.example', n, o.username), true, 'active',
           gen_random_uuid(), now() - make_interval(mins => n)
    from bench_owners o cross join generate_series(1, :sites) as n
    returning id, customer_id, hostname, created_at
),
h as (
    insert into hostnames (hostname, customer_id, site_id, is_primary)
    select a.prefix || s.hostname, s.customer_id, s.id, a.prefix = ''
    from s cross join (values (''), ('www.'), ('shop.')) as a (prefix)
    returning hostname, customer_id, site_id
),
c as (
    insert into containers (customer_id, site_id, name, type_id, os_id, size_id, disk_gib, status, address, created_at)
    select s.customer_id, s.id, split_part(s.hostname, '.', 1), 'lamp', 'debian-12', 'small', 20, 'active',
           '10.0.0.0'::inet + s.id, s.created_at
    from s
),
e as (
    insert into environments (customer_id, site_id, name, status, created_at)
    select s.customer_id, s.id, env.name, 'active', s.created_at
    from s cross join (values ('production'), ('staging')) as env (name)
),
d as (
    insert into dns_records (customer_id, site_id, name, type, value)
    select h.customer_id, h.site_id, h.hostname, 'A', host('10.0.0.0'::inet + h.site_id)
    from h
),
j as (
    insert into provisioning_jobs (customer_id, site_id, status, created_at, finished_at)
    select s.customer_id, s.id, 'done', s.created_at, s.created_at + interval '1 minute'
    from s
    returning id, created_at
),
st as (
    insert into job_steps (job_id, position, name, status, attempts, next_attempt_at, finished_at)
    select j.id, step.position, step.name, 'done', 1, j.created_at, j.created_at + step.position * interval '10 seconds'
    from j cross join unnest(array['allocate_address', 'create_container', 'create_environments',
                                   'attach_aliases', 'write_dns']) with ordinality as step (name, position)
)
select count(*) as sites_seeded from s;
