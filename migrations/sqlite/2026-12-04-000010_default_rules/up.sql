-- How many of the default rules (orchestrator::automation::wire_defaults, in their order) an
-- application has had made: a default added in a later version is made for applications wired
-- before it, on their next deploy or group change, and none is made twice (a user's removal of a
-- default stays a removal). Applications wired before this counter had the first three.
ALTER TABLE applications ADD COLUMN defaults_wired INTEGER NOT NULL DEFAULT 0;
UPDATE applications SET defaults_wired = 3 WHERE wired;
ALTER TABLE applications DROP COLUMN wired;
