CREATE INDEX IF NOT EXISTS hbi_host_checkin ON hbi_host (last_check_in);
