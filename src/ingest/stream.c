/* The read side every stream consumer shares (docs/ingest.md, Consuming). */
#include "ingest/stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

void stream_metrics_init(struct stream_metrics *m, struct metrics_registry *reg)
{
    static const double batch_bounds[] = {1, 10, 100, 500, 1000, 2000, 5000, 10000};
    static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1,    2.5,   5};
    static const char *const s1[] = {"stream"}, *const s2[] = {"stream", "reason"},
                             *const sg[] = {"stream", "group"};
    *m = (struct stream_metrics){
        .consumed = metrics_counter(reg, "inventory_ingest_consumed_total",
                                    "Stream entries processed (acked), valid or not.", 1, s1),
        .invalid = metrics_counter(reg, "inventory_ingest_invalid_total",
                                   "Invalid messages, acked and dead-lettered, by reason.", 2, s2),
        .batch = metrics_histogram(reg, "inventory_ingest_batch_size", "Entries per batch.", 1, s1,
                                   ARRAY_SIZE(batch_bounds), batch_bounds),
        .commit = metrics_histogram(reg, "inventory_ingest_commit_seconds",
                                    "Time of one batch's upsert and commit.", 1, s1,
                                    ARRAY_SIZE(commit_bounds), commit_bounds),
        .db_errors = metrics_counter(reg, "inventory_ingest_db_errors_total",
                                     "Batches that failed to commit (then retried).", 1, s1),
        .reclaimed = metrics_counter(reg, "inventory_ingest_reclaimed_total",
                                     "Pending entries taken over from other consumers.", 1, s1),
        .length =
            metrics_gauge(reg, "inventory_ingest_stream_length", "XLEN of the stream.", 1, s1),
        .pending = metrics_gauge(reg, "inventory_ingest_pending",
                                 "Entries delivered to the group and not yet acked.", 2, sg),
        .lag = metrics_gauge(reg, "inventory_ingest_lag",
                             "Entries in the stream the group has not read yet.", 2, sg),
    };
}

bool stream_run_consumers(int n, void *(*fn)(void *), void *args, size_t size, atomic_bool *stop)
{
    pthread_t *th = xcalloc((size_t)n + 1, sizeof(*th));
    int started = 0;
    while (started < n &&
           pthread_create(&th[started], NULL, fn, (char *)args + (size_t)started * size) == 0)
        started++;
    if (started < n) {
        log_error("ingest: cannot start a consumer thread");
        atomic_store(stop, true);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    return started == n;
}

bool stream_pause(atomic_bool *stop, int64_t ms)
{
    for (int64_t left = ms; left > 0 && !atomic_load(stop); left -= 50) {
        int64_t step = left < 50 ? left : 50;
        struct timespec t = {0, (long)step * 1000000L};
        nanosleep(&t, NULL);
    }
    return !atomic_load(stop);
}

const char *stream_entry_data(const redisReply *e, size_t *len)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
        return NULL;
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, "data") == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING) {
            *len = f->element[i + 1]->len;
            return f->element[i + 1]->str;
        }
    return NULL;
}

const char *stream_entry_id(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
                   e->element[0]->type == REDIS_REPLY_STRING
               ? e->element[0]->str
               : NULL;
}

void stream_append_xadd(redisContext *rc, const char *stream, int max, const char *const *fv,
                        size_t n)
{
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%d", max);
    const char **argv = xcalloc(n + 6, sizeof(*argv));
    size_t *lens = xcalloc(n + 6, sizeof(*lens));
    const char *head[] = {"XADD", stream, "MAXLEN", "~", maxlen, "*"};
    for (size_t i = 0; i < n + 6; i++) {
        argv[i] = i < 6 ? head[i] : fv[i - 6];
        lens[i] = strlen(argv[i]);
    }
    redisAppendCommandArgv(rc, (int)(n + 6), argv, lens);
    free(argv);
    free(lens);
}

