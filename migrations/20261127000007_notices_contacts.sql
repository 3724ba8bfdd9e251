-- Notices (global, or for one customer) with their acknowledgements; contacts, their
-- contact methods (from a catalogue) and their subscriptions to notice types (from a
-- catalogue); and the outbox of deliveries written with each notice.

create table notice_types (
    id    text primary key,
    label text not null,
    sort  integer not null
);
insert into notice_types (id, label, sort) values
    ('billing',     'Billing',     1),
    ('maintenance', 'Maintenance', 2),
    ('outage',      'Outage',      3),
    ('security',    'Security',    4),
    ('abuse',       'Abuse',       5);

-- Severities, in increasing order of urgency.
create table notice_severities (
    id   text primary key,
    rank integer not null unique
);
insert into notice_severities (id, rank) values ('info', 1), ('warning', 2), ('critical', 3);

create table notices (
    id             bigint generated always as identity primary key,
    -- null: a global notice, addressed to every customer.
    customer_id    bigint references customers (id) on delete cascade,
    notice_type_id text not null references notice_types (id),
    severity       text not null references notice_severities (id),
    title          text not null check (char_length(title) between 1 and 200),
    body           text not null check (char_length(body) <= 20000),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index notices_customer on notices (customer_id, updated_at desc);

create table notice_acknowledgements (
    customer_id     bigint not null references customers (id) on delete cascade,
    notice_id       bigint not null references notices (id) on delete cascade,
    acknowledged_at timestamptz not null default now(),
    primary key (customer_id, notice_id)
);

-- The catalogue of ways to reach a contact.
create table contact_method_types (
    id    text primary key,
    label text not null,
    sort  integer not null
);
insert into contact_method_types (id, label, sort) values
    ('email',   'Email',   1),
    ('sms',     'SMS',     2),
    ('phone',   'Phone',   3),
    ('webhook', 'Webhook', 4);

create table contacts (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    name        text not null check (char_length(name) between 1 and 100),
    created_at  timestamptz not null default now()
);
create index contacts_customer on contacts (customer_id, name);

create table contact_methods (
    id             bigint generated always as identity primary key,
    customer_id    bigint not null references customers (id) on delete cascade,
    contact_id     bigint not null references contacts (id) on delete cascade,
    method_id      text not null references contact_method_types (id),
    -- Validated by method: email {address}, sms/phone {number} (E.164), webhook {url}.
    options        jsonb not null default '{}',
    -- Webhooks only: the key their deliveries are signed with (HMAC-SHA256). It must be
    -- readable to sign, so it is kept as it is; it is shown to the customer once.
    signing_secret text,
    created_at     timestamptz not null default now()
);
create index contact_methods_customer on contact_methods (customer_id, contact_id);

create table contact_method_notices (
    id                bigint generated always as identity primary key,
    customer_id       bigint not null references customers (id) on delete cascade,
    contact_method_id bigint not null references contact_methods (id) on delete cascade,
    notice_type_id    text not null references notice_types (id),
    -- {min_severity}: the least severe notice this subscription hears about.
    options           jsonb not null default '{}',
    created_at        timestamptz not null default now(),
    unique (contact_method_id, notice_type_id)
);
create index contact_method_notices_customer on contact_method_notices (customer_id, notice_type_id);

-- The outbox: one delivery per notice and matching subscription, written in the notice's
-- transaction; the delivery worker claims them with SKIP LOCKED.
create table deliveries (
    id                bigint generated always as identity primary key,
    customer_id       bigint not null references customers (id) on delete cascade,
    notice_id         bigint not null references notices (id) on delete cascade,
    contact_method_id bigint not null references contact_methods (id) on delete cascade,
    status            text not null default 'pending'
                      check (status in ('pending', 'sent', 'failed', 'waiting_for_gateway')),
    attempts          integer not null default 0,
    next_attempt_at   timestamptz not null default now(),
    last_error        text,
    sent_at           timestamptz,
    created_at        timestamptz not null default now(),
    unique (notice_id, contact_method_id)
);
create index deliveries_customer on deliveries (customer_id, notice_id);
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';
