-- AWS AMIs (DescribeImages with the configured owners).
CREATE TABLE IF NOT EXISTS aws_image (
    id bigserial PRIMARY KEY,
    image_id varchar NOT NULL,
    name varchar NOT NULL DEFAULT '',
    account_id varchar NOT NULL,
    owner_id varchar NOT NULL DEFAULT '',
    image_type varchar NOT NULL DEFAULT '',
    root_device_type varchar NOT NULL DEFAULT '',
    description varchar NOT NULL DEFAULT '',
    architecture varchar NOT NULL DEFAULT '',
    state varchar NOT NULL DEFAULT '',
    virtualization_type varchar NOT NULL DEFAULT '',
    creation_date timestamptz,
    region_name varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_image_key UNIQUE (image_id, account_id)
);