void stream_append_dead_letter(redisContext *rc, const struct config_stream *sc, const char *id,
                               const char *reason, const char *error, const char *data, size_t len)
{
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%d", sc->dead_letter_max);
    const char *argv[] = {
        "XADD", sc->dead_letter, "MAXLEN", "~",     maxlen, "*",    "id",
        id,     "reason",        reason,   "error", error,  "data", data ? data : ""};
    size_t lens[ARRAY_SIZE(argv)];
    for (size_t k = 0; k < ARRAY_SIZE(argv); k++)
        lens[k] = strlen(argv[k]);
    lens[ARRAY_SIZE(argv) - 1] = data ? len : 0; /* data may hold NUL bytes */
    redisAppendCommandArgv(rc, (int)ARRAY_SIZE(argv), argv, lens);
}

void stream_append_ack(redisContext *rc, const struct config_stream *sc, const char *const *ids,
                       size_t n)
{
    const char **argv = xcalloc(n + 3, sizeof(*argv));
    argv[0] = "XACK";
    argv[1] = sc->stream;
    argv[2] = sc->group;
    memcpy(argv + 3, ids, n * sizeof(*ids));
    redisAppendCommandArgv(rc, (int)(n + 3), argv, NULL);
    free(argv);
}

bool stream_replies(const char *who, redisContext *rc, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK)
            return false;
        if (r->type == REDIS_REPLY_ERROR) {
            log_error("ingest: redis refused", LF_STR("consumer", who), LF_STR("error", r->str));
            ok = false;
        }
        freeReplyObject(r);
    }
    return ok;
}

/* ---- the read loop ---- */

static redisReply *cmd(struct stream_reader *r, redisContext *rc, int argc, const char **argv)
{
    struct buf err;
    buf_init(&err, 1024);
    redisReply *rep = rds_cmd(rc, &err, argc, argv, NULL);
    if (!rep)
        log_warn("ingest: redis call failed", LF_STR("consumer", r->name),
                 LF_STR("command", argv[0]), LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return rep;
}

/* XGROUP CREATE ... 0 MKSTREAM, tolerating an existing group. */
static bool ensure_group(struct stream_reader *r, redisContext *rc)
{
    const char *argv[] = {"XGROUP", "CREATE", r->sc->stream, r->sc->group, "0", "MKSTREAM"};
    struct buf err;
    buf_init(&err, 1024);
    redisReply *rep = rds_cmd(rc, &err, (int)ARRAY_SIZE(argv), argv, NULL);
    bool ok = rep || strstr(buf_str(&err), "BUSYGROUP");
    if (!ok)
        log_warn("ingest: cannot create the consumer group", LF_STR("consumer", r->name),
                 LF_STR("error", buf_str(&err)));
    if (rep)
        freeReplyObject(rep);
    buf_release(&err);
    return ok;
}

/* Lag gauges from XINFO GROUPS and XLEN. */
static void observe_lag(struct stream_reader *r, redisContext *rc)
{
    const struct config_stream *sc = r->sc;
    const char *xlen[] = {"XLEN", sc->stream};
    redisReply *rep = cmd(r, rc, 2, xlen);
    if (rep && rep->type == REDIS_REPLY_INTEGER)
        metrics_set(r->m->length, (const char *[]){sc->stream}, (double)rep->integer);
    if (rep)
        freeReplyObject(rep);
    const char *info[] = {"XINFO", "GROUPS", sc->stream};
    rep = cmd(r, rc, 3, info);
    for (size_t g = 0; rep && rep->type == REDIS_REPLY_ARRAY && g < rep->elements; g++) {
        const redisReply *f = rep->element[g];
        bool mine = false;
        long long pending = -1, lag = -1;
        for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
            const char *k = f->element[i]->str;
            const redisReply *v = f->element[i + 1];
            if (!k)
                continue;
            if (strcmp(k, "name") == 0 && v->str)
                mine = strcmp(v->str, sc->group) == 0;
            else if (strcmp(k, "pending") == 0 && v->type == REDIS_REPLY_INTEGER)
                pending = v->integer;
            else if (strcmp(k, "lag") == 0 && v->type == REDIS_REPLY_INTEGER)
                lag = v->integer;
        }
        if (mine && pending >= 0)
            metrics_set(r->m->pending, (const char *[]){sc->stream, sc->group}, (double)pending);
        if (mine && lag >= 0)
            metrics_set(r->m->lag, (const char *[]){sc->stream, sc->group}, (double)lag);
    }
    if (rep)
        freeReplyObject(rep);
}

