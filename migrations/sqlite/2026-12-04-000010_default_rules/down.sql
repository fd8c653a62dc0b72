ALTER TABLE applications ADD COLUMN wired BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE applications SET wired = (defaults_wired > 0);
ALTER TABLE applications DROP COLUMN defaults_wired;
