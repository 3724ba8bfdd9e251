-- Foundation: customers, roles, settings, cancellation, activity, sign-in throttle, staff,
-- and the session store.

create table customers (
    id            bigint generated always as identity primary key,
    username      text not null,
    display_name  text not null default '',
    email         text not null,
    password_hash text not null,
    pin_hash      text,
    status        text not null default 'active'
                  check (status in ('active', 'cancellation_requested', 'cancelled')),
    auth_version  bigint not null default 1,
    created_at    timestamptz not null default now()
);
create unique index customers_username_key on customers (lower(username));

create table roles (
    id          bigint generated always as identity primary key,
    name        text not null unique,
    description text not null
);
insert into roles (name, description) values
    ('owner',     'Holds the account and may change everything in it'),
    ('billing',   'Receives invoices and manages payment'),
    ('technical', 'Manages sites, containers and DNS'),
    ('reseller',  'May resell the platform to their own customers'),
    ('beta',      'Sees features before they are generally available');

create table customer_roles (
    customer_id bigint not null references customers (id) on delete cascade,
    role_id     bigint not null references roles (id),
    granted_at  timestamptz not null default now(),
    primary key (customer_id, role_id)
);

create table customer_settings (
    customer_id bigint not null references customers (id) on delete cascade,
    key         text not null,
    value       text not null,
    updated_at  timestamptz not null default now(),
    primary key (customer_id, key)
);

create table cancellation_requests (
    id           bigint generated always as identity primary key,
    customer_id  bigint not null references customers (id) on delete cascade,
    reason       text not null,
    status       text not null default 'pending'
                 check (status in ('pending', 'withdrawn', 'completed')),
    requested_at timestamptz not null default now(),
    closed_at    timestamptz
);
create index cancellation_requests_customer on cancellation_requests (customer_id, requested_at desc);
create unique index cancellation_requests_one_pending
    on cancellation_requests (customer_id) where status = 'pending';

-- The customer's own audit log: sign-ins, changes, impersonations.
create table activity (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    at          timestamptz not null default now(),
    actor       text not null,
    kind        text not null,
    detail      text not null default '',
    address     inet
);
create index activity_customer_at on activity (customer_id, at desc, id desc);

-- Failed sign-ins, counted per account (`user:<name>`) and per client address (`ip:<addr>`).
create table signin_throttle (
    key          text primary key,
    failures     integer not null,
    last_failure timestamptz not null
);

create table staff (
    id            bigint generated always as identity primary key,
    username      text not null,
    password_hash text not null,
    permissions   text[] not null default array['support'],
    auth_version  bigint not null default 1,
    created_at    timestamptz not null default now()
);
create unique index staff_username_key on staff (lower(username));

-- tower-sessions-sqlx-store's table, created here so that `berth migrate` does all.
create schema if not exists tower_sessions;
create table if not exists tower_sessions.session (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);
create index session_expiry on tower_sessions.session (expiry_date);
