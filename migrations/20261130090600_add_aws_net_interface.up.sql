-- AWS elastic network interfaces (DescribeNetworkInterfaces).
CREATE TABLE IF NOT EXISTS aws_net_interface (
    id bigserial PRIMARY KEY,
    interface_id varchar NOT NULL,
    account_id varchar NOT NULL,
    region_name varchar NOT NULL,
    az varchar NOT NULL DEFAULT '',
    description varchar NOT NULL DEFAULT '',
    interface_type varchar NOT NULL DEFAULT '',
    mac_address varchar NOT NULL DEFAULT '',
    owner_id varchar NOT NULL DEFAULT '',
    private_dns_name varchar NOT NULL DEFAULT '',
    private_ip_address varchar NOT NULL DEFAULT '',
    public_ip_address varchar NOT NULL DEFAULT '',
    requester_managed boolean NOT NULL DEFAULT false,
    src_dst_check boolean NOT NULL DEFAULT false,
    status varchar NOT NULL DEFAULT '',
    subnet_id varchar NOT NULL DEFAULT '',
    vpc_id varchar NOT NULL DEFAULT '',
    instance_id varchar NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_net_interface_key UNIQUE (interface_id, account_id)
);
