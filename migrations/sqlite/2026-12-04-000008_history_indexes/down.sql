DROP INDEX script_jobs_finished_idx;
DROP INDEX action_runs_finished_idx;
DROP INDEX events_pruning_idx;
