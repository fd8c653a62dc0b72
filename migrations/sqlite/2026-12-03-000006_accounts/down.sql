ALTER TABLE audit_log DROP COLUMN actor_role;
ALTER TABLE audit_log DROP COLUMN actor_tenant_id;
ALTER TABLE refresh_tokens DROP COLUMN session_started_at;
CREATE TABLE users_old (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'admin', 'user', 'finance')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO users_old SELECT id, tenant_id, email, name, role, password_hash, disabled, token_version, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
CREATE INDEX users_tenant_idx ON users (tenant_id, id);
