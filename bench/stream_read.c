/* The transport alone, for bench/ingest (not part of the product): reads a
 * whole stream through a new consumer group (XREADGROUP COUNT n) and acks
 * each batch (XACK), nothing else, on one connection, as fast as it can.
 * What every consumer pays before it looks at a message.
 *
 *   stream_read REDIS STREAM GROUP COUNT
 *
 * Creates GROUP at the stream's start (it must not exist), destroys it at
 * the end, and prints {"entries": N, "seconds": S}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rds.h"
#include "core/util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static redisReply *call(redisContext *c, int argc, const char **argv)
{
    struct buf err;
    buf_init(&err, 512);
    redisReply *r = rds_cmd(c, &err, argc, argv, NULL);
    if (!r) {
        fprintf(stderr, "stream_read: %s: %s\n", argv[0], buf_str(&err));
        exit(1);
    }
    buf_release(&err);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 5 || atoi(argv[4]) < 1) {
        fprintf(stderr, "usage: stream_read REDIS STREAM GROUP COUNT\n");
        return 2;
    }
    const char *stream = argv[2], *group = argv[3], *count = argv[4];
    struct rds_opts o = {argv[1], NULL, NULL, 0, 5000};
    struct buf err;
    buf_init(&err, 512);
    redisContext *c;
    if (rds_connect(&o, &c, &err) < 0) {
        fprintf(stderr, "stream_read: %s\n", buf_str(&err));
        return 1;
    }
    buf_release(&err);
    const char *create[] = {"XGROUP", "CREATE", stream, group, "0"};
    freeReplyObject(call(c, 5, create));
    size_t cap = (size_t)atoi(count) + 3, total = 0;
    const char **ack = xcalloc(cap, sizeof(*ack));
    ack[0] = "XACK";
    ack[1] = stream;
    ack[2] = group;
    double t0 = now_s();
    for (;;) {
        const char *read[] = {"XREADGROUP", "GROUP",   group,  "bench", "COUNT",
                              count,        "STREAMS", stream, ">"};
        redisReply *r = call(c, 9, read);
        const redisReply *list = r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                                         r->element[0]->type == REDIS_REPLY_ARRAY &&
                                         r->element[0]->elements == 2
                                     ? r->element[0]->element[1]
                                     : NULL;
        size_t n = list && list->type == REDIS_REPLY_ARRAY ? list->elements : 0;
        for (size_t i = 0; i < n; i++)
            ack[3 + i] = list->element[i]->element[0]->str;
        if (n)
            freeReplyObject(call(c, (int)(n + 3), ack));
        freeReplyObject(r);
        if (!n)
            break;
        total += n;
    }
    double secs = now_s() - t0;
    const char *destroy[] = {"XGROUP", "DESTROY", stream, group};
    freeReplyObject(call(c, 4, destroy));
    printf("{\"entries\": %zu, \"seconds\": %.3f}\n", total, secs);
    free(ack);
    redisFree(c);
    return 0;
}
