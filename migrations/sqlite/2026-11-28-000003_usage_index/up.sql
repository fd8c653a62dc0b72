-- Placement reads every host's usage and each group's spread: indexes that answer them without
-- touching the table.
CREATE INDEX appliances_usage_idx ON appliances (state, host_id, vcpus, memory_mib, disk_gib);
CREATE INDEX appliances_group_idx ON appliances (group_id, state, host_id);
