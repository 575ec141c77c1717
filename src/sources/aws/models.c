/* The AWS models: tables created by the add_aws_* migrations; the column
 * lists here must match them (tests/integration/test_models.py checks). */
#include "db/model.h"

/* clang-format off */
#define T(n)  {n, COL_TEXT, false}
#define I(n)  {n, COL_INT, false}
#define B(n)  {n, COL_BOOL, false}
#define TS(n) {n, COL_TIME, true} /* AWS omits them at times: NULL */
/* clang-format on */

static const struct model_col cols_aws_region[] = {
    T("name"), T("endpoint"), T("opt_in_status"), T("account_id"), {NULL, COL_TEXT, false}};
static const char *const key_aws_region[] = {"name", "account_id", NULL};
static const struct model_col cols_aws_az[] = {T("zone_id"),    T("name"),
                                               T("account_id"), T("opt_in_status"),
                                               T("state"),      T("region_name"),
                                               T("group_name"), T("network_border_group"),
                                               T("zone_type"),  {NULL, COL_TEXT, false}};
static const char *const key_aws_az[] = {"zone_id", "account_id", NULL};
static const struct model_col cols_l_aws_region_to_az[] = {
    I("region_id"), I("az_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_region_to_az[] = {"region_id", "az_id", NULL};
static const struct model_col cols_aws_vpc[] = {
    T("vpc_id"),    T("name"),       T("account_id"), T("state"),       T("ipv4_cidr"),
    T("ipv6_cidr"), B("is_default"), T("owner_id"),   T("region_name"), {NULL, COL_TEXT, false}};
static const char *const key_aws_vpc[] = {"vpc_id", "account_id", NULL};
static const struct model_col cols_aws_subnet[] = {T("subnet_id"),
                                                   T("name"),
                                                   T("account_id"),
                                                   T("vpc_id"),
                                                   T("state"),
                                                   T("az"),
                                                   T("az_id"),
                                                   I("available_ipv4_addresses"),
                                                   T("ipv4_cidr"),
                                                   T("ipv6_cidr"),
                                                   T("subnet_arn"),
                                                   T("region_name"),
                                                   {NULL, COL_TEXT, false}};
static const char *const key_aws_subnet[] = {"subnet_id", "account_id", NULL};
static const struct model_col cols_aws_instance[] = {
    T("instance_id"),       T("name"),        T("account_id"),       T("arch"),
    T("instance_type"),     T("state"),       T("subnet_id"),        T("vpc_id"),
    T("platform"),          T("region_name"), T("image_id"),         TS("launch_time"),
    T("private_ip"),        T("public_ip"),   T("private_dns_name"), T("public_dns_name"),
    {NULL, COL_TEXT, false}};
static const char *const key_aws_instance[] = {"instance_id", "account_id", NULL};
static const struct model_col cols_aws_image[] = {T("image_id"),
                                                  T("name"),
                                                  T("account_id"),
                                                  T("owner_id"),
                                                  T("image_type"),
                                                  T("root_device_type"),
                                                  T("description"),
                                                  T("architecture"),
                                                  T("state"),
                                                  T("virtualization_type"),
                                                  TS("creation_date"),
                                                  T("region_name"),
                                                  {NULL, COL_TEXT, false}};
static const char *const key_aws_image[] = {"image_id", "account_id", NULL};
static const struct model_col cols_aws_loadbalancer[] = {T("dns_name"),
                                                         T("name"),
                                                         T("account_id"),
                                                         T("arn"),
                                                         T("ip_address_type"),
                                                         T("canonical_hosted_zone_id"),
                                                         T("state"),
                                                         T("scheme"),
                                                         T("type"),
                                                         T("vpc_id"),
                                                         T("region_name"),
                                                         TS("created_time"),
                                                         {NULL, COL_TEXT, false}};
static const char *const key_aws_loadbalancer[] = {"dns_name", "account_id", NULL};
static const struct model_col cols_aws_bucket[] = {
    T("name"), T("account_id"), TS("creation_date"), T("region_name"), {NULL, COL_TEXT, false}};
static const char *const key_aws_bucket[] = {"name", "account_id", NULL};
static const struct model_col cols_aws_net_interface[] = {
    T("interface_id"),      T("account_id"),
    T("region_name"),       T("az"),
    T("description"),       T("interface_type"),
    T("mac_address"),       T("owner_id"),
    T("private_dns_name"),  T("private_ip_address"),
    T("public_ip_address"), B("requester_managed"),
    B("src_dst_check"),     T("status"),
    T("subnet_id"),         T("vpc_id"),
    T("instance_id"),       {NULL, COL_TEXT, false}};
static const char *const key_aws_net_interface[] = {"interface_id", "account_id", NULL};
static const struct model_col cols_aws_dhcp_option_set[] = {
    T("set_id"),   T("name"),        T("account_id"),          T("region_name"),
    T("owner_id"), T("domain_name"), T("domain_name_servers"), {NULL, COL_TEXT, false}};
static const char *const key_aws_dhcp_option_set[] = {"set_id", "account_id", NULL};
static const struct model_col cols_l_aws_region_to_vpc[] = {
    I("region_id"), I("vpc_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_region_to_vpc[] = {"region_id", "vpc_id", NULL};
static const struct model_col cols_l_aws_vpc_to_subnet[] = {
    I("vpc_id"), I("subnet_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_vpc_to_subnet[] = {"vpc_id", "subnet_id", NULL};
static const struct model_col cols_l_aws_vpc_to_instance[] = {
    I("vpc_id"), I("instance_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_vpc_to_instance[] = {"vpc_id", "instance_id", NULL};
static const struct model_col cols_l_aws_subnet_to_az[] = {
    I("subnet_id"), I("az_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_subnet_to_az[] = {"subnet_id", "az_id", NULL};
static const struct model_col cols_l_aws_instance_to_subnet[] = {
    I("instance_id"), I("subnet_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_instance_to_subnet[] = {"instance_id", "subnet_id", NULL};
static const struct model_col cols_l_aws_instance_to_region[] = {
    I("instance_id"), I("region_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_instance_to_region[] = {"instance_id", "region_id", NULL};
static const struct model_col cols_l_aws_instance_to_image[] = {
    I("instance_id"), I("image_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_instance_to_image[] = {"instance_id", "image_id", NULL};
static const struct model_col cols_l_aws_instance_to_net_interface[] = {
    I("instance_id"), I("net_interface_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_instance_to_net_interface[] = {"instance_id", "net_interface_id",
                                                                  NULL};
static const struct model_col cols_l_aws_image_to_region[] = {
    I("image_id"), I("region_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_image_to_region[] = {"image_id", "region_id", NULL};
static const struct model_col cols_l_aws_lb_to_vpc[] = {
    I("lb_id"), I("vpc_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_lb_to_vpc[] = {"lb_id", "vpc_id", NULL};
static const struct model_col cols_l_aws_lb_to_region[] = {
    I("lb_id"), I("region_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_lb_to_region[] = {"lb_id", "region_id", NULL};
static const struct model_col cols_l_aws_lb_to_net_interface[] = {
    I("lb_id"), I("net_interface_id"), {NULL, COL_TEXT, false}};
static const char *const key_l_aws_lb_to_net_interface[] = {"lb_id", "net_interface_id", NULL};

const struct model_def aws_models[] = {
    {"aws:model:region", "aws_region", "AWS regions per account (EC2 DescribeRegions).",
     cols_aws_region, key_aws_region, NULL, NULL, "aws/regions", NULL},
    {"aws:model:az", "aws_az",
     "AWS availability zones per account (EC2 DescribeAvailabilityZones).", cols_aws_az, key_aws_az,
     NULL, NULL, "aws/azs", NULL},
    {"aws:model:link_region_to_az", "l_aws_region_to_az",
     "Link: region -> availability zone (filled by aws:task:link-all).", cols_l_aws_region_to_az,
     key_l_aws_region_to_az, "aws:model:region", "aws:model:az", "aws/link_region_to_az", NULL},
    {"aws:model:vpc", "aws_vpc", "AWS VPCs per account and region (EC2 DescribeVpcs).",
     cols_aws_vpc, key_aws_vpc, NULL, NULL, "aws/vpcs", NULL},
    {"aws:model:subnet", "aws_subnet", "AWS subnets (EC2 DescribeSubnets).", cols_aws_subnet,
     key_aws_subnet, NULL, NULL, "aws/subnets", NULL},
    {"aws:model:instance", "aws_instance", "AWS EC2 instances (DescribeInstances).",
     cols_aws_instance, key_aws_instance, NULL, NULL, "aws/instances", NULL},
    {"aws:model:image", "aws_image", "AWS AMIs (DescribeImages with the configured owners).",
     cols_aws_image, key_aws_image, NULL, NULL, "aws/images", NULL},
    {"aws:model:loadbalancer", "aws_loadbalancer",
     "AWS load balancers: classic (ELB) and v2 (ELBv2: application, network, gateway).",
     cols_aws_loadbalancer, key_aws_loadbalancer, NULL, NULL, "aws/loadbalancers", NULL},
    {"aws:model:bucket", "aws_bucket", "AWS S3 buckets (ListBuckets, GetBucketLocation).",
     cols_aws_bucket, key_aws_bucket, NULL, NULL, "aws/buckets", NULL},
    {"aws:model:net_interface", "aws_net_interface",
     "AWS elastic network interfaces (DescribeNetworkInterfaces).", cols_aws_net_interface,
     key_aws_net_interface, NULL, NULL, "aws/net_interfaces", NULL},
    {"aws:model:dhcp_option_set", "aws_dhcp_option_set",
     "AWS DHCP option sets (DescribeDhcpOptions).", cols_aws_dhcp_option_set,
     key_aws_dhcp_option_set, NULL, NULL, "aws/dhcp_option_sets", NULL},
    {"aws:model:link_region_to_vpc", "l_aws_region_to_vpc",
     "Link: region -> vpc (filled by aws:task:link-all).", cols_l_aws_region_to_vpc,
     key_l_aws_region_to_vpc, "aws:model:region", "aws:model:vpc", "aws/link_region_to_vpc", NULL},
    {"aws:model:link_vpc_to_subnet", "l_aws_vpc_to_subnet",
     "Link: vpc -> subnet (filled by aws:task:link-all).", cols_l_aws_vpc_to_subnet,
     key_l_aws_vpc_to_subnet, "aws:model:vpc", "aws:model:subnet", "aws/link_vpc_to_subnet", NULL},
    {"aws:model:link_vpc_to_instance", "l_aws_vpc_to_instance",
     "Link: vpc -> instance (filled by aws:task:link-all).", cols_l_aws_vpc_to_instance,
     key_l_aws_vpc_to_instance, "aws:model:vpc", "aws:model:instance", "aws/link_vpc_to_instance",
     NULL},
    {"aws:model:link_subnet_to_az", "l_aws_subnet_to_az",
     "Link: subnet -> az (filled by aws:task:link-all).", cols_l_aws_subnet_to_az,
     key_l_aws_subnet_to_az, "aws:model:subnet", "aws:model:az", "aws/link_subnet_to_az", NULL},
    {"aws:model:link_instance_to_subnet", "l_aws_instance_to_subnet",
     "Link: instance -> subnet (filled by aws:task:link-all).", cols_l_aws_instance_to_subnet,
     key_l_aws_instance_to_subnet, "aws:model:instance", "aws:model:subnet",
     "aws/link_instance_to_subnet", NULL},
    {"aws:model:link_instance_to_region", "l_aws_instance_to_region",
     "Link: instance -> region (filled by aws:task:link-all).", cols_l_aws_instance_to_region,
     key_l_aws_instance_to_region, "aws:model:instance", "aws:model:region",
     "aws/link_instance_to_region", NULL},
    {"aws:model:link_instance_to_image", "l_aws_instance_to_image",
     "Link: instance -> image (filled by aws:task:link-all).", cols_l_aws_instance_to_image,
     key_l_aws_instance_to_image, "aws:model:instance", "aws:model:image",
     "aws/link_instance_to_image", NULL},
    {"aws:model:link_instance_to_net_interface", "l_aws_instance_to_net_interface",
     "Link: instance -> net_interface (filled by aws:task:link-all).",
     cols_l_aws_instance_to_net_interface, key_l_aws_instance_to_net_interface,
     "aws:model:instance", "aws:model:net_interface", "aws/link_instance_to_net_interface", NULL},
    {"aws:model:link_image_to_region", "l_aws_image_to_region",
     "Link: image -> region (filled by aws:task:link-all).", cols_l_aws_image_to_region,
     key_l_aws_image_to_region, "aws:model:image", "aws:model:region", "aws/link_image_to_region",
     NULL},
    {"aws:model:link_lb_to_vpc", "l_aws_lb_to_vpc",
     "Link: lb -> vpc (filled by aws:task:link-all).", cols_l_aws_lb_to_vpc, key_l_aws_lb_to_vpc,
     "aws:model:loadbalancer", "aws:model:vpc", "aws/link_lb_to_vpc", NULL},
    {"aws:model:link_lb_to_region", "l_aws_lb_to_region",
     "Link: lb -> region (filled by aws:task:link-all).", cols_l_aws_lb_to_region,
     key_l_aws_lb_to_region, "aws:model:loadbalancer", "aws:model:region", "aws/link_lb_to_region",
     NULL},
    {"aws:model:link_lb_to_net_interface", "l_aws_lb_to_net_interface",
     "Link: lb -> net_interface (filled by aws:task:link-all).", cols_l_aws_lb_to_net_interface,
     key_l_aws_lb_to_net_interface, "aws:model:loadbalancer", "aws:model:net_interface",
     "aws/link_lb_to_net_interface", NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
