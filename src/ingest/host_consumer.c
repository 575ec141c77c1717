/* The host ingress consumers (docs/hosts.md, Ingestion). Each consumer
 * reads a batch, validates every message, writes the valid ones with
 * host_store (de-duplication, one transaction), then, pipelined: the
 * created/updated events, payload statuses, dead letters of the invalid
 * ones and one XACK. Nothing is acked before the batch committed; a crash
 * after the commit redelivers the batch, which then matches the hosts it
 * created (no duplicates; its events come again as "updated"). At start,
 * a consumer first takes over what stopped consumers of its host left
 * pending, so that a restart resumes in stream order. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "core/jsonarena.h"
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

struct consumer;

struct hosts_ctx {
    const struct config *cfg;
    const struct config_stream *sc;
    atomic_bool *stop;
    struct stream_metrics m;
    struct metric *created, *updated, *deferred;
    /* Batches take their locks, and publish, in the order they were read. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t read_mu;   /* one XREADGROUP at a time, until its batch is queued */
    struct host_claims claims; /* what the batches in flight hold (store.h) */
    struct consumer *cs;
    int n;
};

/* One batch: the entries' verdicts, the writes of the valid ones and, once
 * written, what host_store returned. */
struct batch {
    redisReply *reply; /* owned: the entries point into it */
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
    struct host_store_result *res; /* one, or one per write after a refusal */
    size_t nres;
    struct json_arena *arena; /* the consumer's: holds the messages' trees */
};

/* The steps the batches of a process take in read order: the locks (and
 * claims) of the part written at once; every write, the deferred part
 * included; the events. */
enum step { STEP_LOCK, STEP_WRITE, STEP_PUBLISH, NSTEPS };

