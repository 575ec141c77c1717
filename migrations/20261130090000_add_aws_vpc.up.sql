-- AWS VPCs per account and region (EC2 DescribeVpcs).
CREATE TABLE IF NOT EXISTS aws_vpc (
    id bigserial PRIMARY KEY,
    vpc_id varchar NOT NULL,
    name varchar NOT NULL DEFAULT '',
    account_id varchar NOT NULL,
    state varchar NOT NULL DEFAULT '',
    ipv4_cidr varchar NOT NULL DEFAULT '',
    ipv6_cidr varchar NOT NULL DEFAULT '',
    is_default boolean NOT NULL DEFAULT false,
    owner_id varchar NOT NULL DEFAULT '',
    region_name varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_vpc_key UNIQUE (vpc_id, account_id)
);
