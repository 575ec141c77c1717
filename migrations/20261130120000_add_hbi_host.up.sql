-- Host-based inventory (docs/hosts.md): one row per real host per org.
-- The ID facts (provider pair, subscription_manager_id, insights_id) are
-- columns with their own indexes because de-duplication looks them up for
-- every message; the other canonical facts are columns for the API's
-- filters. facts: {namespace: {...}}; tags: {namespace: {key: [values]}}
-- (namespace null as ""), so that a sent namespace replaces the stored one
-- with jsonb ||, and a tag filter is one GIN-indexed containment test.
-- Staleness is computed on read from last_check_in and hbi_staleness.
CREATE TABLE IF NOT EXISTS hbi_host (
    id uuid PRIMARY KEY,
    org_id varchar(36) NOT NULL,
    display_name varchar(200) NOT NULL,
    ansible_host varchar(255),
    insights_id uuid,
    subscription_manager_id uuid,
    satellite_id varchar(36),
    bios_uuid uuid,
    fqdn varchar(255),
    ip_addresses text[],
    mac_addresses text[],
    provider_id varchar(500),
    provider_type varchar(16),
    facts jsonb NOT NULL DEFAULT '{}',
    tags jsonb NOT NULL DEFAULT '{}',
    system_profile jsonb NOT NULL DEFAULT '{}',
    owner_id uuid,
    reporter varchar(255),
    per_reporter_staleness jsonb NOT NULL DEFAULT '{}',
    created_on timestamptz NOT NULL DEFAULT now(),
    modified_on timestamptz NOT NULL DEFAULT now(),
    last_check_in timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT hbi_host_provider_pair CHECK ((provider_id IS NULL) = (provider_type IS NULL))
);
-- The provider pair is immutable and names one host.
CREATE UNIQUE INDEX IF NOT EXISTS hbi_host_provider ON hbi_host (org_id, provider_type, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS hbi_host_smid ON hbi_host (org_id, subscription_manager_id)
    WHERE subscription_manager_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS hbi_host_insights ON hbi_host (org_id, insights_id)
    WHERE insights_id IS NOT NULL;
-- GET /hosts orders by updated (default), display_name or last check-in.
CREATE INDEX IF NOT EXISTS hbi_host_org_modified ON hbi_host (org_id, modified_on DESC, id);
CREATE INDEX IF NOT EXISTS hbi_host_org_display ON hbi_host (org_id, display_name, id);
CREATE INDEX IF NOT EXISTS hbi_host_org_fqdn ON hbi_host (org_id, fqdn);
CREATE INDEX IF NOT EXISTS hbi_host_org_checkin ON hbi_host (org_id, last_check_in);
-- The reaper: culled hosts of every org.
CREATE INDEX IF NOT EXISTS hbi_host_checkin ON hbi_host (last_check_in);
CREATE INDEX IF NOT EXISTS hbi_host_tags ON hbi_host USING gin (tags jsonb_path_ops);

-- Per-org staleness (seconds after last_check_in); absent: the defaults
-- (29 h, 7 d, 30 d).
CREATE TABLE IF NOT EXISTS hbi_staleness (
    org_id varchar(36) PRIMARY KEY,
    conventional_time_to_stale integer NOT NULL,
    conventional_time_to_stale_warning integer NOT NULL,
    conventional_time_to_delete integer NOT NULL,
    created_on timestamptz NOT NULL DEFAULT now(),
    modified_on timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT hbi_staleness_order CHECK (0 < conventional_time_to_stale
        AND conventional_time_to_stale < conventional_time_to_stale_warning
        AND conventional_time_to_stale_warning < conventional_time_to_delete)
);

-- The org's staleness seconds (stale, stale_warning, delete).
CREATE OR REPLACE FUNCTION hbi_org_staleness(org varchar, OUT stale integer, OUT warn integer,
                                             OUT cull integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(conventional_time_to_stale), 104400),
           coalesce(max(conventional_time_to_stale_warning), 604800),
           coalesce(max(conventional_time_to_delete), 2592000)
      FROM hbi_staleness WHERE org_id = org
$$;

-- A host as the HBI API and the events serialize it.
CREATE OR REPLACE FUNCTION hbi_host_doc(h hbi_host, stale integer, warn integer, cull integer)
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
