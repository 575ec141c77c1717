-- hbi_org_staleness() as a set-returning SQL function (one row, always):
-- PostgreSQL inlines those into the FROM clauses that call them, where a
-- function returning a record is called, and its query planned, anew in
-- every statement (0.2-0.4 ms of each GET /hosts).
DROP FUNCTION IF EXISTS hbi_org_staleness(varchar);
CREATE FUNCTION hbi_org_staleness(org varchar)
RETURNS TABLE (stale integer, warn integer, cull integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(conventional_time_to_stale), 104400),
           coalesce(max(conventional_time_to_stale_warning), 604800),
           coalesce(max(conventional_time_to_delete), 2592000)
      FROM hbi_staleness WHERE org_id = org
$$;
