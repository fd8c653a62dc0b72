-- A pool may give its guests a network of their own: a bridge on every host and an IPv4 range from
-- which each appliance gets one address (IPAM). A row is an address the pool has handed out: held by
-- one appliance (the primary key: never two), an appliance holding one (the unique key), or released
-- (no appliance) when its appliance was terminated, in the same transaction as that move. Released
-- addresses are handed out again only when no fresh one is left, the longest released first, so a
-- stale configuration that still names an address rarely reaches its next holder.
ALTER TABLE compute_pools ADD COLUMN network_bridge TEXT;
ALTER TABLE compute_pools ADD COLUMN network_cidr TEXT;
ALTER TABLE compute_pools ADD COLUMN network_gateway TEXT;
ALTER TABLE compute_pools ADD COLUMN network_agent_url TEXT;

CREATE TABLE ip_addresses (
    pool_id TEXT NOT NULL REFERENCES compute_pools (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    -- the address as a number: fresh addresses are handed out in order, so the next one follows
    -- the pool's greatest (one indexed MAX, however many the pool has handed out)
    number BIGINT NOT NULL,
    appliance_id TEXT UNIQUE REFERENCES appliances (id) ON DELETE SET NULL,
    allocated_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    PRIMARY KEY (pool_id, address)
);
CREATE INDEX ip_addresses_number ON ip_addresses (pool_id, number);
