/* AWS collectors (collect.c): what one unit of work collects. */
#ifndef INV_AWS_COLLECT_H
#define INV_AWS_COLLECT_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "sources/aws/client.h"

enum aws_kind {
    AWS_KIND_REGIONS = 0,
    AWS_KIND_AZS,
    AWS_KIND_VPCS,
    AWS_KIND_SUBNETS,
    AWS_KIND_INSTANCES,
    AWS_KIND_IMAGES,
    AWS_KIND_NET_INTERFACES,
    AWS_KIND_DHCP_OPTION_SETS,
    AWS_KIND_ELB,
    AWS_KIND_ELBV2,
    AWS_KIND_BUCKETS,
};

/* One unit: an account and a region (the default region for global
 * resources). */
struct aws_unit {
    struct aws *aws;
    const struct aws_account *account;
    const char *region;
    const char *const *owners; /* DescribeImages owners */
    size_t nowners;
    PGconn *db;
    const atomic_bool *cancel;
    struct metrics_registry *metrics; /* may be NULL */
    struct buf *err;
    bool permanent; /* set on failure: AWS refused the request (4xx) */
};

/* Collects the kinds in one transaction; *rows counts rows upserted.
 * -1 with u->err (and u->permanent) on failure, after a rollback. */
int aws_collect_unit(struct aws_unit *u, const enum aws_kind *which, size_t n,
                     long long *rows) MUSTCHECK;

#endif
