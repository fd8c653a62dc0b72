DROP TABLE ip_addresses;
ALTER TABLE compute_pools DROP COLUMN network_agent_url;
ALTER TABLE compute_pools DROP COLUMN network_gateway;
ALTER TABLE compute_pools DROP COLUMN network_cidr;
ALTER TABLE compute_pools DROP COLUMN network_bridge;
