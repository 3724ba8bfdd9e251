-- A deleted site's zones are served no more from the moment it is deleted (its hostnames
-- stay reserved to it for the 7 days its files are kept, but PowerDNS refuses them).
create or replace view pdns.domains as
select z.zone_id as id, z.name, ''::text as master, 0 as last_check, 'NATIVE'::text as type,
       0::bigint as notified_serial, ''::text as account, ''::text as options, ''::text as catalog,
       z.site_id, z.customer_id
from dns_zones z
join sites si on si.id = z.site_id
cross join dns_settings s
where si.status <> 'deleted' and (not s.verify or z.verified);
