DROP FUNCTION IF EXISTS hbi_host_doc(hbi_host, integer, integer, integer);
CREATE FUNCTION hbi_host_doc(h hbi_host, stale integer, warn integer, cull integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', h.id, 'org_id', h.org_id, 'account', NULL,
        'display_name', h.display_name, 'ansible_host', h.ansible_host,
        'insights_id', h.insights_id, 'subscription_manager_id', h.subscription_manager_id,
        'satellite_id', h.satellite_id, 'bios_uuid', h.bios_uuid,
        'ip_addresses', to_jsonb(h.ip_addresses), 'mac_addresses', to_jsonb(h.mac_addresses),
        'fqdn', h.fqdn, 'provider_id', h.provider_id, 'provider_type', h.provider_type,
        'facts', (SELECT coalesce(jsonb_agg(jsonb_build_object('namespace', k, 'facts', v)
                                            ORDER BY k), '[]')
                    FROM jsonb_each(h.facts) AS f(k, v)),
        'reporter', h.reporter, 'per_reporter_staleness', h.per_reporter_staleness,
        'stale_timestamp', h.last_check_in + make_interval(secs => stale),
        'stale_warning_timestamp', h.last_check_in + make_interval(secs => warn),
        'culled_timestamp', h.last_check_in + make_interval(secs => cull),
        'created', h.created_on, 'updated', h.modified_on, 'last_check_in', h.last_check_in,
        'groups', '[]'::jsonb)
$$;
DROP FUNCTION IF EXISTS hbi_facts_merge(jsonb, jsonb);
ALTER TABLE hbi_host ALTER COLUMN facts SET DEFAULT '{}';
UPDATE hbi_host
   SET facts = (SELECT coalesce(jsonb_object_agg(e ->> 'namespace', e -> 'facts'), '{}')
                  FROM jsonb_array_elements(facts) AS e)
 WHERE jsonb_typeof(facts) = 'array';
