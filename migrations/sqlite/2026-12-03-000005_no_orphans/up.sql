-- The database itself refuses orphaned appliances: an application (deleted alone, or by the cascade
-- of its project or tenant) cannot go while one of its appliances is not terminated, and no appliance
-- is recorded for an application that does not exist. Terminated appliances keep their application's
-- id after it is gone (their history outlives it), which is why these are triggers and not a foreign
-- key.
CREATE TRIGGER applications_keep_live_appliances BEFORE DELETE ON applications
WHEN EXISTS (SELECT 1 FROM appliances WHERE application_id = OLD.id AND state <> 'terminated')
BEGIN
    SELECT RAISE(ABORT, 'live appliances: the application still has appliances that are not terminated');
END;

CREATE TRIGGER appliances_need_an_application BEFORE INSERT ON appliances
WHEN NOT EXISTS (SELECT 1 FROM applications WHERE id = NEW.application_id)
BEGIN
    SELECT RAISE(ABORT, 'live appliances: the application does not exist');
END;
