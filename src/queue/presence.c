/* Presence registry shared by workers and schedulers (presence.h). */
#include "queue/presence.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/rds.h"
#include "core/util.h"

int presence_beat(redisContext *c, const struct presence *p, const char *id, json_t *json,
                  int64_t ttl_ms, struct buf *err)
{
    char *text = json_dumps(json, JSON_COMPACT);
    char key[256], px[24], exp[24];
    snprintf(key, sizeof(key), "%s%s", p->prefix, id);
    snprintf(px, sizeof(px), "%lld", (long long)ttl_ms);
    snprintf(exp, sizeof(exp), "%lld", (long long)(now_ms() + ttl_ms));
    const char *set[5] = {"SET", key, text ? text : "{}", "PX", px};
    const char *zadd[4] = {"ZADD", p->zset, exp, id};
    redisReply *r = rds_cmd(c, err, 5, set, NULL);
    if (r) {
        freeReplyObject(r);
        r = rds_cmd(c, err, 4, zadd, NULL);
    }
    free(text);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

void presence_leave(redisContext *c, const struct presence *p, const char *id)
{
    char key[256];
    snprintf(key, sizeof(key), "%s%s", p->prefix, id);
    const char *del[2] = {"DEL", key}, *zrem[3] = {"ZREM", p->zset, id};
    redisReply *r = redisCommandArgv(c, 2, del, NULL);
    if (r)
        freeReplyObject(r);
    r = redisCommandArgv(c, 3, zrem, NULL);
    if (r)
        freeReplyObject(r);
}

int presence_list(redisContext *c, const struct presence *p, json_t **out, struct buf *err)
{
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    const char *trim[4] = {"ZREMRANGEBYSCORE", p->zset, "-inf", now};
    const char *range[4] = {"ZRANGEBYSCORE", p->zset, now, "+inf"};
    redisReply *r = rds_cmd(c, err, 4, trim, NULL);
    if (!r)
        return -1;
    freeReplyObject(r);
    if (!(r = rds_cmd(c, err, 4, range, NULL)))
        return -1;
    *out = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        char key[256];
        snprintf(key, sizeof(key), "%s%s", p->prefix, r->element[i]->str);
        const char *get[2] = {"GET", key};
        redisReply *g = rds_cmd(c, err, 2, get, NULL);
        if (!g) {
            freeReplyObject(r);
            json_decref(*out);
            *out = NULL;
            return -1;
        }
        json_t *j = g->type == REDIS_REPLY_STRING ? json_loadb(g->str, g->len, 0, NULL) : NULL;
        if (json_is_object(j))
            json_array_append_new(*out, j);
        else
            json_decref(j);
        freeReplyObject(g);
    }
    freeReplyObject(r);
    return 0;
}
