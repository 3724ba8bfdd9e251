-- Issue 16: a second factor (TOTP and recovery codes) for customers and staff.
--
-- One TOTP authenticator per account, a customer's or a staff member's. Its secret is
-- sealed (ChaCha20-Poly1305 under BERTH_SECRET_KEY: `sealed` is the nonce and the
-- ciphertext, never the secret itself). A row without `confirmed_at` is an enrolment in
-- progress: shown, not yet proven by a code, and no factor yet. `last_step` is the TOTP
-- time step of the last code accepted: a code is never accepted twice. `failed_checks` counts
-- wrong codes (TOTP or recovery) since the last right one: past five, checks wait.
create table totp_authenticators (
    id           bigint generated always as identity primary key,
    customer_id  bigint references customers (id) on delete cascade,
    staff_id     bigint references staff (id) on delete cascade,
    sealed       bytea not null,
    confirmed_at timestamptz,
    last_step    bigint not null default 0,
    failed_checks integer not null default 0,
    last_failed_at timestamptz,
    created_at   timestamptz not null default now(),
    check (num_nonnulls(customer_id, staff_id) = 1)
);
create unique index totp_authenticators_customer on totp_authenticators (customer_id) where customer_id is not null;
create unique index totp_authenticators_staff on totp_authenticators (staff_id) where staff_id is not null;

-- Ten single-use recovery codes per account, stored as SHA-256 hashes (they are random,
-- 80 bits: no slow hash needed). A used code keeps its row, with the time it was used.
create table recovery_codes (
    id          bigint generated always as identity primary key,
    customer_id bigint references customers (id) on delete cascade,
    staff_id    bigint references staff (id) on delete cascade,
    code_hash   text not null,
    used_at     timestamptz,
    created_at  timestamptz not null default now(),
    check (num_nonnulls(customer_id, staff_id) = 1)
);
create index recovery_codes_customer on recovery_codes (customer_id) where customer_id is not null;
create index recovery_codes_staff on recovery_codes (staff_id) where staff_id is not null;

-- The staff log records a staff member's second factor: enrolled, and reset by an operator.
alter table staff_activity drop constraint staff_activity_kind_check,
    add constraint staff_activity_kind_check
        check (kind in ('sign_in', 'sign_in_failed', 'sign_in_locked', 'sign_out', 'site_restored',
                        'second_factor_enrolled', 'second_factor_reset'));
