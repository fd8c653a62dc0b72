-- Accounts, hardened: an email is unique within its tenant only (so creating a user reveals nothing
-- about other tenants); sessions carry when they started (an absolute lifetime); the audit log records
-- the actor's tenant and role (customers see provider staff as their role, never as a person).
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key;
CREATE UNIQUE INDEX users_tenant_email_idx ON users (tenant_id, email);
CREATE INDEX users_email_idx ON users (email);

ALTER TABLE refresh_tokens ADD COLUMN session_started_at TIMESTAMP;
UPDATE refresh_tokens SET session_started_at = created_at;
ALTER TABLE refresh_tokens ALTER COLUMN session_started_at SET NOT NULL;

-- the provider's quotas were above what the API documents any tenant's can be
UPDATE tenants SET max_vcpus = 1000000, max_memory_mib = 1000000000, max_appliances = 1000000
WHERE kind = 'provider';

ALTER TABLE audit_log ADD COLUMN actor_tenant_id TEXT;
ALTER TABLE audit_log ADD COLUMN actor_role TEXT;
UPDATE audit_log SET
    actor_tenant_id = (SELECT tenant_id FROM users WHERE users.id = audit_log.actor_id),
    actor_role = (SELECT role FROM users WHERE users.id = audit_log.actor_id)
WHERE actor_id IS NOT NULL;
