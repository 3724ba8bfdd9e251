-- Bandwidth rollups, so that a view of the billing period reads a few dozen rows instead
-- of every hourly sample of the month (bench/RESULTS.md): per site and month (the per-site
-- breakdown) and per customer and day (the chart and the totals). Kept by triggers on
-- bandwidth_samples, whoever writes the samples (the import, the demo seed, tests).
--
-- No foreign keys: deleting a site or a customer deletes its samples by cascade, and the
-- triggers then subtract them; rows that reach zero are removed.

create table bandwidth_site_months (
    site_id     bigint not null,
    month       date not null check (extract(day from month) = 1),
    customer_id bigint not null,
    bytes_in    bigint not null,
    bytes_out   bigint not null,
    primary key (site_id, month)
);
create index bandwidth_site_months_customer on bandwidth_site_months (customer_id, month);

create table bandwidth_customer_days (
    customer_id bigint not null,
    day         date not null,
    bytes_in    bigint not null,
    bytes_out   bigint not null,
    primary key (customer_id, day)
);

-- Adds (sign 1) or subtracts (sign -1) a set of samples.
create function bandwidth_rollup(c bigint[], s bigint[], h timestamptz[], i bigint[], o bigint[], sign int)
returns void language sql as $$
    insert into bandwidth_site_months as m (site_id, month, customer_id, bytes_in, bytes_out)
        select s, date_trunc('month', h at time zone 'UTC')::date, c, sign * sum(i), sign * sum(o)
        from unnest(c, s, h, i, o) as d (c, s, h, i, o) group by 1, 2, 3 order by 1, 2
    on conflict (site_id, month) do update
        set bytes_in = m.bytes_in + excluded.bytes_in, bytes_out = m.bytes_out + excluded.bytes_out;
    insert into bandwidth_customer_days as m (customer_id, day, bytes_in, bytes_out)
        select c, (h at time zone 'UTC')::date, sign * sum(i), sign * sum(o)
        from unnest(c, s, h, i, o) as d (c, s, h, i, o) group by 1, 2 order by 1, 2
    on conflict (customer_id, day) do update
        set bytes_in = m.bytes_in + excluded.bytes_in, bytes_out = m.bytes_out + excluded.bytes_out;
    delete from bandwidth_site_months where sign < 0 and site_id = any(s) and bytes_in = 0 and bytes_out = 0;
    delete from bandwidth_customer_days where sign < 0 and customer_id = any(c) and bytes_in = 0 and bytes_out = 0;
$$;

create function bandwidth_samples_inserted() returns trigger language plpgsql as $$
begin
    perform bandwidth_rollup(array_agg(customer_id), array_agg(site_id), array_agg(hour),
                             array_agg(bytes_in), array_agg(bytes_out), 1) from new_rows;
    return null;
end $$;

create function bandwidth_samples_updated() returns trigger language plpgsql as $$
begin
    perform bandwidth_rollup(array_agg(customer_id), array_agg(site_id), array_agg(hour),
                             array_agg(bytes_in), array_agg(bytes_out), -1) from old_rows;
    perform bandwidth_rollup(array_agg(customer_id), array_agg(site_id), array_agg(hour),
                             array_agg(bytes_in), array_agg(bytes_out), 1) from new_rows;
    return null;
end $$;

create function bandwidth_samples_deleted() returns trigger language plpgsql as $$
begin
    perform bandwidth_rollup(array_agg(customer_id), array_agg(site_id), array_agg(hour),
                             array_agg(bytes_in), array_agg(bytes_out), -1) from old_rows;
    return null;
end $$;

create trigger bandwidth_samples_inserted after insert on bandwidth_samples
    referencing new table as new_rows for each statement execute function bandwidth_samples_inserted();
create trigger bandwidth_samples_updated after update on bandwidth_samples
    referencing old table as old_rows new table as new_rows
    for each statement execute function bandwidth_samples_updated();
create trigger bandwidth_samples_deleted after delete on bandwidth_samples
    referencing old table as old_rows for each statement execute function bandwidth_samples_deleted();

select bandwidth_rollup(array_agg(customer_id), array_agg(site_id), array_agg(hour),
                        array_agg(bytes_in), array_agg(bytes_out), 1)
from bandwidth_samples having count(*) > 0;
