-- Bandwidth: bytes in and out per site per hour, as measured by the platform.

create table bandwidth_samples (
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null references sites (id) on delete cascade,
    hour        timestamptz not null check (date_trunc('hour', hour) = hour),
    bytes_in    bigint not null check (bytes_in >= 0),
    bytes_out   bigint not null check (bytes_out >= 0),
    primary key (site_id, hour)
);
create index bandwidth_samples_customer on bandwidth_samples (customer_id, hour);
