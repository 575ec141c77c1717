/* `inventory ingest simulate scans`: publishes simulated scan messages
 * (src/ingest/sim.c) to a Redis Stream with XADD, paced to --rate on a
 * schedule or, with --rate 0, pipelined as fast as Redis takes them
 * (docs/ingest.md, "Simulator"). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cmd/cmd.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "ingest/sim.h"

#define PIPELINE   1000 /* XADDs per round trip */
#define NSEC       1000000000LL
#define MAX_NAP_NS (100 * 1000000LL) /* a paced run looks at the stop flag this often */

const struct cli_opt cmd_simulate_scans_opts[] = {
    {"rate", NULL, 0, OPT_INT, "N", "messages per second; 0: as fast as possible, pipelined",
     "1000", 0, 10000000, 0},
    {"count", NULL, 0, OPT_INT, "N", "stop after N messages (default: until SIGINT/SIGTERM)", NULL,
     1, INT64_MAX, 0},
    {"keys", NULL, 0, OPT_INT, "K", "distinct (ip, port, service) keys", "10000", 1, SIM_KEYS_MAX,
     0},
    {"duplicates", NULL, 0, OPT_STRING, "P",
     "fraction 0..1 of messages repeating a recent message exactly", "0", 0, 0, 0},
    {"out-of-order", NULL, 0, OPT_STRING, "P",
     "fraction 0..1 of messages older than the newest sent for their key", "0", 0, 0, 0},
    {"invalid", NULL, 0, OPT_STRING, "P", "fraction 0..1 of invalid messages (each reason in turn)",
     "0", 0, 0, 0},
    {"seed", NULL, 0, OPT_INT, "S",
     "random seed: the same seed gives the same messages "
     "(default: a random one, logged)",
     NULL, 0, INT64_MAX, 0},
    {"stream", NULL, 0, OPT_STRING, "NAME", "stream to publish to (default: ingest.scans.stream)",
     NULL, 0, 0, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

struct run {
    redisContext *c;
    const char *stream;
    struct sim sim;
    uint64_t kinds[SIM_NKINDS]; /* acknowledged messages by kind */
    uint64_t sent;              /* acknowledged messages */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* A fraction option: a decimal number in 0..1. */
static int fraction(struct cli_ctx *ctx, const char *name, double *out)
{
    const char *s = cli_str(ctx, name);
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !(v >= 0 && v <= 1))
        return cli_fail(EXIT_USAGE,
                        "%s: option --%s: expected a fraction from 0 to 1 (like 0.3), got \"%s\"",
                        ctx->path, name, s ? s : "");
    *out = v;
    return EXIT_OK;
}

/* Generates n messages and sends them in one round trip. 0, or -1 with err
 * set (the run is over then: the connection may hold unread replies). */
static int publish(struct run *r, uint64_t n, struct buf *err)
{
    uint64_t kinds[SIM_NKINDS] = {0};
    size_t slen = strlen(r->stream);
    for (uint64_t i = 0; i < n; i++) {
        const struct sim_msg *m = sim_next(&r->sim);
        const char *argv[5] = {"XADD", r->stream, "*", m->field, m->data.p};
        size_t lens[5] = {4, slen, 1, strlen(m->field), m->data.len};
        if (redisAppendCommandArgv(r->c, 5, argv, lens) != REDIS_OK) {
            buf_setf(err, "redis: %s", r->c->errstr);
            return -1;
        }
        kinds[m->kind]++;
    }
    for (uint64_t i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || !rep) {
            buf_setf(err, "redis: XADD %s: %s", r->stream, r->c->err ? r->c->errstr : "no reply");
            return -1;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            buf_setf(err, "redis: XADD %s: %s", r->stream, rep->str);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    for (int k = 0; k < SIM_NKINDS; k++)
        r->kinds[k] += kinds[k];
    r->sent += n;
    return 0;
}

/* Messages due by `elapsed` ns on the schedule message i at i / rate s. */
static uint64_t due_by(int64_t elapsed, int64_t rate)
{
    return (uint64_t)(elapsed / NSEC * rate + elapsed % NSEC * rate / NSEC + 1);
}

/* When message i is due, ns after the start. */
static int64_t due_at(uint64_t i, int64_t rate)
{
    return (int64_t)(i / (uint64_t)rate) * NSEC + (int64_t)(i % (uint64_t)rate) * NSEC / rate;
}

static void nap_until(int64_t t)
{
    int64_t now = mono_ns();
    if (t > now + MAX_NAP_NS)
        t = now + MAX_NAP_NS;
    struct timespec ts = {(time_t)(t / NSEC), (long)(t % NSEC)};
    /* EINTR (a signal) just ends the nap early. */
    (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Publishes until count (0: no limit) or *stop; 0 or -1 with err set. */
static int run_loop(struct run *r, int64_t rate, uint64_t count, atomic_bool *stop, struct buf *err)
{
    int64_t t0 = mono_ns();
    while (!atomic_load(stop) && (!count || r->sent < count)) {
        uint64_t n = PIPELINE;
        if (count && count - r->sent < n)
            n = count - r->sent;
        if (rate > 0) {
            uint64_t due = due_by(mono_ns() - t0, rate);
            if (due <= r->sent) {
                nap_until(t0 + due_at(r->sent, rate));
                continue;
            }
            if (due - r->sent < n)
                n = due - r->sent;
        }
        if (publish(r, n, err) < 0)
            return -1;
    }
    return 0;
}

int cmd_simulate_scans(struct cli_ctx *ctx)
{
    const struct config *cfg = ctx->cfg;
    struct sim_opts so = {0};
    struct run r;
    struct buf err;
    int rc;

    if ((rc = fraction(ctx, "duplicates", &so.duplicates)) != EXIT_OK ||
        (rc = fraction(ctx, "out-of-order", &so.out_of_order)) != EXIT_OK ||
        (rc = fraction(ctx, "invalid", &so.invalid)) != EXIT_OK)
        return rc;
    if (so.duplicates + so.out_of_order + so.invalid > 1 + 1e-9)
        return cli_fail(EXIT_USAGE,
                        "%s: options --duplicates, --out-of-order and --invalid add up to %g; "
                        "they are fractions of all messages and must add up to at most 1",
                        ctx->path, so.duplicates + so.out_of_order + so.invalid);
    const char *stream =
        cli_isset(ctx, "stream") ? cli_str(ctx, "stream") : cfg->ingest.scans.stream;
    if (!is_safe_name(stream, 128))
        return cli_fail(EXIT_USAGE,
                        "%s: option --stream: expected a name of 1..128 characters from A-Z a-z "
                        "0-9 _ . : -, got \"%s\"",
                        ctx->path, stream);
    so.keys = cli_int(ctx, "keys");
    so.max_message_size = (size_t)cfg->ingest.scans.max_message_size;
    bool random_seed = !cli_isset(ctx, "seed");
    so.seed = random_seed
                  ? ((uint64_t)now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid()) & INT64_MAX
                  : (uint64_t)cli_int(ctx, "seed");
    int64_t rate = cli_int(ctx, "rate");
    uint64_t count = cli_isset(ctx, "count") ? (uint64_t)cli_int(ctx, "count") : 0;

    struct rds_opts ro = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                          cfg->redis.db, cfg->redis.connect_timeout_ms};
    memset(&r, 0, sizeof(r));
    r.stream = stream;
    buf_init(&err, 4096);
    if (rds_connect(&ro, &r.c, &err) < 0)
        return cmd_fail_err(&err);
    sim_init(&r.sim, &so);
    if (random_seed)
        log_info("simulate: random seed (give --seed to repeat this run)",
                 LF_INT("seed", (long long)so.seed));
    log_info("simulate: publishing", LF_STR("stream", stream), LF_INT("rate", rate),
             LF_INT("keys", so.keys), LF_INT("count", (long long)count));

    atomic_bool *stop = cmd_stop_on_signals();
    int64_t t0 = mono_ns();
    if (run_loop(&r, rate, count, stop, &err) < 0) {
        rc = cli_fail(EXIT_FAIL, "%s (after %llu messages published)", buf_str(&err),
                      (unsigned long long)r.sent);
        goto out;
    }
    printf("published %llu messages (valid %llu, duplicates %llu, out_of_order %llu, invalid %llu) "
           "in %.3f s\n",
           (unsigned long long)r.sent, (unsigned long long)r.kinds[SIM_FRESH],
           (unsigned long long)r.kinds[SIM_DUPLICATE],
           (unsigned long long)r.kinds[SIM_OUT_OF_ORDER], (unsigned long long)r.kinds[SIM_INVALID],
           (double)(mono_ns() - t0) / NSEC);
    fflush(stdout);
    rc = EXIT_OK;
out:
    sim_release(&r.sim);
    redisFree(r.c);
    buf_release(&err);
    return rc;
}
