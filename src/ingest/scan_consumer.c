/* The scan consumers (docs/ingest.md, Consuming). Each consumer is a
 * reader thread (XREADGROUP / XAUTOCLAIM, validation, COPY text cut into
 * one part per writer by key hash), ingest.scans.writers writer threads
 * (upsert and commit of their part) and an acker thread (dead letters and
 * XACK of a batch whose parts all committed), handing batches over one at
 * a time, so reading the next batch and acking the last overlap the
 * database work. Nothing is acked before every part of its batch
 * committed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "db/model.h"
#include "db/pg.h"
#include "ingest/newest.h"
#include "ingest/scans.h"
#include "ingest/stream.h"

/* What every consumer shares: configuration, stop flag, metrics. */
struct scans_ctx {
    const struct config *cfg;
    const struct config_stream *sc;
    atomic_bool *stop;
    const struct model_def *model;
    struct newest *newest; /* what was committed: stale messages skip the database */
    struct stream_metrics m;
    struct metric *upserted, *stale, *skipped;
};

#define WRITERS_MAX 8
/* Committed batches waiting for their ack; the writers wait beyond (a
 * Redis that stalls holds back the database work, not memory). */
#define ACKS_MAX 4

/* The entries of one Redis reply, their verdicts and the staged rows, cut
 * into one part per writer by key hash: a key is always written by the
 * same writer, so writers never wait on each other's row locks. */
struct batch {
    redisReply *reply; /* owned while staging; the entries point into it */
    redisReply **entries;
    size_t n;
    /* Kept once staged, when the reply is freed: what the ack needs. */
    char **ids; /* entry ids (into idmem) */
    char *idmem;
    struct slice *dead; /* the data field of invalid entries (owned copies) */
    enum scan_invalid *why;
    struct buf *details;
    struct newest_key *keys; /* of the valid entries */
    bool *staged;            /* valid and sent to the database (else known stale) */
    size_t valid, nstaged;
    int nparts;
    struct model_copy rows[WRITERS_MAX];
    atomic_int parts_left; /* the writer that ends it queues the ack */
    atomic_bool abandoned; /* a part was not committed: nothing is acked */
    atomic_llong affected;
};

struct consumer;

struct writer {
    struct consumer *c;
    int w;
    PGconn *pg;
    struct batch *slot; /* the part handed over (guarded by c->mu) */
};

/* One reader, its writers (ingest.scans.writers of them) and its acker. */
struct consumer {
    struct scans_ctx *x;
    struct stream_reader r;
    pthread_mutex_t mu; /* guards the writers' slots, the acks and the flags */
    pthread_cond_t cv;
    bool reader_done, writers_done;
    int nwriters;
    struct writer writers[WRITERS_MAX];
    struct batch *acks[ACKS_MAX]; /* a ring: committed, oldest first */
    int ack_head, nacks;
    struct rds_conn ack_rds;
};

/* "2024-11-19T07:06:40Z" from Unix seconds (0..year 9999), without the
 * locale and time zone machinery of strftime (one call per message). */
static void format_utc(int64_t ts, char out[32])
{
    int64_t days = ts / 86400, secs = ts % 86400;
    /* civil_from_days (H. Hinnant), for days since 1970-01-01 >= 0 */
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
}

/* ---- batches ---- */

/* The writer of entry i (valid): by its key's hash. */
static int part_of(const struct batch *b, size_t i)
{
    return (int)(b->keys[i].key[1] % (uint64_t)b->nparts);
}

/* Orders two observations of one key as the table does: timestamp, then
 * the response in byte order. */
static int newer_cmp(const struct scan_msg *a, const struct scan_msg *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    size_t n = a->response_len < b->response_len ? a->response_len : b->response_len;
    int c = memcmp(a->response, b->response, n);
    if (c)
        return c;
    return a->response_len < b->response_len ? -1 : a->response_len > b->response_len;
}

static bool same_key(const struct scan_msg *a, const struct scan_msg *b)
{
    return a->port == b->port && strcmp(a->ip, b->ip) == 0 && strcmp(a->service, b->service) == 0;
}

