/* The REST API server (see server.h, docs/api.md). */
#include "api/server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/hbi.h"
#include "api/internal.h"
#include "api/openapi.h"
#include "api/query.h"
#include "api/router.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "db/model.h"
#include "db/pg.h"
#include "ingest/scans.h"
#include "queue/handler.h"
#include "queue/presence.h"
#include "queue/queue.h"
#include "queue/scheduler.h"
#include "queue/worker.h"

#define MAX_LINKS          10000 /* related rows one /links answer carries */
#define DRAIN_POLL         20    /* ms between in-flight checks on stop */
#define DRAIN_FLUSH        1000  /* ms for the last answers to go out on stop */
#define API_WORKERS_PER_IO 8     /* libmicrohttpd threads: one per this many workers */

struct route;

/* One request: the raw URI (from the request line), the body read so far
 * and, once routed, what its handler needs. A route that waits on
 * PostgreSQL or Redis runs on a worker thread while its connection is
 * suspended; the worker builds the answer and resumes the connection, and
 * libmicrohttpd's thread sends it. */
struct req {
    struct api_server *s;
    struct MHD_Connection *conn;
    char *uri; /* owned */
    int64_t t0;
    bool started;   /* on_request has seen the headers */
    bool too_large; /* the body passed API_MAX_BODY: the rest is discarded */
    bool queued;    /* handed to the workers; answered when resumed */
    struct buf body;
    const struct route *hit;
    const char *pattern; /* the matched route's, for metrics */
    char *path;          /* owned; qs and caps point into it */
    const char *qs;
    struct slice caps[API_ROUTE_MAX_CAPS];
    struct identity who;
    struct resp r;
    unsigned int status;       /* of resp */
    struct MHD_Response *resp; /* the answer, built by whoever ran the handler */
    atomic_bool answered;      /* resp is set (a worker's store, released) */
    struct req *next;          /* in the workers' queue */
};

/* Who may call a route (docs/api.md, Authentication). */
enum access {
    OPEN,     /* no token: health, readiness, version, metrics */
    READ,     /* a read or admin token, or none with api.auth: none */
    ADMIN,    /* an admin token, whatever api.auth says */
    IDENTITY, /* an x-rh-identity header (/api/inventory/v1, set by a gateway); no token */
};

/* ---- responses ---- */

void api_set_error(struct resp *r, unsigned int status, const char *error, const char *reason)
{
    json_decref(r->body);
    r->status = status;
    r->body = json_pack("{s:s}", "error", error);
    if (reason && r->body)
        json_object_set_new(r->body, "reason", json_string(reason));
}

static void bad_request(struct resp *r, const struct buf *reason)
{
    api_set_error(r, MHD_HTTP_BAD_REQUEST, "bad request", buf_str(reason));
}

/* ---- per-thread connections ---- */

/* Prepared statements of one PostgreSQL connection, by SQL text. The API's
 * SQL depends only on the route and the names of the filters (values are
 * parameters), so a few dozen texts cover a busy server; preparing once
 * saves PostgreSQL the parse and plan of every request (about a third of
 * its time on a page of 100 rows). Replaced round robin when full. */
#define STMT_CACHE 32

struct stmt_cache {
    uint64_t hash[STMT_CACHE];
    char *sql[STMT_CACHE]; /* NULL: free; else prepared as "api_<i>" */
    size_t next;           /* the entry to replace when full */
};

/* One PostgreSQL session of a thread and its statements. */
struct api_pg {
    PGconn *pg; /* opened on first use, reopened after a failure */
    struct stmt_cache stmts;
};

/* What one server thread owns: its connections and their statements. */
struct api_slot {
    struct api_pg rd;     /* reads: api.database.dsn when set, else database.dsn */
    struct api_pg gen;    /* reads on generic plans (API_DB_READ_GENERIC), the same DSN */
    struct api_pg wr;     /* writes (/api/inventory/v1) when reads go to a replica */
    struct rds_conn *rds; /* Redis, opened on first use */
};

static _Thread_local struct api_server *tl_server;
static _Thread_local struct api_slot *tl_slot;

static void stmts_clear(struct stmt_cache *sc)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        free(sc->sql[i]);
        sc->sql[i] = NULL;
    }
    sc->next = 0;
}

/* The calling thread's slot, made on its first request. */
static struct api_slot *thread_slot(struct api_server *s)
{
    if (tl_server == s)
        return tl_slot;
    const struct config *cfg = s->cfg;
    struct api_slot *slot = xcalloc(1, sizeof(*slot));
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    slot->rds = xcalloc(1, sizeof(*slot->rds));
    rds_conn_init(slot->rds, &o, "api");
    pthread_mutex_lock(&s->mu);
    s->slots = xrealloc(s->slots, (s->nslots + 1) * sizeof(*s->slots));
    s->slots[s->nslots++] = slot;
    pthread_mutex_unlock(&s->mu);
    tl_server = s;
    tl_slot = slot;
    return slot;
}

static void pg_close(struct api_pg *p)
{
    if (p->pg)
        PQfinish(p->pg);
    p->pg = NULL;
    stmts_clear(&p->stmts); /* prepared statements die with the session */
}

static void slot_free(struct api_slot *slot)
{
    pg_close(&slot->rd);
    pg_close(&slot->gen);
    pg_close(&slot->wr);
    rds_conn_release(slot->rds);
    free(slot->rds);
    free(slot);
}

redisContext *api_redis(struct api_server *s)
{
    return rds_conn_try(thread_slot(s)->rds);
}

void api_redis_broken(struct api_server *s)
{
    rds_conn_broken(thread_slot(s)->rds);
}

/* The calling thread's Redis connection (one attempt to (re)connect), or
 * NULL after setting a 503. After an I/O error the caller marks it broken
 * (api_redis_broken) and the next request reconnects. */
static redisContext *thread_redis(struct api_server *s, struct resp *r)
{
    redisContext *c = api_redis(s);
    if (!c)
        api_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "redis unavailable", NULL);
    return c;
}

/* After a failed queue call: a 500 (503 when the connection broke), the
 * details in the log only. */
static void redis_failed(struct api_server *s, redisContext *c, const struct buf *err,
                         struct resp *r)
{
    log_error("api: redis call failed", LF_STR("error", buf_str(err)));
    if (c->err) {
        api_redis_broken(s);
        api_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "redis unavailable", NULL);
        return;
    }
    api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
}

/* The thread's session for db: reads to api.database.dsn when set (a
 * replica), writes always to database.dsn (without a replica both are the
 * read session). */
static struct api_pg *thread_pg(struct api_server *s, enum api_db db)
{
    struct api_slot *slot = thread_slot(s);
    if (db == API_DB_READ_GENERIC)
        return &slot->gen;
    return db == API_DB_WRITE && s->cfg->api.database.dsn ? &slot->wr : &slot->rd;
}

/* The session's connection (opened or reopened as needed); NULL after
 * logging why. */
static PGconn *thread_conn(struct api_server *s, enum api_db db)
{
    struct api_pg *p = thread_pg(s, db);
    if (p->pg && PQstatus(p->pg) == CONNECTION_OK)
        return p->pg;
    pg_close(p);
    struct buf err;
    buf_init(&err, 2048);
    const struct config *cfg = s->cfg;
    const char *dsn =
        cfg->api.database.dsn && p != &tl_slot->wr ? cfg->api.database.dsn : cfg->database.dsn;
    char setting[64];
    snprintf(setting, sizeof(setting), "%lld", (long long)cfg->api.request_timeout_ms);
    const char *params[] = {setting, db == API_DB_READ_GENERIC ? "force_generic_plan" : "auto"};
    PGconn *c = NULL;
    if (pg_connect(dsn ? dsn : "", cfg->database.connect_timeout_ms, &c, &err) < 0 ||
        pg_run(
            c,
            "SELECT set_config('statement_timeout', $1, false), "
            "set_config('TimeZone', 'UTC', false), set_config('client_encoding', 'UTF8', false), "
            "set_config('jit', 'off', false), " /* compiling costs more than short queries save */
            "set_config('plan_cache_mode', $2, false)",
            2, params, &err) < 0) {
        log_error("api: database connection failed", LF_STR("error", buf_str(&err)));
        if (c)
            PQfinish(c);
        c = NULL;
    }
    buf_release(&err);
    p->pg = c;
    return c;
}

