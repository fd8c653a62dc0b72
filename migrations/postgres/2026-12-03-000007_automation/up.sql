-- Automation: CloudScripts with immutable versions, event rules with their chains of actions, one
-- action run per (event, rule), and the script jobs appliances' agents pull and report.
CREATE TABLE cloudscripts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    -- 'global' for the provider's library, else the owning tenant's id
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    latest_version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (scope, name)
);
CREATE INDEX cloudscripts_tenant_idx ON cloudscripts (tenant_id, id);

CREATE TABLE cloudscript_versions (
    script_id TEXT NOT NULL REFERENCES cloudscripts(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    variables TEXT NOT NULL,
    timeout_secs INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (script_id, version)
);

CREATE TABLE event_rules (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    event_type TEXT NOT NULL,
    filter TEXT NOT NULL,
    condition TEXT,
    cooldown_secs INTEGER NOT NULL,
    schedule TEXT,
    steps TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('user', 'default')),
    last_fired_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (application_id, name)
);
CREATE INDEX event_rules_app_idx ON event_rules (application_id, event_type);

-- Events are dispatched to rules once; the history before this migration is not.
ALTER TABLE events ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE events SET dispatched = TRUE;
CREATE INDEX events_undispatched_idx ON events (id) WHERE NOT dispatched;

CREATE TABLE action_runs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    appliance_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    step INTEGER NOT NULL DEFAULT 0,
    -- the rule's chain as it was when the event came (a later edit does not change a run under way)
    chain TEXT NOT NULL,
    steps TEXT NOT NULL,
    next_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    UNIQUE (event_id, rule_id)
);
CREATE INDEX action_runs_open_idx ON action_runs (status, application_id, id);
CREATE INDEX action_runs_app_idx ON action_runs (application_id, id);
CREATE INDEX action_runs_rule_idx ON action_runs (rule_id, id);

CREATE TABLE script_jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    appliance_id TEXT NOT NULL,
    run_id TEXT,
    step INTEGER,
    purpose TEXT NOT NULL CHECK (purpose IN ('install', 'action', 'manual')),
    script_id TEXT NOT NULL,
    script_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- what the agent gets (secrets in clear), emptied once the job ended
    body TEXT NOT NULL,
    env TEXT NOT NULL,
    secrets TEXT NOT NULL,
    -- what the API shows (secrets masked)
    shown TEXT NOT NULL,
    timeout_secs INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
    exit_code INTEGER,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
CREATE INDEX script_jobs_appliance_idx ON script_jobs (appliance_id, id);
CREATE INDEX script_jobs_run_idx ON script_jobs (run_id);
CREATE INDEX script_jobs_open_idx ON script_jobs (status, started_at);

-- whether the application got its default load-balancer rules (once: a user may remove them)
ALTER TABLE applications ADD COLUMN wired BOOLEAN NOT NULL DEFAULT FALSE;