/* Validates every entry and stages as COPY rows, per key, the newest valid
 * message of the batch, unless the committed-newest table shows it stale.
 * The others cannot change the table: the database keeps the maximum of
 * what it is offered, and the winner is offered. */
static void stage(struct consumer *c, struct batch *b)
{
    size_t max = (size_t)c->x->sc->max_message_size;
    size_t slots = 16;
    while (slots < 2 * b->n)
        slots <<= 1;
    struct scan_msg *m = xcalloc(b->n, sizeof(*m));
    size_t *best = xmalloc(slots * sizeof(*best)); /* open addressing: entry index + 1 */
    memset(best, 0, slots * sizeof(*best));
    b->valid = b->nstaged = 0;
    for (size_t i = 0; i < b->n; i++) {
        size_t len = 0;
        const char *data = stream_entry_data(b->entries[i], &len);
        buf_reset(&b->details[i]);
        b->staged[i] = false;
        b->why[i] = scan_parse(data, len, max, &m[i], &b->details[i]);
        if (b->why[i] != SCAN_OK)
            continue;
        b->valid++;
        newest_hash(c->x->newest, m[i].ip, m[i].port, m[i].service, m[i].response,
                    m[i].response_len, m[i].ts, &b->keys[i]);
        if (newest_covers(c->x->newest, &b->keys[i]))
            continue;
        size_t h = (size_t)b->keys[i].key[1] & (slots - 1);
        while (best[h] && !same_key(&m[best[h] - 1], &m[i]))
            h = (h + 1) & (slots - 1);
        if (!best[h] || newer_cmp(&m[i], &m[best[h] - 1]) > 0) {
            if (best[h])
                b->staged[best[h] - 1] = false;
            best[h] = i + 1;
            b->staged[i] = true;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->staged[i]) {
            char port[16], when[32];
            snprintf(port, sizeof(port), "%d", m[i].port);
            format_utc(m[i].ts, when);
            const char *row[] = {m[i].ip, port, m[i].service, when, m[i].response};
            if (model_copy_add(&b->rows[part_of(b, i)], row) == 0) {
                b->nstaged++;
            } else {
                b->staged[i] = false;
                b->why[i] = SCAN_OVERSIZED; /* cannot happen below the batch cap */
                b->valid--;
            }
        }
        scan_msg_release(&m[i]);
    }
    free(best);
    free(m);
}

/* Copies what the ack needs (ids, the data of invalid entries) and frees
 * the Redis reply: a staged batch holds its COPY rows and little else. */
static void keep_for_ack(struct batch *b)
{
    size_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        total += strlen(stream_entry_id(b->entries[i])) + 1;
    b->idmem = xmalloc(total);
    b->ids = xcalloc(b->n, sizeof(*b->ids));
    b->dead = xcalloc(b->n, sizeof(*b->dead));
    char *p = b->idmem;
    for (size_t i = 0; i < b->n; i++) {
        const char *id = stream_entry_id(b->entries[i]);
        size_t len = strlen(id) + 1;
        memcpy(p, id, len);
        b->ids[i] = p;
        p += len;
        size_t dlen = 0;
        const char *data = b->why[i] != SCAN_OK ? stream_entry_data(b->entries[i], &dlen) : NULL;
        if (data) {
            char *copy = xmalloc(dlen + 1);
            memcpy(copy, data, dlen);
            copy[dlen] = '\0';
            b->dead[i] = (struct slice){copy, dlen};
        }
    }
    freeReplyObject(b->reply);
    b->reply = NULL;
    free(b->entries);
    b->entries = NULL;
}

/* A batch of the entries in list (an element of reply, which it takes);
 * NULL (and the reply freed) when there are none. */
