-- Link: instance -> net_interface (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_instance_to_net_interface (
    id bigserial PRIMARY KEY,
    instance_id bigint NOT NULL REFERENCES aws_instance (id) ON DELETE CASCADE,
    net_interface_id bigint NOT NULL REFERENCES aws_net_interface (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_instance_to_net_interface_key UNIQUE (instance_id, net_interface_id)
);
CREATE INDEX IF NOT EXISTS l_aws_instance_to_net_interface_net_interface_idx ON l_aws_instance_to_net_interface (net_interface_id);
