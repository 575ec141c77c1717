/* Presence of long-running processes (workers, schedulers) in Redis: each
 * keeps "<prefix><id>" (its JSON description, with a TTL) and a member in a
 * ZSET scored by its expiry, refreshed by a heartbeat. Readers trim expired
 * members, so a process killed with -9 disappears within its TTL. */
#ifndef INV_PRESENCE_H
#define INV_PRESENCE_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"

struct presence {
    const char *zset;   /* "inv:workers" */
    const char *prefix; /* "inv:worker:" */
};

/* Publishes json (compact) for id with ttl_ms. 0, or -1 with err. */
int presence_beat(redisContext *c, const struct presence *p, const char *id, json_t *json,
                  int64_t ttl_ms, struct buf *err) MUSTCHECK;
/* Removes id (best effort: errors are ignored, the TTL cleans up). */
void presence_leave(redisContext *c, const struct presence *p, const char *id);
/* The JSON objects of every live member, in ZSET order (*out: a new array). */
int presence_list(redisContext *c, const struct presence *p, json_t **out,
                  struct buf *err) MUSTCHECK;

#endif
