CREATE INDEX IF NOT EXISTS aws_instance_account_id_region_name_idx ON aws_instance (account_id, region_name);
DROP INDEX IF EXISTS aws_instance_account_region_id_idx;
