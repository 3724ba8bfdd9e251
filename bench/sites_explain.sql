-- EXPLAIN (ANALYZE, BUFFERS) of the statements behind GET /sites and GET /sites/{id}, for
-- bench/load.sh's `sites` scenario. psql variables: `customer` (the demo customer's id) and
-- `site` (one of its sites).
--
-- The statements are copies of those in src/sites/model.rs (`list`, `site`, `detail`,
-- `records`, `progress`) and src/settings/model.rs (`load`): keep them in step. Berth runs
-- them as prepared statements (sqlx), and PostgreSQL switches a prepared statement to its
-- generic plan after five executions when that plan is not estimated dearer, which it
-- is not here (it is estimated for an average customer); so the generic plans are shown.
-- Each statement is run three times first, so that the one explained runs on warm caches
-- the way they do under load.

\set ON_ERROR_STOP 1
set plan_cache_mode = force_generic_plan;
select id as job from provisioning_jobs where customer_id = :customer and site_id = :site \gset

prepare list(bigint) as
    select s.id, s.name, s.hostname, s.status, s.created_at,
           (select count(*) from environments e where e.customer_id = $1 and e.site_id = s.id) as environments,
           (select count(*) from hostnames h where h.customer_id = $1 and h.site_id = s.id and not h.is_primary) as aliases
    from sites s where s.customer_id = $1 order by s.name, s.id;
prepare site(bigint, bigint) as
    select id, name, hostname, status, create_dns, created_at from sites where customer_id = $1 and id = $2;
prepare container(bigint, bigint) as
    select c.name, t.label as type_label, o.label as os_label, z.label as size_label, z.vcpu, z.memory_mib,
           c.disk_gib, c.status, c.address
    from containers c join container_types t on t.id = c.type_id join operating_systems o on o.id = c.os_id
         join container_sizes z on z.id = c.size_id
    where c.customer_id = $1 and c.site_id = $2;
prepare environments(bigint, bigint) as
    select name, status from environments where customer_id = $1 and site_id = $2 order by name;
prepare aliases(bigint, bigint) as
    select hostname from hostnames where customer_id = $1 and site_id = $2 and not is_primary order by hostname;
prepare records(bigint, bigint) as
    select name, type, value, ttl from dns_records where customer_id = $1 and site_id = $2 order by name, type;
prepare job(bigint, bigint) as
    select id, status from provisioning_jobs where customer_id = $1 and site_id = $2;
prepare steps(bigint) as
    select name, status, attempts, last_error, next_attempt_at from job_steps where job_id = $1 order by position;
prepare settings(bigint) as
    select key, value from customer_settings where customer_id = $1;

\o /dev/null
execute list(:customer); execute list(:customer); execute list(:customer);
execute site(:customer, :site); execute site(:customer, :site); execute site(:customer, :site);
execute container(:customer, :site); execute container(:customer, :site); execute container(:customer, :site);
execute environments(:customer, :site); execute environments(:customer, :site); execute environments(:customer, :site);
execute aliases(:customer, :site); execute aliases(:customer, :site); execute aliases(:customer, :site);
execute records(:customer, :site); execute records(:customer, :site); execute records(:customer, :site);
execute job(:customer, :site); execute job(:customer, :site); execute job(:customer, :site);
execute steps(:job); execute steps(:job); execute steps(:job);
execute settings(:customer); execute settings(:customer); execute settings(:customer);
\o

\echo QUERY list
explain (analyze, buffers) execute list(:customer);
\echo QUERY site
explain (analyze, buffers) execute site(:customer, :site);
\echo QUERY container
explain (analyze, buffers) execute container(:customer, :site);
\echo QUERY environments
explain (analyze, buffers) execute environments(:customer, :site);
\echo QUERY aliases
explain (analyze, buffers) execute aliases(:customer, :site);
\echo QUERY records
explain (analyze, buffers) execute records(:customer, :site);
\echo QUERY job
explain (analyze, buffers) execute job(:customer, :site);
\echo QUERY steps
explain (analyze, buffers) execute steps(:job);
\echo QUERY settings
explain (analyze, buffers) execute settings(:customer);
