ALTER TABLE appliance_templates DROP COLUMN initrd_image_id;
ALTER TABLE appliance_templates DROP COLUMN kernel_image_id;
ALTER TABLE appliance_templates DROP COLUMN image_id;
ALTER TABLE appliance_templates DROP COLUMN pool_id;
ALTER TABLE appliance_templates ADD COLUMN base_image TEXT NOT NULL DEFAULT 'none';
ALTER TABLE appliance_templates ADD COLUMN kernel TEXT;
ALTER TABLE appliance_templates ADD COLUMN initrd TEXT;
DROP TABLE images;
ALTER TABLE compute_pools DROP COLUMN image_dir;
