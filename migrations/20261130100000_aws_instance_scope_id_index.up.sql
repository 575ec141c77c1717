-- The API's most common filter is one account's region, listed in id order
-- (keyset pages). With (account_id, region_name) alone the planner walks the
-- primary key and filters, scanning most of the table when the rows of that
-- region sit late in id order; with id as the third column the index hands
-- out the page directly.
CREATE INDEX IF NOT EXISTS aws_instance_account_region_id_idx ON aws_instance (account_id, region_name, id);
DROP INDEX IF EXISTS aws_instance_account_id_region_name_idx;
