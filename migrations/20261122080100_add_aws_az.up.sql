-- AWS availability zones per account (EC2 DescribeAvailabilityZones).
CREATE TABLE IF NOT EXISTS aws_az (
    id bigserial PRIMARY KEY,
    zone_id varchar NOT NULL,
    name varchar NOT NULL,
    account_id varchar NOT NULL,
    opt_in_status varchar NOT NULL,
    state varchar NOT NULL,
    region_name varchar NOT NULL,
    group_name varchar NOT NULL,
    network_border_group varchar NOT NULL,
    zone_type varchar NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_az_key UNIQUE (zone_id, account_id)
);
CREATE INDEX IF NOT EXISTS aws_az_region_idx ON aws_az (account_id, region_name);
