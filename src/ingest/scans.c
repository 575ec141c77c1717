/* Scan results from a Redis Stream into scan_result (docs/ingest.md). */
#include "ingest/scans.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "db/model.h"
#include "db/pg.h"

#define TS_MAX         253402300799LL /* 9999-12-31T23:59:59Z */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS   5000

static const char *const reason_names[SCAN_NREASONS] = {
    "ok",        "json",         "missing_field", "ip",       "port",     "service",
    "timestamp", "data_version", "base64",        "encoding", "oversized"};

const char *scan_invalid_name(enum scan_invalid r)
{
    return r < SCAN_NREASONS ? reason_names[r] : "unknown";
}

void scan_msg_release(struct scan_msg *m)
{
    free(m->response);
    memset(m, 0, sizeof(*m));
}

/* ---- validation ---- */

static enum scan_invalid fail(struct buf *detail, enum scan_invalid r, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static enum scan_invalid fail(struct buf *detail, enum scan_invalid r, const char *fmt, ...)
{
    if (detail) {
        char text[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        buf_setf(detail, "%s", text);
    }
    return r;
}

int scan_ip_canonical(const char *in, char *out, size_t n)
{
    unsigned char addr[16];
    int af = strchr(in, ':') ? AF_INET6 : AF_INET;
    return strlen(in) <= 45 && inet_pton(af, in, addr) == 1 &&
                   inet_ntop(af, addr, out, (socklen_t)n)
               ? 0
               : -1;
}

static enum scan_invalid parse_ip(json_t *v, struct scan_msg *m, struct buf *detail)
{
    const char *s = json_string_value(v);
    if (!s || memchr(s, 0, json_string_length(v)))
        return fail(detail, SCAN_IP, "ip: expected an IPv4 or IPv6 address");
    if (scan_ip_canonical(s, m->ip, sizeof(m->ip)) < 0)
        return fail(detail, SCAN_IP, "ip: \"%.45s\" is not an IPv4 or IPv6 address", s);
    return SCAN_OK;
}

static enum scan_invalid parse_service(json_t *v, struct scan_msg *m, struct buf *detail)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n > SCAN_SERVICE_MAX)
        return fail(detail, SCAN_SERVICE, "service: expected a string of 1..%d bytes",
                    SCAN_SERVICE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(detail, SCAN_SERVICE, "service: control character at byte %zu", i);
    memcpy(m->service, s, n + 1);
    return SCAN_OK;
}

/* The response of data_version 1 (base64 of UTF-8) or 2 (a JSON string). */
static enum scan_invalid parse_response(json_t *data, int version, struct scan_msg *m,
                                        struct buf *detail)
{
    const char *field = version == 1 ? "response_bytes_utf8" : "response_str";
    json_t *v = json_is_object(data) ? json_object_get(data, field) : NULL;
    if (!v)
        return fail(detail, SCAN_MISSING_FIELD, "missing data.%s (data_version %d)", field,
                    version);
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (version == 1) {
        if (!s)
            return fail(detail, SCAN_BASE64, "data.%s: expected a base64 string", field);
        unsigned char *out = xmalloc(n / 4 * 3 + 1);
        long len = base64_decode(s, n, out);
        if (len < 0) {
            free(out);
            return fail(detail, SCAN_BASE64, "data.%s: not canonical base64", field);
        }
        if (!utf8_valid(out, (size_t)len) || memchr(out, 0, (size_t)len)) {
            free(out);
            return fail(detail, SCAN_ENCODING, "data.%s: decoded bytes are not UTF-8 text", field);
        }
        out[len] = '\0';
        m->response = (char *)out;
        m->response_len = (size_t)len;
        return SCAN_OK;
    }
    /* jansson has checked the UTF-8; only NUL (\u0000) is left to refuse. */
    if (!s || memchr(s, 0, n))
        return fail(detail, SCAN_ENCODING, "data.%s: expected text without NUL", field);
    m->response = xstrdup(s);
    m->response_len = n;
    return SCAN_OK;
}

enum scan_invalid scan_parse(const char *data, size_t len, size_t max, struct scan_msg *out,
                             struct buf *detail)
{
    memset(out, 0, sizeof(*out));
    if (!data)
        return fail(detail, SCAN_JSON, "entry without a data field");
    if (len > max)
        return fail(detail, SCAN_OVERSIZED, "%zu bytes, over the limit of %zu", len, max);
    json_error_t jerr;
    /* NUL escapes are let through to be refused as "encoding", by field. */
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return fail(detail, SCAN_JSON, "%s", o ? "not a JSON object" : jerr.text);
    }
    static const char *const required[] = {"ip",        "port",         "service",
                                           "timestamp", "data_version", "data"};
    enum scan_invalid r = SCAN_OK;
    for (size_t i = 0; i < ARRAY_SIZE(required) && r == SCAN_OK; i++)
        if (!json_object_get(o, required[i]))
            r = fail(detail, SCAN_MISSING_FIELD, "missing field \"%s\"", required[i]);
    json_t *port = json_object_get(o, "port"), *ts = json_object_get(o, "timestamp");
    json_t *ver = json_object_get(o, "data_version");
    if (r == SCAN_OK)
        r = parse_ip(json_object_get(o, "ip"), out, detail);
    if (r == SCAN_OK && (!json_is_integer(port) || json_integer_value(port) < 1 ||
                         json_integer_value(port) > 65535))
        r = fail(detail, SCAN_PORT, "port: expected an integer in 1..65535");
    if (r == SCAN_OK)
        r = parse_service(json_object_get(o, "service"), out, detail);
    if (r == SCAN_OK &&
        (!json_is_integer(ts) || json_integer_value(ts) < 0 || json_integer_value(ts) > TS_MAX))
        r = fail(detail, SCAN_TIMESTAMP, "timestamp: expected Unix seconds in 0..%lld",
                 (long long)TS_MAX);
    if (r == SCAN_OK &&
        (!json_is_integer(ver) || (json_integer_value(ver) != 1 && json_integer_value(ver) != 2)))
        r = fail(detail, SCAN_DATA_VERSION, "data_version: expected 1 or 2");
    if (r == SCAN_OK) {
        out->port = (int)json_integer_value(port);
        out->ts = (int64_t)json_integer_value(ts);
        r = parse_response(json_object_get(o, "data"), (int)json_integer_value(ver), out, detail);
    }
    json_decref(o);
    if (r != SCAN_OK)
        scan_msg_release(out);
    return r;
}

