/* Redis connection helpers on hiredis: bounded connect and command timeouts,
 * ACL/password auth, database selection. */
#ifndef INV_RDS_H
#define INV_RDS_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "core/buf.h"

struct rds_opts {
    const char *endpoint; /* host:port or [v6]:port */
    const char *username; /* NULL or "" for password-only AUTH */
    const char *password; /* NULL or "" for none */
    int db;
    int64_t timeout_ms; /* connect and per-command timeout */
};

/* Splits "host:port" / "[::1]:port"; host is written to `host` (size n). */
int rds_parse_endpoint(const char *endpoint, char *host, size_t n, int *port) MUSTCHECK;

/* Connects, authenticates and selects the database. -1 with err set (never
 * containing the password) on failure. *out owned by caller (redisFree). */
int rds_connect(const struct rds_opts *o, redisContext **out, struct buf *err) MUSTCHECK;

/* Runs a command given as argv; returns the reply (freeReplyObject) or NULL
 * with err set on I/O failure or an error reply. */
redisReply *rds_cmd(redisContext *c, struct buf *err, int argc, const char **argv,
                    const size_t *lens) MUSTCHECK;

#endif
