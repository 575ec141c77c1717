-- Link: instance -> image (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_instance_to_image (
    id bigserial PRIMARY KEY,
    instance_id bigint NOT NULL REFERENCES aws_instance (id) ON DELETE CASCADE,
    image_id bigint NOT NULL REFERENCES aws_image (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_instance_to_image_key UNIQUE (instance_id, image_id)
);
CREATE INDEX IF NOT EXISTS l_aws_instance_to_image_image_idx ON l_aws_instance_to_image (image_id);
