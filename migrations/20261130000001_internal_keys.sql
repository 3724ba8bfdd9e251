-- Internal keys belong to the platform, not to a customer: they have no customer_id, and
-- they name who made them (`created_by`: "staff sam", "operator root"; `created_by_staff`
-- when a staff member did, in the staff console). Customers' pages and API methods filter
-- by customer_id, so they neither list nor change an internal key.
alter table api_keys
    alter column customer_id drop not null,
    add column created_by       text check (created_by is null or char_length(created_by) between 1 and 100),
    add column created_by_staff bigint references staff (id) on delete set null;
alter table api_key_acls alter column customer_id drop not null;

-- Internal keys made before this change were filed under a customer (whoever made them on
-- that customer's page, or `berth create-key --internal --customer …`): they move to the
-- platform, saying so, and their ACLs with them.
update api_key_acls a set customer_id = null
from api_keys k where k.id = a.key_id and k.type = 'internal';
update api_keys
set created_by = 'unknown (filed under customer ' || customer_id || ' before internal keys became the platform''s)',
    customer_id = null
where type = 'internal';

alter table api_keys
    add constraint api_keys_internal_is_the_platforms
        check ((type = 'internal') = (customer_id is null)),
    add constraint api_keys_internal_names_its_maker
        check (type <> 'internal' or created_by is not null);
create index api_keys_internal on api_keys (id desc) where customer_id is null;

-- Refused uses of a key from outside its ACLs, gathered per key over 10 minutes into one
-- Activity row that is updated in place, so a leaked key cannot flood its owner's Activity.
create table api_key_refusals (
    id          bigint generated always as identity primary key,
    key_id      bigint not null references api_keys (id) on delete cascade,
    activity_id bigint not null references activity (id) on delete cascade,
    started_at  timestamptz not null default now(),
    refusals    integer not null default 1 check (refusals > 0),
    addresses   inet[] not null
);
create index api_key_refusals_key on api_key_refusals (key_id, started_at desc);

-- A delivery goes to a contact method, or straight to an email address: the security notice
-- about a change of sign-in details made over the API goes to the account's previous
-- address, which need not be any contact method.
alter table deliveries
    alter column contact_method_id drop not null,
    add column email_to text check (email_to is null or char_length(email_to) between 3 and 254),
    add constraint deliveries_have_one_target check ((contact_method_id is null) <> (email_to is null));
