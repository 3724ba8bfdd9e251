-- The meter (src/bandwidth/meter.rs): the last reading of each site's container's network
-- counters, so that each sample adds to bandwidth_samples only the bytes since. The
-- transaction that adds a delta holds this row locked (FOR UPDATE) from before it asks the
-- engine until it commits, so two Berths sampling at once never count the same bytes twice.

create table meter_readings (
    site_id     bigint primary key,
    customer_id bigint not null,
    -- Which run of the container the counters belong to (the engine's container id and its
    -- last start): when it changes, the counters started again from zero.
    run         text,
    -- The counters at the last reading, as the container sees them: received (in to the
    -- site) and sent (out of it). Zero before the first reading.
    received    bigint not null default 0 check (received >= 0),
    sent        bigint not null default 0 check (sent >= 0),
    -- When the counters were last read; null: never.
    read_at     timestamptz,
    -- When the meter last looked (the container may have been stopped, or the engine away):
    -- it looks again BERTH_METER_INTERVAL_S later. Null: never.
    checked_at  timestamptz,
    foreign key (site_id, customer_id) references sites (id, customer_id) on delete cascade
);
create index meter_readings_checked on meter_readings (checked_at);
