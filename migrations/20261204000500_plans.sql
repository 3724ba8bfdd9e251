-- The plan catalogue: what each container size costs a month and how much transfer
-- (bytes in and out, as the bandwidth pages count them) it includes. Prices are in the
-- currency Berth is configured with (BERTH_CURRENCY), in hundredths; staff keep the rows
-- with `berth plan set SIZE --price 12.00 --transfer-gb 1000`. A size with no row has no
-- price shown. Invoices are not Berth's: the pages point to BERTH_BILLING_URL.
create table plans (
    size_id      text primary key references container_sizes (id),
    price_cents  bigint not null check (price_cents between 0 and 100000000),
    transfer_gb  bigint not null check (transfer_gb between 0 and 1000000),
    updated_at   timestamptz not null default now()
);
