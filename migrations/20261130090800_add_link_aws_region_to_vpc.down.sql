DROP TABLE IF EXISTS l_aws_region_to_vpc;
