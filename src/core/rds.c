/* Redis connection helpers. */
#include "core/rds.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

int rds_parse_endpoint(const char *endpoint, char *host, size_t n, int *port)
{
    const char *colon;
    const char *h = endpoint;
    size_t hl;
    if (!endpoint || !*endpoint)
        return -1;
    if (endpoint[0] == '[') {
        const char *close = strchr(endpoint, ']');
        if (!close || close[1] != ':')
            return -1;
        h = endpoint + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(endpoint, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - endpoint);
    }
    if (hl == 0 || hl >= n || parse_int(colon + 1, 1, 65535, port) < 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}

redisReply *rds_cmd(redisContext *c, struct buf *err, int argc, const char **argv,
                    const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        buf_setf(err, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        buf_setf(err, "redis: %s: %.*s", argv[0], (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int rds_connect(const struct rds_opts *o, redisContext **out, struct buf *err)
{
    char host[256];
    int port;
    *out = NULL;
    if (rds_parse_endpoint(o->endpoint, host, sizeof(host), &port) < 0) {
        buf_setf(err, "invalid redis endpoint \"%s\" (want host:port)",
                 o->endpoint ? o->endpoint : "");
        return -1;
    }
    struct timeval tv = {(time_t)(o->timeout_ms / 1000),
                         (suseconds_t)(o->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        buf_setf(err, "cannot connect to redis at %s: %s", o->endpoint,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK) {
        buf_setf(err, "cannot configure redis connection to %s: %s", o->endpoint, c->errstr);
        redisFree(c);
        return -1;
    }
    redisReply *r = NULL;
    if (o->password && *o->password) {
        const char *argv[3] = {"AUTH", o->username, o->password};
        int argc = 3;
        if (!o->username || !*o->username) {
            argv[1] = o->password;
            argc = 2;
        }
        r = redisCommandArgv(c, argc, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            /* The reply text never echoes the password. */
            buf_setf(err, "redis authentication at %s failed: %s", o->endpoint,
                     r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (o->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", o->db);
        const char *argv[2] = {"SELECT", db};
        r = redisCommandArgv(c, 2, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            buf_setf(err, "redis SELECT %d at %s failed: %s", o->db, o->endpoint,
                     r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    *out = c;
    return 0;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return -1;
}

void rds_conn_init(struct rds_conn *rc, const struct rds_opts *o, const char *who)
{
    memset(rc, 0, sizeof(*rc));
    rc->opts = *o;
    rc->who = who;
}

redisContext *rds_conn_get(struct rds_conn *rc, atomic_bool *stop)
{
    struct buf err;
    buf_init(&err, 1024);
    while (!rc->c && !(stop && atomic_load(stop))) {
        if (rds_connect(&rc->opts, &rc->c, &err) == 0) {
            if (rc->failures)
                log_info("redis connection restored", LF_STR("role", rc->who),
                         LF_STR("endpoint", rc->opts.endpoint), LF_INT("attempts", rc->failures));
            rc->failures = 0;
            if (rc->read_timeout_ms) {
                int64_t t = rc->read_timeout_ms > 0 ? rc->read_timeout_ms : 0;
                struct timeval tv = {(time_t)(t / 1000), (suseconds_t)(t % 1000) * 1000};
                if (redisSetTimeout(rc->c, tv) != REDIS_OK)
                    rds_conn_broken(rc);
            }
            break;
        }
        if (rc->failures++ == 0)
            log_warn("redis unavailable, retrying", LF_STR("role", rc->who),
                     LF_STR("error", buf_str(&err)));
        int64_t delay = 100;
        for (int i = 1; i < rc->failures && delay < 5000; i++)
            delay *= 2;
        if (delay > 5000)
            delay = 5000;
        for (int64_t slept = 0; slept < delay && !(stop && atomic_load(stop)); slept += 50) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    buf_release(&err);
    return rc->c;
}

redisContext *rds_conn_try(struct rds_conn *rc)
{
    struct buf err;
    buf_init(&err, 1024);
    if (!rc->c && rds_connect(&rc->opts, &rc->c, &err) < 0)
        log_debug("redis unavailable", LF_STR("role", rc->who), LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return rc->c;
}

void rds_conn_broken(struct rds_conn *rc)
{
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
}

void rds_conn_release(struct rds_conn *rc)
{
    rds_conn_broken(rc);
}
