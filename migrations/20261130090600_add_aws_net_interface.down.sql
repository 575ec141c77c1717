DROP TABLE IF EXISTS aws_net_interface;