/* ---- the consumers ---- */

/* What the consumer threads share: configuration, stop flag, metrics. */
struct scans_ctx {
    const struct config *cfg;
    const struct config_stream *sc;
    atomic_bool *stop;
    const struct model_def *model;
    struct metric *consumed, *upserted, *stale, *invalid, *batch, *commit, *db_errors, *reclaimed,
        *length, *pending, *lag;
};

struct consumer {
    struct scans_ctx *x;
    char name[200];
    struct rds_conn rds;
    PGconn *pg;
    struct model_batch mb;
    int64_t next_claim_ms;
    /* The batch in hand: entries of one reply, their verdicts. */
    redisReply **entries;
    size_t n, cap;
    enum scan_invalid *why;
    struct buf *details;
};

static void sleep_ms(int64_t ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Sleeps up to ms in small steps; false once stopping. */
static bool pause_unless_stopped(atomic_bool *stop, int64_t ms)
{
    for (int64_t left = ms; left > 0 && !atomic_load(stop); left -= 50)
        sleep_ms(left < 50 ? left : 50);
    return !atomic_load(stop);
}

/* The entry's data field (and its length), or NULL. */
static const char *entry_data(const redisReply *e, size_t *len)
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

static const char *entry_id(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
                   e->element[0]->type == REDIS_REPLY_STRING
               ? e->element[0]->str
               : NULL;
}

/* Takes the entries of a reply's entry list into the batch (borrowed from
 * the reply, which the caller keeps until the batch is acked). */
static void take_entries(struct consumer *c, redisReply *list)
{
    c->n = 0;
    if (!list || list->type != REDIS_REPLY_ARRAY)
        return;
    if (list->elements > c->cap) {
        c->cap = list->elements;
        c->entries = xrealloc(c->entries, c->cap * sizeof(*c->entries));
        c->why = xrealloc(c->why, c->cap * sizeof(*c->why));
        c->details = xrealloc(c->details, c->cap * sizeof(*c->details));
    }
    for (size_t i = 0; i < list->elements; i++)
        if (entry_id(list->element[i]))
            c->entries[c->n++] = list->element[i];
}

/* Validates every entry and stages the valid ones; the number staged. */
static size_t stage(struct consumer *c)
{
    size_t valid = 0;
    size_t max = (size_t)c->x->sc->max_message_size;
    for (size_t i = 0; i < c->n; i++) {
        size_t len = 0;
        const char *data = entry_data(c->entries[i], &len);
        struct scan_msg m;
        buf_init(&c->details[i], 512);
        c->why[i] = scan_parse(data, len, max, &m, &c->details[i]);
        if (c->why[i] != SCAN_OK)
            continue;
        char port[16], when[32];
        snprintf(port, sizeof(port), "%d", m.port);
        time_t t = (time_t)m.ts;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        const char *row[] = {m.ip, port, m.service, when, m.response};
        if (model_batch_add(&c->mb, row) == 0)
            valid++;
        else
            c->why[i] = SCAN_OVERSIZED; /* cannot happen below the batch cap */
        scan_msg_release(&m);
    }
    return valid;
}

static void release_details(struct consumer *c)
{
    for (size_t i = 0; i < c->n; i++)
        buf_release(&c->details[i]);
}

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
        log_warn("ingest: database connection failed", LF_STR("consumer", c->name),
                 LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return c->pg;
}

/* Upserts the staged rows; retried with backoff until it commits. false
 * when stopping first (the entries stay pending). */
static bool commit(struct consumer *c, long long *affected)
{
    const char *stream = c->x->sc->stream;
    int64_t wait = RETRY_FIRST_MS;
    for (int attempt = 0;; attempt++) {
        if (attempt) {
            /* model_batch_flush emptied the batch: stage it again. */
            release_details(c);
            stage(c);
        }
        struct buf err;
        buf_init(&err, 2048);
        PGconn *pg = db(c);
        int64_t t0 = mono_ms();
        int rc = pg ? model_batch_flush(&c->mb, pg, affected, &err) : -1;
        if (rc == 0) {
            metrics_observe(c->x->commit, (const char *[]){stream}, (double)(mono_ms() - t0) / 1e3);
            buf_release(&err);
            return true;
        }
        metrics_inc(c->x->db_errors, (const char *[]){stream}, 1);
        if (pg)
            log_warn("ingest: batch not committed, retrying", LF_STR("consumer", c->name),
                     LF_INT("entries", (long long)c->n), LF_INT("retry_ms", wait),
                     LF_STR("error", buf_str(&err)));
        buf_release(&err);
        if (!pause_unless_stopped(c->x->stop, wait))
            return false;
        wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
    }
}

/* Dead-letters the invalid entries and acks the whole batch, pipelined.
 * false on a Redis error (the entries stay pending and come back). */
static bool ack(struct consumer *c, redisContext *rc)
{
    const struct config_stream *sc = c->x->sc;
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%d", sc->dead_letter_max);
    size_t sent = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->why[i] == SCAN_OK)
            continue;
        size_t len = 0;
        const char *data = entry_data(c->entries[i], &len);
        const char *argv[] = {"XADD",   sc->dead_letter,
                              "MAXLEN", "~",
                              maxlen,   "*",
                              "id",     entry_id(c->entries[i]),
                              "reason", scan_invalid_name(c->why[i]),
                              "error",  buf_str(&c->details[i]),
                              "data",   data ? data : ""};
        size_t lens[ARRAY_SIZE(argv)];
        for (size_t k = 0; k < ARRAY_SIZE(argv); k++)
            lens[k] = strlen(argv[k]);
        lens[ARRAY_SIZE(argv) - 1] = data ? len : 0;
        redisAppendCommandArgv(rc, (int)ARRAY_SIZE(argv), argv, lens);
        sent++;
    }
    const char **argv = xcalloc(c->n + 3, sizeof(*argv));
    argv[0] = "XACK";
    argv[1] = sc->stream;
    argv[2] = sc->group;
    for (size_t i = 0; i < c->n; i++)
        argv[3 + i] = entry_id(c->entries[i]);
    redisAppendCommandArgv(rc, (int)(c->n + 3), argv, NULL);
    free(argv);
    bool ok = true;
    for (size_t i = 0; i <= sent; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
            ok = false;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            log_error("ingest: redis refused", LF_STR("consumer", c->name),
                      LF_STR("error", r->str));
            ok = false;
        }
        freeReplyObject(r);
    }
    return ok;
}

