/* The periodic scheduler. One thread: every job's ticks are computed from
 * its spec; when a tick is due the scheduler tries to enqueue it through the
 * enqueue script with the job's marker (queue.h, tick_job), so of all the
 * schedulers running the same job exactly one enqueues each tick. Entries
 * are published in Redis with a heartbeat for `scheduler jobs`. */
#include "queue/scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "core/cron.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "core/yamljson.h"
#include "queue/handler.h"
#include "queue/presence.h"

#define HEARTBEAT_MS   5000
#define RETRY_MS       500
#define HISTORY_TTL_MS (30LL * 86400 * 1000)

/* Name-based UUID (version 5 layout) of the job's content, so every
 * scheduler with the same configuration derives the same id. */
static void job_id(struct sched_entry *e)
{
    unsigned char d[SHA_DIGEST_LENGTH];
    const char *parts[4] = {e->type, cron_spec_text(&e->cron), e->queue,
                            e->payload ? e->payload : ""};
    struct buf b;
    buf_init(&b, 4 * TASK_PAYLOAD_MAX);
    for (int i = 0; i < 4; i++)
        if (buf_adds(&b, parts[i]) < 0 || buf_adds(&b, "\n") < 0)
            abort(); /* sizes are checked before: cannot happen */
    SHA1((const unsigned char *)b.ptr, b.len, d);
    buf_release(&b);
    d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);
    d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
    snprintf(e->id, sizeof(e->id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
             d[15]);
}

static void entry_release(struct sched_entry *e)
{
    free(e->type);
    free(e->spec);
    free(e->desc);
    free(e->payload);
    cron_release(&e->cron);
}