struct consumer {
    struct hosts_ctx *x;
    struct stream_reader r;
    PGconn *pg;
    struct buf cmds, json;   /* kept from batch to batch: no big frees */
    struct json_arena arena; /* the batch's message trees (core/jsonarena.h) */
    char events_max[24], status_max[24], dead_letter_max[24];
    bool todo[NSTEPS]; /* its batch has the step still to do (x->mu) */
    uint64_t first[2]; /* the stream id of its batch's first entry */
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

/* ---- locking in stream order ---- */

/* Consumers of a process read batches one after the other, but would take
 * their advisory locks in any order; batches that share a host would then
 * commit out of stream order, which matters to a host re-reported through
 * one ID fact before its first report was written. So a batch takes its
 * locks only when none read before it (its first entry id is smaller) is
 * still to take them. Batches that share no value then write in parallel.
 * Likewise a batch publishes its events only after the batches read
 * before it: a host's events are in the order of its writes. */

static void stream_id(const char *id, uint64_t v[2])
{
    char *end;
    v[0] = strtoull(id, &end, 10);
    v[1] = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
}

static bool older(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

static void queue_enter(struct consumer *c, const char *first_id)
{
    pthread_mutex_lock(&c->x->mu);
    stream_id(first_id, c->first);
    for (int k = 0; k < NSTEPS; k++)
        c->todo[k] = true;
    pthread_mutex_unlock(&c->x->mu);
}

/* Marks step k of c's batch done (every step when k is NSTEPS). */
static void step_done(struct consumer *c, enum step k)
{
    pthread_mutex_lock(&c->x->mu);
    for (int i = 0; i < NSTEPS; i++)
        if (i == (int)k || k == NSTEPS)
            c->todo[i] = false;
    pthread_cond_broadcast(&c->x->cv);
    pthread_mutex_unlock(&c->x->mu);
}

static void queue_leave(struct consumer *c)
{
    step_done(c, NSTEPS);
}

/* Waits until no batch read before c's has step k still to do. */
static void wait_turn(struct consumer *c, enum step k)
{
    struct hosts_ctx *x = c->x;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        bool earlier = false;
        for (int i = 0; i < x->n && c->todo[k]; i++) {
            const struct consumer *o = &x->cs[i];
            earlier |= o != c && o->todo[k] && older(o->first, c->first);
        }
        if (!earlier)
            break;
        pthread_cond_wait(&x->cv, &x->mu);
    }
    pthread_mutex_unlock(&x->mu);
}

/* host_store's gate: waits until no batch read earlier is to lock. */
static void my_turn(void *arg)
{
    wait_turn(arg, STEP_LOCK);
}

static void locked(void *arg)
{
    step_done(arg, STEP_LOCK);
}

/* The entries of list that have an id (keep[i]); their count. */
static size_t with_ids(const redisReply *list, bool *keep)
{
    size_t kept = 0;
    for (size_t i = 0; i < list->elements; i++) {
        keep[i] = stream_entry_id(list->element[i]) != NULL;
        kept += keep[i];
    }
    return kept;
}

/* ---- commands ---- */

/* A batch's commands are written as RESP into the consumer's buffer and
 * sent at once (no formatting per argument, no copy: send_commands). */
static void resp_count(struct buf *b, char kind, size_t n)
{
    buf_putc(b, kind);
    buf_put_i64(b, (int64_t)n);
    buf_put(b, "\r\n", 2);
}

static void resp_arg(struct buf *b, const char *s, size_t n)
{
    resp_count(b, '$', n);
    buf_put(b, s, n);
    buf_put(b, "\r\n", 2);
}

static void resp_str(struct buf *b, const char *s)
{
    resp_arg(b, s, strlen(s));
}

/* XADD stream MAXLEN ~ maxlen * and n field/value strings (lens) */
static void resp_xadd(struct buf *b, const char *stream, const char *maxlen, const char *const *fv,
                      const size_t *lens, size_t n)
{
    resp_count(b, '*', n + 6);
    resp_arg(b, "XADD", 4);
    resp_str(b, stream);
    resp_arg(b, "MAXLEN", 6);
    resp_arg(b, "~", 1);
    resp_str(b, maxlen);
    resp_arg(b, "*", 1);
    for (size_t i = 0; i < n; i++)
        resp_arg(b, fv[i], lens[i]);
}

/* Writes a pipeline of megabytes straight to the socket: hiredis would
 * copy it into its output buffer first (a fresh allocation, faulted in page
 * by page, each time). Its buffer holds nothing here (every earlier command
 * was sent and answered), so the replies come back in order. A failed or
 * timed out write (SO_SNDTIMEO, set by rds) breaks the connection. */
static bool write_all(redisContext *rc, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(rc->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Sends the n commands of c->cmds and reads their replies; false when one
 * failed. */
static bool send_commands(struct consumer *c, redisContext *rc, size_t n)
{
    bool sent = n == 0 || (rc->err == 0 && write_all(rc, c->cmds.ptr, c->cmds.len));
    buf_reset(&c->cmds);
    return sent && stream_replies(c->r.name, rc, n);
}

/* ---- payload tracker ---- */

static void put_json_str(struct buf *b, const char *s)
{
    if (buf_add_json_string(b, s, strlen(s)) < 0)
        abort(); /* no cap: cannot fail */
}

/* Appends one payload status (HBI's payload tracker message) of entry i
 * to c->cmds when it carries a request_id; returns the commands added. */
static size_t append_status(struct consumer *c, const struct batch *b, size_t i, const char *date,
                            const char *status, const char *msg)
{
    const struct config *cfg = c->x->cfg;
    const struct host_msg *m = &b->msg[i];
    if (!cfg->hosts.payload_tracker || !m->request_id[0])
        return 0;
    struct buf *j = &c->json;
    buf_reset(j);
    buf_puts(j, "{\"service\":\"inventory\",\"request_id\":");
    put_json_str(j, m->request_id);
    buf_puts(j, ",\"status\":");
    put_json_str(j, status);
    buf_puts(j, ",\"date\":");
    put_json_str(j, date);
    if (m->id.org_id[0]) {
        buf_puts(j, ",\"org_id\":");
        put_json_str(j, m->id.org_id);
    }
    if (msg) {
        buf_puts(j, ",\"status_msg\":");
        put_json_str(j, msg);
    }
    buf_putc(j, '}');
    const char *fv[] = {"request_id", m->request_id, "status", status, "data", j->ptr};
    const size_t lens[] = {10, strlen(m->request_id), 6, strlen(status), 4, j->len};
    resp_xadd(&c->cmds, cfg->hosts.payload_status, c->status_max, fv, lens, ARRAY_SIZE(fv));
    return 1;
}

/* The statuses' date: when the batch reached that step. */
static void status_date(char *date, size_t n)
{
    time_format_go(now_ms() * 1000, date, n);
}

/* received + processing for every valid entry; false on a Redis error. */
static bool track_received(struct consumer *c, redisContext *rc, const struct batch *b)
{
    char date[48];
    status_date(date, sizeof(date));
    size_t sent = 0;
    buf_reset(&c->cmds);
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] != HOST_OK)
            continue;
        sent += append_status(c, b, i, date, "received", NULL);
        sent += append_status(c, b, i, date, "processing", NULL);
    }
    return send_commands(c, rc, sent);
}