static struct batch *batch_new(struct consumer *c, redisReply *reply, const redisReply *list)
{
    size_t cap = list && list->type == REDIS_REPLY_ARRAY ? list->elements : 0;
    struct batch *b = NULL;
    for (size_t i = 0; i < cap; i++) {
        if (!stream_entry_id(list->element[i]))
            continue;
        if (!b) {
            b = xcalloc(1, sizeof(*b));
            b->reply = reply;
            b->entries = xcalloc(cap, sizeof(*b->entries));
            b->why = xcalloc(cap, sizeof(*b->why));
            b->details = xcalloc(cap, sizeof(*b->details));
            b->keys = xcalloc(cap, sizeof(*b->keys));
            b->staged = xcalloc(cap, sizeof(*b->staged));
            b->nparts = c->nwriters;
            for (int w = 0; w < b->nparts; w++)
                model_copy_init(&b->rows[w], c->x->model);
            atomic_init(&b->parts_left, b->nparts);
            atomic_init(&b->abandoned, false);
            atomic_init(&b->affected, 0);
        }
        buf_init(&b->details[b->n], 512);
        b->entries[b->n++] = list->element[i];
    }
    if (!b) {
        freeReplyObject(reply);
        return NULL;
    }
    stage(c, b);
    keep_for_ack(b);
    return b;
}

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        buf_release(&b->details[i]);
    for (int w = 0; w < b->nparts; w++)
        model_copy_release(&b->rows[w]);
    if (b->reply)
        freeReplyObject(b->reply);
    free(b->entries);
    for (size_t i = 0; b->dead && i < b->n; i++)
        free((char *)b->dead[i].p);
    free(b->dead);
    free(b->ids);
    free(b->idmem);
    free(b->why);
    free(b->details);
    free(b->keys);
    free(b->staged);
    free(b);
}

/* ---- writer: commit, dead-letter, ack ---- */

static PGconn *db(struct writer *wr)
{
    if (wr->pg && PQstatus(wr->pg) == CONNECTION_OK)
        return wr->pg;
    if (wr->pg)
        PQfinish(wr->pg);
    wr->pg = NULL;
    struct buf err;
    buf_init(&err, 2048);
    const struct config *cfg = wr->c->x->cfg;
    if (pg_connect(cfg->database.dsn, cfg->database.connect_timeout_ms, &wr->pg, &err) < 0)
        log_warn("ingest: database connection failed", LF_STR("consumer", wr->c->r.name),
                 LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return wr->pg;
}

/* Upserts the writer's part of the batch; retried with backoff until it
 * commits (model_copy_flush keeps the rows when it fails). false when
 * stopping first (the entries stay pending). */
static bool commit(struct writer *wr, struct batch *b, long long *affected)
{
    struct consumer *c = wr->c;
    const char *stream = c->x->sc->stream;
    int64_t wait = STREAM_RETRY_FIRST_MS;
    for (;;) {
        struct buf err;
        buf_init(&err, 2048);
        PGconn *pg = db(wr);
        int64_t t0 = mono_ms();
        if (pg && model_copy_flush(&b->rows[wr->w], pg, affected, &err) == 0) {
            metrics_observe(c->x->m.commit, (const char *[]){stream},
                            (double)(mono_ms() - t0) / 1e3);
            buf_release(&err);
            return true;
        }
        metrics_inc(c->x->m.db_errors, (const char *[]){stream}, 1);
        if (pg)
            log_warn("ingest: batch not committed, retrying", LF_STR("consumer", c->r.name),
                     LF_INT("entries", (long long)b->n), LF_INT("retry_ms", wait),
                     LF_STR("error", buf_str(&err)));
        buf_release(&err);
        if (!stream_pause(c->x->stop, wait))
            return false;
        wait = wait * 2 > STREAM_RETRY_MAX_MS ? STREAM_RETRY_MAX_MS : wait * 2;
    }
}

/* Dead-letters the invalid entries and acks the whole batch, pipelined.
 * false on a Redis error (the entries stay pending and come back). */
static bool ack(struct consumer *c, redisContext *rc, const struct batch *b)
{
    const struct config_stream *sc = c->x->sc;
    size_t sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] == SCAN_OK)
            continue;
        stream_append_dead_letter(rc, sc, b->ids[i], scan_invalid_name(b->why[i]),
                                  buf_str(&b->details[i]), b->dead[i].p, b->dead[i].len);
        sent++;
    }
    stream_append_ack(rc, sc, (const char *const *)b->ids, b->n);
    return stream_replies(c->r.name, rc, sent + 1);
}

