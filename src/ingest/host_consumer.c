/* The host ingress consumers (docs/hosts.md, Ingestion). Each consumer
 * reads a batch, validates every message, writes the valid ones with
 * host_store (de-duplication, one transaction), then, pipelined: the
 * created/updated events, payload statuses, dead letters of the invalid
 * ones and one XACK. Nothing is acked before the batch committed; a crash
 * after the commit redelivers the batch, which then matches the hosts it
 * created (no duplicates; its events come again as "updated"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/util.h"
#include "db/pg.h"
#include "hosts/host.h"
#include "hosts/store.h"
#include "ingest/hosts.h"
#include "ingest/stream.h"

/* A message PostgreSQL refused on its own (the batch was split to find
 * it): dead-lettered with this reason. */
#define REJECTED "rejected"

struct hosts_ctx {
    const struct config *cfg;
    const struct config_stream *sc;
    atomic_bool *stop;
    struct stream_metrics m;
    struct metric *created, *updated;
};

struct consumer {
    struct hosts_ctx *x;
    struct stream_reader r;
    PGconn *pg;
};

/* One batch: the entries' verdicts and the writes of the valid ones. */
struct batch {
    size_t n;
    const char **ids;
    const char **data; /* the entries' data fields (in the Redis reply) */
    size_t *len;
    struct host_msg *msg;
    enum host_invalid *why;
    bool *rejected; /* valid, but refused by PostgreSQL */
    struct buf *err;
    struct host_write *w;
    size_t *w_of; /* entry -> write index, valid entries only */
    size_t nw;
};

static PGconn *db(struct consumer *c)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return c->pg;
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    struct buf err;
    buf_init(&err, 2048);
    const struct config *cfg = c->x->cfg;
    if (pg_connect(cfg->database.dsn, cfg->database.connect_timeout_ms, &c->pg, &err) < 0)
        log_warn("ingest: database connection failed", LF_STR("consumer", c->r.name),
                 LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return c->pg;
}

static const char *reason_of(const struct batch *b, size_t i)
{
    return b->rejected[i] ? REJECTED : host_invalid_name(b->why[i]);
}

/* ---- payload tracker ---- */

/* Pipelines one payload status (HBI's payload tracker message) for entry
 * i when it carries a request_id; returns the commands appended. */
static size_t append_status(struct consumer *c, redisContext *rc, const struct batch *b, size_t i,
                            const char *status, const char *msg)
{
    const struct config *cfg = c->x->cfg;
    const struct host_msg *m = &b->msg[i];
    if (!cfg->hosts.payload_tracker || !m->request_id[0])
        return 0;
    char date[40];
    time_format_go(now_ms() * 1000, date, sizeof(date));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "service", "inventory", "request_id",
                          m->request_id, "status", status, "date", date);
    if (m->id.org_id[0])
        json_object_set_new(o, "org_id", json_string(m->id.org_id));
    if (msg)
        json_object_set_new(o, "status_msg", json_string(msg));
    char *data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    const char *fv[] = {"request_id", m->request_id, "status", status, "data", data};
    stream_append_xadd(rc, cfg->hosts.payload_status, cfg->hosts.payload_status_max, fv,
                       ARRAY_SIZE(fv));
    free(data);
    return 1;
}

/* received + processing for every valid entry; false on a Redis error. */
static bool track_received(struct consumer *c, redisContext *rc, const struct batch *b)
{
    size_t sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] != HOST_OK)
            continue;
        sent += append_status(c, rc, b, i, "received", NULL);
        sent += append_status(c, rc, b, i, "processing", NULL);
    }
    return stream_replies(c->r.name, rc, sent);
}

/* ---- the batch ---- */

