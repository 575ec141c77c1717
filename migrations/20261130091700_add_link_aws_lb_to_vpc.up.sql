-- Link: lb -> vpc (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_lb_to_vpc (
    id bigserial PRIMARY KEY,
    lb_id bigint NOT NULL REFERENCES aws_loadbalancer (id) ON DELETE CASCADE,
    vpc_id bigint NOT NULL REFERENCES aws_vpc (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_lb_to_vpc_key UNIQUE (lb_id, vpc_id)
);
CREATE INDEX IF NOT EXISTS l_aws_lb_to_vpc_vpc_idx ON l_aws_lb_to_vpc (vpc_id);
