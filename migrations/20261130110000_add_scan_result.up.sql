-- Latest scan observation per (ip, port, service): docs/ingest.md.
-- ip is canonical text (inet_ntop), so equal addresses are equal strings.
CREATE TABLE IF NOT EXISTS scan_result (
    id bigserial PRIMARY KEY,
    ip varchar(45) NOT NULL,
    port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    service varchar(64) NOT NULL,
    scanned_at timestamptz NOT NULL,
    response text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scan_result_key UNIQUE (ip, port, service)
);
-- GET /api/v1/scans?since=... and pages in id order after it.
CREATE INDEX IF NOT EXISTS scan_result_scanned_at_idx ON scan_result (scanned_at, id);