static struct batch *batch_new(struct consumer *c, const redisReply *list)
{
    size_t n = list->elements, max = (size_t)c->x->sc->max_message_size;
    struct batch *b = xcalloc(1, sizeof(*b));
    b->n = n;
    b->ids = xcalloc(n, sizeof(*b->ids));
    b->data = xcalloc(n, sizeof(*b->data));
    b->len = xcalloc(n, sizeof(*b->len));
    b->msg = xcalloc(n, sizeof(*b->msg));
    b->why = xcalloc(n, sizeof(*b->why));
    b->rejected = xcalloc(n, sizeof(*b->rejected));
    b->err = xcalloc(n, sizeof(*b->err));
    b->w = xcalloc(n, sizeof(*b->w));
    b->w_of = xcalloc(n, sizeof(*b->w_of));
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = list->element[i];
        const char *data = b->data[i] = stream_entry_data(e, &b->len[i]);
        buf_init(&b->err[i], 512);
        b->ids[i] = stream_entry_id(e);
        if (!data) {
            b->why[i] = HOST_MISSING_FIELD;
            buf_setf(&b->err[i], "the entry has no data field");
            continue;
        }
        b->why[i] = host_message_parse(data, b->len[i], max, &b->msg[i], &b->err[i]);
        if (b->why[i] == HOST_OK) {
            host_write_init(&b->w[b->nw], &b->msg[i].host, b->msg[i].request_id);
            b->w_of[i] = b->nw++;
        }
    }
    return b;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->nw; i++)
        host_write_release(&b->w[i]);
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] == HOST_OK)
            host_msg_release(&b->msg[i]);
        buf_release(&b->err[i]);
    }
    free(b->ids);
    free(b->data);
    free(b->len);
    free(b->msg);
    free(b->why);
    free(b->rejected);
    free(b->err);
    free(b->w);
    free(b->w_of);
    free(b);
}

/* host_store of writes [from, from + n), retried with backoff while the
 * failure is transient. 1 committed, 0 refused for its data, -1 stopping. */
static int store(struct consumer *c, struct batch *b, size_t from, size_t n,
                 struct host_store_result *out)
{
    const char *stream = c->x->sc->stream;
    int64_t wait = STREAM_RETRY_FIRST_MS;
    for (;;) {
        struct buf err;
        buf_init(&err, 2048);
        memset(out, 0, sizeof(*out));
        PGconn *pg = db(c);
        int64_t t0 = mono_ms();
        if (pg && host_store(pg, b->w + from, n, out, &err) == 0) {
            metrics_observe(c->x->m.commit, (const char *[]){stream},
                            (double)(mono_ms() - t0) / 1e3);
            buf_release(&err);
            return 1;
        }
        bool refused = pg && host_store_rejected(out);
        metrics_inc(c->x->m.db_errors, (const char *[]){stream}, 1);
        if (pg)
            log_warn(refused ? "ingest: batch refused by the database"
                             : "ingest: batch not committed, retrying",
                     LF_STR("consumer", c->r.name), LF_INT("hosts", (long long)n),
                     LF_STR("sqlstate", out->sqlstate), LF_INT("retry_ms", wait),
                     LF_STR("error", buf_str(&err)));
        buf_release(&err);
        if (pg) { /* host_store ran: free what it left, keep why for the dead letter */
            char state[sizeof(out->sqlstate)];
            memcpy(state, out->sqlstate, sizeof(state));
            host_store_result_release(out);
            memcpy(out->sqlstate, state, sizeof(state));
        }
        if (refused)
            return 0;
        if (!stream_pause(c->x->stop, wait))
            return -1;
        wait = wait * 2 > STREAM_RETRY_MAX_MS ? STREAM_RETRY_MAX_MS : wait * 2;
    }
}

/* Pipelines the events of what one host_store wrote. */
static size_t append_events(struct consumer *c, redisContext *rc, const struct host_store_result *r)
{
    const struct config *cfg = c->x->cfg;
    const char *stream = c->x->sc->stream;
    for (size_t k = 0; k < r->nhosts; k++) {
        const struct host_done *d = &r->hosts[k];
        const char *type = d->created ? "created" : "updated";
        const char *fv[] = {"type", type, "id", d->id, "org_id", d->org_id, "data", d->event};
        stream_append_xadd(rc, cfg->hosts.events, cfg->hosts.events_max, fv, ARRAY_SIZE(fv));
        metrics_inc(d->created ? c->x->created : c->x->updated, (const char *[]){stream}, 1);
    }
    return r->nhosts;
}

/* Writes the valid entries: the whole batch in one transaction or, when
 * PostgreSQL refuses its data, one by one so that only the culprits are
 * dead-lettered. Events are pipelined on rc. -1 when stopping (nothing
 * is acked), else the commands appended. */
static long write_batch(struct consumer *c, redisContext *rc, struct batch *b)
{
    struct host_store_result r;
    int got = b->nw ? store(c, b, 0, b->nw, &r) : 1;
    if (got < 0)
        return -1;
    if (got == 1) {
        size_t sent = b->nw ? append_events(c, rc, &r) : 0;
        if (b->nw)
            host_store_result_release(&r);
        return (long)sent;
    }
    size_t sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] != HOST_OK)
            continue;
        got = store(c, b, b->w_of[i], 1, &r);
        if (got < 0)
            return -1;
        if (got == 1) {
            sent += append_events(c, rc, &r);
            host_store_result_release(&r);
        } else {
            b->rejected[i] = true;
            buf_setf(&b->err[i], "the database refused the host (SQLSTATE %s)", r.sqlstate);
        }
    }
    return (long)sent;
}

