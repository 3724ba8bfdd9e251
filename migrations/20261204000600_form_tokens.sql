-- One-time form tokens already acted on (`identity::once`, `web::once`): a form that creates
-- something carries a fresh token, and the operation records it in the same transaction as
-- what it creates, so the same form sent twice (a double click, a resent form, two Berth
-- processes behind one load balancer) creates one thing, and a refused form (422) can be
-- sent again. Rows older than an hour are pruned as new ones are written.
create table used_form_tokens (
    customer_id bigint not null references customers (id) on delete cascade,
    token       uuid not null,
    used_at     timestamptz not null default now(),
    primary key (customer_id, token)
);

-- API keys had a token of their own; they use the table above now.
alter table api_keys drop column form_token;
