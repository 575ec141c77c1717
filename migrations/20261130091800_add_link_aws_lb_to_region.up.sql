-- Link: lb -> region (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_lb_to_region (
    id bigserial PRIMARY KEY,
    lb_id bigint NOT NULL REFERENCES aws_loadbalancer (id) ON DELETE CASCADE,
    region_id bigint NOT NULL REFERENCES aws_region (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_lb_to_region_key UNIQUE (lb_id, region_id)
);
CREATE INDEX IF NOT EXISTS l_aws_lb_to_region_region_idx ON l_aws_lb_to_region (region_id);