/* Statuses, dead letters and the ack of a written batch; false on a Redis
 * error (the batch stays pending and comes back). */
static bool finish(struct consumer *c, redisContext *rc, struct batch *b, size_t pipelined)
{
    const struct config_stream *sc = c->x->sc;
    size_t sent = pipelined;
    for (size_t i = 0; i < b->n; i++) {
        bool ok = b->why[i] == HOST_OK && !b->rejected[i];
        sent +=
            append_status(c, rc, b, i, ok ? "success" : "error", ok ? NULL : buf_str(&b->err[i]));
        if (ok)
            continue;
        stream_append_dead_letter(rc, sc, b->ids[i], reason_of(b, i), buf_str(&b->err[i]),
                                  b->data[i], b->len[i]);
        sent++;
    }
    stream_append_ack(rc, sc, b->ids, b->n);
    return stream_replies(c->r.name, rc, sent + 1);
}

static void count(struct consumer *c, const struct batch *b)
{
    const char *stream = c->x->sc->stream;
    metrics_observe(c->x->m.batch, (const char *[]){stream}, (double)b->n);
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] == HOST_OK && !b->rejected[i])
            continue;
        metrics_inc(c->x->m.invalid, (const char *[]){stream, reason_of(b, i)}, 1);
        log_debug("ingest: invalid message dead-lettered", LF_STR("consumer", c->r.name),
                  LF_STR("id", b->ids[i]), LF_STR("reason", reason_of(b, i)),
                  LF_STR("error", buf_str(&b->err[i])));
    }
    metrics_inc(c->x->m.consumed, (const char *[]){stream}, (double)b->n);
}

/* A batch read (or reclaimed): validated, written, acked. */
static void take(void *arg, redisReply *reply, const redisReply *list, bool reclaimed)
{
    (void)reclaimed;
    struct consumer *c = arg;
    struct batch *b = batch_new(c, list);
    redisContext *rc = rds_conn_get(&c->r.rds, c->x->stop);
    bool ok = rc && track_received(c, rc, b);
    long events = ok ? write_batch(c, rc, b) : -1;
    if (events >= 0 && finish(c, rc, b, (size_t)events))
        count(c, b);
    else if (rc && !atomic_load(c->x->stop))
        rds_conn_broken(&c->r.rds); /* pending: redelivered or reclaimed */
    batch_free(b);
    freeReplyObject(reply);
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    stream_read_loop(&c->r);
    return NULL;
}

int hosts_consume(const struct config *cfg, struct metrics_registry *reg, atomic_bool *stop)
{
    const struct config_stream *sc = &cfg->ingest.hosts;
    static const char *const s1[] = {"stream"};
    struct hosts_ctx x = {
        .cfg = cfg,
        .sc = sc,
        .stop = stop,
        .created = metrics_counter(reg, "inventory_hosts_created_total",
                                   "Hosts created by ingested messages.", 1, s1),
        .updated =
            metrics_counter(reg, "inventory_hosts_updated_total",
                            "Host updates by ingested messages (one per host and batch).", 1, s1),
    };
    stream_metrics_init(&x.m, reg);
    int n = sc->concurrency;
    struct consumer *cs = xcalloc((size_t)n, sizeof(*cs));
    pthread_t *th = xcalloc((size_t)n, sizeof(*th));
    log_info("ingest: consuming", LF_STR("stream", sc->stream), LF_STR("group", sc->group),
             LF_INT("consumers", n), LF_INT("batch_size", sc->batch_size));
    for (int i = 0; i < n; i++) {
        cs[i].x = &x;
        stream_reader_init(&cs[i].r, cfg, sc, i, stop, &x.m);
        cs[i].r.take = take;
        cs[i].r.arg = &cs[i];
    }
    int started = 0;
    while (started < n && pthread_create(&th[started], NULL, consumer_main, &cs[started]) == 0)
        started++;
    if (started < n) {
        log_error("ingest: cannot start a consumer thread");
        atomic_store(stop, true);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        rds_conn_release(&cs[i].r.rds);
        if (cs[i].pg)
            PQfinish(cs[i].pg);
    }
    free(cs);
    free(th);
    log_info("ingest: stopped", LF_STR("stream", sc->stream));
    return started == n ? 0 : 1;
}