PGconn *api_write_conn(struct api_server *s, struct resp *r)
{
    PGconn *c = thread_conn(s, API_DB_WRITE);
    if (!c)
        api_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable", NULL);
    return c;
}

/* Runs sql as the connection's prepared statement for that text, preparing
 * it first when new. The result (never NULL from libpq but on OOM) is the
 * caller's; a failed PREPARE is returned as the result. */
static PGresult *exec_prepared(PGconn *c, struct stmt_cache *sc, const char *sql, int n,
                               const char *const *params)
{
    uint64_t h = fnv1a(FNV1A_OFFSET, sql, strlen(sql));
    char name[32];
    size_t k = 0;
    while (k < STMT_CACHE && !(sc->sql[k] && sc->hash[k] == h && strcmp(sc->sql[k], sql) == 0))
        k++;
    if (k == STMT_CACHE) {
        k = sc->next;
        sc->next = (sc->next + 1) % STMT_CACHE;
        snprintf(name, sizeof(name), "api_%zu", k);
        if (sc->sql[k]) {
            char dealloc[48];
            snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", name);
            free(sc->sql[k]);
            sc->sql[k] = NULL;
            PGresult *d = PQexec(c, dealloc);
            bool ok = PQresultStatus(d) == PGRES_COMMAND_OK;
            if (!ok)
                return d;
            PQclear(d);
        }
        PGresult *p = PQprepare(c, name, sql, n, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK)
            return p;
        PQclear(p);
        sc->sql[k] = xstrdup(sql);
        sc->hash[k] = h;
    }
    snprintf(name, sizeof(name), "api_%zu", k);
    return PQexecPrepared(c, name, n, params, NULL, NULL, 0);
}

PGresult *api_query(struct api_server *s, enum api_db db, const char *sql, int n,
                    const char *const *params, struct resp *r)
{
    /* A write is not repeated: it may have run before the connection broke. */
    for (int attempt = 0; attempt < (db != API_DB_WRITE ? 2 : 1); attempt++) {
        PGconn *c = thread_conn(s, db);
        if (!c) {
            api_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable", NULL);
            return NULL;
        }
        PGresult *res = exec_prepared(c, &thread_pg(s, db)->stmts, sql, n, params);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return res;
        struct buf err;
        buf_init(&err, 2048);
        pg_seterr(&err, NULL, c, res);
        bool timeout = strcmp(pg_sqlstate(res), "57014") == 0;
        PQclear(res);
        log_error("api: query failed", LF_STR("error", buf_str(&err)));
        buf_release(&err);
        if (timeout) {
            api_set_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "request timeout", NULL);
            return NULL;
        }
        if (PQstatus(c) == CONNECTION_OK)
            break;
    }
    api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
    return NULL;
}

/* A read on the thread's read connection (api_query). */
static PGresult *query(struct api_server *s, const char *sql, int n, const char *const *params,
                       struct resp *r)
{
    return api_query(s, API_DB_READ, sql, n, params, r);
}

/* ---- values ---- */

/* Appends one row as a JSON object: the fields' cells from column col0 on.
 * Values arrive as PostgreSQL's text: integers are already JSON numbers,
 * timestamps already formatted (api_col_select); the connection's
 * client_encoding is UTF8, so text needs only JSON's escapes. Writing the
 * text directly, rather than through a jansson tree, is what keeps a page
 * of 1,000 rows cheap (docs/api.md, Performance). */
static int add_row(struct buf *out, const PGresult *res, int row, int col0, const struct api_col *f,
                   size_t nf)
{
    if (buf_addc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < nf; i++) {
        int col = col0 + (int)i;
        /* Column names are identifiers: no escapes. */
        if ((i && buf_addc(out, ',') < 0) || buf_addc(out, '"') < 0 ||
            buf_adds(out, f[i].name) < 0 || buf_add(out, "\":", 2) < 0)
            return -1;
        const char *v = PQgetvalue(res, row, col);
        size_t len = (size_t)PQgetlength(res, row, col);
        int rc;
        if (PQgetisnull(res, row, col))
            rc = buf_adds(out, "null");
        else if (f[i].type == COL_INT)
            rc = buf_add(out, v, len);
        else if (f[i].type == COL_BOOL)
            rc = buf_adds(out, v[0] == 't' ? "true" : "false");
        else
            rc = buf_add_json_string(out, v, len);
        if (rc < 0)
            return -1;
    }
    return buf_addc(out, '}');
}

void api_set_json_text(struct resp *r, struct buf *out, int rc)
{
    if (rc < 0 || buf_addc(out, '\n') < 0) {
        api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", "answer too large");
        return;
    }
    r->text = buf_detach(out);
    r->ctype = API_JSON_TYPE;
    r->body = json_null(); /* not sent: marks the answer as given */
}

/* ---- models ---- */

struct find_route {
    const char *route;
    const struct model_def *m;
};

static void match_route(const struct model_def *m, void *arg)
{
    struct find_route *f = arg;
    if (!f->m && m->route && strcmp(m->route, f->route) == 0)
        f->m = m;
}

/* The model of /api/v1/<source>/<model>, or NULL after a 404. */
static const struct model_def *model_of(const struct slice *caps, struct resp *r)
{
    char route[256];
    if (caps[0].len + caps[1].len + 2 > sizeof(route)) {
        api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", "unknown model");
        return NULL;
    }
    snprintf(route, sizeof(route), "%.*s/%.*s", (int)caps[0].len, caps[0].p, (int)caps[1].len,
             caps[1].p);
    struct find_route f = {route, NULL};
    models_each(match_route, &f);
    if (!f.m) {
        char reason[300];
        snprintf(reason, sizeof(reason), "unknown model \"%.200s\"", route);
        api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", reason);
    }
    return f.m;
}

static const char *type_name(enum col_type t)
{
    return t == COL_INT    ? "integer"
           : t == COL_BOOL ? "boolean"
           : t == COL_TIME ? "timestamp"
                           : "text";
}

struct links_of {
    const struct model_def *m;
    json_t *arr;
};

static void add_link(const struct model_def *l, void *arg)
{
    struct links_of *lo = arg;
    if (!l->link_a)
        return;
    const char *other = NULL;
    if (strcmp(l->link_a, lo->m->name) == 0)
        other = l->link_b;
    else if (strcmp(l->link_b, lo->m->name) == 0)
        other = l->link_a;
    if (other)
        json_array_append_new(lo->arr, json_pack("{s:s,s:s}", "link", l->name, "model", other));
}

static void describe_model(const struct model_def *m, void *arg)
{
    json_t *cols = json_array();
    struct api_col c;
    json_array_append_new(cols, json_pack("{s:s,s:s}", "name", "id", "type", "integer"));
    for (size_t i = 0; m->cols[i].name; i++)
        json_array_append_new(cols, json_pack("{s:s,s:s}", "name", m->cols[i].name, "type",
                                              type_name(m->cols[i].type)));
    for (int i = 0; i < 2; i++) {
        const char *n = i ? "updated_at" : "created_at";
        if (api_col_find(m, n, &c) == 0)
            json_array_append_new(cols, json_pack("{s:s,s:s}", "name", n, "type", "timestamp"));
    }
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", m->name, "route", m->route ? m->route : "",
                  "table", m->table, "description", m->desc ? m->desc : "", "columns", cols);
    if (m->link_a) {
        json_object_set_new(o, "link", json_pack("{s:s,s:s}", "a", m->link_a, "b", m->link_b));
    } else {
        struct links_of lo = {m, json_array()};
        models_each(add_link, &lo);
        json_object_set_new(o, "links", lo.arr);
    }
    json_array_append_new(arg, o);
}

/* ---- handlers ---- */

/* Parses the query string, refusing any parameter but those in allowed
 * (NULL-terminated; NULL allows every one); -1 after a 400. */
