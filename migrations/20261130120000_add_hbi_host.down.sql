DROP FUNCTION IF EXISTS hbi_host_doc(hbi_host, integer, integer, integer);
DROP FUNCTION IF EXISTS hbi_org_staleness(varchar);
DROP TABLE IF EXISTS hbi_staleness;
DROP TABLE IF EXISTS hbi_host;