/* One batch from validation to ack; false when stopping mid-way or after
 * a Redis error (then the caller reconnects). */
static bool process(struct consumer *c, redisContext *rc, redisReply *list)
{
    const char *stream = c->x->sc->stream;
    take_entries(c, list);
    if (c->n == 0)
        return true;
    size_t valid = stage(c);
    long long affected = 0;
    bool ok = true;
    if (valid && !commit(c, &affected))
        ok = false;
    if (ok)
        ok = ack(c, rc);
    if (ok) {
        metrics_inc(c->x->upserted, (const char *[]){stream}, (double)affected);
        metrics_inc(c->x->stale, (const char *[]){stream}, (double)((long long)valid - affected));
        metrics_observe(c->x->batch, (const char *[]){stream}, (double)c->n);
        for (size_t i = 0; i < c->n; i++)
            if (c->why[i] != SCAN_OK) {
                metrics_inc(c->x->invalid, (const char *[]){stream, scan_invalid_name(c->why[i])},
                            1);
                log_debug("ingest: invalid message dead-lettered", LF_STR("consumer", c->name),
                          LF_STR("id", entry_id(c->entries[i])),
                          LF_STR("reason", scan_invalid_name(c->why[i])),
                          LF_STR("error", buf_str(&c->details[i])));
            }
        log_debug("ingest: batch done", LF_STR("consumer", c->name),
                  LF_INT("entries", (long long)c->n), LF_INT("valid", (long long)valid),
                  LF_INT("upserted", affected));
        /* Last, so that a reader seeing it counted sees the rest too. */
        metrics_inc(c->x->consumed, (const char *[]){stream}, (double)c->n);
    }
    release_details(c);
    c->n = 0;
    return ok;
}

