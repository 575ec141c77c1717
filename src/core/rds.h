/* Redis connection helpers on hiredis: bounded connect and command timeouts,
 * ACL/password auth, database selection. */
#ifndef INV_RDS_H
#define INV_RDS_H

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/* A connection that reconnects itself: long-running roles hold one per
 * thread and call rds_conn_get() before each use; after an I/O error they
 * call rds_conn_broken() and the next get reconnects with backoff
 * (100 ms doubling to 5 s), logging the outage once, never giving up
 * unless *stop becomes true. */
struct rds_conn {
    struct rds_opts opts;    /* strings are borrowed from the caller */
    const char *who;         /* for log lines: "fetcher", "heartbeat", ... */
    int64_t read_timeout_ms; /* 0: opts.timeout_ms; -1: block forever */
    redisContext *c;
    int failures;
};

void rds_conn_init(struct rds_conn *rc, const struct rds_opts *o, const char *who);
/* Connected context, or NULL once *stop is set. */
redisContext *rds_conn_get(struct rds_conn *rc, atomic_bool *stop);
/* One attempt, no waiting (for scrape-time reads): connected context or NULL. */
redisContext *rds_conn_try(struct rds_conn *rc);
void rds_conn_broken(struct rds_conn *rc);
void rds_conn_release(struct rds_conn *rc);

#endif
