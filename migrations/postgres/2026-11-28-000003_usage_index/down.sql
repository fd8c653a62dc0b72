DROP INDEX appliances_group_idx;
DROP INDEX appliances_usage_idx;