static redisReply *cmd(struct consumer *c, redisContext *rc, int argc, const char **argv)
{
    struct buf err;
    buf_init(&err, 1024);
    redisReply *r = rds_cmd(rc, &err, argc, argv, NULL);
    if (!r)
        log_warn("ingest: redis call failed", LF_STR("consumer", c->name),
                 LF_STR("command", argv[0]), LF_STR("error", buf_str(&err)));
    buf_release(&err);
    return r;
}

/* XGROUP CREATE ... 0 MKSTREAM, tolerating an existing group. */
static bool ensure_group(struct consumer *c, redisContext *rc)
{
    const struct config_stream *sc = c->x->sc;
    const char *argv[] = {"XGROUP", "CREATE", sc->stream, sc->group, "0", "MKSTREAM"};
    struct buf err;
    buf_init(&err, 1024);
    redisReply *r = rds_cmd(rc, &err, (int)ARRAY_SIZE(argv), argv, NULL);
    bool ok = r || strstr(buf_str(&err), "BUSYGROUP");
    if (!ok)
        log_warn("ingest: cannot create the consumer group", LF_STR("consumer", c->name),
                 LF_STR("error", buf_str(&err)));
    if (r)
        freeReplyObject(r);
    buf_release(&err);
    return ok;
}

/* Lag gauges from XINFO GROUPS and XLEN. */
static void observe_lag(struct consumer *c, redisContext *rc)
{
    const struct config_stream *sc = c->x->sc;
    const char *xlen[] = {"XLEN", sc->stream};
    redisReply *r = cmd(c, rc, 2, xlen);
    if (r && r->type == REDIS_REPLY_INTEGER)
        metrics_set(c->x->length, (const char *[]){sc->stream}, (double)r->integer);
    if (r)
        freeReplyObject(r);
    const char *info[] = {"XINFO", "GROUPS", sc->stream};
    r = cmd(c, rc, 3, info);
    for (size_t g = 0; r && r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
        const redisReply *f = r->element[g];
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
            metrics_set(c->x->pending, (const char *[]){sc->stream, sc->group}, (double)pending);
        if (mine && lag >= 0)
            metrics_set(c->x->lag, (const char *[]){sc->stream, sc->group}, (double)lag);
    }
    if (r)
        freeReplyObject(r);
}

/* Takes over entries that dead (or stuck) consumers left pending longer
 * than claim_idle, batch by batch; false after a Redis error. */
static bool reclaim(struct consumer *c, redisContext *rc)
{
    const struct config_stream *sc = c->x->sc;
    char idle[24], count[16], cursor[64] = "0-0";
    snprintf(idle, sizeof(idle), "%lld", (long long)sc->claim_idle_ms);
    snprintf(count, sizeof(count), "%d", sc->batch_size);
    for (int rounds = 0; rounds < 1000 && !atomic_load(c->x->stop); rounds++) {
        const char *argv[] = {"XAUTOCLAIM", sc->stream, sc->group, c->name,
                              idle,         cursor,     "COUNT",   count};
        redisReply *r = cmd(c, rc, (int)ARRAY_SIZE(argv), argv);
        if (!r)
            return false;
        bool ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING;
        if (ok) {
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            size_t got = r->element[1]->type == REDIS_REPLY_ARRAY ? r->element[1]->elements : 0;
            if (got) {
                metrics_inc(c->x->reclaimed, (const char *[]){sc->stream}, (double)got);
                log_info("ingest: reclaimed pending entries", LF_STR("consumer", c->name),
                         LF_INT("entries", (long long)got));
            }
            ok = process(c, rc, r->element[1]);
        }
        freeReplyObject(r);
        if (!ok || strcmp(cursor, "0-0") == 0)
            return ok;
    }
    return true;
}

