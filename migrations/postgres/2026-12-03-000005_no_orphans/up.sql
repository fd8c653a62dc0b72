-- The database itself refuses orphaned appliances: an application (deleted alone, or by the cascade
-- of its project or tenant) cannot go while one of its appliances is not terminated, and no appliance
-- is recorded for an application that does not exist. Terminated appliances keep their application's
-- id after it is gone (their history outlives it), which is why these are triggers and not a foreign
-- key.
CREATE FUNCTION si_refuse_live_orphans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM appliances WHERE application_id = OLD.id AND state <> 'terminated') THEN
        RAISE EXCEPTION 'live appliances: application % still has appliances that are not terminated', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER applications_keep_live_appliances BEFORE DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION si_refuse_live_orphans();

-- KEY SHARE, as a foreign key's check takes: a concurrent delete of the application waits for this
-- insert to commit (and its own trigger then sees the new appliance), or this insert waits for the
-- delete and finds nothing.
CREATE FUNCTION si_appliance_needs_application() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM applications WHERE id = NEW.application_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'live appliances: application % does not exist', NEW.application_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appliances_need_an_application BEFORE INSERT ON appliances
    FOR EACH ROW EXECUTE FUNCTION si_appliance_needs_application();
