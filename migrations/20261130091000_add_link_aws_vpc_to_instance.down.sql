DROP TABLE IF EXISTS l_aws_vpc_to_instance;
