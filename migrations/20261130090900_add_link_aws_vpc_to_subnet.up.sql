-- Link: vpc -> subnet (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_vpc_to_subnet (
    id bigserial PRIMARY KEY,
    vpc_id bigint NOT NULL REFERENCES aws_vpc (id) ON DELETE CASCADE,
    subnet_id bigint NOT NULL REFERENCES aws_subnet (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_vpc_to_subnet_key UNIQUE (vpc_id, subnet_id)
);
CREATE INDEX IF NOT EXISTS l_aws_vpc_to_subnet_subnet_idx ON l_aws_vpc_to_subnet (subnet_id);
