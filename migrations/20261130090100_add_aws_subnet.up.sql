-- AWS subnets (EC2 DescribeSubnets).
CREATE TABLE IF NOT EXISTS aws_subnet (
    id bigserial PRIMARY KEY,
    subnet_id varchar NOT NULL,
    name varchar NOT NULL DEFAULT '',
    account_id varchar NOT NULL,
    vpc_id varchar NOT NULL,
    state varchar NOT NULL DEFAULT '',
    az varchar NOT NULL DEFAULT '',
    az_id varchar NOT NULL DEFAULT '',
    available_ipv4_addresses integer NOT NULL DEFAULT 0,
    ipv4_cidr varchar NOT NULL DEFAULT '',
    ipv6_cidr varchar NOT NULL DEFAULT '',
    subnet_arn varchar NOT NULL DEFAULT '',
    region_name varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_subnet_key UNIQUE (subnet_id, account_id)
);