void sched_set_release(struct sched_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        entry_release(&set->items[i]);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

/* "file:line: " of a config position, or "" for defaults. */
static void pos_prefix(char *out, size_t n, const struct config_pos *p)
{
    if (p->file && p->line > 0)
        snprintf(out, n, "%s:%d: ", p->file, p->line);
    else if (p->file)
        snprintf(out, n, "%s: ", p->file);
    else
        out[0] = '\0';
}

/* Fills e from one job; on error writes the reason (without position). */
static int entry_fill(struct sched_entry *e, const char *type, const char *spec, const char *desc,
                      const char *payload, const char *queue, const char *tz, const char **field,
                      struct buf *err)
{
    memset(e, 0, sizeof(*e));
    e->last_tick = -1;
    *field = "name";
    if (!task_handler_find(type)) {
        buf_setf(err, "unknown task \"%s\" (see 'inventory task list')", type);
        return -1;
    }
    *field = "queue";
    if (!queue_name_valid(queue)) {
        buf_setf(err, "invalid queue name \"%s\"", queue);
        return -1;
    }
    *field = "spec";
    struct buf cerr;
    buf_init(&cerr, 512);
    if (cron_parse(&e->cron, spec, tz, &cerr) < 0) {
        buf_setf(err, "\"%s\": %s", spec, buf_str(&cerr));
        buf_release(&cerr);
        return -1;
    }
    buf_release(&cerr);
    *field = "payload";
    if (payload && *payload && payload_to_json(payload, strlen(payload), &e->payload, err) < 0) {
        cron_release(&e->cron);
        return -1;
    }
    if (e->payload && strlen(e->payload) > TASK_PAYLOAD_MAX) {
        buf_setf(err, "payload of %zu bytes exceeds the limit of %u", strlen(e->payload),
                 TASK_PAYLOAD_MAX);
        free(e->payload);
        cron_release(&e->cron);
        return -1;
    }
    e->type = xstrdup(type);
    e->spec = xstrdup(spec);
    e->desc = desc && *desc ? xstrdup(desc) : NULL;
    snprintf(e->queue, sizeof(e->queue), "%s", queue);
    job_id(e);
    return 0;
}

static struct sched_entry *grow(struct sched_set *set, size_t *cap)
{
    if (set->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        set->items = xrealloc(set->items, *cap * sizeof(*set->items));
    }
    return &set->items[set->n];
}

struct code_ctx {
    const struct config *cfg;
    struct sched_set *set;
    size_t *cap;
    struct buf *err;
    int rc;
};

static void add_code_task(const struct periodic_task *p, void *arg)
{
    struct code_ctx *c = arg;
    if (c->rc < 0 || (p->enabled && !p->enabled(c->cfg)))
        return;
    /* A config job for the same task type replaces the one from code. */
    for (size_t i = 0; i < c->cfg->scheduler.njobs; i++)
        if (strcmp(c->cfg->scheduler.jobs[i].name, p->type) == 0)
            return;
    const char *field;
    struct sched_entry *e = grow(c->set, c->cap);
    if (entry_fill(e, p->type, p->spec, p->desc, p->payload, c->cfg->scheduler.default_queue,
                   c->cfg->scheduler.timezone, &field, c->err) < 0) {
        /* A programming error in a source's table: say where. */
        char msg[512];
        snprintf(msg, sizeof(msg), "periodic task %s (%s): %s: %s", p->type, p->spec, field,
                 buf_str(c->err));
        buf_setf(c->err, "%s", msg);
        c->rc = -1;
        return;
    }
    e->origin = "code";
    c->set->n++;
}

int sched_build(const struct config *cfg, struct sched_set *set, struct buf *err)
{
    size_t cap = 0;
    memset(set, 0, sizeof(*set));
    /* The default zone must load even when no spec uses it yet. */
    struct cron_spec probe;
    struct buf cerr;
    buf_init(&cerr, 512);
    if (cron_parse(&probe, "@daily", cfg->scheduler.timezone, &cerr) < 0) {
        buf_setf(err, "scheduler.timezone: \"%s\": %s", cfg->scheduler.timezone, buf_str(&cerr));
        buf_release(&cerr);
        return -1;
    }
    cron_release(&probe);
    buf_release(&cerr);
    for (size_t i = 0; i < cfg->scheduler.njobs; i++) {
        const struct config_job *j = &cfg->scheduler.jobs[i];
        const char *field;
        struct sched_entry *e = grow(set, &cap);
        const char *q = j->queue && *j->queue ? j->queue : cfg->scheduler.default_queue;
        if (entry_fill(e, j->name, j->spec, j->desc, j->payload, q, cfg->scheduler.timezone, &field,
                       err) < 0) {
            const struct config_pos *pos = strcmp(field, "spec") == 0      ? &j->spec_pos
                                           : strcmp(field, "payload") == 0 ? &j->payload_pos
                                                                           : &j->pos;
            if (!pos->file)
                pos = &j->pos;
            char where[512], msg[1024];
            pos_prefix(where, sizeof(where), pos);
            snprintf(msg, sizeof(msg), "%sscheduler.jobs[%zu].%s: %s", where, i, field,
                     buf_str(err));
            buf_setf(err, "%s", msg);
            sched_set_release(set);
            return -1;
        }
        e->origin = "config";
        for (size_t k = 0; k < set->n; k++)
            if (strcmp(set->items[k].id, e->id) == 0) {
                char where[512];
                pos_prefix(where, sizeof(where), &j->pos);
                buf_setf(err, "%sscheduler.jobs[%zu]: the same job as scheduler.jobs[%zu]", where,
                         i, k);
                entry_release(e);
                sched_set_release(set);
                return -1;
            }
        set->n++;
    }
    struct code_ctx c = {cfg, set, &cap, err, 0};
    periodic_tasks_each(add_code_task, &c);
    if (c.rc < 0) {
        sched_set_release(set);
        return -1;
    }
    return 0;
}

/* ---- runtime ------------------------------------------------------------------- */

struct sched {
    const struct sched_opts *o;
    struct sched_set *set;
    char id[TASK_ID_MAX];
    char host[64];
    int64_t started_ms;
    struct rds_conn rc;
    struct metric *m_enq, *m_dup, *m_err, *m_last, *m_entries;
};

static json_t *registry_json(const struct sched *s)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < s->set->n; i++) {
        const struct sched_entry *e = &s->set->items[i];
        json_array_append_new(entries,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:s}", "id", e->id, "spec",
                                        cron_spec_text(&e->cron), "tz", cron_spec_tz(&e->cron),
                                        "type", e->type, "queue", e->queue, "desc", e->desc,
                                        "payload", e->payload, "origin", e->origin));
    }
    return json_pack("{s:s,s:s,s:i,s:I,s:o}", "id", s->id, "host", s->host, "pid", (int)getpid(),
                     "started_ms", (json_int_t)s->started_ms, "entries", entries);
}

static const struct presence sched_presence = {SCHED_REGISTRY_KEY, SCHED_INFO_PREFIX};