static int only_args(const char *qs, const char *const *allowed, struct api_arg **args, size_t *n,
                     struct resp *r)
{
    struct buf reason;
    buf_init(&reason, 512);
    int rc = api_args_parse(qs, args, n, &reason);
    for (size_t i = 0; rc == 0 && allowed && i < *n; i++) {
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], (*args)[i].key) != 0)
            k++;
        if (!allowed[k]) {
            buf_setf(&reason, "unknown parameter \"%.64s\"", (*args)[i].key);
            api_args_free(*args, *n);
            *args = NULL;
            *n = 0;
            rc = -1;
        }
    }
    if (rc < 0)
        bad_request(r, &reason);
    buf_release(&reason);
    return rc;
}

/* For routes without query parameters: -1 after a 400 naming the first. */
static int no_args(const char *qs, struct resp *r)
{
    static const char *const none[] = {NULL};
    struct api_arg *args;
    size_t n;
    if (only_args(qs, none, &args, &n, r) < 0)
        return -1;
    api_args_free(args, n);
    return 0;
}

static void h_health(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)s;
    (void)caps;
    (void)qs;
    r->body = json_pack("{s:s}", "status", "ok");
}

static void h_version(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r)
{
    (void)s;
    (void)caps;
    (void)qs;
    r->body = json_pack("{s:s,s:s}", "version", INV_VERSION, "commit", INV_COMMIT);
}

static bool redis_ok(const struct config *cfg)
{
    struct buf err;
    redisContext *c = NULL;
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    bool ok = false;
    buf_init(&err, 1024);
    if (rds_connect(&o, &c, &err) == 0) {
        const char *argv[] = {"PING"};
        redisReply *rep = rds_cmd(c, &err, 1, argv, NULL);
        ok = rep != NULL;
        if (rep)
            freeReplyObject(rep);
    }
    if (!ok)
        log_warn("api: redis not ready", LF_STR("error", buf_str(&err)));
    if (c)
        redisFree(c);
    buf_release(&err);
    return ok;
}

static void h_ready(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    (void)qs;
    struct resp probe = {0};
    PGresult *res = query(s, "SELECT 1", 0, NULL, &probe);
    bool pg = res != NULL;
    PQclear(res);
    json_decref(probe.body);
    bool rd = redis_ok(s->cfg);
    r->status = pg && rd ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    r->body = json_pack("{s:s,s:{s:s,s:s}}", "status", pg && rd ? "ok" : "unavailable", "checks",
                        "postgres", pg ? "ok" : "failed", "redis", rd ? "ok" : "failed");
}

static void h_metrics(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r)
{
    (void)caps;
    (void)qs;
    struct buf out;
    buf_init(&out, 16u << 20);
    if (metrics_render(&s->reg, &out) < 0) {
        buf_release(&out);
        api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
        return;
    }
    r->text = out.ptr ? buf_detach(&out) : xstrdup("");
    r->ctype = METRICS_CONTENT_TYPE;
    r->body = json_null(); /* not sent: marks the answer as given */
}

static void h_openapi(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r)
{
    (void)caps;
    (void)qs;
    r->body = api_openapi(s->cfg);
}

static void h_models(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)s;
    (void)caps;
    if (no_args(qs, r) < 0)
        return;
    json_t *items = json_array();
    models_each(describe_model, items);
    r->body = json_pack("{s:o}", "items", items);
}

/* A page of m's rows for the list parameters args (docs/api.md, Listing). */
static void list_rows(struct api_server *s, const struct model_def *m, const struct api_arg *args,
                      size_t nargs, struct resp *r)
{
    struct api_list l;
    struct api_sql q, qc;
    struct buf reason;
    PGresult *res = NULL, *cnt = NULL;
    buf_init(&reason, 512);
    api_sql_init(&q);
    api_sql_init(&qc);
    if (api_list_parse(m, args, nargs, s->cfg->api.max_page_size, &l, &reason) < 0) {
        bad_request(r, &reason);
        goto out;
    }
    if (api_list_sql(&l, false, &q) < 0 || (l.total && api_list_sql(&l, true, &qc) < 0)) {
        buf_setf(&reason, "query too long");
        bad_request(r, &reason);
        goto out_list;
    }
    res = query(s, buf_str(&q.sql), q.nparams, (const char *const *)q.params, r);
    if (!res)
        goto out_list;
    if (l.total) {
        cnt = query(s, buf_str(&qc.sql), qc.nparams, (const char *const *)qc.params, r);
        if (!cnt)
            goto out_list;
    }
    int rows = PQntuples(res);
    int shown = rows > l.limit ? (int)l.limit : rows;
    struct buf out;
    buf_init(&out, API_MAX_ANSWER);
    int rc = buf_adds(&out, "{\"items\":[");
    for (int i = 0; i < shown && rc == 0; i++)
        rc = (i ? buf_addc(&out, ',') : 0) < 0 ? -1 : add_row(&out, res, i, 2, l.fields, l.nfields);
    if (rc == 0)
        rc = buf_adds(&out, "],\"next\":");
    if (rc == 0 && rows > l.limit) {
        int last = shown - 1;
        char *cur = api_cursor_encode(l.sortspec, l.sort.type,
                                      PQgetisnull(res, last, 1) ? NULL : PQgetvalue(res, last, 1),
                                      strtoll(PQgetvalue(res, last, 0), NULL, 10));
        rc = buf_add_json_string(&out, cur, strlen(cur));
        free(cur);
    } else if (rc == 0) {
        rc = buf_adds(&out, "null");
    }
    if (rc == 0 && cnt)
        rc = buf_addf(&out, ",\"total\":%s", PQgetvalue(cnt, 0, 0));
    if (rc == 0)
        rc = buf_addc(&out, '}');
    api_set_json_text(r, &out, rc);
    buf_release(&out);
out_list:
    api_list_release(&l);
out:
    PQclear(res);
    PQclear(cnt);
    api_sql_release(&q);
    api_sql_release(&qc);
    buf_release(&reason);
}

static void h_list(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    const struct model_def *m = model_of(caps, r);
    struct api_arg *args = NULL;
    size_t nargs = 0;
    if (!m || only_args(qs, NULL, &args, &nargs, r) < 0)
        return;
    list_rows(s, m, args, nargs, r);
    api_args_free(args, nargs);
}

/* A path segment as a C string; false when it does not fit. */
static bool cap_str(const struct slice *cap, char *out, size_t n)
{
    if (cap->len >= n)
        return false;
    memcpy(out, cap->p, cap->len);
    out[cap->len] = '\0';
    return true;
}

/* GET /api/v1/scans and /api/v1/scans/<ip> (docs/ingest.md, API): the scan
 * model's list, with ip, port, service and since (RFC 3339 or Unix
 * seconds) mapped onto its filters; path_ip (or NULL) fixes the address. */
static void scans_list(struct api_server *s, const char *path_ip, const char *qs, struct resp *r)
{
    static const char *const all[] = {"ip", "port", "service", "since", "limit", "next", NULL};
    struct api_arg *args = NULL;
    size_t nargs = 0;
    if (only_args(qs, path_ip ? all + 1 : all, &args, &nargs, r) < 0)
        return;
    struct api_arg *mapped = xcalloc(nargs + 1, sizeof(*mapped));
    size_t n = 0;
    struct buf reason;
    buf_init(&reason, 256);
    for (size_t i = 0; i <= nargs && !reason.len; i++) {
        const char *k = i < nargs ? args[i].key : "ip", *v = i < nargs ? args[i].val : path_ip;
        char text[64];
        if (i == nargs && !path_ip)
            break;
        if (strcmp(k, "ip") == 0) {
            if (scan_ip_canonical(v, text, sizeof(text)) < 0)
                buf_setf(&reason, "ip: \"%.64s\" is not an IPv4 or IPv6 address", v);
            v = text;
        } else if (strcmp(k, "since") == 0) {
            k = "scanned_at__gte";
            int64_t secs;
            if (v[strspn(v, "0123456789")] == '\0' &&
                parse_int64(v, 0, 253402300799LL, &secs) == 0) {
                time_t t = (time_t)secs;
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
                v = text;
            }
        }
        mapped[n].key = xstrdup(k);
        mapped[n++].val = xstrdup(v);
    }
    if (reason.len)
        bad_request(r, &reason);
    else
        list_rows(s, model_find("scan:model:result"), mapped, n, r);
    buf_release(&reason);
    api_args_free(mapped, n);
    api_args_free(args, nargs);
}

static void h_scans(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    scans_list(s, NULL, qs, r);
}

