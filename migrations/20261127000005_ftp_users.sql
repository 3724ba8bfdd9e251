-- FTP users: a login (unique on the whole platform, without regard to case) with an Argon2
-- password hash, a type, and a folder relative to the home of the customer, of one of
-- their sites, or of one of that site's environments. The application checks that the site
-- and environment are the customer's and belong together; deleting a site or environment
-- deletes the FTP users confined to it (they must never fall back to a wider home).

create table ftp_users (
    id             bigint generated always as identity primary key,
    customer_id    bigint not null references customers (id) on delete cascade,
    name           text not null check (char_length(name) between 1 and 64),
    username       text not null check (username ~ '^[a-z][a-z0-9._-]{2,31}$'),
    password_hash  text not null,
    relative_root  text not null default ''
                   check (octet_length(relative_root) <= 255 and relative_root !~ '^/'),
    type           text not null check (type in ('read-write', 'read-only')),
    site_id        bigint references sites (id) on delete cascade,
    environment_id bigint references environments (id) on delete cascade,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    check (environment_id is null or site_id is not null)
);
create unique index ftp_users_username_key on ftp_users (lower(username));
-- The list: a customer's FTP users by username, a page at a time, optionally by site and
-- environment.
create index ftp_users_customer on ftp_users (customer_id, username);
create index ftp_users_customer_site on ftp_users (customer_id, site_id, environment_id, username);
