ALTER TABLE applications DROP COLUMN wired;
DROP TABLE script_jobs;
DROP TABLE action_runs;
DROP INDEX events_undispatched_idx;
ALTER TABLE events DROP COLUMN dispatched;
DROP TABLE event_rules;
DROP TABLE cloudscript_versions;
DROP TABLE cloudscripts;