static void h_scans_ip(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r)
{
    char ip[64];
    if (!cap_str(&caps[0], ip, sizeof(ip))) {
        api_set_error(r, MHD_HTTP_BAD_REQUEST, "bad request", "ip: not an IPv4 or IPv6 address");
        return;
    }
    scans_list(s, ip, qs, r);
}

/* The id segment; -1 after a 400. */
static int parse_id(const struct slice *cap, int64_t *id, struct resp *r)
{
    char text[32];
    if (cap->len >= sizeof(text) || (snprintf(text, sizeof(text), "%.*s", (int)cap->len, cap->p),
                                     parse_int64(text, 1, INT64_MAX, id) < 0)) {
        struct buf reason;
        buf_init(&reason, 256);
        buf_setf(&reason, "id \"%.32s\" is not a positive 64-bit integer",
                 cap->len < sizeof(text) ? text : "(too long)");
        bad_request(r, &reason);
        buf_release(&reason);
        return -1;
    }
    return 0;
}

static void not_found_id(struct resp *r, const struct model_def *m, int64_t id)
{
    char reason[256];
    snprintf(reason, sizeof(reason), "no %s with id %lld", m->name, (long long)id);
    api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", reason);
}

static void h_get(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    static const char *const allowed[] = {"fields", NULL};
    const struct model_def *m = model_of(caps, r);
    int64_t id;
    if (!m || parse_id(&caps[2], &id, r) < 0)
        return;
    struct api_arg *args = NULL;
    size_t nargs = 0;
    if (only_args(qs, allowed, &args, &nargs, r) < 0)
        return;
    struct api_list l;
    struct buf reason, sql;
    PGresult *res = NULL;
    buf_init(&reason, 512);
    buf_init(&sql, 256u << 10);
    if (api_list_parse(m, args, nargs, 1, &l, &reason) < 0) {
        bad_request(r, &reason);
        goto out;
    }
    int rc = buf_adds(&sql, "SELECT ");
    for (size_t i = 0; i < l.nfields; i++) {
        rc |= i ? buf_adds(&sql, ", ") : 0;
        rc |= api_col_select(&sql, &l.fields[i]);
    }
    rc |= buf_addf(&sql, " FROM %s AS m WHERE m.id = $1", m->table);
    char idt[24];
    snprintf(idt, sizeof(idt), "%lld", (long long)id);
    const char *params[] = {idt};
    if (rc == 0 && (res = query(s, buf_str(&sql), 1, params, r)) != NULL) {
        if (PQntuples(res) == 0)
            not_found_id(r, m, id);
        else {
            struct buf out;
            buf_init(&out, API_MAX_ANSWER);
            api_set_json_text(r, &out, add_row(&out, res, 0, 0, l.fields, l.nfields));
            buf_release(&out);
        }
    } else if (rc) {
        api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
    }
    api_list_release(&l);
out:
    PQclear(res);
    buf_release(&sql);
    buf_release(&reason);
    api_args_free(args, nargs);
}

struct link_ref {
    const struct model_def *link, *other;
    const char *own_col, *other_col;
};

struct links_ctx {
    const struct model_def *m;
    struct link_ref refs[64];
    size_t n;
};

static void collect_link(const struct model_def *l, void *arg)
{
    struct links_ctx *c = arg;
    if (!l->link_a || c->n == ARRAY_SIZE(c->refs))
        return;
    if (strcmp(l->link_a, c->m->name) == 0)
        c->refs[c->n++] =
            (struct link_ref){l, model_find(l->link_b), l->cols[0].name, l->cols[1].name};
    else if (strcmp(l->link_b, c->m->name) == 0)
        c->refs[c->n++] =
            (struct link_ref){l, model_find(l->link_a), l->cols[1].name, l->cols[0].name};
}

static void h_links(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    const struct model_def *m = model_of(caps, r);
    int64_t id;
    if (!m || parse_id(&caps[2], &id, r) < 0)
        return;
    if (no_args(qs, r) < 0)
        return;
    struct links_ctx lc = {.m = m};
    models_each(collect_link, &lc);
    struct buf sql;
    buf_init(&sql, 256u << 10);
    /* Identifiers from the registry; the id is $1. */
    int rc = buf_addf(&sql, "SELECT -1, m.id FROM %s AS m WHERE m.id = $1", m->table);
    for (size_t i = 0; i < lc.n; i++)
        rc |= buf_addf(&sql, " UNION ALL (SELECT %zu, %s FROM %s WHERE %s = $1 ORDER BY 2)", i,
                       lc.refs[i].other_col, lc.refs[i].link->table, lc.refs[i].own_col);
    rc |= buf_addf(&sql, " LIMIT %d", MAX_LINKS + 1);
    char idt[24];
    snprintf(idt, sizeof(idt), "%lld", (long long)id);
    const char *params[] = {idt};
    PGresult *res = NULL;
    if (rc) {
        api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
        goto out;
    }
    res = query(s, buf_str(&sql), 1, params, r);
    if (!res)
        goto out;
    int rows = PQntuples(res);
    if (rows == 0 || strcmp(PQgetvalue(res, 0, 0), "-1") != 0) {
        not_found_id(r, m, id);
        goto out;
    }
    json_t *items = json_array();
    for (int i = 1; i < rows && i <= MAX_LINKS; i++) {
        long k = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (k < 0 || (size_t)k >= lc.n)
            continue;
        const struct link_ref *lr = &lc.refs[k];
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:s,s:I}", "link", lr->link->name, "model",
                                        lr->other ? lr->other->name : "", "route",
                                        lr->other && lr->other->route ? lr->other->route : "", "id",
                                        (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10)));
    }
    r->body = json_pack("{s:o}", "items", items);
out:
    PQclear(res);
    buf_release(&sql);
}

/* ---- queues, tasks, workers, scheduler (docs/api.md, Queues) ---- */

static void not_found(struct resp *r, const char *what, const char *name)
{
    char reason[160];
    snprintf(reason, sizeof(reason), "no %s \"%.64s\"", what, name);
    api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", reason);
}

/* The queue named by caps[0], which must be known; false after a 4xx/5xx. */
static bool known_queue(struct api_server *s, redisContext *c, const struct slice *cap,
                        char q[QUEUE_NAME_MAX], struct resp *r)
{
    char **names = NULL;
    size_t n = 0;
    struct buf err;
    if (!cap_str(cap, q, QUEUE_NAME_MAX) || !queue_name_valid(q)) {
        api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", "no such queue");
        return false;
    }
    buf_init(&err, 1024);
    bool found = false;
    if (queue_list(c, &names, &n, &err) < 0) {
        redis_failed(s, c, &err, r);
        buf_release(&err);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        found |= strcmp(names[i], q) == 0;
        free(names[i]);
    }
    free(names);
    buf_release(&err);
    if (!found)
        not_found(r, "queue", q);
    return found;
}

static void h_queues(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    if (no_args(qs, r) < 0)
        return;
    redisContext *c = thread_redis(s, r);
    if (!c)
        return;
    char **names = NULL;
    size_t n = 0;
    struct buf err;
    buf_init(&err, 1024);
    if (queue_list(c, &names, &n, &err) < 0) {
        redis_failed(s, c, &err, r);
        buf_release(&err);
        return;
    }
    json_t *items = json_array();
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        struct queue_info qi;
        if (ok && queue_inspect(c, names[i], &qi, &err) < 0) {
            redis_failed(s, c, &err, r);
            ok = false;
        }
        if (ok)
            json_array_append_new(items, queue_info_json(&qi));
        free(names[i]);
    }
    free(names);
    buf_release(&err);
    if (ok)
        r->body = json_pack("{s:o}", "items", items);
    else
        json_decref(items);
}

static void h_queue(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    char q[QUEUE_NAME_MAX];
    if (no_args(qs, r) < 0)
        return;
    redisContext *c = thread_redis(s, r);
    if (!c || !known_queue(s, c, &caps[0], q, r))
        return;
    struct queue_info qi;
    struct buf err;
    buf_init(&err, 1024);
    if (queue_inspect(c, q, &qi, &err) < 0)
        redis_failed(s, c, &err, r);
    else
        r->body = queue_info_json(&qi);
    buf_release(&err);
}

