DROP TABLE IF EXISTS l_aws_instance_to_subnet;
