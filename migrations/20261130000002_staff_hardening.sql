-- Staff hardening (issue 13): staff accounts can be disabled, and the counters that guard a
-- customer's secrets outside sign-in (staff PIN checks, the current password asked again on
-- /account) are rows that one statement increments and reads, so parallel guesses cannot
-- all pass a count taken before any of them failed.

alter table staff add column disabled_at timestamptz;

-- Wrong attempts per customer and guard (`pin_check`, `reauth`); forgotten once the last one
-- is older than the guard's window.
create table secret_attempts (
    guard        text not null check (guard in ('pin_check', 'reauth')),
    customer_id  bigint not null references customers (id) on delete cascade,
    failures     integer not null,
    last_attempt timestamptz not null,
    primary key (guard, customer_id)
);
