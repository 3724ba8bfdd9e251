-- Tenant isolation as a constraint (DESIGN §3): a row that belongs to a customer and points
-- at another customer-owned row must point at one of the same customer's. Each such
-- reference becomes a composite foreign key over (parent id, customer_id), so not even a
-- bug in a query can file a row under one customer and point it at another's.
--
-- Where the child's customer_id may be null (an internal key's ACLs, a free pool address),
-- MATCH SIMPLE skips the check, as it should: those rows belong to no customer.

alter table sites add constraint sites_id_customer_key unique (id, customer_id);
alter table environments add constraint environments_id_customer_key unique (id, customer_id);
alter table containers add constraint containers_id_customer_key unique (id, customer_id);
alter table api_keys add constraint api_keys_id_customer_key unique (id, customer_id);
alter table contacts add constraint contacts_id_customer_key unique (id, customer_id);
alter table contact_methods add constraint contact_methods_id_customer_key unique (id, customer_id);

alter table hostnames drop constraint hostnames_site_id_fkey,
    add constraint hostnames_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table containers drop constraint containers_site_id_fkey,
    add constraint containers_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table environments drop constraint environments_site_id_fkey,
    add constraint environments_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table dns_records drop constraint dns_records_site_id_fkey,
    add constraint dns_records_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table provisioning_jobs drop constraint provisioning_jobs_site_id_fkey,
    add constraint provisioning_jobs_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table bandwidth_samples drop constraint bandwidth_samples_site_id_fkey,
    add constraint bandwidth_samples_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table ftp_users drop constraint ftp_users_site_id_fkey,
    add constraint ftp_users_site_fkey foreign key (site_id, customer_id)
        references sites (id, customer_id) on delete cascade;
alter table ftp_users drop constraint ftp_users_environment_id_fkey,
    add constraint ftp_users_environment_fkey foreign key (environment_id, customer_id)
        references environments (id, customer_id) on delete cascade;
alter table ip_pool drop constraint ip_pool_container_id_fkey,
    add constraint ip_pool_container_fkey foreign key (container_id, customer_id)
        references containers (id, customer_id) on delete set null (container_id);
alter table api_key_acls drop constraint api_key_acls_key_id_fkey,
    add constraint api_key_acls_key_fkey foreign key (key_id, customer_id)
        references api_keys (id, customer_id) on delete cascade;
-- An internal key's ACLs have no customer: they still need their key.
alter table api_key_acls add constraint api_key_acls_key_id_fkey foreign key (key_id)
    references api_keys (id) on delete cascade;
alter table contact_methods drop constraint contact_methods_contact_id_fkey,
    add constraint contact_methods_contact_fkey foreign key (contact_id, customer_id)
        references contacts (id, customer_id) on delete cascade;
alter table contact_method_notices drop constraint contact_method_notices_contact_method_id_fkey,
    add constraint contact_method_notices_method_fkey foreign key (contact_method_id, customer_id)
        references contact_methods (id, customer_id) on delete cascade;
alter table deliveries drop constraint deliveries_contact_method_id_fkey,
    add constraint deliveries_method_fkey foreign key (contact_method_id, customer_id)
        references contact_methods (id, customer_id) on delete cascade;
