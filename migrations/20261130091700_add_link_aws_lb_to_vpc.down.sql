DROP TABLE IF EXISTS l_aws_lb_to_vpc;
