-- Issue 17: the staff's own audit log. A customer's Activity records what happens to their
-- account; staff sign-ins (and their failures and locks, which the customer sign-in has
-- always recorded) had nowhere to go but the process log. One row per event, kept with the
-- name as typed (in its canonical form) so that guesses at names that are not staff show
-- too; `staff_id` is set when the name is a staff member's.
create table staff_activity (
    id       bigint generated always as identity primary key,
    at       timestamptz not null default now(),
    staff_id bigint references staff (id) on delete set null,
    username text not null,
    kind     text not null check (kind in ('sign_in', 'sign_in_failed', 'sign_in_locked', 'sign_out')),
    detail   text not null default '',
    address  inet
);
create index staff_activity_at on staff_activity (at desc, id desc);
create index staff_activity_staff on staff_activity (staff_id, at desc) where staff_id is not null;
