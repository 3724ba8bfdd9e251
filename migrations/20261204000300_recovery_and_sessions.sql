-- Account recovery (issue 16): password reset links and email-change undo links, each
-- stored only as the SHA-256 of its token, single-use, with an expiry; and the record of
-- every signed-in session (customers' and staff's), so that one can be listed and ended.

create table password_resets (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    token_hash  text not null unique check (char_length(token_hash) = 64),
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index password_resets_customer on password_resets (customer_id);

create table email_change_undos (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    token_hash  text not null unique check (char_length(token_hash) = 64),
    old_email   text not null check (char_length(old_email) between 3 and 254),
    new_email   text not null check (char_length(new_email) between 3 and 254),
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index email_change_undos_customer on email_change_undos (customer_id);

-- One row per signed-in session; the session itself holds the row's id. Deleting the row
-- ends the session at its next request (the signed-in check reads it with the account).
create table account_sessions (
    id           bigint generated always as identity primary key,
    customer_id  bigint references customers (id) on delete cascade,
    staff_id     bigint references staff (id) on delete cascade,
    -- The account's auth version when the session was recorded: a session left behind by a
    -- password change is not listed.
    auth_version bigint not null,
    device       text not null check (char_length(device) <= 200),
    address      inet not null,
    signed_in_at timestamptz not null,
    last_seen    timestamptz not null,
    check ((customer_id is null) <> (staff_id is null))
);
create index account_sessions_customer on account_sessions (customer_id) where customer_id is not null;
create index account_sessions_staff on account_sessions (staff_id) where staff_id is not null;