static int heartbeat(struct sched *s, redisContext *c)
{
    json_t *j = registry_json(s);
    struct buf err;
    buf_init(&err, 512);
    int rc = presence_beat(c, &sched_presence, s->id, j, SCHED_TTL_MS, &err);
    if (rc < 0)
        log_warn("scheduler heartbeat failed", LF_STR("error", buf_str(&err)));
    json_decref(j);
    buf_release(&err);
    return rc;
}

static void deregister(struct sched *s)
{
    redisContext *c = rds_conn_try(&s->rc);
    if (c)
        presence_leave(c, &sched_presence, s->id);
}

static void record_history(struct sched *s, redisContext *c, const struct sched_entry *e,
                           int64_t tick, const char *task_id)
{
    json_t *j =
        json_pack("{s:I,s:s,s:s,s:I,s:s}", "tick_ms", (json_int_t)tick, "task_id", task_id, "queue",
                  e->queue, "enqueued_ms", (json_int_t)now_ms(), "scheduler", s->id);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char key[256], max[16], ttl[24];
    snprintf(key, sizeof(key), "%s%s", SCHED_HISTORY_PREFIX, e->id);
    snprintf(max, sizeof(max), "%d", SCHED_HISTORY_MAX - 1);
    /* Kept a month, or three periods for rarer jobs, after the last enqueue. */
    int64_t period = cron_next(&e->cron, tick) - tick;
    snprintf(ttl, sizeof(ttl), "%lld",
             (long long)(3 * period > HISTORY_TTL_MS ? 3 * period : HISTORY_TTL_MS));
    const char *cmds[3][4] = {
        {"LPUSH", key, text, NULL}, {"LTRIM", key, "0", max}, {"PEXPIRE", key, ttl, NULL}};
    const int argc[3] = {3, 4, 3};
    for (int i = 0; i < 3; i++)
        redisAppendCommandArgv(c, argc[i], cmds[i], NULL);
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK) {
            rds_conn_broken(&s->rc);
            break;
        }
        freeReplyObject(r);
    }
    free(text);
}

/* Tries to enqueue tick `tick` of e. 0 handled (enqueued or a duplicate),
 * -1 failed (retry later). */
static int fire(struct sched *s, struct sched_entry *e, int64_t tick, bool catch_up)
{
    const char *labels[2] = {e->id, e->type};
    redisContext *c = rds_conn_try(&s->rc);
    char id[TASK_ID_MAX], got[TASK_ID_MAX];
    snprintf(id, sizeof(id), "sched:%.8s:%lld", e->id, (long long)(tick / 1000));
    struct enqueue_opts eo = {.id = id,
                              .queue = e->queue,
                              .max_retry = -1,
                              .timeout_ms = -1,
                              .tick_job = e->id,
                              .tick_ms = tick};
    struct buf err;
    buf_init(&err, 1024);
    int rc = c ? queue_enqueue(c, e->type, e->payload, e->payload ? strlen(e->payload) : 0, &eo,
                               got, &err)
               : -1;
    if (!c)
        buf_setf(&err, "redis unavailable");
    if (rc == 0) {
        if (catch_up)
            log_info("catching up a missed tick", LF_STR("job", e->id), LF_STR("task", e->type),
                     LF_INT("tick_ms", tick));
        log_info("enqueued periodic task", LF_STR("job", e->id), LF_STR("task", e->type),
                 LF_STR("task_id", got), LF_STR("queue", e->queue), LF_INT("tick_ms", tick));
        metrics_inc(s->m_enq, labels, 1);
        metrics_set(s->m_last, labels, (double)now_ms() / 1000.0);
        record_history(s, c, e, tick, got);
    } else if (rc == QUEUE_DUPLICATE || rc == QUEUE_CONFLICT) {
        log_debug("periodic tick already enqueued", LF_STR("job", e->id), LF_INT("tick_ms", tick));
        metrics_inc(s->m_dup, labels, 1);
        rc = 0;
    } else {
        if (c && c->err)
            rds_conn_broken(&s->rc);
        log_warn("periodic enqueue failed; retrying", LF_STR("job", e->id), LF_STR("task", e->type),
                 LF_INT("tick_ms", tick), LF_STR("error", buf_str(&err)));
        metrics_inc(s->m_err, labels, 1);
        rc = -1;
    }
    buf_release(&err);
    return rc;
}

/* Sets each entry's starting point from its marker: jobs that ran before
 * and missed ticks while no scheduler ran owe one catch-up (when enabled). */
