ALTER TABLE audit_log DROP COLUMN actor_role;
ALTER TABLE audit_log DROP COLUMN actor_tenant_id;
ALTER TABLE refresh_tokens DROP COLUMN session_started_at;
DROP INDEX users_email_idx;
DROP INDEX users_tenant_email_idx;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