static void count(struct consumer *c, const struct batch *b, long long affected)
{
    const char *stream = c->x->sc->stream;
    metrics_inc(c->x->upserted, (const char *[]){stream}, (double)affected);
    metrics_inc(c->x->stale, (const char *[]){stream}, (double)((long long)b->valid - affected));
    metrics_inc(c->x->skipped, (const char *[]){stream}, (double)(b->valid - b->nstaged));
    metrics_observe(c->x->m.batch, (const char *[]){stream}, (double)b->n);
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] == SCAN_OK)
            continue;
        metrics_inc(c->x->m.invalid, (const char *[]){stream, scan_invalid_name(b->why[i])}, 1);
        log_debug("ingest: invalid message dead-lettered", LF_STR("consumer", c->r.name),
                  LF_STR("id", b->ids[i]), LF_STR("reason", scan_invalid_name(b->why[i])),
                  LF_STR("error", buf_str(&b->details[i])));
    }
    /* Last, so that a reader seeing it counted sees the rest too. */
    metrics_inc(c->x->m.consumed, (const char *[]){stream}, (double)b->n);
}

/* Queues a committed batch for the acker, waiting while ACKS_MAX are. */
static void queue_ack(struct consumer *c, struct batch *b)
{
    pthread_mutex_lock(&c->mu);
    while (c->nacks == ACKS_MAX)
        pthread_cond_wait(&c->cv, &c->mu);
    c->acks[(c->ack_head + c->nacks++) % ACKS_MAX] = b;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Dead-letters and acks the committed batches until the writers are done
 * and none is left. A batch whose ack fails stays pending and is
 * reclaimed after claim_idle (its redelivery is harmless). */
static void *acker_main(void *arg)
{
    struct consumer *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->nacks && !c->writers_done)
            pthread_cond_wait(&c->cv, &c->mu);
        struct batch *b = c->nacks ? c->acks[c->ack_head] : NULL;
        if (b) {
            c->ack_head = (c->ack_head + 1) % ACKS_MAX;
            c->nacks--;
            pthread_cond_broadcast(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
        if (!b)
            return NULL;
        redisContext *rc = rds_conn_get(&c->ack_rds, c->x->stop);
        if (rc && ack(c, rc, b))
            count(c, b, atomic_load(&b->affected));
        else if (rc)
            rds_conn_broken(&c->ack_rds);
        batch_free(b);
    }
}

/* The writer's part of a batch: commit, then note what was committed; the
 * writer that ends the batch queues it for the acker. */
static void write_part(struct writer *wr, struct batch *b)
{
    struct consumer *c = wr->c;
    long long affected = 0;
    if (b->rows[wr->w].nrows && !commit(wr, b, &affected))
        atomic_store(&b->abandoned, true); /* stopping, database away: stays pending */
    else
        for (size_t i = 0; i < b->n; i++)
            if (b->staged[i] && part_of(b, i) == wr->w)
                newest_note(c->x->newest, &b->keys[i]); /* the database holds at least this */
    atomic_fetch_add(&b->affected, affected);
    model_copy_release(&b->rows[wr->w]); /* not kept while the batch waits for its ack */
    if (atomic_fetch_sub(&b->parts_left, 1) != 1)
        return; /* another writer ends it */
    if (atomic_load(&b->abandoned))
        batch_free(b); /* pending: reclaimed after claim_idle */
    else
        queue_ack(c, b);
}

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    struct consumer *c = wr->c;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!wr->slot && !c->reader_done)
            pthread_cond_wait(&c->cv, &c->mu);
        struct batch *b = wr->slot;
        wr->slot = NULL;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        if (!b)
            return NULL; /* the reader is done and nothing is left */
        write_part(wr, b);
    }
}

