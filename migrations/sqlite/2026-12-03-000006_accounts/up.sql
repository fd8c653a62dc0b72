-- Accounts, hardened: an email is unique within its tenant only (so creating a user reveals nothing
-- about other tenants); sessions carry when they started (an absolute lifetime); the audit log records
-- the actor's tenant and role (customers see provider staff as their role, never as a person).
-- SQLite cannot drop a column's UNIQUE: the users table is rebuilt (SQLite's documented procedure;
-- `store::migrate` runs SQLite migrations with foreign keys off, inside diesel's transaction, and
-- checks every foreign key before turning them back on).
CREATE TABLE users_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'admin', 'user', 'finance')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, email)
);
INSERT INTO users_new (id, tenant_id, email, name, role, password_hash, disabled, token_version, created_at, updated_at)
    SELECT id, tenant_id, email, name, role, password_hash, disabled, token_version, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_tenant_idx ON users (tenant_id, id);
CREATE INDEX users_email_idx ON users (email);

ALTER TABLE refresh_tokens ADD COLUMN session_started_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE refresh_tokens SET session_started_at = created_at;

-- the provider's quotas were above what the API documents any tenant's can be
UPDATE tenants SET max_vcpus = 1000000, max_memory_mib = 1000000000, max_appliances = 1000000
WHERE kind = 'provider';

ALTER TABLE audit_log ADD COLUMN actor_tenant_id TEXT;
ALTER TABLE audit_log ADD COLUMN actor_role TEXT;
UPDATE audit_log SET
    actor_tenant_id = (SELECT tenant_id FROM users WHERE users.id = audit_log.actor_id),
    actor_role = (SELECT role FROM users WHERE users.id = audit_log.actor_id)
WHERE actor_id IS NOT NULL;
