-- Link: image -> region (filled by aws:task:link-all).
CREATE TABLE IF NOT EXISTS l_aws_image_to_region (
    id bigserial PRIMARY KEY,
    image_id bigint NOT NULL REFERENCES aws_image (id) ON DELETE CASCADE,
    region_id bigint NOT NULL REFERENCES aws_region (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l_aws_image_to_region_key UNIQUE (image_id, region_id)
);
CREATE INDEX IF NOT EXISTS l_aws_image_to_region_region_idx ON l_aws_image_to_region (region_id);
