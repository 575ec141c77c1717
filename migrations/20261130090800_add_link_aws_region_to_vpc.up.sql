-- Link: region -> vpc (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_region_to_vpc (
    id bigserial PRIMARY KEY,
    region_id bigint NOT NULL REFERENCES aws_region (id) ON DELETE CASCADE,
    vpc_id bigint NOT NULL REFERENCES aws_vpc (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_region_to_vpc_key UNIQUE (region_id, vpc_id)
);
CREATE INDEX IF NOT EXISTS l_aws_region_to_vpc_vpc_idx ON l_aws_region_to_vpc (vpc_id);
