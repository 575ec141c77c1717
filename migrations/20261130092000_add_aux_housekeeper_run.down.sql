DROP TABLE IF EXISTS aux_housekeeper_run;
