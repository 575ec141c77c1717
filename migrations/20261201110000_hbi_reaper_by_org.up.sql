-- The reaper walks the orgs on hbi_host_org_checkin (org_id, last_check_in)
-- instead of scanning an index on last_check_in alone: that index served
-- only the hourly reaper and cost every ingested message its upkeep (a
-- check-in moves last_check_in, so every update inserts into it too).
-- docs/hosts.md, Staleness.
DROP INDEX IF EXISTS hbi_host_checkin;
