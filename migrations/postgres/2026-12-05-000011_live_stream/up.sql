-- The live stream replays an application's transitions after a reconnect (Last-Event-ID).
CREATE INDEX appliance_events_application_idx ON appliance_events (application_id, id);