static void h_queue_tasks(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    static const char *const allowed[] = {"state", "page", "size", NULL};
    struct api_arg *args;
    size_t nargs;
    char q[QUEUE_NAME_MAX];
    if (only_args(qs, allowed, &args, &nargs, r) < 0)
        return;
    enum task_state st = TASK_PENDING;
    int64_t page = 1, size = 50;
    struct buf reason;
    buf_init(&reason, 256);
    for (size_t i = 0; i < nargs && !reason.len; i++) {
        const char *k = args[i].key, *v = args[i].val;
        if (strcmp(k, "state") == 0 && task_state_parse(v, &st) < 0)
            buf_setf(&reason,
                     "state: \"%.32s\" is not one of pending, active, scheduled, "
                     "retry, archived, completed",
                     v);
        else if (strcmp(k, "page") == 0 && parse_int64(v, 1, 1000000, &page) < 0)
            buf_setf(&reason, "page: expected an integer in 1..1000000");
        else if (strcmp(k, "size") == 0 && parse_int64(v, 1, s->cfg->api.max_page_size, &size) < 0)
            buf_setf(&reason, "size: expected an integer in 1..%d", s->cfg->api.max_page_size);
    }
    api_args_free(args, nargs);
    if (reason.len) {
        bad_request(r, &reason);
        buf_release(&reason);
        return;
    }
    buf_release(&reason);
    redisContext *c = thread_redis(s, r);
    if (!c || !known_queue(s, c, &caps[0], q, r))
        return;
    struct task *tasks = NULL;
    size_t n = 0;
    struct buf err;
    buf_init(&err, 1024);
    if (queue_tasks(c, q, st, (page - 1) * size, size, &tasks, &n, &err) < 0) {
        redis_failed(s, c, &err, r);
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(items, task_to_json(&tasks[i]));
            task_release(&tasks[i]);
        }
        free(tasks);
        r->body = json_pack("{s:o}", "items", items);
    }
    buf_release(&err);
}

/* The routes of one task (/api/v1/tasks/<id>...): refuses query
 * parameters, then loads task caps[0] from any queue. The thread's Redis
 * connection, or NULL after a 400, 404 or 5xx answer. */
static redisContext *find_task(struct api_server *s, const struct slice *cap, const char *qs,
                               struct task *t, struct resp *r)
{
    if (no_args(qs, r) < 0)
        return NULL;
    redisContext *c = thread_redis(s, r);
    if (!c)
        return NULL;
    char id[TASK_ID_MAX];
    if (!cap_str(cap, id, sizeof(id)) || !task_id_valid(id)) {
        api_set_error(r, MHD_HTTP_NOT_FOUND, "not found", "no such task");
        return NULL;
    }
    struct buf err;
    buf_init(&err, 1024);
    int rc = queue_task_get(c, NULL, id, t, &err);
    if (rc == QUEUE_NOTFOUND)
        not_found(r, "task", id);
    else if (rc != 0)
        redis_failed(s, c, &err, r);
    if (rc != 0)
        task_release(t);
    buf_release(&err);
    return rc == 0 ? c : NULL;
}

static void h_task(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    struct task t = {0};
    redisContext *c = find_task(s, &caps[0], qs, &t, r);
    if (!c)
        return;
    r->body = task_to_json(&t);
    task_release(&t);
}

static int live_workers(redisContext *c, json_t **all, struct buf *err)
{
    static const struct presence workers = {WORKER_REGISTRY_KEY, WORKER_INFO_PREFIX};
    return presence_list(c, &workers, all, err);
}

static int live_jobs(redisContext *c, json_t **all, struct buf *err)
{
    return sched_live_jobs(c, now_ms(), all, err);
}

/* A route without parameters answering {"items": list(c)}. */
static void redis_items(struct api_server *s, const char *qs, struct resp *r,
                        int (*list)(redisContext *c, json_t **all, struct buf *err))
{
    if (no_args(qs, r) < 0)
        return;
    redisContext *c = thread_redis(s, r);
    if (!c)
        return;
    json_t *all;
    struct buf err;
    buf_init(&err, 1024);
    if (list(c, &all, &err) < 0)
        redis_failed(s, c, &err, r);
    else
        r->body = json_pack("{s:o}", "items", all);
    buf_release(&err);
}

static void h_workers(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r)
{
    (void)caps;
    redis_items(s, qs, r, live_workers);
}

static void h_sched_jobs(struct api_server *s, const struct slice *caps, const char *qs,
                         struct resp *r)
{
    (void)caps;
    redis_items(s, qs, r, live_jobs);
}

/* A duration member ("30s", "5m", or integer milliseconds); -1 after a 400. */
static int body_duration(json_t *v, const char *key, int64_t *ms, struct buf *reason)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && duration_parse(json_string_value(v), ms) == 0 && *ms >= 0)
        return 0;
    buf_setf(reason, "%s: expected a duration (\"30s\") or milliseconds", key);
    return -1;
}

/* POST /api/v1/tasks: the options of `inventory task submit` as JSON. */
static int submit_parse(const char *in, size_t len, const char **type, struct buf *payload,
                        struct enqueue_opts *o, json_t **doc, struct buf *reason)
{
    json_error_t je;
    *doc = json_loadb(in, len, JSON_REJECT_DUPLICATES, &je);
    if (!*doc) {
        buf_setf(reason, "invalid JSON body: %.120s", je.text);
        return -1;
    }
    if (!json_is_object(*doc)) {
        buf_setf(reason, "expected a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    bool in_given = false, at_given = false;
    json_object_foreach(*doc, key, v)
    {
        int64_t ms;
        if (strcmp(key, "type") == 0) {
            if (!json_is_string(v) || !json_string_length(v)) {
                buf_setf(reason, "type: expected a non-empty string");
                return -1;
            }
            *type = json_string_value(v);
        } else if (strcmp(key, "payload") == 0) {
            int rc = 0;
            if (json_is_string(v)) {
                rc = buf_add(payload, json_string_value(v), json_string_length(v));
            } else if (json_is_object(v) || json_is_array(v)) {
                char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
                rc = text ? buf_adds(payload, text) : -1;
                free(text);
            } else if (!json_is_null(v)) {
                buf_setf(reason, "payload: expected an object, array or string");
                return -1;
            }
            if (rc < 0) {
                buf_setf(reason, "payload: too large");
                return -1;
            }
        } else if (strcmp(key, "queue") == 0) {
            if (!json_is_string(v) || !queue_name_valid(json_string_value(v))) {
                buf_setf(reason, "queue: expected a queue name (1-63 of A-Z a-z 0-9 _ . : -)");
                return -1;
            }
            o->queue = json_string_value(v);
        } else if (strcmp(key, "id") == 0) {
            if (!json_is_string(v) || !task_id_valid(json_string_value(v))) {
                buf_setf(reason, "id: expected a task id (1-63 of A-Z a-z 0-9 _ . : -)");
                return -1;
            }
            o->id = json_string_value(v);
        } else if (strcmp(key, "max_retry") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 10000) {
                buf_setf(reason, "max_retry: expected an integer in 0..10000");
                return -1;
            }
            o->max_retry = (int)json_integer_value(v);
        } else if (strcmp(key, "timeout") == 0) {
            if (body_duration(v, key, &o->timeout_ms, reason) < 0)
                return -1;
        } else if (strcmp(key, "deadline") == 0) {
            if (body_duration(v, key, &ms, reason) < 0)
                return -1;
            o->deadline_ms = now_ms() + ms;
        } else if (strcmp(key, "retention") == 0) {
            if (body_duration(v, key, &o->retention_ms, reason) < 0)
                return -1;
        } else if (strcmp(key, "process_in") == 0) {
            if (body_duration(v, key, &ms, reason) < 0)
                return -1;
            o->process_at_ms = now_ms() + ms;
            in_given = true;
        } else if (strcmp(key, "process_at") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT64_MAX / 1000) {
                buf_setf(reason, "process_at: expected Unix seconds");
                return -1;
            }
            o->process_at_ms = json_integer_value(v) * 1000;
            at_given = true;
        } else {
            buf_setf(reason, "unknown field \"%.64s\"", key);
            return -1;
        }
    }
    if (!*type) {
        buf_setf(reason, "missing \"type\"");
        return -1;
    }
    if (in_given && at_given) {
        buf_setf(reason, "give process_in or process_at, not both");
        return -1;
    }
    if (!task_handler_find(*type)) {
        buf_setf(reason, "unknown task type \"%.64s\" (see 'inventory task list')", *type);
        return -1;
    }
    return 0;
}

