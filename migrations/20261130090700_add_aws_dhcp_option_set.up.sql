-- AWS DHCP option sets (DescribeDhcpOptions).
CREATE TABLE IF NOT EXISTS aws_dhcp_option_set (
    id bigserial PRIMARY KEY,
    set_id varchar NOT NULL,
    name varchar NOT NULL DEFAULT '',
    account_id varchar NOT NULL,
    region_name varchar NOT NULL,
    owner_id varchar NOT NULL DEFAULT '',
    domain_name varchar NOT NULL DEFAULT '',
    domain_name_servers varchar NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_dhcp_option_set_key UNIQUE (set_id, account_id)
);
