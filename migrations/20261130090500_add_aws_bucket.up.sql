-- AWS S3 buckets (ListBuckets, GetBucketLocation).
CREATE TABLE IF NOT EXISTS aws_bucket (
    id bigserial PRIMARY KEY,
    name varchar NOT NULL,
    account_id varchar NOT NULL,
    creation_date timestamptz,
    region_name varchar NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aws_bucket_key UNIQUE (name, account_id)
);
