-- DNS answered by PowerDNS (issue 15). PowerDNS's generic PostgreSQL backend (gpgsql)
-- reads Berth's own tables through the views of schema `pdns`, with the queries that
-- `berth dns pdns-config` prints; nothing is copied, so a change in the panel is served
-- at the next query (PowerDNS's caches aside).

-- Customers edit their records: CAA joins the types, and a name may hold several records
-- of one type (two MX, several TXT), though not the same one twice.
alter table dns_records drop constraint dns_records_type_check,
    add constraint dns_records_type_check check (type in ('A', 'AAAA', 'CNAME', 'TXT', 'MX', 'CAA')),
    drop constraint dns_records_site_id_name_type_key,
    add constraint dns_records_name_lower check (name = lower(name));
-- md5: a TXT value may be longer than a btree entry.
create unique index dns_records_same on dns_records (site_id, name, type, md5(value));
-- PowerDNS asks by name.
create index dns_records_name on dns_records (name);

-- What every zone's SOA and NS say, and the platform's claims policy: one row, written
-- from BERTH_DNS_* by `berth serve` and `berth dns pdns-config` (dns::model::write_settings).
create table dns_settings (
    id          boolean primary key default true check (id),
    soa_mname   text not null,
    -- The SOA's RNAME: the hostmaster's address with its @ as a dot.
    hostmaster  text not null,
    nameservers text[] not null,
    -- Names (and everything under them) no customer may claim.
    reserved    text[] not null default '{}',
    -- Serve a zone only once the customer has shown control of it (`dns_verified`).
    verify      boolean not null default false,
    updated_at  timestamptz not null default now()
);
insert into dns_settings (soa_mname, hostmaster, nameservers)
    values ('ns1.berth.invalid', 'hostmaster.berth.invalid', '{ns1.berth.invalid}');

-- The SOA serial of a site's zones, moved on every change of its records or hostnames:
-- the seconds since 1970, or one more than before when that is not more.
alter table sites add column dns_serial bigint not null default extract(epoch from now())::bigint,
    -- The token of the `_berth-verify.<zone>` TXT record the site page shows.
    add column dns_token text not null default replace(gen_random_uuid()::text, '-', '');

create function dns_bump_serial() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update sites set dns_serial = greatest(dns_serial + 1, extract(epoch from clock_timestamp())::bigint)
            where id = old.site_id;
    end if;
    if tg_op = 'INSERT' or (tg_op = 'UPDATE' and new.site_id <> old.site_id) then
        update sites set dns_serial = greatest(dns_serial + 1, extract(epoch from clock_timestamp())::bigint)
            where id = new.site_id;
    end if;
    return null;
end
$$;
create trigger dns_records_serial after insert or update or delete on dns_records
    for each row execute function dns_bump_serial();
create trigger hostnames_serial after insert or update or delete on hostnames
    for each row execute function dns_bump_serial();

-- The hostnames under a name (claims: no customer's zone nests in another's).
create index hostnames_reversed on hostnames ((reverse(hostname) collate "C"));

-- A zone's number for PowerDNS (its domain_id): a hostname's.
alter table hostnames add column zone_id integer generated always as identity unique;

-- Zones whose control the customer has shown (with BERTH_DNS_VERIFY=true).
create table dns_verified (
    hostname    text primary key references hostnames (hostname) on delete cascade,
    verified_at timestamptz not null default now()
);

-- The zones: each hostname of a site that is not under another hostname of the same site
-- (an alias www.example.com of example.com is a name in example.com's zone; an alias
-- example.org is a zone of its own), and whether the customer has shown control of it.
create view dns_zones as
select h.zone_id, h.hostname as name, h.site_id, h.customer_id,
       exists (select 1 from dns_verified v where v.hostname = h.hostname) as verified
from hostnames h
where not exists (select 1 from hostnames p
                  where p.customer_id = h.customer_id and p.site_id = h.site_id
                    and right(h.hostname, length(p.hostname) + 1) = '.' || p.hostname);

create schema pdns;

-- The zones PowerDNS serves: with verification on, only those shown to be the customer's.
create view pdns.domains as
select z.zone_id as id, z.name, ''::text as master, 0 as last_check, 'NATIVE'::text as type,
       0::bigint as notified_serial, ''::text as account, ''::text as options, ''::text as catalog,
       z.site_id, z.customer_id
from dns_zones z cross join dns_settings s
where not s.verify or z.verified;

-- The records, in the shape gpgsql reads: each zone's SOA and NS, then the site's records
-- that have a value, each in the zone its name falls in (the site's shortest hostname that
-- the name is, or is under). MX keeps its priority in `prio`; CNAME and MX targets lose
-- the final dot the site page shows.
create view pdns.records as
select d.id as domain_id, d.name, 'SOA'::text as type,
       s.soa_mname || ' ' || s.hostmaster || ' ' || si.dns_serial || ' 10800 3600 604800 3600' as content,
       3600 as ttl, 0 as prio, false as disabled, true as auth, null::text as ordername
from pdns.domains d join sites si on si.id = d.site_id cross join dns_settings s
union all
select d.id, d.name, 'NS', ns.name, 3600, 0, false, true, null
from pdns.domains d cross join dns_settings s cross join unnest(s.nameservers) as ns (name)
union all
select z.id, r.name, r.type,
       case r.type when 'MX' then rtrim(split_part(r.value, ' ', 2), '.')
                   when 'CNAME' then rtrim(r.value, '.')
                   else r.value end,
       r.ttl,
       case when r.type = 'MX' then split_part(r.value, ' ', 1)::integer else 0 end,
       false, true, null
from dns_records r
join lateral (select d.id from pdns.domains d
              where d.customer_id = r.customer_id and d.site_id = r.site_id
                and (d.name = r.name or right(r.name, length(d.name) + 1) = '.' || d.name)
              order by length(d.name) limit 1) z on true
where r.value is not null
  -- A value PowerDNS could not read would fail the query for every name it asks.
  and (r.type <> 'MX' or r.value ~ '^[0-9]{1,5} [^ ]+$');

-- What gpgsql also asks for, which Berth does not keep: no metadata, keys, TSIG keys,
-- autoprimaries or comments.
create view pdns.domainmetadata as
select null::integer as domain_id, null::text as name, null::text as kind, null::text as content where false;
create view pdns.cryptokeys as
select null::integer as id, null::integer as domain_id, null::text as name, 0 as flags, false as active,
       false as published, null::text as content where false;
create view pdns.tsigkeys as
select null::text as name, null::text as algorithm, null::text as secret where false;
create view pdns.supermasters as
select null::inet as ip, null::text as nameserver, null::text as account where false;
create view pdns.comments as
select null::integer as domain_id, null::text as name, null::text as type, 0 as modified_at,
       null::text as account, null::text as comment where false;
