-- Link: subnet -> az (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_subnet_to_az (
    id bigserial PRIMARY KEY,
    subnet_id bigint NOT NULL REFERENCES aws_subnet (id) ON DELETE CASCADE,
    az_id bigint NOT NULL REFERENCES aws_az (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_subnet_to_az_key UNIQUE (subnet_id, az_id)
);
CREATE INDEX IF NOT EXISTS l_aws_subnet_to_az_az_idx ON l_aws_subnet_to_az (az_id);
