-- AWS regions per account (EC2 DescribeRegions).
CREATE TABLE IF NOT EXISTS aws_region (
    id bigserial PRIMARY KEY,
    name varchar NOT NULL,
    endpoint varchar NOT NULL,
    opt_in_status varchar NOT NULL,
    account_id varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_region_key UNIQUE (name, account_id)
);
