DROP TABLE settings;
DROP TABLE audit_log;
DROP TABLE refresh_tokens;
DROP TABLE project_assignments;
DROP TABLE projects;
DROP TABLE users;
DROP TABLE tenants;
