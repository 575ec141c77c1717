-- Runs of aux:task:housekeeper: one row per model and run.
CREATE TABLE IF NOT EXISTS aux_housekeeper_run (
    id bigserial PRIMARY KEY,
    model_name varchar NOT NULL,
    retention_seconds bigint NOT NULL,
    deleted bigint NOT NULL,
    started_at timestamptz NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS aux_housekeeper_run_started_idx ON aux_housekeeper_run (started_at);
