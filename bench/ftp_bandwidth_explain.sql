-- EXPLAIN (ANALYZE, BUFFERS) of the statements behind GET /ftp-users (page 1 and a later
-- page) and GET /bandwidth, for bench/load.sh's `ftp-bandwidth` scenario. psql variables:
-- `customer` (the demo customer's id), `per_page` (its rows per page) and `page` (the later
-- page measured).
--
-- The statements are copies of those in src/ftp/model.rs (`list`: the page and the count, unfiltered;
-- `choices`: sites, then environments), src/settings/model.rs (`load`) and src/bandwidth/model.rs (`usage`: per day
-- and per site; `totals`, which the dashboard card runs): keep them in step. Berth runs them
-- as prepared statements (sqlx) with these parameter types. PostgreSQL plans the first five
-- executions of a prepared statement for their parameters and then keeps the generic plan
-- unless it is estimated dearer; so each statement is run six times first, under the
-- default plan_cache_mode, and the plan explained is the one Berth gets from then on (on
-- warm caches, as under load).

\set ON_ERROR_STOP 1
set plan_cache_mode = auto;
select date_trunc('month', now() at time zone 'UTC')::date as period_start,
       (date_trunc('month', now() at time zone 'UTC') + interval '1 month')::date as period_end,
       (:page - 1) * :per_page as later_offset
\gset

prepare ftp_list(bigint, bigint, bigint) as
    select f.id, f.name, f.username, f.type, f.relative_root, f.site_id, s.name as site_name,
           f.environment_id, e.name as environment_name, f.created_at, f.updated_at
    from (select * from ftp_users where customer_id = $1
          order by username limit $2 offset $3) f
    left join sites s on s.id = f.site_id left join environments e on e.id = f.environment_id
    order by f.username;
prepare ftp_count(bigint) as
    select count(*) from ftp_users where customer_id = $1;
prepare ftp_sites(bigint) as
    select id, name, hostname from sites where customer_id = $1 order by name, id;
prepare ftp_environments(bigint) as
    select site_id, id, name from environments where customer_id = $1 order by site_id, name, id;
prepare settings(bigint) as
    select key, value from customer_settings where customer_id = $1;
prepare bw_days(bigint, date, date) as
    select day, (bytes_in + bytes_out)::bigint from bandwidth_customer_days
    where customer_id = $1 and day >= $2 and day < $3 order by day;
prepare bw_sites(bigint, date) as
    select s.id as site_id, s.name,
           coalesce(m.bytes_in, 0) as bytes_in, coalesce(m.bytes_out, 0) as bytes_out
    from sites s left join bandwidth_site_months m on m.site_id = s.id and m.month = $2
    where s.customer_id = $1
    order by coalesce(m.bytes_in + m.bytes_out, 0) desc, s.name, s.id;
prepare bw_totals(bigint, date, date) as
    select coalesce(sum(bytes_in), 0)::bigint, coalesce(sum(bytes_out), 0)::bigint
    from bandwidth_customer_days where customer_id = $1 and day >= $2 and day < $3;

\o /dev/null
execute ftp_list(:customer, :per_page, 0); execute ftp_list(:customer, :per_page, 0); execute ftp_list(:customer, :per_page, 0); 
execute ftp_list(:customer, :per_page, 0); execute ftp_list(:customer, :per_page, 0); execute ftp_list(:customer, :per_page, 0); 
execute ftp_count(:customer); execute ftp_count(:customer); execute ftp_count(:customer); 
execute ftp_count(:customer); execute ftp_count(:customer); execute ftp_count(:customer); 
execute ftp_sites(:customer); execute ftp_sites(:customer); execute ftp_sites(:customer); 
execute ftp_sites(:customer); execute ftp_sites(:customer); execute ftp_sites(:customer); 
execute ftp_environments(:customer); execute ftp_environments(:customer); execute ftp_environments(:customer); 
execute ftp_environments(:customer); execute ftp_environments(:customer); execute ftp_environments(:customer); 
execute settings(:customer); execute settings(:customer); execute settings(:customer); 
execute settings(:customer); execute settings(:customer); execute settings(:customer); 
execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end'); 
execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end'); execute bw_days(:customer, :'period_start', :'period_end'); 
execute bw_sites(:customer, :'period_start'); execute bw_sites(:customer, :'period_start'); execute bw_sites(:customer, :'period_start'); 
execute bw_sites(:customer, :'period_start'); execute bw_sites(:customer, :'period_start'); execute bw_sites(:customer, :'period_start'); 
execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end'); 
execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end'); execute bw_totals(:customer, :'period_start', :'period_end'); 
\o

\echo QUERY ftp_list
explain (analyze, buffers) execute ftp_list(:customer, :per_page, 0);
\echo QUERY ftp_later
explain (analyze, buffers) execute ftp_list(:customer, :per_page, :later_offset);
\echo QUERY ftp_count
explain (analyze, buffers) execute ftp_count(:customer);
\echo QUERY ftp_sites
explain (analyze, buffers) execute ftp_sites(:customer);
\echo QUERY ftp_environments
explain (analyze, buffers) execute ftp_environments(:customer);
\echo QUERY settings
explain (analyze, buffers) execute settings(:customer);
\echo QUERY bw_days
explain (analyze, buffers) execute bw_days(:customer, :'period_start', :'period_end');
\echo QUERY bw_sites
explain (analyze, buffers) execute bw_sites(:customer, :'period_start');
\echo QUERY bw_totals
explain (analyze, buffers) execute bw_totals(:customer, :'period_start', :'period_end');