static bool has_entries(const redisReply *list)
{
    return list && list->type == REDIS_REPLY_ARRAY && list->elements > 0;
}

/* Takes over entries that dead (or stuck) consumers left pending longer
 * than claim_idle, batch by batch; false after a Redis error. */
static bool reclaim(struct stream_reader *r, redisContext *rc)
{
    const struct config_stream *sc = r->sc;
    char idle[24], n[16], cursor[64] = "0-0";
    snprintf(idle, sizeof(idle), "%lld", (long long)sc->claim_idle_ms);
    snprintf(n, sizeof(n), "%d", sc->batch_size);
    for (int rounds = 0; rounds < 1000 && !atomic_load(r->stop); rounds++) {
        const char *argv[] = {"XAUTOCLAIM", sc->stream, sc->group, r->name,
                              idle,         cursor,     "COUNT",   n};
        redisReply *rep = cmd(r, rc, (int)ARRAY_SIZE(argv), argv);
        if (!rep)
            return false;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(rep);
            return false;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        if (has_entries(rep->element[1])) {
            size_t got = rep->element[1]->elements;
            metrics_inc(r->m->reclaimed, (const char *[]){sc->stream}, (double)got);
            log_info("ingest: reclaimed pending entries", LF_STR("consumer", r->name),
                     LF_INT("entries", (long long)got));
            r->take(r->arg, rep, rep->element[1], true);
        } else {
            freeReplyObject(rep);
        }
        if (strcmp(cursor, "0-0") == 0)
            return true;
    }
    return true;
}

void stream_reader_init(struct stream_reader *r, const struct config *cfg,
                        const struct config_stream *sc, int index, atomic_bool *stop,
                        const struct stream_metrics *m)
{
    char host[128] = "host";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    snprintf(r->name, sizeof(r->name), "%s-%ld-%d", host, (long)getpid(), index);
    r->sc = sc;
    r->stop = stop;
    r->m = m;
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    rds_conn_init(&r->rds, &o, "ingest");
    /* XREADGROUP blocks for block_ms: the reply may take that long. */
    r->rds.read_timeout_ms = sc->block_ms + cfg->redis.connect_timeout_ms;
}

void stream_read_loop(struct stream_reader *r)
{
    const struct config_stream *sc = r->sc;
    char n[16], block[24];
    snprintf(n, sizeof(n), "%d", sc->batch_size);
    snprintf(block, sizeof(block), "%lld", (long long)sc->block_ms);
    bool grouped = false;
    while (!atomic_load(r->stop)) {
        redisContext *rc = rds_conn_get(&r->rds, r->stop);
        if (!rc)
            break;
        if (!grouped && !(grouped = ensure_group(r, rc))) {
            rds_conn_broken(&r->rds);
            stream_pause(r->stop, STREAM_RETRY_MAX_MS);
            continue;
        }
        bool ok = true;
        if (mono_ms() >= r->next_claim_ms) {
            r->next_claim_ms = mono_ms() + sc->claim_interval_ms;
            observe_lag(r, rc);
            ok = reclaim(r, rc);
        }
        const char *argv[] = {"XREADGROUP", "GROUP", sc->group, r->name,    "COUNT", n,
                              "BLOCK",      block,   "STREAMS", sc->stream, ">"};
        if (r->read_mu)
            pthread_mutex_lock(r->read_mu);
        redisReply *rep = ok ? cmd(r, rc, (int)ARRAY_SIZE(argv), argv) : NULL;
        bool got = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                   rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
                   has_entries(rep->element[0]->element[1]);
        if (got && r->seen)
            r->seen(r->arg, rep->element[0]->element[1]);
        if (r->read_mu)
            pthread_mutex_unlock(r->read_mu);
        if (got)
            r->take(r->arg, rep, rep->element[0]->element[1], false);
        else if (rep)
            freeReplyObject(rep); /* BLOCK timed out: nil */
        else
            ok = false;
        if (!ok && !atomic_load(r->stop)) {
            /* NOGROUP after the stream was deleted: make it again. */
            grouped = false;
            rds_conn_broken(&r->rds);
        }
    }
}
