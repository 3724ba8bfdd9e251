-- Sites and provisioning (CP_Wizard): catalogues, sites with their container,
-- environments, hostnames and DNS records, the address pool, wizard drafts, and the
-- provisioning jobs the worker runs.

create table container_types (
    id    text primary key,
    label text not null,
    sort  integer not null
);
insert into container_types (id, label, sort) values
    ('lamp',   'LAMP (Apache, MariaDB, PHP)', 1),
    ('lemp',   'LEMP (nginx, MariaDB, PHP)',  2),
    ('node',   'Node.js',                     3),
    ('python', 'Python (WSGI/ASGI)',          4),
    ('static', 'Static files (nginx)',        5);

create table operating_systems (
    id    text primary key,
    label text not null,
    sort  integer not null
);
insert into operating_systems (id, label, sort) values
    ('debian-13',    'Debian 13 (trixie)',   1),
    ('debian-12',    'Debian 12 (bookworm)', 2),
    ('ubuntu-24.04', 'Ubuntu 24.04 LTS',     3),
    ('ubuntu-22.04', 'Ubuntu 22.04 LTS',     4),
    ('almalinux-9',  'AlmaLinux 9',          5),
    ('alpine-3.20',  'Alpine Linux 3.20',    6);

-- Which operating systems each container type is offered on.
create table container_type_os (
    type_id text not null references container_types (id),
    os_id   text not null references operating_systems (id),
    primary key (type_id, os_id)
);
insert into container_type_os (type_id, os_id) values
    ('lamp', 'debian-13'), ('lamp', 'debian-12'), ('lamp', 'ubuntu-24.04'), ('lamp', 'ubuntu-22.04'), ('lamp', 'almalinux-9'),
    ('lemp', 'debian-13'), ('lemp', 'debian-12'), ('lemp', 'ubuntu-24.04'), ('lemp', 'ubuntu-22.04'), ('lemp', 'almalinux-9'),
    ('node', 'debian-13'), ('node', 'debian-12'), ('node', 'ubuntu-24.04'), ('node', 'alpine-3.20'),
    ('python', 'debian-13'), ('python', 'debian-12'), ('python', 'ubuntu-24.04'), ('python', 'ubuntu-22.04'),
    ('static', 'debian-13'), ('static', 'alpine-3.20');

create table container_sizes (
    id           text primary key,
    label        text not null,
    vcpu         integer not null,
    memory_mib   integer not null,
    disk_min_gib integer not null,
    disk_max_gib integer not null,
    sort         integer not null,
    check (disk_min_gib <= disk_max_gib)
);
insert into container_sizes (id, label, vcpu, memory_mib, disk_min_gib, disk_max_gib, sort) values
    ('small',  'Small',       1,  1024, 10,   50, 1),
    ('medium', 'Medium',      2,  4096, 20,  200, 2),
    ('large',  'Large',       4,  8192, 40,  500, 3),
    ('xlarge', 'Extra large', 8, 16384, 80, 1000, 4);

create table sites (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    name        text not null,
    hostname    text not null,
    create_dns  boolean not null,
    status      text not null default 'provisioning'
                check (status in ('provisioning', 'active', 'failed')),
    -- The wizard draft this site came from: a second submit of the same draft finds it.
    draft_token uuid not null,
    created_at  timestamptz not null default now(),
    unique (customer_id, draft_token)
);
create index sites_customer on sites (customer_id, id);

-- Every hostname on the platform, primary or alias, belongs to one site.
create table hostnames (
    hostname    text primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null references sites (id) on delete cascade,
    is_primary  boolean not null
);
create index hostnames_customer_site on hostnames (customer_id, site_id);

create table containers (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null references sites (id) on delete cascade,
    name        text not null,
    type_id     text not null references container_types (id),
    os_id       text not null references operating_systems (id),
    size_id     text not null references container_sizes (id),
    disk_gib    integer not null,
    status      text not null default 'pending' check (status in ('pending', 'active', 'failed')),
    address     inet,
    created_at  timestamptz not null default now(),
    unique (customer_id, name)
);
create index containers_customer_site on containers (customer_id, site_id);

create table environments (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null references sites (id) on delete cascade,
    name        text not null,
    status      text not null default 'pending' check (status in ('pending', 'active', 'failed')),
    created_at  timestamptz not null default now(),
    unique (site_id, name)
);
create index environments_customer_site on environments (customer_id, site_id);

create table dns_records (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null references sites (id) on delete cascade,
    name        text not null,
    type        text not null check (type in ('A', 'AAAA', 'CNAME', 'TXT', 'MX')),
    -- Null while planned: A/AAAA records get the container's address from provisioning.
    value       text,
    ttl         integer not null default 3600,
    unique (site_id, name, type)
);
create index dns_records_customer_site on dns_records (customer_id, site_id);

-- The platform's addresses; a row with a customer is allocated to them.
create table ip_pool (
    address      inet primary key,
    customer_id  bigint references customers (id) on delete set null,
    container_id bigint references containers (id) on delete set null,
    allocated_at timestamptz
);
create index ip_pool_customer on ip_pool (customer_id, address);
create index ip_pool_free on ip_pool (address) where customer_id is null;
-- Documentation ranges (RFC 5737, RFC 3849) for the demo and development.
insert into ip_pool (address)
    select ('192.0.2.' || n)::inet from generate_series(10, 250) as n;
insert into ip_pool (address)
    select ('198.51.100.' || n)::inet from generate_series(10, 250) as n;

-- The wizard's draft, one per customer, kept until it is created or discarded.
create table wizard_drafts (
    customer_id bigint primary key references customers (id) on delete cascade,
    token       uuid not null,
    data        jsonb not null default '{}',
    updated_at  timestamptz not null default now()
);

create table provisioning_jobs (
    id          bigint generated always as identity primary key,
    customer_id bigint not null references customers (id) on delete cascade,
    site_id     bigint not null unique references sites (id) on delete cascade,
    status      text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
    created_at  timestamptz not null default now(),
    finished_at timestamptz
);
create index provisioning_jobs_customer on provisioning_jobs (customer_id, site_id);

-- The ordered steps of a job; the worker runs the first unfinished one when it is due.
create table job_steps (
    id              bigint generated always as identity primary key,
    job_id          bigint not null references provisioning_jobs (id) on delete cascade,
    position        integer not null,
    name            text not null
                    check (name in ('allocate_address', 'create_container', 'create_environments', 'attach_aliases', 'write_dns')),
    status          text not null default 'pending' check (status in ('pending', 'done', 'failed')),
    attempts        integer not null default 0,
    last_error      text,
    next_attempt_at timestamptz not null default now(),
    finished_at     timestamptz,
    unique (job_id, position)
);
create index job_steps_due on job_steps (next_attempt_at) where status = 'pending';

-- Every attempt at a step, with its error if it failed.
create table job_attempts (
    id          bigint generated always as identity primary key,
    step_id     bigint not null references job_steps (id) on delete cascade,
    attempt     integer not null,
    worker      text not null,
    started_at  timestamptz not null,
    finished_at timestamptz not null default now(),
    error       text
);
create index job_attempts_step on job_attempts (step_id, attempt);
