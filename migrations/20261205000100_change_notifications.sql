-- Berth keeps in-process copies of what every signed-in page reads: the customer's row
-- (with settings and session records) and the dashboard's summary (src/db/changes.rs).
-- Every change to what they are made from names the customer it touched on the channel
-- `berth_changes`, or '*' when it touches every customer, and each Berth process forgets
-- its copies of that customer when it hears it. A table that a cached view starts to read
-- gets its trigger here too.
--
-- notify_customer_changed(column [, 'null-is-everyone']): the customer is the row's
-- `column`; a row whose column is null touches no customer (a staff member's session or
-- authenticator), or every customer with the second argument (a notice to everyone).
-- notify_everyone_changed(): any row touches every customer (plans, notice types).
create function notify_customer_changed() returns trigger language plpgsql as $$
declare
    customer text;
begin
    if TG_OP = 'DELETE' then
        customer := to_jsonb(old) ->> TG_ARGV[0];
    else
        customer := to_jsonb(new) ->> TG_ARGV[0];
        if TG_OP = 'UPDATE' and (to_jsonb(old) ->> TG_ARGV[0]) is distinct from customer then
            perform pg_notify('berth_changes', coalesce(to_jsonb(old) ->> TG_ARGV[0], '*'));
        end if;
    end if;
    if customer is not null then
        perform pg_notify('berth_changes', customer);
    elsif TG_NARGS > 1 and TG_ARGV[1] = 'null-is-everyone' then
        perform pg_notify('berth_changes', '*');
    end if;
    return null;
end $$;

create function notify_everyone_changed() returns trigger language plpgsql as $$
begin
    perform pg_notify('berth_changes', '*');
    return null;
end $$;

-- The customer's row, settings and session records (`identity::customer::by_id_in_session`).
create trigger customers_changed after update or delete on customers
    for each row execute function notify_customer_changed('id');
create trigger customer_settings_changed after insert or update or delete on customer_settings
    for each row execute function notify_customer_changed('customer_id');
create trigger account_sessions_changed after insert or delete on account_sessions
    for each row execute function notify_customer_changed('customer_id');

-- The dashboard's summary (`dashboard::model::summary`).
create trigger activity_sign_ins after insert on activity
    for each row when (new.kind in ('sign_in', 'sign_in_failed'))
    execute function notify_customer_changed('customer_id');
create trigger bandwidth_customer_days_changed after insert or update or delete on bandwidth_customer_days
    for each row execute function notify_customer_changed('customer_id');
create trigger sites_changed after insert or update or delete on sites
    for each row execute function notify_customer_changed('customer_id');
create trigger containers_changed after insert or update or delete on containers
    for each row execute function notify_customer_changed('customer_id');
create trigger notices_changed after insert or update or delete on notices
    for each row execute function notify_customer_changed('customer_id', 'null-is-everyone');
create trigger notice_acknowledgements_changed after insert or update or delete on notice_acknowledgements
    for each row execute function notify_customer_changed('customer_id');
create trigger totp_authenticators_changed after insert or update or delete on totp_authenticators
    for each row execute function notify_customer_changed('customer_id');
create trigger passkeys_changed after insert or update or delete on passkeys
    for each row execute function notify_customer_changed('customer_id');
create trigger plans_changed after insert or update or delete on plans
    for each statement execute function notify_everyone_changed();
create trigger notice_types_changed after insert or update or delete on notice_types
    for each statement execute function notify_everyone_changed();
