DROP INDEX IF EXISTS hbi_host_provider;
CREATE UNIQUE INDEX hbi_host_provider ON hbi_host (org_id, provider_type, provider_id)
    WHERE provider_id IS NOT NULL;
DROP INDEX IF EXISTS hbi_host_smid;
CREATE INDEX hbi_host_smid ON hbi_host (org_id, subscription_manager_id)
    WHERE subscription_manager_id IS NOT NULL;
DROP INDEX IF EXISTS hbi_host_insights;
CREATE INDEX hbi_host_insights ON hbi_host (org_id, insights_id)
    WHERE insights_id IS NOT NULL;
