-- Each customer's count of notices not acknowledged yet, kept with the customer's row so
-- that the navigation reads it with the row instead of counting every global notice on
-- every page. Triggers keep it, whoever writes the rows (the panel, `berth notice
-- publish`, the tests' and the benchmark's SQL):
--   * a notice published to one customer adds 1 to theirs; a global one adds 1 to every
--     customer's (one statement, on publish only);
--   * an acknowledgement takes 1 off;
--   * a deleted notice takes 1 off every customer it was addressed to, and each of its
--     acknowledgements, deleted with it, gives 1 back: so whatever the order the two run
--     in, only the customers who had not acknowledged it lose 1;
--   * a new customer starts with the global notices published so far (as the count did).
-- A customer created while a global notice is being published would miss it (each
-- statement sees the other's row only once committed), so both take the same
-- transaction-level advisory lock first; customers are created seldom, so it costs little.
-- A notice does not change audience: its customer_id is not updated (refused below).

alter table customers add column unread_notices integer not null default 0;

update customers c set unread_notices = (
    select count(*) from notices n
    where (n.customer_id = c.id or n.customer_id is null)
      and not exists (select 1 from notice_acknowledgements a where a.customer_id = c.id and a.notice_id = n.id));

-- The lock's key: "notice counters".
create function notice_counters_lock() returns void language sql as
    $$ select pg_advisory_xact_lock(7146401) $$;

create function notices_count_published() returns trigger language plpgsql as $$
begin
    if new.customer_id is null then
        perform notice_counters_lock();
        update customers set unread_notices = unread_notices + 1;
    else
        update customers set unread_notices = unread_notices + 1 where id = new.customer_id;
    end if;
    return null;
end $$;

create trigger notices_count_published after insert on notices
    for each row execute function notices_count_published();

create function notices_count_deleted() returns trigger language plpgsql as $$
begin
    update customers set unread_notices = unread_notices - 1
    where old.customer_id is null or id = old.customer_id;
    return null;
end $$;

create trigger notices_count_deleted after delete on notices
    for each row execute function notices_count_deleted();

create function notices_keep_audience() returns trigger language plpgsql as $$
begin
    if new.customer_id is distinct from old.customer_id then
        raise exception 'a notice keeps the customer it was published to';
    end if;
    return new;
end $$;

create trigger notices_keep_audience before update of customer_id on notices
    for each row execute function notices_keep_audience();

create function notice_acknowledgements_count() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        update customers set unread_notices = unread_notices - 1 where id = new.customer_id;
    else
        update customers set unread_notices = unread_notices + 1 where id = old.customer_id;
    end if;
    return null;
end $$;

create trigger notice_acknowledgements_count after insert or delete on notice_acknowledgements
    for each row execute function notice_acknowledgements_count();

create function customers_count_notices() returns trigger language plpgsql as $$
begin
    perform notice_counters_lock();
    new.unread_notices := (select count(*) from notices where customer_id is null);
    return new;
end $$;

create trigger customers_count_notices before insert on customers
    for each row execute function customers_count_notices();

-- The dashboard's banners: the newest global warning and critical notices, read newest
-- first until a few not acknowledged are found (a customer's own come by notices_customer).
create index notices_global_urgent on notices (created_at desc, id desc)
    where customer_id is null and severity <> 'info';
