/* The AWS data source: tasks (tasks.c), collectors (collect.c), links
 * (links.c), models (models.c), client (client.h). */
#ifndef INV_AWS_H
#define INV_AWS_H

#include <libpq-fe.h>
#include <stdatomic.h>

#include "core/buf.h"

/* Runs every link statement; *total counts the link rows upserted. */
int aws_link_all(PGconn *c, const atomic_bool *cancel, long long *total, struct buf *err) MUSTCHECK;

#endif
