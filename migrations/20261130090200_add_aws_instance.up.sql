-- AWS EC2 instances (DescribeInstances).
CREATE TABLE IF NOT EXISTS aws_instance (
    id bigserial PRIMARY KEY,
    instance_id varchar NOT NULL,
    name varchar NOT NULL DEFAULT '',
    account_id varchar NOT NULL,
    arch varchar NOT NULL DEFAULT '',
    instance_type varchar NOT NULL DEFAULT '',
    state varchar NOT NULL DEFAULT '',
    subnet_id varchar NOT NULL DEFAULT '',
    vpc_id varchar NOT NULL DEFAULT '',
    platform varchar NOT NULL DEFAULT '',
    region_name varchar NOT NULL,
    image_id varchar NOT NULL DEFAULT '',
    launch_time timestamptz,
    private_ip varchar NOT NULL DEFAULT '',
    public_ip varchar NOT NULL DEFAULT '',
    private_dns_name varchar NOT NULL DEFAULT '',
    public_dns_name varchar NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_instance_key UNIQUE (instance_id, account_id)
);
CREATE INDEX IF NOT EXISTS aws_instance_account_id_region_name_idx ON aws_instance (account_id, region_name);
