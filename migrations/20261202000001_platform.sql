-- The platform behind the panel (DESIGN §8): images per site type, the pool's networks,
-- this installation's id, and what the engine is asked to keep a container doing.

-- The image a site's container runs, per container type and operating system; '*'
-- matches any. Filled by `berth image set TYPE OS IMAGE`.
create table container_images (
    type_id    text not null check (type_id = '*' or type_id ~ '^[a-z0-9.-]{1,40}$'),
    os_id      text not null check (os_id = '*' or os_id ~ '^[a-z0-9.-]{1,40}$'),
    image      text not null check (image ~ '^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$'),
    updated_at timestamptz not null default now(),
    primary key (type_id, os_id)
);

-- The networks the pool's addresses belong to; with the docker driver each is an engine
-- network (`berth-pool-<address>-<prefix>`) whose gateway is kept out of the pool.
create table pool_networks (
    network    cidr primary key,
    gateway    inet not null check (gateway << network),
    created_at timestamptz not null default now()
);
insert into pool_networks (network, gateway) values
    ('192.0.2.0/24', '192.0.2.1'),
    ('198.51.100.0/24', '198.51.100.1');

-- One row: labels every container and network this Berth makes on an engine, so that two
-- Berths sharing an engine never adopt or remove each other's containers.
create table installation (
    one boolean primary key default true check (one),
    id  uuid not null default gen_random_uuid()
);
insert into installation default values;

-- What the customer last asked of the container: the site page compares it with what the
-- engine reports (a container that exited while it should run has failed).
alter table containers
    add column desired_state text not null default 'running' check (desired_state in ('running', 'stopped'));
