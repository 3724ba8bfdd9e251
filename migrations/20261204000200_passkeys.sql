-- Passkeys (WebAuthn credentials) a customer signs in with: as the second factor after the
-- password, or alone (issue 16). Several per customer, each with a name of its own.

-- The WebAuthn user handle of a customer: random, stored in each of their passkeys by the
-- authenticator, and how a password-less sign-in says whose passkey it is. One per customer,
-- made with their first passkey; never shown.
create table passkey_users (
    customer_id  bigint primary key references customers(id) on delete cascade,
    handle       uuid not null unique
);

create table passkeys (
    id             bigint generated always as identity primary key,
    customer_id    bigint not null references passkey_users(customer_id) on delete cascade,
    name           text not null,
    -- The credential's id as the authenticator made it: unique across every account.
    credential_id  bytea not null unique,
    -- webauthn-rs's `Passkey` (public key, algorithm, signature counter) as JSON.
    credential     jsonb not null,
    created_at     timestamptz not null,
    last_used_at   timestamptz,
    unique (customer_id, name)
);
