DROP TABLE IF EXISTS scan_result;
