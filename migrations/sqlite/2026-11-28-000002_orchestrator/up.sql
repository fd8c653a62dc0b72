-- Orchestrator core: pools, hosts, the appliance catalog, applications with layers and groups,
-- appliances with every state transition, domain events, metrics, leases.
CREATE TABLE compute_pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    strategy TEXT NOT NULL CHECK (strategy IN ('spread', 'pack')),
    cpu_overcommit_pct INTEGER NOT NULL,
    ram_overcommit_pct INTEGER NOT NULL,
    disk_overcommit_pct INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES compute_pools(id),
    name TEXT NOT NULL UNIQUE,
    uri TEXT NOT NULL UNIQUE,
    vcpus INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    disk_gib INTEGER NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL CHECK (state IN ('up', 'suspect', 'down', 'fenced', 'maintenance')),
    missed_checks INTEGER NOT NULL DEFAULT 0,
    last_seen_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX hosts_pool_idx ON hosts (pool_id);

-- scope is 'global' for the provider's templates, else the owning tenant's id
CREATE TABLE appliance_templates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    base_image TEXT NOT NULL,
    kernel TEXT,
    initrd TEXT,
    vcpus INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    disk_gib INTEGER NOT NULL,
    ports TEXT NOT NULL DEFAULT '[]',
    install_scripts TEXT NOT NULL DEFAULT '[]',
    metrics TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    UNIQUE (scope, name)
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    pool_id TEXT REFERENCES compute_pools(id),
    deployed BOOLEAN NOT NULL DEFAULT FALSE,
    generation INTEGER NOT NULL DEFAULT 0,
    reconcile_after TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX applications_tenant_idx ON applications (tenant_id, id);
CREATE INDEX applications_due_idx ON applications (reconcile_after);

CREATE TABLE layers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (application_id, name)
);

CREATE TABLE appliance_groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    layer_id TEXT NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_id TEXT NOT NULL REFERENCES appliance_templates(id),
    desired INTEGER NOT NULL,
    min_count INTEGER NOT NULL,
    max_count INTEGER NOT NULL,
    service_ensure BOOLEAN NOT NULL,
    autoscale TEXT,
    load_pct INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (application_id, name)
);

-- Appliances outlive their application (billing meters from them): no cascading foreign keys.
CREATE TABLE appliances (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT NOT NULL DEFAULT '',
    state_since TIMESTAMP NOT NULL,
    target TEXT NOT NULL CHECK (target IN ('run', 'stop', 'reboot', 'terminate')),
    host_id TEXT,
    ip TEXT,
    vcpus INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    disk_gib INTEGER NOT NULL,
    last_heartbeat_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX appliances_app_idx ON appliances (application_id, state);
CREATE INDEX appliances_host_idx ON appliances (host_id, state);
CREATE INDEX appliances_tenant_idx ON appliances (tenant_id, id);

CREATE TABLE appliance_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    appliance_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at TIMESTAMP NOT NULL
);
CREATE INDEX appliance_events_appliance_idx ON appliance_events (appliance_id, id);
CREATE INDEX appliance_events_tenant_idx ON appliance_events (tenant_id, at);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    type TEXT NOT NULL,
    application_id TEXT,
    appliance_id TEXT,
    host_id TEXT,
    detail TEXT NOT NULL DEFAULT '',
    at TIMESTAMP NOT NULL
);
CREATE INDEX events_tenant_idx ON events (tenant_id, id);
CREATE INDEX events_application_idx ON events (application_id, id);

CREATE TABLE appliance_metrics (
    appliance_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    report TEXT NOT NULL
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
