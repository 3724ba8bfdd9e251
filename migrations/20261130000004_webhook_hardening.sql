-- Webhook hardening (issue 13).

-- While a worker is sending a delivery: the end of its lease. A delivery counts as in
-- flight while this lies ahead and it is still pending; the claim lets each customer have
-- only a few in flight, so one customer's slow receivers cannot hold every worker slot.
-- Cleared when the attempt's result is recorded; a crashed worker's lease simply runs out.
alter table deliveries add column leased_until timestamptz;
create index deliveries_in_flight on deliveries (customer_id) where leased_until is not null;

-- Full webhook URLs are often secrets (chat tokens in the path or query): Activity (which
-- the staff console shows as the audit log) keeps only their scheme and host. Rows written
-- before are cut the same way: "<contact>: webhook https://host/secret…" becomes
-- "<contact>: webhook https://host".
update activity
set detail = regexp_replace(detail, '(: webhook [A-Za-z][A-Za-z0-9+.-]*://)(\[[^]]*\]|[^/?#:\s@]*)[^\s]*', '\1\2', 'g')
where kind in ('contact_method_added', 'contact_method_deleted', 'contact_subscribed',
               'contact_subscription_changed', 'contact_unsubscribed')
  and detail ~ ': webhook [A-Za-z][A-Za-z0-9+.-]*://';

-- Webhook errors shown to the customer are coarse now ("could not connect", "receiver
-- answered 500", "timed out", "address not allowed"); older ones may name socket or TLS
-- detail, which would map Berth's network for the customer.
update deliveries d
set last_error = case
        when d.last_error ~ '^the receiver answered [0-9]{3}'
            then 'receiver answered ' || substring(d.last_error from '^the receiver answered ([0-9]{3})')
        when d.last_error ~ '^the receiver did not answer' then 'timed out'
        when d.last_error ~ '^no answer within' then 'timed out'
        else 'could not connect'
    end
from contact_methods m
where m.id = d.contact_method_id and m.method_id = 'webhook' and d.last_error is not null
  and d.last_error not in ('could not connect', 'timed out', 'address not allowed')
  and d.last_error !~ '^receiver answered [0-9]{3}$'
  and d.last_error !~ '^the webhook '
  and d.last_error !~ '^the last attempt was interrupted'
  and d.last_error !~ '^An internal error occurred';
