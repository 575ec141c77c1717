-- facts kept in the form HBI shows them, [{"namespace": ns, "facts": {...}}]
-- (docs/hosts.md, Storage): hbi_host_doc() then reads the column as it is,
-- which lets PostgreSQL inline it into the queries that call it (a
-- subquery turning {ns: {...}} into the list kept it a separate function
-- call costing ~3/4 of GET /hosts' serialisation).
UPDATE hbi_host
   SET facts = (SELECT coalesce(jsonb_agg(jsonb_build_object('namespace', k, 'facts', v)
                                         ORDER BY k COLLATE "C"), '[]')
                  FROM jsonb_each(facts) AS f(k, v))
 WHERE jsonb_typeof(facts) = 'object';
ALTER TABLE hbi_host ALTER COLUMN facts SET DEFAULT '[]';

-- An update's sent namespaces replace the stored ones; the list stays
-- sorted by namespace (bytes), as the consumer writes new hosts' lists.
CREATE OR REPLACE FUNCTION hbi_facts_merge(old jsonb, sent jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(coalesce(n.e, o.e)
                              ORDER BY coalesce(n.e, o.e) ->> 'namespace' COLLATE "C"), '[]')
      FROM jsonb_array_elements(old) AS o(e)
      FULL JOIN jsonb_array_elements(sent) AS n(e) ON o.e -> 'namespace' = n.e -> 'namespace'
$$;

-- A host as the HBI API and the events serialize it. One expression (no
-- subquery), so it is inlined; json, not jsonb: the text is built as it
-- goes instead of a tree that is then printed. Keys in the order jsonb
-- would keep them (length, then bytes), so answers read as they did.
DROP FUNCTION IF EXISTS hbi_host_doc(hbi_host, integer, integer, integer);
CREATE FUNCTION hbi_host_doc(h hbi_host, stale integer, warn integer, cull integer)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', h.id, 'fqdn', h.fqdn, 'facts', h.facts, 'groups', '[]'::json,
        'org_id', h.org_id, 'account', NULL, 'created', h.created_on, 'updated', h.modified_on,
        'reporter', h.reporter, 'bios_uuid', h.bios_uuid, 'insights_id', h.insights_id,
        'provider_id', h.provider_id, 'ansible_host', h.ansible_host,
        'display_name', h.display_name, 'ip_addresses', h.ip_addresses,
        'satellite_id', h.satellite_id, 'last_check_in', h.last_check_in,
        'mac_addresses', h.mac_addresses, 'provider_type', h.provider_type,
        'stale_timestamp', h.last_check_in + make_interval(secs => stale),
        'culled_timestamp', h.last_check_in + make_interval(secs => cull),
        'per_reporter_staleness', h.per_reporter_staleness,
        'stale_warning_timestamp', h.last_check_in + make_interval(secs => warn),
        'subscription_manager_id', h.subscription_manager_id)
$$;