static void h_task_submit(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    (void)caps;
    if (no_args(qs, r) < 0)
        return;
    const char *type = NULL;
    struct enqueue_opts o = {.max_retry = -1, .timeout_ms = -1};
    struct buf payload, reason, err;
    json_t *doc = NULL;
    buf_init(&payload, TASK_PAYLOAD_MAX);
    buf_init(&reason, 512);
    buf_init(&err, 1024);
    if (submit_parse(r->in, r->in_len, &type, &payload, &o, &doc, &reason) < 0) {
        bad_request(r, &reason);
        goto out;
    }
    if (!o.queue)
        o.queue = QUEUE_DEFAULT;
    redisContext *c = thread_redis(s, r);
    if (!c)
        goto out;
    char id[TASK_ID_MAX];
    int rc = queue_enqueue(c, type, payload.ptr, payload.len, &o, id, &err);
    if (rc == QUEUE_CONFLICT) {
        char why[160];
        snprintf(why, sizeof(why), "task \"%s\" already exists in queue \"%s\"", o.id, o.queue);
        api_set_error(r, MHD_HTTP_CONFLICT, "conflict", why);
    } else if (rc != 0) {
        redis_failed(s, c, &err, r);
    } else {
        r->status = MHD_HTTP_CREATED;
        r->body = json_pack("{s:s,s:s}", "queue", o.queue, "id", id);
    }
out:
    json_decref(doc);
    buf_release(&payload);
    buf_release(&reason);
    buf_release(&err);
}

static void set_paused(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r, bool paused)
{
    char q[QUEUE_NAME_MAX];
    if (no_args(qs, r) < 0)
        return;
    redisContext *c = thread_redis(s, r);
    if (!c || !known_queue(s, c, &caps[0], q, r))
        return;
    struct buf err;
    buf_init(&err, 1024);
    if (queue_set_paused(c, q, paused, &err) < 0)
        redis_failed(s, c, &err, r);
    else
        r->body = json_pack("{s:s,s:b}", "queue", q, "paused", paused);
    buf_release(&err);
}

static void h_pause(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    set_paused(s, caps, qs, r, true);
}

static void h_resume(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    set_paused(s, caps, qs, r, false);
}

static void h_task_delete(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    struct task t = {0};
    redisContext *c = find_task(s, &caps[0], qs, &t, r);
    if (!c)
        return;
    struct buf err;
    buf_init(&err, 1024);
    int rc = queue_task_delete(c, t.queue, t.id, &err);
    if (rc == QUEUE_NOTFOUND)
        not_found(r, "task", t.id);
    else if (rc == QUEUE_BUSY)
        api_set_error(r, MHD_HTTP_CONFLICT, "conflict",
                      "the task is active; cancel it first (POST .../cancel)");
    else if (rc != 0)
        redis_failed(s, c, &err, r);
    else
        r->body = json_pack("{s:s,s:s,s:b}", "queue", t.queue, "id", t.id, "deleted", true);
    buf_release(&err);
    task_release(&t);
}

static void h_task_cancel(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    struct task t = {0};
    redisContext *c = find_task(s, &caps[0], qs, &t, r);
    if (!c)
        return;
    struct buf err;
    long long receivers = 0;
    buf_init(&err, 1024);
    if (queue_task_cancel(c, t.id, &receivers, &err) < 0) {
        redis_failed(s, c, &err, r);
    } else {
        r->status = MHD_HTTP_ACCEPTED;
        r->body = json_pack("{s:s,s:s,s:s,s:I}", "queue", t.queue, "id", t.id, "state",
                            task_state_name(t.state), "receivers", (json_int_t)receivers);
    }
    buf_release(&err);
    task_release(&t);
}

/* First match of path and method wins; GET routes answer HEAD too. The data
 * routes (patterns "/api/v1/:source/...") come last and are skipped once a
 * route with a literal second segment matched the path, so
 * GET /api/v1/queues/q/pause is a 405, not an unknown model. */
static const struct route {
    const char *method;
    const char *pattern;
    handler_fn fn;
    enum access access;
    bool quick; /* no I/O: answered on libmicrohttpd's thread, never queued */
} routes[] = {
    {"GET", "/health", h_health, OPEN, true},
    {"GET", "/ready", h_ready, OPEN, false},
    {"GET", "/version", h_version, OPEN, true},
    {"GET", "/metrics", h_metrics, OPEN, true},
    {"GET", "/api/v1/openapi.json", h_openapi, OPEN, true},
    {"GET", "/api/v1/models", h_models, READ, false},
    {"GET", "/api/v1/queues", h_queues, READ, false},
    {"GET", "/api/v1/queues/:q", h_queue, READ, false},
    {"GET", "/api/v1/queues/:q/tasks", h_queue_tasks, READ, false},
    {"POST", "/api/v1/queues/:q/pause", h_pause, ADMIN, false},
    {"POST", "/api/v1/queues/:q/resume", h_resume, ADMIN, false},
    {"POST", "/api/v1/tasks", h_task_submit, ADMIN, false},
    {"GET", "/api/v1/tasks/:id", h_task, READ, false},
    {"DELETE", "/api/v1/tasks/:id", h_task_delete, ADMIN, false},
    {"POST", "/api/v1/tasks/:id/cancel", h_task_cancel, ADMIN, false},
    {"GET", "/api/v1/workers", h_workers, READ, false},
    {"GET", "/api/v1/scheduler/jobs", h_sched_jobs, READ, false},
    {"GET", "/api/v1/scans", h_scans, READ, false},
    {"GET", "/api/v1/scans/:ip", h_scans_ip, READ, false},
    {"GET", "/api/v1/:source/:model", h_list, READ, false},
    {"GET", "/api/v1/:source/:model/:id", h_get, READ, false},
    {"GET", "/api/v1/:source/:model/:id/links", h_links, READ, false},
    /* host-based inventory (src/api/hbi.c); checkin before the id list */
    {"GET", "/api/inventory/v1/openapi.json", hbi_openapi_doc, OPEN, true},
    {"GET", "/api/inventory/v1/hosts", hbi_hosts_list, IDENTITY, false},
    {"POST", "/api/inventory/v1/hosts", hbi_hosts_add, IDENTITY, false},
    {"POST", "/api/inventory/v1/hosts/checkin", hbi_hosts_checkin, IDENTITY, false},
    {"GET", "/api/inventory/v1/hosts/:host_id_list", hbi_hosts_get, IDENTITY, false},
    {"PATCH", "/api/inventory/v1/hosts/:host_id_list", hbi_hosts_patch, IDENTITY, false},
    {"DELETE", "/api/inventory/v1/hosts/:host_id_list", hbi_hosts_delete, IDENTITY, false},
    {"GET", "/api/inventory/v1/hosts/:host_id_list/system_profile", hbi_system_profile, IDENTITY,
     false},
    {"GET", "/api/inventory/v1/hosts/:host_id_list/tags", hbi_host_tags, IDENTITY, false},
    {"GET", "/api/inventory/v1/hosts/:host_id_list/tags/count", hbi_host_tag_count, IDENTITY,
     false},
    {"GET", "/api/inventory/v1/tags", hbi_tags, IDENTITY, false},
    {"GET", "/api/inventory/v1/host_exists", hbi_host_exists, IDENTITY, false},
    {"GET", "/api/inventory/v1/account/staleness", hbi_staleness_get, IDENTITY, false},
    {"POST", "/api/inventory/v1/account/staleness", hbi_staleness_create, IDENTITY, false},
    {"PATCH", "/api/inventory/v1/account/staleness", hbi_staleness_update, IDENTITY, false},
    {"DELETE", "/api/inventory/v1/account/staleness", hbi_staleness_delete, IDENTITY, false},
};

/* ---- authentication ---- */

/* The scope of the request's bearer token: 1 + enum api_scope, 0 without a
 * token, -1 for a token that matches no configured hash. Every configured
 * hash is compared (in constant time), whatever matched before. */
