-- AWS load balancers: classic (ELB) and v2 (ELBv2: application, network, gateway).
CREATE TABLE IF NOT EXISTS aws_loadbalancer (
    id bigserial PRIMARY KEY,
    dns_name varchar NOT NULL,
    name varchar NOT NULL,
    account_id varchar NOT NULL,
    arn varchar NOT NULL DEFAULT '',
    ip_address_type varchar NOT NULL DEFAULT '',
    canonical_hosted_zone_id varchar NOT NULL DEFAULT '',
    state varchar NOT NULL DEFAULT '',
    scheme varchar NOT NULL DEFAULT '',
    type varchar NOT NULL DEFAULT '',
    vpc_id varchar NOT NULL DEFAULT '',
    region_name varchar NOT NULL,
    created_time timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_loadbalancer_key UNIQUE (dns_name, account_id)
);
