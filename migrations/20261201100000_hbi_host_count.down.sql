DROP TRIGGER IF EXISTS hbi_host_org_fixed ON hbi_host;
DROP TRIGGER IF EXISTS hbi_host_count_trunc ON hbi_host;
DROP TRIGGER IF EXISTS hbi_host_count_del ON hbi_host;
DROP TRIGGER IF EXISTS hbi_host_count_ins ON hbi_host;
DROP FUNCTION IF EXISTS hbi_host_org_fixed();
DROP FUNCTION IF EXISTS hbi_host_count_clear();
DROP FUNCTION IF EXISTS hbi_host_count_add();
DROP TABLE IF EXISTS hbi_host_count;