static int token_scope(const struct config *cfg, struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h)
        return 0;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return -1;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!*tok || !EVP_Digest(tok, strlen(tok), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    int scope = -1;
    for (size_t i = 0; i < cfg->api.ntokens; i++) {
        bool eq = CRYPTO_memcmp(md, cfg->api.tokens[i].sha256, 32) == 0;
        if (eq && (int)cfg->api.tokens[i].scope + 1 > scope)
            scope = (int)cfg->api.tokens[i].scope + 1;
    }
    OPENSSL_cleanse(md, sizeof(md));
    return scope;
}

/* 0 when the request may run the route (an IDENTITY route's caller in
 * *who); else the 401 or 403 is set. */
static int authorize(const struct config *cfg, struct MHD_Connection *conn, enum access a,
                     struct identity *who, struct resp *r)
{
    if (a == OPEN)
        return 0;
    if (a == IDENTITY)
        return hbi_authorize(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, HBI_IDENTITY_HEADER), who, r);
    bool open_reads = cfg->api.auth && strcmp(cfg->api.auth, "none") == 0;
    if (a == READ && open_reads)
        return 0;
    int scope = token_scope(cfg, conn);
    if (scope <= 0) {
        api_set_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                      scope == 0 ? "missing bearer token" : "invalid bearer token");
        return -1;
    }
    if (a == ADMIN && scope != API_SCOPE_ADMIN + 1) {
        api_set_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "this route needs an admin token");
        return -1;
    }
    return 0;
}

/* ---- libmicrohttpd glue ---- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    str_trim(msg);
    log_warn("api: http server", LF_STR("error", msg));
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api_server *s = cls;
    struct req *q = xcalloc(1, sizeof(*q));
    q->s = s;
    q->conn = conn;
    q->uri = xstrdup(uri ? uri : "");
    q->pattern = "unmatched";
    q->t0 = mono_ms();
    buf_init(&q->body, API_MAX_BODY + 1);
    atomic_init(&q->answered, false);
    atomic_fetch_add(&s->inflight, 1);
    return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)conn;
    (void)code;
    struct api_server *s = cls;
    struct req *q = *con_cls;
    if (!q)
        return;
    if (q->resp)
        MHD_destroy_response(q->resp);
    json_decref(q->r.body);
    free(q->r.text);
    free(q->path);
    free(q->uri);
    buf_release(&q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* Turns the answer in q->r into q->resp and q->status: r.text when set
 * (with r.ctype), else r.body as JSON, with one extra header, hname: hval,
 * when hname is set. Runs where the handler ran, so that a worker, not
 * libmicrohttpd's thread, pays for serialising. q->resp stays NULL when
 * out of memory (the connection is then closed). */
static void make_response(struct req *q, const char *hname, const char *hval)
{
    struct resp *r = &q->r;
    unsigned int status = r->status;
    const char *ctype = r->ctype;
    char *text = r->text;
    size_t len;
    r->text = NULL;
    if (text) {
        len = strlen(text);
    } else {
        text = r->body ? json_dumps(r->body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            text = xstrdup("{\"error\":\"internal error\"}");
        }
        len = strlen(text);
        text = xrealloc(text, len + 2);
        text[len++] = '\n';
        text[len] = '\0';
        ctype = API_JSON_TYPE;
    }
    json_decref(r->body);
    r->body = NULL;
    struct MHD_Response *m = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!m) {
        free(text);
        return;
    }
    if ((ctype && MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) ||
        (hname && MHD_add_response_header(m, hname, hval) != MHD_YES)) {
        MHD_destroy_response(m);
        return;
    }
    q->resp = m;
    q->status = status;
}

/* Counts a finished request by route pattern (the matched one, else
 * "unmatched"), method and status; observes its latency. */
static void record(struct api_server *s, const char *route, const char *method, unsigned int status,
                   int64_t t0)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"};
    const char *m = "other";
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (strcmp(method, methods[i]) == 0)
            m = methods[i];
    char code[8];
    snprintf(code, sizeof(code), "%u", status);
    metrics_inc(s->m_requests, (const char *const[]){route, m, code}, 1);
    metrics_observe(s->m_latency, (const char *const[]){route}, (double)(mono_ms() - t0) / 1000.0);
}

static void collect_inflight(void *arg)
{
    struct api_server *s = arg;
    metrics_set(s->m_inflight, NULL, atomic_load(&s->inflight));
}

static bool is_data_route(const struct route *rt)
{
    return strncmp(rt->pattern, "/api/v1/:", 9) == 0;
}

/* The methods of the routes matching path, for Allow ("GET, HEAD, POST"). */
static void allowed_methods(const char *path, char *out, size_t n)
{
    static const char *const order[] = {"GET", "POST", "PATCH", "DELETE"};
    struct slice caps[API_ROUTE_MAX_CAPS];
    size_t ncaps;
    bool has[ARRAY_SIZE(order)] = {false}, specific = false;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (!api_route_match(routes[i].pattern, path, caps, &ncaps) ||
            (specific && is_data_route(&routes[i])))
            continue;
        specific |= !is_data_route(&routes[i]);
        for (size_t k = 0; k < ARRAY_SIZE(order); k++)
            has[k] |= strcmp(routes[i].method, order[k]) == 0;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t k = 0; k < ARRAY_SIZE(order) && len < n; k++)
        if (has[k])
            len += (size_t)snprintf(out + len, n - len, "%s%s%s", len ? ", " : "", order[k],
                                    k == 0 ? ", HEAD" : "");
}

/* The answer to a request that comes in, or was still queued, once the
 * workers are stopping. */
