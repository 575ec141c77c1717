/* Load generator and probe for bench/queue (not part of the product).
 *
 *   queue_bench REDIS enqueue N CONNS BATCH    pipelined enqueues of aux:task:noop
 *   queue_bench REDIS drain N TIMEOUT_S        waits until N tasks are processed
 *   queue_bench REDIS probe N                  pickup latency: enqueue, BLPOP the notify key
 *
 * Prints one JSON object per run. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rds.h"
#include "core/util.h"
#include "queue/queue.h"

static const char *endpoint;

static redisContext *connect_or_die(void)
{
    struct rds_opts o = {endpoint, NULL, NULL, 0, 5000};
    struct buf err;
    redisContext *c;
    buf_init(&err, 512);
    if (rds_connect(&o, &c, &err) < 0) {
        fprintf(stderr, "queue_bench: %s\n", buf_str(&err));
        exit(1);
    }
    buf_release(&err);
    return c;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct producer {
    long n, batch;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    redisContext *c = connect_or_die();
    struct enqueue_item *items = xcalloc((size_t)p->batch, sizeof(*items));
    int *status = xcalloc((size_t)p->batch, sizeof(int));
    struct buf err;
    buf_init(&err, 512);
    for (long i = 0; i < p->batch; i++)
        items[i] = (struct enqueue_item){"aux:task:noop", NULL, 0, NULL};
    for (long done = 0; done < p->n;) {
        long k = p->n - done < p->batch ? p->n - done : p->batch;
        if (queue_enqueue_many(c, items, (size_t)k, NULL, status, &err) < 0) {
            fprintf(stderr, "queue_bench: %s\n", buf_str(&err));
            exit(1);
        }
        done += k;
    }
    buf_release(&err);
    free(items);
    free(status);
    redisFree(c);
    return NULL;
}

static long processed(redisContext *c)
{
    char key[QUEUE_KEY_MAX];
    queue_stat_key(key, QUEUE_DEFAULT, "processed", false);
    redisReply *r = redisCommand(c, "GET %s", key);
    long v = r && r->type == REDIS_REPLY_STRING ? atol(r->str) : 0;
    if (r)
        freeReplyObject(r);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: queue_bench REDIS enqueue|drain|probe ARGS\n");
        return 2;
    }
    endpoint = argv[1];
    const char *what = argv[2];
    long n = atol(argv[3]);
    if (strcmp(what, "enqueue") == 0 && argc == 6) {
        long conns = atol(argv[4]), batch = atol(argv[5]);
        pthread_t *t = xcalloc((size_t)conns, sizeof(*t));
        struct producer *p = xcalloc((size_t)conns, sizeof(*p));
        double t0 = now_s();
        for (long i = 0; i < conns; i++) {
            p[i].n = n / conns + (i < n % conns);
            p[i].batch = batch;
            pthread_create(&t[i], NULL, produce, &p[i]);
        }
        for (long i = 0; i < conns; i++)
            pthread_join(t[i], NULL);
        double dt = now_s() - t0;
        printf("{\"enqueued\": %ld, \"seconds\": %.4f, \"per_s\": %.0f}\n", n, dt, n / dt);
        free(t);
        free(p);
        return 0;
    }
    if (strcmp(what, "drain") == 0 && argc == 5) {
        redisContext *c = connect_or_die();
        double limit = now_s() + atof(argv[4]);
        /* processed is the queue's all-time counter: the stack is fresh. */
        long first = -1;
        double t_first = 0, t_last = 0;
        while (now_s() < limit) {
            long v = processed(c);
            if (v > 0 && first < 0) {
                first = v;
                t_first = now_s();
            }
            if (v >= n) {
                t_last = now_s();
                break;
            }
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        redisFree(c);
        if (t_last == 0) {
            fprintf(stderr, "queue_bench: drain timed out\n");
            return 1;
        }
        /* Steady state: from the first observed completion to the last. */
        double dt = t_last - t_first;
        printf("{\"processed\": %ld, \"seconds\": %.4f, \"per_s\": %.0f}\n", n - first, dt,
               (n - first) / dt);
        return 0;
    }
    if (strcmp(what, "probe") == 0 && argc == 4) {
        redisContext *c = connect_or_die(), *b = connect_or_die();
        double *lat = xcalloc((size_t)n, sizeof(double));
        const char *payload = "{\"notify\":\"inv:probe:bench\"}";
        struct enqueue_opts o = {.max_retry = -1, .timeout_ms = -1};
        struct buf err;
        buf_init(&err, 512);
        for (long i = 0; i < n; i++) {
            char id[TASK_ID_MAX];
            double t0 = now_s();
            if (queue_enqueue(c, "aux:task:noop", payload, strlen(payload), &o, id, &err) != 0) {
                fprintf(stderr, "queue_bench: %s\n", buf_str(&err));
                return 1;
            }
            redisReply *r = redisCommand(b, "BLPOP inv:probe:bench 5");
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                fprintf(stderr, "queue_bench: probe %ld timed out\n", i);
                return 1;
            }
            freeReplyObject(r);
            lat[i] = (now_s() - t0) * 1000;
            struct timespec ts = {0, 2 * 1000 * 1000}; /* let the worker go idle again */
            nanosleep(&ts, NULL);
        }
        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        printf("{\"probes\": %ld, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n", n,
               lat[n / 2], lat[(long)(n * 0.99)], lat[n - 1]);
        buf_release(&err);
        free(lat);
        redisFree(c);
        redisFree(b);
        return 0;
    }
    fprintf(stderr, "queue_bench: bad arguments\n");
    return 2;
}
