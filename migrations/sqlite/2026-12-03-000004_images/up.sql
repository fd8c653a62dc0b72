-- The image registry: templates no longer carry host paths. Operators place base disks, kernels and
-- initrds in a pool's image directory and register them (file name, checksum, size); templates refer
-- to registered images by id. Existing templates keep no image: they cannot be deployed until an
-- operator recreates them on registered images (their host paths are never trusted again).
ALTER TABLE compute_pools ADD COLUMN image_dir TEXT NOT NULL DEFAULT '/var/lib/scaleinfra/images';

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES compute_pools(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('disk', 'kernel', 'initrd')),
    format TEXT NOT NULL CHECK (format IN ('qcow2', 'raw')),
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (pool_id, name),
    UNIQUE (pool_id, file)
);

ALTER TABLE appliance_templates DROP COLUMN base_image;
ALTER TABLE appliance_templates DROP COLUMN kernel;
ALTER TABLE appliance_templates DROP COLUMN initrd;
ALTER TABLE appliance_templates ADD COLUMN pool_id TEXT REFERENCES compute_pools(id);
ALTER TABLE appliance_templates ADD COLUMN image_id TEXT REFERENCES images(id);
ALTER TABLE appliance_templates ADD COLUMN kernel_image_id TEXT REFERENCES images(id);
ALTER TABLE appliance_templates ADD COLUMN initrd_image_id TEXT REFERENCES images(id);