static void refuse_stopping(struct req *q)
{
    api_set_error(&q->r, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    make_response(q, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Sends q's answer (on libmicrohttpd's thread), counts and logs it. */
static enum MHD_Result answer(struct req *q, const char *method)
{
    enum MHD_Result ret = q->resp ? MHD_queue_response(q->conn, q->status, q->resp) : MHD_NO;
    if (q->resp)
        MHD_destroy_response(q->resp);
    q->resp = NULL;
    unsigned int status = ret == MHD_YES ? q->status : MHD_HTTP_INTERNAL_SERVER_ERROR;
    record(q->s, q->pattern, method, status, q->t0);
    log_debug("api request", LF_STR("method", method), LF_STR("path", q->path ? q->path : q->uri),
              LF_INT("status", status), LF_INT("ms", mono_ms() - q->t0));
    return ret;
}

/* Runs q's handler and builds its answer (a worker, or libmicrohttpd's
 * thread for a quick route). */
static void serve(struct req *q)
{
    q->hit->fn(q->s, q->caps, q->qs, &q->r);
    if (!q->r.body)
        api_set_error(&q->r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
    make_response(q, NULL, NULL);
}

/* Hands q to a worker; false once the workers are stopping. */
static bool enqueue(struct api_server *s, struct req *q)
{
    pthread_mutex_lock(&s->qmu);
    bool ok = !s->stopping;
    if (ok) {
        q->queued = true;
        MHD_suspend_connection(q->conn);
        q->next = NULL;
        if (s->qtail)
            s->qtail->next = q;
        else
            s->qhead = q;
        s->qtail = q;
        pthread_cond_signal(&s->qcv);
    }
    pthread_mutex_unlock(&s->qmu);
    return ok;
}

/* Marks q answered and gives its connection back to libmicrohttpd, whose
 * thread then calls on_request again to send the answer. */
static void hand_back(struct req *q)
{
    atomic_store_explicit(&q->answered, true, memory_order_release);
    MHD_resume_connection(q->conn);
}

/* A worker: runs queued requests in arrival order, whatever connection or
 * libmicrohttpd thread they came from, on its own PostgreSQL and Redis
 * connections (thread_slot). */
static void *worker_main(void *arg)
{
    struct api_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (!s->qhead && !s->stopping)
            pthread_cond_wait(&s->qcv, &s->qmu);
        struct req *q = s->qhead;
        if (q) {
            s->qhead = q->next;
            if (!s->qhead)
                s->qtail = NULL;
        }
        pthread_mutex_unlock(&s->qmu);
        if (!q)
            return NULL;
        serve(q);
        hand_back(q);
    }
}

/* Routes q: 1 when its handler is to run, 0 when q->r holds the refusal
 * (404, 405 with Allow, 401/403), with its extra header in *hname. */
static int route(struct req *q, const char *method, const char **hname, const char **hval,
                 char *allow, size_t allow_n)
{
    struct api_server *s = q->s;
    q->r.in = buf_str(&q->body);
    q->r.in_len = q->body.len;
    /* Path and query string from the raw request target. */
    q->path = xstrdup(q->uri);
    char *qs = strchr(q->path, '?');
    if (qs)
        *qs++ = '\0';
    q->qs = qs;
    size_t ncaps = 0;
    bool known = false, specific = false;
    const char *m = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ? MHD_HTTP_METHOD_GET : method;
    for (size_t i = 0; i < ARRAY_SIZE(routes) && !q->hit; i++) {
        if (!api_route_match(routes[i].pattern, q->path, q->caps, &ncaps) ||
            (specific && is_data_route(&routes[i])))
            continue;
        if (!known)
            q->pattern = routes[i].pattern;
        known = true;
        specific |= !is_data_route(&routes[i]);
        if (strcmp(routes[i].method, m) == 0) {
            q->hit = &routes[i];
            q->pattern = q->hit->pattern;
        }
    }
    if (!known) {
        api_set_error(&q->r, MHD_HTTP_NOT_FOUND, "not found", NULL);
        return 0;
    }
    if (!q->hit) {
        api_set_error(&q->r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL);
        allowed_methods(q->path, allow, allow_n);
        *hname = MHD_HTTP_HEADER_ALLOW;
        *hval = allow;
        return 0;
    }
    if (authorize(s->cfg, q->conn, q->hit->access, &q->who, &q->r) < 0) {
        if (q->r.status == MHD_HTTP_UNAUTHORIZED && q->hit->access != IDENTITY) {
            *hname = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
            *hval = "Bearer";
        }
        return 0;
    }
    if (q->hit->access == IDENTITY) {
        q->r.who = &q->who;
        q->r.request_id =
            MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, HBI_REQUEST_ID_HEADER);
    }
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_server *s = cls;
    struct req *q = *con_cls;
    (void)url;
    (void)version;
    if (!q)
        return MHD_NO;
    if (q->queued) /* resumed by its worker */
        return atomic_load_explicit(&q->answered, memory_order_acquire) ? answer(q, method)
                                                                        : MHD_YES;
    if (!q->started) {
        q->started = true;
        /* A declared body over the limit is refused before it is read. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t len;
        if (cl && parse_int64(cl, 0, API_MAX_BODY, &len) < 0)
            q->too_large = true;
        if (!q->too_large)
            return MHD_YES;
    } else if (*upload_data_size) {
        /* Buffer the body up to API_MAX_BODY; past it, discard the rest. */
        if (q->too_large || q->body.len + *upload_data_size > API_MAX_BODY ||
            buf_add(&q->body, upload_data, *upload_data_size) < 0)
            q->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    q->r = (struct resp){.in = "", .status = MHD_HTTP_OK};
    if (q->too_large) {
        api_set_error(&q->r, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large",
                      "the request body is over 1 MiB");
        make_response(q, MHD_HTTP_HEADER_CONNECTION, "close");
        return answer(q, method);
    }
    const char *hname = NULL, *hval = NULL;
    char allow[64];
    if (!route(q, method, &hname, &hval, allow, sizeof(allow)))
        make_response(q, hname, hval);
    else if (q->hit->quick)
        serve(q);
    else if (enqueue(s, q))
        return MHD_YES;
    else
        refuse_stopping(q);
    return answer(q, method);
}

/* Starts s->threads workers, with every signal blocked (the main thread
 * takes SIGTERM/SIGINT). */
static int workers_start(struct api_server *s, struct buf *err)
{
    s->workers = xcalloc(s->threads, sizeof(*s->workers));
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (; s->nworkers < s->threads; s->nworkers++) {
        rc = pthread_create(&s->workers[s->nworkers], NULL, worker_main, s);
        if (rc != 0) {
            buf_setf(err, "api: cannot start worker threads: %s", strerror(rc));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

/* Stops the workers: requests still queued are answered 503, those
 * running finish; returns when every worker has exited. */
static void workers_stop(struct api_server *s)
{
    pthread_mutex_lock(&s->qmu);
    s->stopping = true;
    struct req *q = s->qhead;
    s->qhead = s->qtail = NULL;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    while (q) {
        struct req *next = q->next; /* q is libmicrohttpd's again once handed back */
        refuse_stopping(q);
        hand_back(q);
        q = next;
    }
    for (size_t i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
}

int api_server_start(struct api_server *s, const struct config *cfg, struct buf *err)
{
    char host[256], service[8];
    int port;
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    atomic_init(&s->inflight, 0);
    metrics_registry_init(&s->reg);
    static const char *const rmc[] = {"route", "method", "code"}, *const route[] = {"route"};
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10,   30};
    s->m_requests = metrics_counter(&s->reg, "inventory_api_requests_total",
                                    "HTTP requests answered by the REST API, by route pattern, "
                                    "method and status code.",
                                    3, rmc);
    s->m_latency = metrics_histogram(&s->reg, "inventory_api_request_duration_seconds",
                                     "Time from request line to answer, by route pattern.", 1,
                                     route, ARRAY_SIZE(bounds), bounds);
    s->m_inflight = metrics_gauge(&s->reg, "inventory_api_requests_in_flight",
                                  "Requests received and not yet completed.", 0, NULL);
    metrics_on_collect(&s->reg, collect_inflight, s);
    if (httpd_parse_address(cfg->api.address, host, sizeof(host), &port) < 0) {
        buf_setf(err, "api.address: invalid listen address \"%s\"", cfg->api.address);
        goto fail;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cfg->api.threads > 0 ? (unsigned)cfg->api.threads : cpus > 0 ? (unsigned)cpus : 1;
    s->io_threads = 1 + (s->threads - 1) / API_WORKERS_PER_IO;
    if (workers_start(s, err) < 0)
        goto fail;
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
    if (gai != 0) {
        buf_setf(err, "api.address: cannot resolve \"%s\": %s", host, gai_strerror(gai));
        goto fail;
    }
    unsigned int timeout_s = (unsigned)((cfg->api.request_timeout_ms + 999) / 1000);
    for (const struct addrinfo *ai = res; ai && !s->daemon; ai = ai->ai_next) {
        unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
                             MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                             MHD_USE_ERROR_LOG;
        if (ai->ai_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        else if (ai->ai_family != AF_INET)
            continue;
        s->daemon = MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
            on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
            s->io_threads > 1 ? s->io_threads : 0u, MHD_OPTION_CONNECTION_LIMIT, API_CONN_LIMIT,
            MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)API_MEMORY_LIMIT, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    }
    freeaddrinfo(res);
    if (!s->daemon) {
        buf_setf(err, "api: cannot listen on %s", cfg->api.address);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    log_info("http server listening", LF_STR("address", cfg->api.address), LF_INT("port", s->port),
             LF_INT("threads", s->threads), LF_INT("io_threads", s->io_threads));
    return 0;
fail:
    workers_stop(s);
    metrics_registry_release(&s->reg);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    return -1;
}

unsigned int api_server_port(const struct api_server *s)
{
    return s->port;
}

void api_server_stop(struct api_server *s)
{
    if (!s->daemon)
        return;
    /* Stop accepting; requests already read get their answers. */
    MHD_socket lsock = MHD_quiesce_daemon(s->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    int64_t deadline = mono_ms() + s->cfg->api.request_timeout_ms;
    while (atomic_load(&s->inflight) > 0 && mono_ms() < deadline)
        usleep(DRAIN_POLL * 1000);
    log_info("api stopping", LF_INT("in_flight", atomic_load(&s->inflight)));
    /* Requests still queued are refused, those running finish (each
     * statement within api.request_timeout); libmicrohttpd must not stop
     * with a connection suspended, and their answers go out first. */
    workers_stop(s);
    deadline = mono_ms() + DRAIN_FLUSH;
    while (atomic_load(&s->inflight) > 0 && mono_ms() < deadline)
        usleep(DRAIN_POLL * 1000);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    for (size_t i = 0; i < s->nslots; i++)
        slot_free(s->slots[i]);
    free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
    metrics_registry_release(&s->reg);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
}
