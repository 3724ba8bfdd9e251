-- Sign-in hardening (issue 13).
--
-- 1. Usernames are stored in the one canonical form Berth computes in Rust
--    (src/customer/username.rs), and compared as they are: the database folds no case, so a
--    lookup, a uniqueness check and the sign-in throttle's counter use the same string.
--    Existing names are ASCII (the username rules have always required it), so mapping A-Z
--    to a-z here is exactly that form; `translate` does not depend on the locale, as
--    `lower()` does.
update customers set username = translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
drop index customers_username_key;
create unique index customers_username_key on customers (username);
alter table customers add constraint customers_username_canonical
    check (username ~ '^[a-z0-9][a-z0-9._-]{2,31}$') not valid;

update staff set username = translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
drop index staff_username_key;
create unique index staff_username_key on staff (username);
alter table staff add constraint staff_username_canonical
    check (username ~ '^[a-z0-9][a-z0-9._-]{2,31}$') not valid;

-- FTP usernames were already stored small (their check constraint); only the index folded.
drop index ftp_users_username_key;
create unique index ftp_users_username_key on ftp_users (username);

-- 2. Where an account has signed in successfully before: a browser (the SHA-256 of its
--    random `berth_device` cookie) or a client address (the throttle's address key, an
--    IPv6 /64). A correct password from one of them passes the per-account lock, so an
--    attacker who keeps an account locked does not keep its owner out. `account` is the
--    throttle's account key (`user:<name>`, `staff:<name>`).
create table signin_known (
    account      text not null,
    kind         text not null check (kind in ('device', 'address')),
    value        text not null,
    last_success timestamptz not null default now(),
    primary key (account, kind, value)
);
