-- Link: vpc -> instance (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_vpc_to_instance (
    id bigserial PRIMARY KEY,
    vpc_id bigint NOT NULL REFERENCES aws_vpc (id) ON DELETE CASCADE,
    instance_id bigint NOT NULL REFERENCES aws_instance (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_vpc_to_instance_key UNIQUE (vpc_id, instance_id)
);
CREATE INDEX IF NOT EXISTS l_aws_vpc_to_instance_instance_idx ON l_aws_vpc_to_instance (instance_id);
