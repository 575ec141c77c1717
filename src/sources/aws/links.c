/* aws:task:link-all: fills the link tables from the natural references the
 * collected rows carry (vpc_id, subnet_id, region_name ...), one set-based
 * INSERT ... SELECT per link, each refreshing updated_at of the links it
 * sees, so the housekeeper can age out links that no longer hold. */
#include "sources/aws/aws.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "db/pg.h"

#define UPSERT(table, a, b) "INSERT INTO " table " (" a ", " b ") "
#define ON_CONFLICT(a, b)   " ON CONFLICT (" a ", " b ") DO UPDATE SET updated_at = now()"

static const struct {
    const char *name;
    const char *sql;
} links[] = {
    {"l_aws_region_to_az",
     UPSERT("l_aws_region_to_az", "region_id",
            "az_id") "SELECT r.id, z.id FROM aws_az z JOIN "
                     "aws_region r ON r.name = z.region_name AND r.account_id = "
                     "z.account_id" ON_CONFLICT("region_id", "az_id")},
    {"l_aws_region_to_vpc",
     UPSERT("l_aws_region_to_vpc", "region_id",
            "vpc_id") "SELECT r.id, v.id FROM aws_vpc v JOIN "
                      "aws_region r ON r.name = v.region_name AND r.account_id = "
                      "v.account_id" ON_CONFLICT("region_id", "vpc_id")},
    {"l_aws_vpc_to_subnet",
     UPSERT("l_aws_vpc_to_subnet", "vpc_id",
            "subnet_id") "SELECT v.id, s.id FROM aws_subnet s "
                         "JOIN aws_vpc v ON v.vpc_id = s.vpc_id AND v.account_id = "
                         "s.account_id" ON_CONFLICT("vpc_id", "subnet_id")},
    {"l_aws_vpc_to_instance",
     UPSERT(
         "l_aws_vpc_to_instance", "vpc_id",
         "instance_id") "SELECT v.id, i.id FROM "
                        "aws_instance i JOIN aws_vpc v ON v.vpc_id = i.vpc_id AND v.account_id = "
                        "i.account_id" ON_CONFLICT("vpc_id", "instance_id")},
    {"l_aws_subnet_to_az",
     UPSERT("l_aws_subnet_to_az", "subnet_id",
            "az_id") "SELECT s.id, z.id FROM aws_subnet s JOIN "
                     "aws_az z ON z.zone_id = s.az_id AND z.account_id = s.account_id" ON_CONFLICT(
                         "subnet_id", "az_id")},
    {"l_aws_instance_to_subnet",
     UPSERT("l_aws_instance_to_subnet", "instance_id",
            "subnet_id") "SELECT i.id, s.id FROM "
                         "aws_instance i JOIN aws_subnet s ON s.subnet_id = i.subnet_id AND "
                         "s.account_id = "
                         "i.account_id" ON_CONFLICT("instance_id", "subnet_id")},
    {"l_aws_instance_to_region",
     UPSERT("l_aws_instance_to_region", "instance_id",
            "region_id") "SELECT i.id, r.id FROM "
                         "aws_instance i JOIN aws_region r ON r.name = i.region_name AND "
                         "r.account_id = "
                         "i.account_id" ON_CONFLICT("instance_id", "region_id")},
    {"l_aws_instance_to_image",
     UPSERT("l_aws_instance_to_image", "instance_id",
            "image_id") "SELECT i.id, m.id FROM "
                        "aws_instance i JOIN aws_image m ON m.image_id = i.image_id AND "
                        "m.account_id = "
                        "i.account_id" ON_CONFLICT("instance_id", "image_id")},
    {"l_aws_instance_to_net_interface",
     UPSERT("l_aws_instance_to_net_interface", "instance_id",
            "net_interface_id") "SELECT i.id, n.id FROM aws_net_interface n JOIN aws_instance i "
                                "ON i.instance_id = n.instance_id AND i.account_id = "
                                "n.account_id" ON_CONFLICT("instance_id", "net_interface_id")},
    {"l_aws_image_to_region",
     UPSERT("l_aws_image_to_region", "image_id",
            "region_id") "SELECT m.id, r.id FROM aws_image m "
                         "JOIN aws_region r ON r.name = m.region_name AND r.account_id = "
                         "m.account_id" ON_CONFLICT("image_id", "region_id")},
    {"l_aws_lb_to_vpc", UPSERT("l_aws_lb_to_vpc", "lb_id",
                               "vpc_id") "SELECT l.id, v.id FROM aws_loadbalancer l "
                                         "JOIN aws_vpc v ON v.vpc_id = l.vpc_id AND v.account_id = "
                                         "l.account_id" ON_CONFLICT("lb_id", "vpc_id")},
    {"l_aws_lb_to_region",
     UPSERT("l_aws_lb_to_region", "lb_id",
            "region_id") "SELECT l.id, r.id FROM aws_loadbalancer "
                         "l JOIN aws_region r ON r.name = l.region_name AND r.account_id = "
                         "l.account_id" ON_CONFLICT("lb_id", "region_id")},
    /* An LB's interfaces are described "ELB <name>" (classic) or
     * "ELB app/<name>/<id>" (v2: the ARN's part after "loadbalancer/"). */
    {"l_aws_lb_to_net_interface",
     UPSERT("l_aws_lb_to_net_interface", "lb_id",
            "net_interface_id") "SELECT l.id, n.id FROM aws_loadbalancer l JOIN aws_net_interface "
                                "n ON n.account_id = l.account_id AND n.region_name = "
                                "l.region_name AND n.description = 'ELB ' || CASE WHEN l.type = "
                                "'classic' THEN l.name ELSE substring(l.arn from "
                                "'loadbalancer/(.*)$') END" ON_CONFLICT("lb_id",
                                                                        "net_interface_id")},
};

int aws_link_all(PGconn *c, const atomic_bool *cancel, long long *total, struct buf *err)
{
    *total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        if (cancel && atomic_load(cancel)) {
            buf_setf(err, "cancelled");
            return -1;
        }
        PGresult *r = pg_exec(c, links[i].sql, 0, NULL, err);
        if (!r) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s: %s", links[i].name, buf_str(err));
            buf_setf(err, "%s", msg);
            return -1;
        }
        long long n = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        *total += n;
        log_debug("linked", LF_STR("link", links[i].name), LF_INT("rows", n));
    }
    return 0;
}