static int init_ticks(struct sched *s, int64_t now)
{
    for (size_t i = 0; i < s->set->n; i++) {
        struct sched_entry *e = &s->set->items[i];
        redisContext *c = rds_conn_get(&s->rc, s->o->stop);
        if (!c)
            return -1;
        int64_t marker;
        struct buf err;
        buf_init(&err, 512);
        if (queue_tick_marker(c, e->queue, e->id, &marker, &err) < 0) {
            log_warn("cannot read a periodic job's marker", LF_STR("job", e->id),
                     LF_STR("error", buf_str(&err)));
            buf_release(&err);
            rds_conn_broken(&s->rc);
            i--; /* again, after reconnecting */
            continue;
        }
        buf_release(&err);
        int64_t p = cron_prev(&e->cron, now);
        if (marker < 0 || p < 0 || marker >= p) {
            e->last_tick = p < 0 ? now : p; /* wait for the next tick */
        } else if (cron_next(&e->cron, marker) == p) {
            e->last_tick = marker; /* the current tick, maybe not enqueued yet */
        } else if (s->o->cfg->scheduler.catch_up) {
            e->last_tick = marker; /* missed: p is enqueued once as a catch-up */
        } else {
            log_info("skipping missed ticks", LF_STR("job", e->id), LF_INT("last_tick_ms", marker));
            e->last_tick = p;
        }
    }
    return 0;
}

static void sleep_until(const struct sched *s, int64_t wall_ms)
{
    /* Short naps keep SIGTERM responsive; the last one lands on the tick. */
    for (;;) {
        if (atomic_load(s->o->stop))
            return;
        int64_t left = wall_ms - now_ms();
        if (left <= 0)
            return;
        if (left > 200)
            left = 200;
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !atomic_load(s->o->stop)) {
        }
    }
}

static void setup_metrics(struct sched *s)
{
    struct metrics_registry *reg = s->o->metrics;
    if (!reg)
        return;
    static const char *const lbl[2] = {"job", "task"};
    s->m_enq = metrics_counter(reg, "inventory_scheduler_enqueues_total",
                               "Periodic tasks enqueued by this scheduler.", 2, lbl);
    s->m_dup = metrics_counter(reg, "inventory_scheduler_duplicates_total",
                               "Ticks another scheduler had already enqueued.", 2, lbl);
    s->m_err = metrics_counter(reg, "inventory_scheduler_enqueue_errors_total",
                               "Failed enqueue attempts (retried).", 2, lbl);
    s->m_last = metrics_gauge(reg, "inventory_scheduler_last_enqueue_timestamp_seconds",
                              "Unix time of this scheduler's last enqueue of the job.", 2, lbl);
    s->m_entries = metrics_gauge(reg, "inventory_scheduler_entries",
                                 "Periodic jobs of this scheduler.", 0, NULL);
    for (size_t i = 0; i < s->set->n; i++) {
        const char *labels[2] = {s->set->items[i].id, s->set->items[i].type};
        metrics_inc(s->m_enq, labels, 0);
        metrics_inc(s->m_dup, labels, 0);
        metrics_inc(s->m_err, labels, 0);
    }
    metrics_set(s->m_entries, NULL, (double)s->set->n);
}

