-- IP addresses held by customers: the reverse DNS name a customer sets, and IPv6
-- addresses in the pool (2001:db8:b::10 to ::fa).

alter table ip_pool add column reverse_dns text;

insert into ip_pool (address)
select '2001:db8:b::'::inet + n from generate_series(16, 250) as n
on conflict do nothing;
