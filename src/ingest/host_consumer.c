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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

struct consumer {
    struct hosts_ctx *x;
    struct stream_reader r;
    PGconn *pg;
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

/* ---- payload tracker ---- */

/* Pipelines an XADD MAXLEN ~ max * of n field/value strings with their
 * lengths. */
static void xadd(redisContext *rc, const char *stream, const char *maxlen, const char *const *fv,
                 const size_t *lens, size_t n)
{
    const char *argv[16] = {"XADD", stream, "MAXLEN", "~", maxlen, "*"};
    size_t argl[16] = {4, strlen(stream), 6, 1, strlen(maxlen), 1};
    for (size_t i = 0; i < n && i + 6 < ARRAY_SIZE(argv); i++) {
        argv[i + 6] = fv[i];
        argl[i + 6] = lens[i];
    }
    redisAppendCommandArgv(rc, (int)(n + 6), argv, argl);
}

/* Statuses of a batch share its date and stream settings. */
struct tracker {
    const struct config *cfg;
    char date[48], maxlen[24];
    struct buf json;
};

static void tracker_init(struct tracker *t, const struct config *cfg)
{
    t->cfg = cfg;
    time_format_go(now_ms() * 1000, t->date, sizeof(t->date));
    snprintf(t->maxlen, sizeof(t->maxlen), "%d", cfg->hosts.payload_status_max);
    buf_init(&t->json, BUF_NOLIMIT);
}

static void put_json_str(struct buf *b, const char *s)
{
    if (buf_add_json_string(b, s, strlen(s)) < 0)
        abort(); /* no cap: cannot fail */
}

/* Pipelines one payload status (HBI's payload tracker message) for entry
 * i when it carries a request_id; returns the commands appended. */
static size_t append_status(struct tracker *t, redisContext *rc, const struct batch *b, size_t i,
                            const char *status, const char *msg)
{
    const struct host_msg *m = &b->msg[i];
    if (!t->cfg->hosts.payload_tracker || !m->request_id[0])
        return 0;
    struct buf *j = &t->json;
    buf_reset(j);
    buf_puts(j, "{\"service\":\"inventory\",\"request_id\":");
    put_json_str(j, m->request_id);
    buf_puts(j, ",\"status\":");
    put_json_str(j, status);
    buf_puts(j, ",\"date\":");
    put_json_str(j, t->date);
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
    xadd(rc, t->cfg->hosts.payload_status, t->maxlen, fv, lens, ARRAY_SIZE(fv));
    return 1;
}

/* received + processing for every valid entry; false on a Redis error. */
static bool track_received(struct consumer *c, redisContext *rc, const struct batch *b)
{
    struct tracker t;
    tracker_init(&t, c->x->cfg);
    size_t sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] != HOST_OK)
            continue;
        sent += append_status(&t, rc, b, i, "received", NULL);
        sent += append_status(&t, rc, b, i, "processing", NULL);
    }
    buf_release(&t.json);
    return stream_replies(c->r.name, rc, sent);
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
    freeReplyObject(b->reply);
    free(b);
}

/* ---- writing ---- */

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

/* Writes the valid entries: the whole batch in one transaction or, when
 * PostgreSQL refuses its data, one by one so that only the culprits are
 * dead-lettered. false when stopping (then nothing is acked). */
static bool write_batch(struct consumer *c, struct batch *b)
{
    b->res = xcalloc(b->nw + 1, sizeof(*b->res));
    int got = b->nw ? store(c, b, 0, b->nw, &b->res[0]) : 1;
    if (got < 0)
        return false;
    if (got == 1) {
        b->nres = b->nw ? 1 : 0;
        return true;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->why[i] != HOST_OK)
            continue;
        struct host_store_result *r = &b->res[b->nres];
        got = store(c, b, b->w_of[i], 1, r);
        if (got < 0)
            return false;
        if (got == 1) {
            b->nres++;
        } else {
            b->rejected[i] = true;
            buf_setf(&b->err[i], "the database refused the host (SQLSTATE %s)", r->sqlstate);
            memset(r, 0, sizeof(*r));
        }
    }
    return true;
}

/* ---- publishing ---- */

/* Pipelines the events of what one host_store wrote. */
static size_t append_events(struct consumer *c, redisContext *rc, const struct host_store_result *r)
{
    const struct config *cfg = c->x->cfg;
    const char *stream = c->x->sc->stream;
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%d", cfg->hosts.events_max);
    for (size_t k = 0; k < r->nhosts; k++) {
        const struct host_done *d = &r->hosts[k];
        const char *type = d->created ? "created" : "updated";
        const char *fv[] = {"type", type, "id", d->id, "org_id", d->org_id, "data", d->event};
        const size_t lens[] = {4, 7, 2, strlen(d->id), 6, strlen(d->org_id), 4, strlen(d->event)};
        xadd(rc, cfg->hosts.events, maxlen, fv, lens, ARRAY_SIZE(fv));
        metrics_inc(d->created ? c->x->created : c->x->updated, (const char *[]){stream}, 1);
    }
    return r->nhosts;
}

/* Events, statuses, dead letters and the ack of a written batch; false on
 * a Redis error (the batch stays pending and comes back). */
static bool publish(struct consumer *c, redisContext *rc, struct batch *b)
{
    const struct config_stream *sc = c->x->sc;
    size_t sent = 0;
    for (size_t k = 0; k < b->nres; k++)
        sent += append_events(c, rc, &b->res[k]);
    struct tracker t;
    tracker_init(&t, c->x->cfg);
    for (size_t i = 0; i < b->n; i++) {
        bool ok = b->why[i] == HOST_OK && !b->rejected[i];
        sent +=
            append_status(&t, rc, b, i, ok ? "success" : "error", ok ? NULL : buf_str(&b->err[i]));
        if (ok)
            continue;
        stream_append_dead_letter(rc, sc, b->ids[i], reason_of(b, i), buf_str(&b->err[i]),
                                  b->data[i], b->len[i]);
        sent++;
    }
    buf_release(&t.json);
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

/* A batch read (or reclaimed): validated, written, published and acked. */
static void take(void *arg, redisReply *reply, const redisReply *list, bool reclaimed)
{
    (void)reclaimed;
    struct consumer *c = arg;
    bool *keep = xcalloc(list->elements + 1, sizeof(*keep));
    size_t n = with_ids(list, keep);
    struct batch *b = n ? batch_new(c, reply, list, keep, n) : NULL;
    free(keep);
    if (!b) {
        freeReplyObject(reply);
        return;
    }
    redisContext *rc = rds_conn_get(&c->r.rds, c->x->stop);
    if (rc && track_received(c, rc, b) && write_batch(c, b) && publish(c, rc, b))
        count(c, b);
    else if (rc && !atomic_load(c->x->stop))
        rds_conn_broken(&c->r.rds); /* pending: redelivered or reclaimed */
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
    /* One consumer takes over, before any reads anything new. */
    if (n > 0)
        claim_from_dead(&cs[0]);
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
