DROP TABLE IF EXISTS aws_loadbalancer;