/* ---- the batch ---- */

/* A batch of the n entries of list (of reply, which it takes) that keep
 * marks, validated. */
static struct batch *batch_new(struct consumer *c, redisReply *reply, const redisReply *list,
                               const bool *keep, size_t n)
{
    size_t max = (size_t)c->x->sc->max_message_size;
    struct batch *b = xcalloc(1, sizeof(*b));
    b->reply = reply;
    b->n = n;
    b->ids = xcalloc(n + 1, sizeof(*b->ids));
    b->data = xcalloc(n + 1, sizeof(*b->data));
    b->len = xcalloc(n + 1, sizeof(*b->len));
    b->msg = xcalloc(n + 1, sizeof(*b->msg));
    b->why = xcalloc(n + 1, sizeof(*b->why));
    b->rejected = xcalloc(n + 1, sizeof(*b->rejected));
    b->err = xcalloc(n + 1, sizeof(*b->err));
    b->w = xcalloc(n + 1, sizeof(*b->w));
    b->w_of = xcalloc(n + 1, sizeof(*b->w_of));
    b->arena = &c->arena;
    json_arena_begin(b->arena);
    for (size_t e = 0, i = 0; e < list->elements && i < n; e++) {
        if (!keep[e])
            continue;
        const redisReply *entry = list->element[e];
        const char *data = b->data[i] = stream_entry_data(entry, &b->len[i]);
        buf_init(&b->err[i], 512);
        b->ids[i] = stream_entry_id(entry);
        if (!data) {
            b->why[i] = HOST_MISSING_FIELD;
            buf_setf(&b->err[i], "the entry has no data field");
        } else {
            b->why[i] = host_message_parse(data, b->len[i], max, &b->msg[i], &b->err[i]);
            if (b->why[i] == HOST_OK) {
                host_write_init(&b->w[b->nw], &b->msg[i].host, b->msg[i].request_id);
                b->w_of[i] = b->nw++;
            }
        }
        i++;
    }
    json_arena_end();
    return b;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->nres; i++)
        host_store_result_release(&b->res[i]);
    free(b->res);
    for (size_t i = 0; i < b->nw; i++)
        host_write_release(&b->w[i]);
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] == HOST_OK) {
            if (json_arena_active()) /* the trees go with the arena: no walk to free nothing */
                host_in_forget_json(&b->msg[i].host);
            host_msg_release(&b->msg[i]);
        }
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
    freeReplyObject(b->reply);
    json_arena_reset(b->arena);
    free(b);
}

/* ---- writing ---- */

/* The claims of a batch's failed attempts (store.h, failed): kept until
 * the batch is written, so that no batch read later writes a host they
 * share before a retry does. */