static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    const struct config_stream *sc = c->x->sc;
    char count[16], block[24];
    snprintf(count, sizeof(count), "%d", sc->batch_size);
    snprintf(block, sizeof(block), "%lld", (long long)sc->block_ms);
    bool grouped = false;
    while (!atomic_load(c->x->stop)) {
        redisContext *rc = rds_conn_get(&c->rds, c->x->stop);
        if (!rc)
            break;
        if (!grouped && !(grouped = ensure_group(c, rc))) {
            rds_conn_broken(&c->rds);
            pause_unless_stopped(c->x->stop, RETRY_MAX_MS);
            continue;
        }
        bool ok = true;
        if (mono_ms() >= c->next_claim_ms) {
            c->next_claim_ms = mono_ms() + sc->claim_interval_ms;
            observe_lag(c, rc);
            ok = reclaim(c, rc);
        }
        const char *argv[] = {"XREADGROUP", "GROUP", sc->group, c->name,    "COUNT", count,
                              "BLOCK",      block,   "STREAMS", sc->stream, ">"};
        redisReply *r = ok ? cmd(c, rc, (int)ARRAY_SIZE(argv), argv) : NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            ok = process(c, rc, r->element[0]->element[1]);
        else if (!r)
            ok = false;
        if (r)
            freeReplyObject(r);
        if (!ok && !atomic_load(c->x->stop)) {
            /* NOGROUP after a stream was deleted: make it again. */
            grouped = false;
            rds_conn_broken(&c->rds);
        }
    }
    return NULL;
}

int scans_consume(const struct config *cfg, struct metrics_registry *reg, atomic_bool *stop)
{
    const struct config_stream *sc = &cfg->ingest.scans;
    static const double batch_bounds[] = {1, 10, 100, 500, 1000, 2000, 5000, 10000};
    static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1,    2.5,   5};
    static const char *const s1[] = {"stream"}, *const s2[] = {"stream", "reason"},
                             *const sg[] = {"stream", "group"};
    struct scans_ctx x = {
        .cfg = cfg,
        .sc = sc,
        .stop = stop,
        .model = model_find("scan:model:result"),
        .consumed = metrics_counter(reg, "inventory_ingest_consumed_total",
                                    "Stream entries processed (acked), valid or not.", 1, s1),
        .upserted = metrics_counter(reg, "inventory_ingest_upserted_total",
                                    "Rows inserted or replaced by newer observations.", 1, s1),
        .stale = metrics_counter(reg, "inventory_ingest_stale_total",
                                 "Valid messages not newer than what was stored (or than "
                                 "another message of the same batch).",
                                 1, s1),
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
    if (!x.model)
        return 1;
    char host[128] = "host";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    int n = sc->concurrency;
    struct consumer *cs = xcalloc((size_t)n, sizeof(*cs));
    pthread_t *th = xcalloc((size_t)n, sizeof(*th));
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    log_info("ingest: consuming", LF_STR("stream", sc->stream), LF_STR("group", sc->group),
             LF_INT("consumers", n), LF_INT("batch_size", sc->batch_size));
    int started = 0;
    for (int i = 0; i < n; i++) {
        struct consumer *c = &cs[i];
        c->x = &x;
        snprintf(c->name, sizeof(c->name), "%s-%ld-%d", host, (long)getpid(), i);
        rds_conn_init(&c->rds, &o, "ingest");
        /* XREADGROUP blocks for block_ms: the reply may take that long. */
        c->rds.read_timeout_ms = sc->block_ms + cfg->redis.connect_timeout_ms;
        model_batch_init(&c->mb, x.model);
        if (pthread_create(&th[i], NULL, consumer_main, c) != 0) {
            log_error("ingest: cannot start a consumer thread");
            atomic_store(stop, true);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        struct consumer *c = &cs[i];
        if (c->pg)
            PQfinish(c->pg);
        rds_conn_release(&c->rds);
        model_batch_release(&c->mb);
        free(c->entries);
        free(c->why);
        free(c->details);
    }
    free(cs);
    free(th);
    log_info("ingest: stopped", LF_STR("stream", sc->stream));
    return started == n ? 0 : 1;
}
