DROP TABLE IF EXISTS l_aws_image_to_region;