/* ---- reader: read, validate, hand over ---- */

/* Gives every writer its part of b, each as soon as its slot is free. */
static void hand_over(struct consumer *c, struct batch *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&c->mu);
    for (int w = 0; w < c->nwriters; w++) {
        while (c->writers[w].slot)
            pthread_cond_wait(&c->cv, &c->mu);
        c->writers[w].slot = b;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* A batch read (or reclaimed): validated, staged and handed over. */
static void take(void *arg, redisReply *reply, const redisReply *list, bool reclaimed)
{
    (void)reclaimed;
    struct consumer *c = arg;
    hand_over(c, batch_new(c, reply, list));
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    pthread_t th[WRITERS_MAX], acker;
    bool acking = pthread_create(&acker, NULL, acker_main, c) == 0;
    int started = 0;
    while (acking && started < c->nwriters &&
           pthread_create(&th[started], NULL, writer_main, &c->writers[started]) == 0)
        started++;
    if (acking && started == c->nwriters) {
        stream_read_loop(&c->r);
    } else {
        log_error("ingest: cannot start a writer or acker thread", LF_STR("consumer", c->r.name));
        atomic_store(c->x->stop, true);
    }
    pthread_mutex_lock(&c->mu);
    c->reader_done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (int w = 0; w < started; w++)
        pthread_join(th[w], NULL);
    pthread_mutex_lock(&c->mu);
    c->writers_done = true; /* the acker acks what is queued, then ends */
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (acking)
        pthread_join(acker, NULL);
    return NULL;
}

int scans_consume(const struct config *cfg, struct metrics_registry *reg, atomic_bool *stop)
{
    const struct config_stream *sc = &cfg->ingest.scans;
    static const char *const s1[] = {"stream"};
    struct scans_ctx x = {
        .cfg = cfg,
        .sc = sc,
        .stop = stop,
        .model = model_find("scan:model:result"),
        .upserted = metrics_counter(reg, "inventory_ingest_upserted_total",
                                    "Rows inserted or replaced by newer observations.", 1, s1),
        .skipped = metrics_counter(reg, "inventory_ingest_skipped_total",
                                   "Stale messages known so without the database (part of "
                                   "stale_total).",
                                   1, s1),
        .stale = metrics_counter(reg, "inventory_ingest_stale_total",
                                 "Valid messages not newer than what was stored (or than "
                                 "another message of the same batch).",
                                 1, s1),
    };
    if (!x.model)
        return 1;
    stream_metrics_init(&x.m, reg);
    x.newest = newest_new((size_t)sc->cache_entries);
    int n = sc->concurrency;
    struct consumer *cs = xcalloc((size_t)n, sizeof(*cs));
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    log_info("ingest: consuming", LF_STR("stream", sc->stream), LF_STR("group", sc->group),
             LF_INT("consumers", n), LF_INT("batch_size", sc->batch_size));
    for (int i = 0; i < n; i++) {
        struct consumer *c = &cs[i];
        c->x = &x;
        stream_reader_init(&c->r, cfg, sc, i, stop, &x.m);
        c->r.take = take;
        c->r.arg = c;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->nwriters = sc->writers;
        for (int w = 0; w < c->nwriters; w++) {
            c->writers[w].c = c;
            c->writers[w].w = w;
        }
        rds_conn_init(&c->ack_rds, &o, "ingest");
    }
    bool ran = stream_run_consumers(n, consumer_main, cs, sizeof(*cs), stop);
    for (int i = 0; i < n; i++) {
        struct consumer *c = &cs[i];
        rds_conn_release(&c->r.rds);
        for (int w = 0; w < c->nwriters; w++)
            if (c->writers[w].pg)
                PQfinish(c->writers[w].pg);
        rds_conn_release(&c->ack_rds);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    free(cs);
    newest_free(x.newest);
    log_info("ingest: stopped", LF_STR("stream", sc->stream));
    return ran ? 0 : 1;
}