struct kept {
    struct host_claim **c;
    size_t n;
};

static void keep_failed(struct kept *k, struct host_store_result *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(out->failed); i++)
        if (out->failed[i]) {
            k->c = xrealloc(k->c, (k->n + 1) * sizeof(*k->c));
            k->c[k->n++] = out->failed[i];
            out->failed[i] = NULL;
        }
}

static void kept_end(struct kept *k)
{
    for (size_t i = 0; i < k->n; i++)
        host_claim_end(k->c[i]);
    free(k->c);
}

/* host_store_gated of w[0..n), retried with backoff while the failure is
 * transient. 1 committed, 0 refused for its data, -1 stopping. */
static int store(struct consumer *c, const struct host_write *w, size_t n,
                 const struct host_store_gate *gate, struct host_store_result *out,
                 struct kept *kept)
{
    const char *stream = c->x->sc->stream;
    int64_t wait = STREAM_RETRY_FIRST_MS;
    for (;;) {
        struct buf err;
        buf_init(&err, 2048);
        memset(out, 0, sizeof(*out));
        PGconn *pg = db(c);
        int64_t t0 = mono_ms();
        if (pg && host_store_gated(pg, w, n, gate, out, &err) == 0) {
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
            keep_failed(kept, out);
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

/* Writes the valid entries: the whole batch in one transaction, but for
 * the part that shares a value or a host with batches read earlier, which
 * waits until those are written and goes in a second one; or, when
 * PostgreSQL refuses the data, one by one, so that only the culprits are
 * dead-lettered. false when stopping (then nothing is acked). */
static bool write_batch(struct consumer *c, struct batch *b)
{
    b->res = xcalloc(b->nw + 2, sizeof(*b->res));
    if (b->nw == 0)
        return true;
    const struct host_store_gate split = {my_turn, locked, c, &c->x->claims};
    struct kept kept = {NULL, 0};
    struct host_store_result *first = &b->res[0];
    bool *todo = xcalloc(b->nw + 1, sizeof(*todo)); /* writes left for one by one */
    int got = store(c, b->w, b->nw, &split, first, &kept);
    if (got == 1) {
        b->nres = 1;
        if (first->ndeferred) {
            if (kept.n == 0) /* else its failed attempt's own claims may have deferred it */
                metrics_inc(c->x->deferred, (const char *[]){c->x->sc->stream},
                            (double)first->ndeferred);
            wait_turn(c, STEP_WRITE);
            struct host_write *w = xcalloc(first->ndeferred + 1, sizeof(*w));
            for (size_t k = 0; k < first->ndeferred; k++)
                w[k] = b->w[first->deferred[k]];
            got = store(c, w, first->ndeferred, NULL, &b->res[1], &kept);
            free(w);
            b->nres += got == 1;
            for (size_t k = 0; got == 0 && k < first->ndeferred; k++)
                todo[first->deferred[k]] = true;
        }
    } else if (got == 0) {
        wait_turn(c, STEP_WRITE);
        for (size_t i = 0; i < b->nw; i++)
            todo[i] = true;
    }
    for (size_t i = 0; got == 0 && i < b->n; i++) {
        if (b->why[i] != HOST_OK || !todo[b->w_of[i]])
            continue;
        struct host_store_result *r = &b->res[b->nres];
        int one = store(c, &b->w[b->w_of[i]], 1, NULL, r, &kept);
        if (one < 0) {
            got = -1;
        } else if (one == 1) {
            b->nres++;
        } else {
            b->rejected[i] = true;
            buf_setf(&b->err[i], "the database refused the host (SQLSTATE %s)", r->sqlstate);
            memset(r, 0, sizeof(*r));
        }
    }
    host_store_result_settle(first);
    kept_end(&kept);
    free(todo);
    return got >= 0;
}

/* ---- publishing ---- */

/* Appends the events of what one host_store wrote to c->cmds. */
static size_t append_events(struct consumer *c, const struct host_store_result *r)
{
    const struct config *cfg = c->x->cfg;
    const char *stream = c->x->sc->stream;
    for (size_t k = 0; k < r->nhosts; k++) {
        const struct host_done *d = &r->hosts[k];
        const char *type = d->created ? "created" : "updated";
        const char *fv[] = {"type", type, "id", d->id, "org_id", d->org_id, "data", d->event};
        const size_t lens[] = {4, 7, 2, strlen(d->id), 6, strlen(d->org_id), 4, strlen(d->event)};
        resp_xadd(&c->cmds, cfg->hosts.events, c->events_max, fv, lens, ARRAY_SIZE(fv));
        metrics_inc(d->created ? c->x->created : c->x->updated, (const char *[]){stream}, 1);
    }
    return r->nhosts;
}

/* Events, statuses, dead letters and the ack of a written batch, in one
 * pipeline; false on a Redis error (the batch stays pending and comes
 * back). */
static bool publish(struct consumer *c, redisContext *rc, struct batch *b)
{
    const struct config_stream *sc = c->x->sc;
    char date[48];
    status_date(date, sizeof(date));
    size_t sent = 0;
    buf_reset(&c->cmds);
    for (size_t k = 0; k < b->nres; k++)
        sent += append_events(c, &b->res[k]);
    for (size_t i = 0; i < b->n; i++) {
        bool ok = b->why[i] == HOST_OK && !b->rejected[i];
        const char *error = buf_str(&b->err[i]);
        sent += append_status(c, b, i, date, ok ? "success" : "error", ok ? NULL : error);
        if (ok)
            continue;
        const char *reason = reason_of(b, i), *data = b->data[i] ? b->data[i] : "";
        const char *fv[] = {"id", b->ids[i], "reason", reason, "error", error, "data", data};
        const size_t lens[] = {2, strlen(b->ids[i]), 6, strlen(reason),
                               5, strlen(error),     4, b->data[i] ? b->len[i] : 0};
        resp_xadd(&c->cmds, sc->dead_letter, c->dead_letter_max, fv, lens, ARRAY_SIZE(fv));
        sent++;
    }
    resp_count(&c->cmds, '*', b->n + 3);
    resp_arg(&c->cmds, "XACK", 4);
    resp_str(&c->cmds, sc->stream);
    resp_str(&c->cmds, sc->group);
    for (size_t i = 0; i < b->n; i++)
        resp_str(&c->cmds, b->ids[i]);
    return send_commands(c, rc, sent + 1);
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

/* Queues a batch as soon as it is read, before any later read is sent
 * (stream_reader.read_mu): a big batch still arriving must not be taken
 * over by a small one read after it. */
static void seen(void *arg, const redisReply *list)
{
    for (size_t i = 0; i < list->elements; i++) {
        const char *id = stream_entry_id(list->element[i]);
        if (id) {
            queue_enter(arg, id);
            return;
        }
    }
}

/* A batch read (or reclaimed): validated, written, published and acked. */
static void take(void *arg, redisReply *reply, const redisReply *list, bool reclaimed)
{
    struct consumer *c = arg;
    bool *keep = xcalloc(list->elements + 1, sizeof(*keep));
    size_t n = with_ids(list, keep);
    if (reclaimed) /* read ones were queued when read (seen) */
        seen(c, list);
    struct batch *b = n ? batch_new(c, reply, list, keep, n) : NULL;
    free(keep);
    if (!b) {
        freeReplyObject(reply);
        return;
    }
    redisContext *rc = rds_conn_get(&c->r.rds, c->x->stop);
    bool ok = rc && track_received(c, rc, b) && write_batch(c, b);
    step_done(c, STEP_WRITE);
    if (ok)
        wait_turn(c, STEP_PUBLISH);
    if (ok && publish(c, rc, b))
        count(c, b);
    else if (rc && !atomic_load(c->x->stop))
        rds_conn_broken(&c->r.rds); /* pending: redelivered or reclaimed */
    queue_leave(c);
    batch_free(b);
}

/* ---- taking over from stopped consumers ---- */

/* The host part of a consumer name "<host>-<pid>-<n>" (its length) and
 * its pid; false when the name has another form. */
static bool name_parts(const char *name, size_t *host_len, long *pid)
{
    const char *last = strrchr(name, '-');
    if (!last || last == name || !last[1] || strspn(last + 1, "0123456789") != strlen(last + 1))
        return false;
    const char *p = last - 1;
    while (p > name && *p >= '0' && *p <= '9')
        p--;
    if (p == name || *p != '-' || p + 1 == last)
        return false;
    *host_len = (size_t)(p - name);
    *pid = strtol(p + 1, NULL, 10);
    return true;
}

/* Whether a consumer of the group is a process of this host that is gone
 * (or ours by name, left by an earlier process with our pid). */
static bool dead_here(const struct consumer *c, const char *name)
{
    size_t mine_len, len;
    long mine_pid, pid;
    if (!name_parts(c->r.name, &mine_len, &mine_pid) || !name_parts(name, &len, &pid) ||
        len != mine_len || strncmp(name, c->r.name, len) != 0)
        return false;
    if (strcmp(name, c->r.name) == 0)
        return true;
    return pid != (long)getpid() && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static redisReply *command(struct consumer *c, redisContext *rc, int argc, const char **argv)
{
    struct buf err;
    buf_init(&err, 1024);
    redisReply *rep = rds_cmd(rc, &err, argc, argv, NULL);
    if (!rep)
        log_warn("ingest: redis call failed", LF_STR("consumer", c->r.name),
                 LF_STR("command", argv[0]), LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return rep;
}

/* Takes over the entries a dead consumer left pending, in stream order,
 * batch by batch (XPENDING of its ids, XCLAIM of those). */
static void claim_all(struct consumer *c, redisContext *rc, const char *dead)
{
    const struct config_stream *sc = c->x->sc;
    char count[16];
    snprintf(count, sizeof(count), "%d", sc->batch_size);
    size_t total = 0;
    while (!atomic_load(c->x->stop)) {
        const char *pend[] = {"XPENDING", sc->stream, sc->group, "-", "+", count, dead};
        redisReply *p = command(c, rc, (int)ARRAY_SIZE(pend), pend);
        if (!p || p->type != REDIS_REPLY_ARRAY || p->elements == 0) {
            if (p)
                freeReplyObject(p);
            break;
        }
        const char **argv = xcalloc(p->elements + 6, sizeof(*argv));
        const char *head[] = {"XCLAIM", sc->stream, sc->group, c->r.name, "0"};
        memcpy(argv, head, sizeof(head));
        int argc = (int)ARRAY_SIZE(head);
        for (size_t i = 0; i < p->elements; i++) {
            const redisReply *e = p->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
                e->element[0]->type == REDIS_REPLY_STRING)
                argv[argc++] = e->element[0]->str;
        }
        redisReply *got = command(c, rc, argc, argv);
        free(argv);
        freeReplyObject(p);
        if (!got || got->type != REDIS_REPLY_ARRAY) {
            if (got)
                freeReplyObject(got);
            break;
        }
        size_t n = got->elements;
        total += n;
        metrics_inc(c->x->m.reclaimed, (const char *[]){sc->stream}, (double)n);
        take(c, got, got, true); /* deleted entries are left out by XCLAIM */
    }
    if (total)
        log_info("ingest: took over the entries of a stopped consumer",
                 LF_STR("consumer", c->r.name), LF_STR("from", dead),
                 LF_INT("entries", (long long)total));
}

/* Before anything new is read: the pending entries of consumers of this
 * host whose process is gone are taken over at once (XINFO CONSUMERS), so
 * that a restarted process resumes where a crashed one stopped, in stream
 * order, rather than after claim_idle while newer entries are read (the
 * order matters to hosts re-reported through other facts). */
static void claim_from_dead(struct consumer *c)
{
    redisContext *rc = rds_conn_get(&c->r.rds, c->x->stop);
    const char *argv[] = {"XINFO", "CONSUMERS", c->x->sc->stream, c->x->sc->group};
    struct buf err;
    buf_init(&err, 1024);
    redisReply *rep = rc ? rds_cmd(rc, &err, (int)ARRAY_SIZE(argv), argv, NULL) : NULL;
    if (rc && !rep && !strstr(buf_str(&err), "NOGROUP") && !strstr(buf_str(&err), "no such key"))
        log_warn("ingest: redis call failed", LF_STR("consumer", c->r.name),
                 LF_STR("command", "XINFO"), LF_STR("error", buf_str(&err)));
    buf_release(&err);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *f = rep->element[i];
        const char *name = NULL;
        long long pending = 0;
        for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
            const char *key = f->element[k]->str;
            const redisReply *v = f->element[k + 1];
            if (key && strcmp(key, "name") == 0 && v->type == REDIS_REPLY_STRING)
                name = v->str;
            else if (key && strcmp(key, "pending") == 0 && v->type == REDIS_REPLY_INTEGER)
                pending = v->integer;
        }
        if (name && pending > 0 && dead_here(c, name))
            claim_all(c, rc, name);
    }
    if (rep)
        freeReplyObject(rep);
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
        .deferred = metrics_counter(reg, "inventory_hosts_deferred_total",
                                    "Valid messages written in a second transaction, after the "
                                    "batches read before theirs, with which they share a host.",
                                    1, s1),
    };
    stream_metrics_init(&x.m, reg);
    int n = sc->concurrency;
    struct consumer *cs = xcalloc((size_t)n, sizeof(*cs));
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv, NULL);
    pthread_mutex_init(&x.read_mu, NULL);
    host_claims_init(&x.claims);
    x.cs = cs;
    x.n = n;
    log_info("ingest: consuming", LF_STR("stream", sc->stream), LF_STR("group", sc->group),
             LF_INT("consumers", n), LF_INT("batch_size", sc->batch_size));
    for (int i = 0; i < n; i++) {
        cs[i].x = &x;
        stream_reader_init(&cs[i].r, cfg, sc, i, stop, &x.m);
        cs[i].r.take = take;
        cs[i].r.arg = &cs[i];
        cs[i].r.read_mu = &x.read_mu;
        cs[i].r.seen = seen;
        buf_init(&cs[i].cmds, BUF_NOLIMIT);
        buf_init(&cs[i].json, BUF_NOLIMIT);
        snprintf(cs[i].events_max, sizeof(cs[i].events_max), "%d", cfg->hosts.events_max);
        snprintf(cs[i].status_max, sizeof(cs[i].status_max), "%d", cfg->hosts.payload_status_max);
        snprintf(cs[i].dead_letter_max, sizeof(cs[i].dead_letter_max), "%d", sc->dead_letter_max);
    }
    /* One consumer takes over, before any reads anything new. */
    if (n > 0)
        claim_from_dead(&cs[0]);
    bool ran = stream_run_consumers(n, consumer_main, cs, sizeof(*cs), stop);
    for (int i = 0; i < n; i++) {
        buf_release(&cs[i].cmds);
        buf_release(&cs[i].json);
        json_arena_release(&cs[i].arena);
        rds_conn_release(&cs[i].r.rds);
        if (cs[i].pg)
            PQfinish(cs[i].pg);
    }
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.cv);
    pthread_mutex_destroy(&x.read_mu);
    host_claims_destroy(&x.claims);
    free(cs);
    log_info("ingest: stopped", LF_STR("stream", sc->stream));
    return ran ? 0 : 1;
}
