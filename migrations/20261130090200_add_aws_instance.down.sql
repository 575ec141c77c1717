DROP TABLE IF EXISTS aws_instance;
