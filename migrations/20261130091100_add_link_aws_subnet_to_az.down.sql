DROP TABLE IF EXISTS l_aws_subnet_to_az;
