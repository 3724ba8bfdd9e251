-- Per-customer quotas of pool addresses (issue 13, "fair use"): how many IPv4 and IPv6
-- addresses a customer may hold at once; staff with support-write change them.
alter table customers
    add column ipv4_quota integer not null default 16 check (ipv4_quota between 0 and 65536),
    add column ipv6_quota integer not null default 16 check (ipv6_quota between 0 and 65536);

-- No link moves more than 10^15 bytes an hour (about 2.2 Tbit/s): larger samples are
-- errors, and refusing them keeps every monthly sum within bigint. `not valid` leaves
-- samples stored before this check alone (the pages read them with saturating sums).
alter table bandwidth_samples
    add constraint bandwidth_samples_plausible
    check (bytes_in <= 1000000000000000 and bytes_out <= 1000000000000000) not valid;
