DROP FUNCTION IF EXISTS hbi_org_staleness(varchar);
CREATE FUNCTION hbi_org_staleness(org varchar, OUT stale integer, OUT warn integer,
                                  OUT cull integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(conventional_time_to_stale), 104400),
           coalesce(max(conventional_time_to_stale_warning), 604800),
           coalesce(max(conventional_time_to_delete), 2592000)
      FROM hbi_staleness WHERE org_id = org
$$;
