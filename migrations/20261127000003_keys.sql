-- API keys and the networks each may be used from. Only a SHA-256 hash of a key's secret
-- and its visible prefix are stored; the secret itself is shown once and never kept.

create table api_keys (
    id                bigint generated always as identity primary key,
    customer_id       bigint not null references customers (id) on delete cascade,
    name              text not null check (char_length(name) between 1 and 64),
    type              text not null check (type in ('standard', 'read-only', 'internal')),
    prefix            text not null,
    secret_hash       bytea not null unique check (octet_length(secret_hash) = 32),
    -- The create form's one-time token: submitting the same form twice makes one key.
    form_token        text,
    created_at        timestamptz not null default now(),
    last_used_at      timestamptz,
    last_used_address inet,
    revoked_at        timestamptz,
    unique (customer_id, form_token)
);
create index api_keys_customer on api_keys (customer_id, id desc);

create table api_key_acls (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    key_id      bigint not null references api_keys (id) on delete cascade,
    network     cidr not null,
    created_at  timestamptz not null default now(),
    unique (key_id, network)
);
create index api_key_acls_customer on api_key_acls (customer_id, key_id);
