DROP TABLE IF EXISTS aws_dhcp_option_set;
