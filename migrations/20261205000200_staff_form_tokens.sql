-- The staff console's forms that create something (an internal key, a notice) carry
-- one-time tokens too: a token is a customer's or a staff member's.
alter table used_form_tokens drop constraint used_form_tokens_pkey;
alter table used_form_tokens alter column customer_id drop not null;
alter table used_form_tokens add column staff_id bigint references staff (id) on delete cascade;
alter table used_form_tokens add constraint used_form_tokens_one_owner
    check ((customer_id is null) <> (staff_id is null));
alter table used_form_tokens add constraint used_form_tokens_customer_token unique (customer_id, token);
alter table used_form_tokens add constraint used_form_tokens_staff_token unique (staff_id, token);
