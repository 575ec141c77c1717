/* `inventory ingest simulate scans|hosts`: publishes simulated scan
 * messages (src/ingest/sim.c) or host ingress messages (src/ingest/hostsim.c)
 * to a Redis Stream with XADD, paced to --rate on a schedule or, with
 * --rate 0, pipelined as fast as Redis takes them (docs/ingest.md,
 * "Simulator" and "Host simulator"). Both kinds share the options table,
 * the option checks and the publishing loop; each has its generator and
 * its summary. */
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
#include "ingest/hostsim.h"
#include "ingest/sim.h"

#define PIPELINE   1000 /* XADDs per round trip */
#define NSEC       1000000000LL
#define MAX_NAP_NS (100 * 1000000LL) /* a paced run looks at the stop flag this often */

/* One table for both kinds (the kind is a positional argument); an option
 * of the other kind is refused by name (see foreign). */
const struct cli_opt cmd_simulate_opts[] = {
    {"rate", NULL, 0, OPT_INT, "N", "messages per second; 0: as fast as possible, pipelined",
     "1000", 0, 10000000, 0},
    {"count", NULL, 0, OPT_INT, "N", "stop after N messages (default: until SIGINT/SIGTERM)", NULL,
     1, INT64_MAX, 0},
    {"keys", NULL, 0, OPT_INT, "K", "scans: distinct (ip, port, service) keys", "10000", 1,
     SIM_KEYS_MAX, 0},
    {"duplicates", NULL, 0, OPT_STRING, "P",
     "scans: fraction 0..1 of messages repeating a recent message exactly", "0", 0, 0, 0},
    {"out-of-order", NULL, 0, OPT_STRING, "P",
     "scans: fraction 0..1 of messages older than the newest sent for their key", "0", 0, 0, 0},
    {"orgs", NULL, 0, OPT_INT, "K", "hosts: distinct org ids, hosts spread evenly over them", "10",
     1, HOSTSIM_ORGS_MAX, 0},
    {"hosts", NULL, 0, OPT_INT, "N", "hosts: distinct real hosts in the pool", "100000", 1,
     HOSTSIM_HOSTS_MAX, 0},
    {"rereports", NULL, 0, OPT_STRING, "P",
     "hosts: fraction 0..1 of messages re-reporting a host already sent, through other facts", "0",
     0, 0, 0},
    {"invalid", NULL, 0, OPT_STRING, "P", "fraction 0..1 of invalid messages (each reason in turn)",
     "0", 0, 0, 0},
    {"seed", NULL, 0, OPT_INT, "S",
     "random seed: the same seed gives the same messages "
     "(default: a random one, logged)",
     NULL, 0, INT64_MAX, 0},
    {"stream", NULL, 0, OPT_STRING, "NAME",
     "stream to publish to (default: ingest.scans.stream or ingest.hosts.stream)", NULL, 0, 0, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* The options that only the other kind takes. */
static const char *const scans_only[] = {"keys", "duplicates", "out-of-order", NULL};
static const char *const hosts_only[] = {"orgs", "hosts", "rereports", NULL};

/* The options both kinds read, checked. */
struct common {
    const char *stream;
    int64_t rate;
    uint64_t count; /* 0: until a signal */
    uint64_t seed;
    bool random_seed;
    double invalid;
};

/* A generator as the publisher sees it: next fills the stream entry's
 * field and data (valid until the next call). */
struct source {
    void *gen;
    void (*next)(void *gen, const char **field, struct slice *data);
};

struct run {
    redisContext *c;
    const char *stream;
    const struct source *src;
    uint64_t sent; /* acknowledged messages */
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

/* Refuses an option given that belongs to the other kind. */
static int foreign(struct cli_ctx *ctx, const char *const *names, const char *kind)
{
    for (; *names; names++)
        if (cli_isset(ctx, *names))
            return cli_fail(EXIT_USAGE, "%s: option --%s is for %s messages", ctx->path, *names,
                            kind);
    return EXIT_OK;
}

/* Fractions of one run must leave room for each other. */
static int sum_at_most_one(struct cli_ctx *ctx, const char *names, double sum)
{
    if (sum <= 1 + 1e-9)
        return EXIT_OK;
    return cli_fail(EXIT_USAGE,
                    "%s: options %s add up to %g; they are fractions of all messages and must "
                    "add up to at most 1",
                    ctx->path, names, sum);
}

static int common_opts(struct cli_ctx *ctx, const char *stream_def, struct common *c)
{
    int rc = fraction(ctx, "invalid", &c->invalid);
    if (rc != EXIT_OK)
        return rc;
    c->stream = cli_isset(ctx, "stream") ? cli_str(ctx, "stream") : stream_def;
    if (!is_safe_name(c->stream, 128))
        return cli_fail(EXIT_USAGE,
                        "%s: option --stream: expected a name of 1..128 characters from A-Z a-z "
                        "0-9 _ . : -, got \"%s\"",
                        ctx->path, c->stream);
    c->random_seed = !cli_isset(ctx, "seed");
    c->seed = c->random_seed
                  ? ((uint64_t)now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid()) & INT64_MAX
                  : (uint64_t)cli_int(ctx, "seed");
    c->rate = cli_int(ctx, "rate");
    c->count = cli_isset(ctx, "count") ? (uint64_t)cli_int(ctx, "count") : 0;
    return EXIT_OK;
}

/* Generates n messages and sends them in one round trip. 0, or -1 with err
 * set (the run is over then: the connection may hold unread replies). */
static int publish(struct run *r, uint64_t n, struct buf *err)
{
    size_t slen = strlen(r->stream);
    for (uint64_t i = 0; i < n; i++) {
        const char *field;
        struct slice data;
        r->src->next(r->src->gen, &field, &data);
        const char *argv[5] = {"XADD", r->stream, "*", field, data.p};
        size_t lens[5] = {4, slen, 1, strlen(field), data.len};
        if (redisAppendCommandArgv(r->c, 5, argv, lens) != REDIS_OK) {
            buf_setf(err, "redis: %s", r->c->errstr);
            return -1;
        }
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

/* Connects, publishes src's messages until --count or a signal and sets
 * *seconds; an exit code (a failure is printed). The caller prints its
 * summary on EXIT_OK: every message generated was then acknowledged. */
static int publish_all(struct cli_ctx *ctx, const struct common *c, const struct source *src,
                       double *seconds)
{
    const struct config *cfg = ctx->cfg;
    struct rds_opts ro = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                          cfg->redis.db, cfg->redis.connect_timeout_ms};
    struct run r = {NULL, c->stream, src, 0};
    struct buf err;
    int rc = EXIT_OK;
    buf_init(&err, 4096);
    if (rds_connect(&ro, &r.c, &err) < 0)
        return cmd_fail_err(&err);
    if (c->random_seed)
        log_info("simulate: random seed (give --seed to repeat this run)",
                 LF_INT("seed", (long long)c->seed));
    log_info("simulate: publishing", LF_STR("stream", c->stream), LF_INT("rate", c->rate),
             LF_INT("count", (long long)c->count));
    atomic_bool *stop = cmd_stop_on_signals();
    int64_t t0 = mono_ns();
    if (run_loop(&r, c->rate, c->count, stop, &err) < 0)
        rc = cli_fail(EXIT_FAIL, "%s (after %llu messages published)", buf_str(&err),
                      (unsigned long long)r.sent);
    *seconds = (double)(mono_ns() - t0) / NSEC;
    redisFree(r.c);
    buf_release(&err);
    return rc;
}

/* --- scans ------------------------------------------------------------------ */

struct scan_source {
    struct sim sim;
    uint64_t kinds[SIM_NKINDS];
};

static void next_scan(void *gen, const char **field, struct slice *data)
{
    struct scan_source *g = gen;
    const struct sim_msg *m = sim_next(&g->sim);
    g->kinds[m->kind]++;
    *field = m->field;
    *data = m->data;
}

int cmd_simulate_scans(struct cli_ctx *ctx)
{
    const struct config *cfg = ctx->cfg;
    struct sim_opts so = {0};
    struct common c;
    int rc;

    if ((rc = foreign(ctx, hosts_only, "hosts")) != EXIT_OK ||
        (rc = fraction(ctx, "duplicates", &so.duplicates)) != EXIT_OK ||
        (rc = fraction(ctx, "out-of-order", &so.out_of_order)) != EXIT_OK ||
        (rc = common_opts(ctx, cfg->ingest.scans.stream, &c)) != EXIT_OK ||
        (rc = sum_at_most_one(ctx, "--duplicates, --out-of-order and --invalid",
                              so.duplicates + so.out_of_order + c.invalid)) != EXIT_OK)
        return rc;
    so.invalid = c.invalid;
    so.seed = c.seed;
    so.keys = cli_int(ctx, "keys");
    so.max_message_size = (size_t)cfg->ingest.scans.max_message_size;

    struct scan_source g = {0};
    struct source src = {&g, next_scan};
    double seconds = 0;
    sim_init(&g.sim, &so);
    log_info("simulate: scans", LF_INT("keys", so.keys));
    rc = publish_all(ctx, &c, &src, &seconds);
    if (rc == EXIT_OK) {
        printf("published %llu messages (valid %llu, duplicates %llu, out_of_order %llu, "
               "invalid %llu) in %.3f s\n",
               (unsigned long long)(g.kinds[SIM_FRESH] + g.kinds[SIM_DUPLICATE] +
                                    g.kinds[SIM_OUT_OF_ORDER] + g.kinds[SIM_INVALID]),
               (unsigned long long)g.kinds[SIM_FRESH], (unsigned long long)g.kinds[SIM_DUPLICATE],
               (unsigned long long)g.kinds[SIM_OUT_OF_ORDER],
               (unsigned long long)g.kinds[SIM_INVALID], seconds);
        fflush(stdout);
    }
    sim_release(&g.sim);
    return rc;
}

/* --- hosts ------------------------------------------------------------------ */

static void next_host(void *gen, const char **field, struct slice *data)
{
    *field = "data";
    *data = hostsim_next(gen)->data;
}

/* The summary: totals by kind, invalid messages by rule, hosts per org
 * (the hosts a correct consumer ends with). */
static void host_summary(const struct hostsim *s, double seconds)
{
    const struct hostsim_truth *t = &s->truth;
    printf("published %llu messages (new_hosts %llu, rereports %llu, invalid %llu) in %.3f s\n",
           (unsigned long long)s->n, (unsigned long long)t->kinds[HOSTSIM_NEW],
           (unsigned long long)t->kinds[HOSTSIM_REREPORT],
           (unsigned long long)t->kinds[HOSTSIM_INVALID], seconds);
    fputs("invalid:", stdout);
    for (int r = 0; r < HOSTSIM_NINVALID; r++)
        printf("%s %s %llu", r ? "," : "", hostsim_invalid_name((enum hostsim_invalid)r),
               (unsigned long long)t->invalid[r]);
    fputs("\nhosts per org:", stdout);
    for (int64_t i = 0; i < s->o.orgs; i++)
        printf("%s %s %llu", i ? "," : "", hostsim_org_id(s, i),
               (unsigned long long)t->hosts_per_org[i]);
    fputc('\n', stdout);
    fflush(stdout);
}

int cmd_simulate_hosts(struct cli_ctx *ctx)
{
    const struct config_stream *cs = &ctx->cfg->ingest.hosts;
    struct hostsim_opts ho = {0};
    struct common c;
    int rc;

    if ((rc = foreign(ctx, scans_only, "scans")) != EXIT_OK ||
        (rc = fraction(ctx, "rereports", &ho.rereports)) != EXIT_OK ||
        (rc = common_opts(ctx, cs->stream, &c)) != EXIT_OK ||
        (rc = sum_at_most_one(ctx, "--rereports and --invalid", ho.rereports + c.invalid)) !=
            EXIT_OK)
        return rc;
    if (cs->max_message_size < HOSTSIM_MIN_MAX_SIZE)
        return cli_fail(EXIT_USAGE,
                        "%s: ingest.hosts.max_message_size is %d; simulated host messages need "
                        "at least %d",
                        ctx->path, (int)cs->max_message_size, HOSTSIM_MIN_MAX_SIZE);
    ho.invalid = c.invalid;
    ho.seed = c.seed;
    ho.orgs = cli_int(ctx, "orgs");
    ho.hosts = cli_int(ctx, "hosts");
    ho.max_message_size = (size_t)cs->max_message_size;

    struct hostsim s;
    struct source src = {&s, next_host};
    double seconds = 0;
    hostsim_init(&s, &ho);
    log_info("simulate: hosts", LF_INT("orgs", ho.orgs), LF_INT("hosts", ho.hosts));
    rc = publish_all(ctx, &c, &src, &seconds);
    if (rc == EXIT_OK)
        host_summary(&s, seconds);
    hostsim_release(&s);
    return rc;
}
