-- Pruning finds old history by time (engine::prune).
CREATE INDEX events_pruning_idx ON events (at) WHERE dispatched;
CREATE INDEX action_runs_finished_idx ON action_runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX script_jobs_finished_idx ON script_jobs (finished_at) WHERE finished_at IS NOT NULL;
