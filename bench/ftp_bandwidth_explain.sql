-- EXPLAIN (ANALYZE, BUFFERS) of the statements behind GET /ftp-users (page 1 and a later
-- page) and GET /bandwidth, for bench/load.sh's `ftp-bandwidth` scenario. psql variables:
-- `customer` (the demo customer's id), `per_page` (its rows per page) and `page` (the later
-- page measured).
--
-- The statements are copies of those in src/ftp/model.rs (`list`: the page and the count;
-- `choices`), src/settings/model.rs (`load`) and src/bandwidth/model.rs (`usage`: per day
-- and per site; `totals`, which the dashboard card runs): keep them in step. Berth runs them
-- as prepared statements (sqlx) with these parameter types. PostgreSQL plans the first five
-- executions of a prepared statement for their parameters and then keeps the generic plan
-- unless it is estimated dearer; so each statement is run six times first, under the
-- default plan_cache_mode, and the plan explained is the one Berth gets from then on (on
-- warm caches, as under load).

\set ON_ERROR_STOP 1
set plan_cache_mode = auto;
select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' as period_start,
       (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC' as period_end,
       (:page - 1) * :per_page as later_offset
\gset

prepare ftp_list(bigint, bigint, bigint, bigint, bigint) as
    select f.id, f.name, f.username, f.type, f.relative_root, f.site_id, s.name as site_name,
           f.environment_id, e.name as environment_name, f.created_at, f.updated_at
    from ftp_users f left join sites s on s.id = f.site_id left join environments e on e.id = f.environment_id
    where f.customer_id = $1 and ($2::bigint is null or f.site_id = $2)
          and ($3::bigint is null or f.environment_id = $3)
    order by f.username limit $4 offset $5;
prepare ftp_count(bigint, bigint, bigint) as
    select count(*) from ftp_users where customer_id = $1 and ($2::bigint is null or site_id = $2)
    and ($3::bigint is null or environment_id = $3);
prepare ftp_choices(bigint) as
    select s.id, s.name, s.hostname,
        (select coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'name', e.name) order by e.name), '[]')
         from environments e where e.customer_id = $1 and e.site_id = s.id) as environments
    from sites s where s.customer_id = $1 order by s.name, s.id;
prepare settings(bigint) as
    select key, value from customer_settings where customer_id = $1;
prepare bw_days(bigint, timestamptz, timestamptz) as
    select (hour at time zone 'UTC')::date as day, sum(bytes_in + bytes_out)::bigint
    from bandwidth_samples where customer_id = $1 and hour >= $2 and hour < $3
    group by 1 order by 1;
prepare bw_sites(bigint, timestamptz, timestamptz) as
    select s.id as site_id, s.name,
           coalesce(sum(b.bytes_in), 0)::bigint as bytes_in, coalesce(sum(b.bytes_out), 0)::bigint as bytes_out
    from sites s
    left join bandwidth_samples b
      on b.customer_id = s.customer_id and b.site_id = s.id and b.hour >= $2 and b.hour < $3
    where s.customer_id = $1
    group by s.id order by coalesce(sum(b.bytes_in + b.bytes_out), 0) desc, s.name, s.id;
prepare bw_totals(bigint, timestamptz, timestamptz) as
    select coalesce(sum(bytes_in), 0)::bigint, coalesce(sum(bytes_out), 0)::bigint
    from bandwidth_samples where customer_id = $1 and hour >= $2 and hour < $3;

\o /dev/null
execute ftp_list(:customer, null, null, :per_page, 0); execute ftp_list(:customer, null, null, :per_page, 0);
execute ftp_list(:customer, null, null, :per_page, 0); execute ftp_list(:customer, null, null, :per_page, 0);
execute ftp_list(:customer, null, null, :per_page, 0); execute ftp_list(:customer, null, null, :per_page, 0);
execute ftp_count(:customer, null, null); execute ftp_count(:customer, null, null); execute ftp_count(:customer, null, null);
execute ftp_count(:customer, null, null); execute ftp_count(:customer, null, null); execute ftp_count(:customer, null, null);
execute ftp_choices(:customer); execute ftp_choices(:customer); execute ftp_choices(:customer);
execute ftp_choices(:customer); execute ftp_choices(:customer); execute ftp_choices(:customer);
execute settings(:customer); execute settings(:customer); execute settings(:customer);
execute settings(:customer); execute settings(:customer); execute settings(:customer);
execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end');
execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end');
execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end');
execute bw_sites(:customer, :'period_start', :'period_end'); execute bw_sites(:customer, :'period_start', :'period_end');
execute bw_sites(:customer, :'period_start', :'period_end'); execute bw_sites(:customer, :'period_start', :'period_end');
execute bw_sites(:customer, :'period_start', :'period_end'); execute bw_sites(:customer, :'period_start', :'period_end');
execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end');
execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end');
execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end');
\o

\echo QUERY ftp_list
explain (analyze, buffers) execute ftp_list(:customer, null, null, :per_page, 0);
\echo QUERY ftp_later
explain (analyze, buffers) execute ftp_list(:customer, null, null, :per_page, :later_offset);
\echo QUERY ftp_count
explain (analyze, buffers) execute ftp_count(:customer, null, null);
\echo QUERY ftp_choices
explain (analyze, buffers) execute ftp_choices(:customer);
\echo QUERY settings
explain (analyze, buffers) execute settings(:customer);
\echo QUERY bw_days
explain (analyze, buffers) execute bw_days(:customer, :'period_start', :'period_end');
\echo QUERY bw_sites
explain (analyze, buffers) execute bw_sites(:customer, :'period_start', :'period_end');
\echo QUERY bw_totals
explain (analyze, buffers) execute bw_totals(:customer, :'period_start', :'period_end');