int sched_run(const struct sched_opts *o, struct sched_set *set, struct buf *err)
{
    struct sched s;
    memset(&s, 0, sizeof(s));
    s.o = o;
    s.set = set;
    s.started_ms = now_ms();
    task_new_id(s.id);
    if (gethostname(s.host, sizeof(s.host)) < 0)
        snprintf(s.host, sizeof(s.host), "unknown");
    s.host[sizeof(s.host) - 1] = '\0';
    const struct config *cfg = o->cfg;
    struct rds_opts ropts = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                             cfg->redis.db, cfg->redis.connect_timeout_ms};
    rds_conn_init(&s.rc, &ropts, "scheduler");
    /* The first connection must work: a wrong endpoint is reported, not retried. */
    redisContext *probe;
    if (rds_connect(&ropts, &probe, err) < 0) {
        rds_conn_release(&s.rc);
        return -1;
    }
    redisFree(probe);
    qscripts_init();
    setup_metrics(&s);
    if (init_ticks(&s, now_ms()) < 0) { /* stopped while connecting */
        rds_conn_release(&s.rc);
        return 0;
    }
    for (size_t i = 0; i < set->n; i++)
        log_info("periodic job", LF_STR("job", set->items[i].id),
                 LF_STR("spec", cron_spec_text(&set->items[i].cron)),
                 LF_STR("task", set->items[i].type), LF_STR("queue", set->items[i].queue),
                 LF_STR("origin", set->items[i].origin));
    log_info("scheduler started", LF_STR("id", s.id), LF_INT("entries", set->n),
             LF_STR("timezone", cfg->scheduler.timezone));
    int64_t next_beat = 0;
    while (!atomic_load(o->stop)) {
        int64_t now = now_ms();
        if (now >= next_beat) {
            redisContext *c = rds_conn_try(&s.rc);
            next_beat = now + (c && heartbeat(&s, c) == 0 ? HEARTBEAT_MS : RETRY_MS);
            if (c && c->err)
                rds_conn_broken(&s.rc);
        }
        int64_t wake = next_beat;
        for (size_t i = 0; i < set->n; i++) {
            struct sched_entry *e = &set->items[i];
            int64_t p = cron_prev(&e->cron, now);
            if (p > e->last_tick) {
                /* Ticks between the last one handled and p were missed (a
                 * stall, or the start-up catch-up): only p is owed. A tick
                 * that failed to enqueue is not missed: its successor
                 * simply takes its place. */
                bool missed =
                    !e->failing && e->last_tick >= 0 && cron_next(&e->cron, e->last_tick) < p;
                if (missed && !cfg->scheduler.catch_up) {
                    log_info("skipping missed ticks", LF_STR("job", e->id),
                             LF_INT("last_tick_ms", e->last_tick));
                    e->last_tick = p;
                } else if (fire(&s, e, p, missed) == 0) {
                    e->last_tick = p;
                    e->failing = false;
                } else {
                    e->failing = true;
                    if (now + RETRY_MS < wake)
                        wake = now + RETRY_MS;
                }
            }
            int64_t n = cron_next(&e->cron, now);
            if (n >= 0 && n < wake)
                wake = n;
        }
        sleep_until(&s, wake);
    }
    deregister(&s);
    rds_conn_release(&s.rc);
    log_info("scheduler stopped", LF_STR("id", s.id));
    return 0;
}

/* ---- live jobs (scheduler jobs, REST API) ---- */

struct live_job {
    json_t *entry; /* borrowed */
    const char *id, *type, *spec;
};

static int cmp_live_jobs(const void *a, const void *b)
{
    const struct live_job *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c == 0)
        c = strcmp(x->spec, y->spec);
    return c ? c : strcmp(x->id, y->id);
}

int sched_live_jobs(redisContext *c, int64_t now, json_t **out, struct buf *err)
{
    static const struct presence scheds = {SCHED_REGISTRY_KEY, SCHED_INFO_PREFIX};
    json_t *all;
    *out = NULL;
    if (presence_list(c, &scheds, &all, err) < 0)
        return -1;
    /* Merge by id: the first scheduler publishing a job wins. */
    json_t *byid = json_object();
    size_t i;
    json_t *j;
    json_array_foreach(all, i, j)
    {
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(j, "entries"), k, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id && json_is_string(json_object_get(e, "type")) &&
                json_is_string(json_object_get(e, "spec")) &&
                json_is_string(json_object_get(e, "queue")) && !json_object_get(byid, id))
                json_object_set(byid, id, e);
        }
    }
    json_decref(all);
    size_t n = json_object_size(byid), at = 0;
    struct live_job *rows = xcalloc(n ? n : 1, sizeof(*rows));
    const char *key;
    json_t *e;
    json_object_foreach(byid, key, e)
    {
        rows[at++] = (struct live_job){e, key, json_string_value(json_object_get(e, "type")),
                                       json_string_value(json_object_get(e, "spec"))};
    }
    qsort(rows, n, sizeof(*rows), cmp_live_jobs);
    int rc = 0;
    *out = json_array();
    for (i = 0; i < n && rc == 0; i++) {
        json_t *o = json_deep_copy(rows[i].entry);
        const char *tz = json_string_value(json_object_get(o, "tz"));
        const char *q = json_string_value(json_object_get(o, "queue"));
        int64_t prev = -1, next = -1;
        struct cron_spec cs;
        if (cron_parse(&cs, rows[i].spec, tz, NULL) == 0) {
            next = cron_next(&cs, now);
            cron_release(&cs);
        }
        rc = queue_tick_marker(c, q, rows[i].id, &prev, err);
        json_object_set_new(o, "prev_ms", prev < 0 ? json_null() : json_integer(prev));
        json_object_set_new(o, "next_ms", next < 0 ? json_null() : json_integer(next));
        json_array_append_new(*out, o);
    }
    free(rows);
    json_decref(byid);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
