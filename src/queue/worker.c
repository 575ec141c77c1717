/* Worker runtime.
 *
 * Threads: one fetcher (dequeues as many tasks as there are free handler
 * slots, then blocks on the queues' wake lists: no polling), N handlers
 * (each with its own Redis and PostgreSQL connection), one completer
 * (records the successes the handlers hand it, many tasks per script
 * call), one maintenance thread (timeouts, heartbeat + lease extension,
 * crash recovery, due scheduled/retry tasks, janitor) and one canceller
 * (pub/sub). The caller's thread waits for *stop and runs the graceful
 * shutdown.
 *
 * A task is held by the worker from its dequeue until its result is
 * recorded: ready (fetched, not started), running (in a slot), or finished
 * (a success waiting for the completer). The lease of every held task is
 * renewed, so a success waiting for its acknowledgement is as safe as a
 * running task: after a kill -9 it runs again. The fetcher takes new work
 * only while fewer than `concurrency` tasks are ready or running and fewer
 * than 2 x `concurrency` successes wait to be recorded (ACK_BACKLOG). */
#include "queue/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "db/pg.h"
#include "queue/handler.h"
#include "queue/presence.h"

enum cancel_reason {
    CANCEL_NONE = 0,
    CANCEL_TIMEOUT,
    CANCEL_DEADLINE,
    CANCEL_OPERATOR,
    CANCEL_SHUTDOWN,
    CANCEL_LEASE_LOST,
};

struct ready {
    char id[TASK_ID_MAX];
    char queue[QUEUE_NAME_MAX];
    char *msg, *info;
    size_t msglen, infolen;
};

/* A success handed to the completer. */
struct ack {
    char id[TASK_ID_MAX];
    char queue[QUEUE_NAME_MAX];
    int64_t retention_ms;
    char *info; /* owned; encoded task info when retention_ms > 0, else NULL */
};

/* At most this many tasks per dequeue or done script call. */
#define BATCH_MAX 500
/* The fetcher pauses while this many successes per handler wait for the
 * completer: enough for the next batch to build up while one is recorded. */
#define ACK_BACKLOG 2

struct slot {
    bool busy;
    bool abandoned; /* requeued or lease lost: the result must not be recorded */
    char id[TASK_ID_MAX];
    char queue[QUEUE_NAME_MAX];
    char type[TASK_TYPE_MAX + 1];
    int64_t started_ms;
    int64_t cancel_at_mono; /* 0: none */
    enum cancel_reason cancel_at_reason;
    enum cancel_reason reason;
    atomic_bool cancelled;
};

struct worker {
    const struct worker_opts *o;
    char id[160], name[128], host[64];
    int64_t started_ms;
    struct rds_opts ropts;

    pthread_mutex_t mu;
    pthread_cond_t cv_ready; /* handlers: a task is ready, or stopping */
    pthread_cond_t cv_free;  /* fetcher and shutdown: a slot became free */
    pthread_cond_t cv_maint; /* maintenance: stop now */
    pthread_cond_t cv_ack;   /* completer: successes to record, or stopping */
    struct ready *ready;
    size_t ready_head, ready_len, ready_cap; /* ring buffer */
    struct slot *slots;
    int busy;
    int idle, waking; /* handlers waiting for a task; woken, not yet running */
    struct ack *acks; /* successes not yet taken by the completer */
    size_t acks_len, acks_cap;
    const struct ack *sending; /* the batch the completer is recording */
    size_t sending_len;
    bool completer_stop;
    int fetch_fd, sub_fd; /* blocking connections, for shutdown(2); guarded by mu */

    atomic_bool fetch_stop, hard_stop;
    struct {
        struct metric *succeeded, *failed, *skipped, *duration, *in_flight;
        struct metric *q_size, *q_latency, *q_paused;
        struct rds_conn rc; /* scrape-time queue gauges */
    } m;
    pthread_t fetcher, maint, canceller, completer;
    pthread_t *handlers;
    int nhandlers_started;
};

struct hthread {
    struct worker *w;
    int index;
    struct rds_conn rc;
    PGconn *pg;
    struct buf err;
};

/* ---- helpers -------------------------------------------------------------- */

static double rnd01(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)rand();
    return r / 4294967296.0;
}

int64_t worker_retry_delay(int retried, int64_t base_ms, int64_t max_ms, double rnd)
{
    double d = (double)base_ms;
    for (int i = 1; i < retried && d < (double)max_ms; i++)
        d *= 2;
    if (d > (double)max_ms)
        d = (double)max_ms;
    d *= 0.75 + 0.5 * rnd;
    return d < 1 ? 1 : (int64_t)d;
}

void worker_queue_order(const struct worker_queue *q, size_t n, bool strict, double (*rnd)(void),
                        size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (strict) { /* insertion sort by priority, stable */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && q[order[j]].priority > q[order[j - 1]].priority; j--) {
                size_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        return;
    }
    /* Weighted sampling without replacement. */
    for (size_t i = 0; i < n; i++) {
        long total = 0;
        for (size_t j = i; j < n; j++)
            total += q[order[j]].priority;
        double pick = rnd() * (double)total;
        size_t j = i;
        for (; j + 1 < n; j++) {
            pick -= q[order[j]].priority;
            if (pick < 0)
                break;
        }
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void ready_push(struct worker *w, struct ready *r)
{
    if (w->ready_len == w->ready_cap) {
        size_t cap = w->ready_cap ? w->ready_cap * 2 : 64;
        struct ready *nr = xcalloc(cap, sizeof(*nr));
        for (size_t i = 0; i < w->ready_len; i++)
            nr[i] = w->ready[(w->ready_head + i) % w->ready_cap];
        free(w->ready);
        w->ready = nr;
        w->ready_cap = cap;
        w->ready_head = 0;
    }
    w->ready[(w->ready_head + w->ready_len) % w->ready_cap] = *r;
    w->ready_len++;
}

static struct ready ready_pop(struct worker *w)
{
    struct ready r = w->ready[w->ready_head];
    w->ready_head = (w->ready_head + 1) % w->ready_cap;
    w->ready_len--;
    return r;
}

static void ready_free(struct ready *r)
{
    free(r->msg);
    free(r->info);
    r->msg = r->info = NULL;
}

/* Per-queue key list for a script, in the order the script documents. */
static void keys_for(const char *q, const char *const *suffixes, int n, char (*k)[QUEUE_KEY_MAX],
                     const char **keys)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(suffixes[i], "@processed_day") == 0)
            queue_stat_key(k[i], q, "processed", true);
        else if (strcmp(suffixes[i], "@processed") == 0)
            queue_stat_key(k[i], q, "processed", false);
        else if (strcmp(suffixes[i], "@failed_day") == 0)
            queue_stat_key(k[i], q, "failed", true);
        else if (strcmp(suffixes[i], "@failed") == 0)
            queue_stat_key(k[i], q, "failed", false);
        else
            queue_key(k[i], q, suffixes[i]);
        keys[i] = k[i];
    }
}

/* True for the error replies of a Redis that will take the command a moment
 * later: loading its data after a restart, busy with a script, failing over.
 * `err` is queue_eval's message, "redis script <name>: <reply>". */
static bool transient_error(const char *err)
{
    static const char *const codes[] = {"LOADING ", "BUSY ", "TRYAGAIN ", "MASTERDOWN ",
                                        "READONLY "};
    const char *p = strstr(err, ": ");
    for (size_t i = 0; p && i < ARRAY_SIZE(codes); i++)
        if (strncmp(p + 2, codes[i], strlen(codes[i])) == 0)
            return true;
    return false;
}

/* Runs a script, reconnecting and retrying on I/O errors and transient
 * error replies until it succeeds or the worker stops hard: an accepted
 * result is never dropped because of a network blip or a Redis restart.
 * Returns the integer reply, or -1. */
static long long eval_retry(struct worker *w, struct rds_conn *rc, enum qscript s, int nkeys,
                            const char **keys, int nargs, const char **args, const size_t *lens,
                            redisReply **keep)
{
    struct buf err;
    buf_init(&err, 1024);
    long long v = -1;
    for (;;) {
        redisContext *c = rds_conn_get(rc, &w->hard_stop);
        if (!c)
            break;
        redisReply *r = queue_eval(c, s, nkeys, keys, nargs, args, lens, &err);
        if (r) {
            v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
            if (keep)
                *keep = r;
            else
                freeReplyObject(r);
            break;
        }
        if (c->err) {
            rds_conn_broken(rc);
            continue;
        }
        if (transient_error(buf_str(&err)) && !atomic_load(&w->hard_stop)) {
            sleep_ms(100);
            continue;
        }
        log_error("queue script failed", LF_STR("script", qscript(s)->name),
                  LF_STR("error", buf_str(&err)));
        break;
    }
    buf_release(&err);
    return v;
}

/* ---- recording results ------------------------------------------------------ */

/* Hands a success to the completer (the task stays leased until then). */
static void ack_push(struct worker *w, struct task *t)
{
    struct ack a;
    memset(&a, 0, sizeof(a));
    snprintf(a.id, sizeof(a.id), "%s", t->id);
    snprintf(a.queue, sizeof(a.queue), "%s", t->queue);
    a.retention_ms = t->retention_ms;
    if (a.retention_ms > 0) { /* the info is only kept with the completed task */
        struct buf info;
        buf_init(&info, 8192);
        t->completed_ms = now_ms();
        if (task_encode_info(t, &info) == 0)
            a.info = buf_detach(&info);
        buf_release(&info);
    }
    pthread_mutex_lock(&w->mu);
    if (w->acks_len == w->acks_cap) {
        w->acks_cap = w->acks_cap ? w->acks_cap * 2 : 64;
        w->acks = xrealloc(w->acks, w->acks_cap * sizeof(*w->acks));
    }
    w->acks[w->acks_len++] = a;
    if (w->acks_len == 1) /* else the completer is awake already */
        pthread_cond_signal(&w->cv_ack);
    pthread_mutex_unlock(&w->mu);
}

/* Records up to BATCH_MAX successes of queue q in one script call. */
static void record_done(struct worker *w, struct rds_conn *rc, const char *q,
                        const struct ack *const *a, size_t n)
{
    static const char *const sfx[] = {"active", "lease",     "state",          "msg",
                                      "info",   "completed", "@processed_day", "@processed"};
    char k[8][QUEUE_KEY_MAX], ttl[24];
    const char *keys[8];
    char(*ret)[24] = xcalloc(n, sizeof(*ret));
    const char **args = xcalloc(2 + 3 * n, sizeof(*args));
    keys_for(q, sfx, 8, k, keys);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_STAT_TTL_S);
    args[0] = w->id;
    args[1] = ttl;
    for (size_t i = 0; i < n; i++) {
        snprintf(ret[i], sizeof(ret[i]), "%lld", (long long)a[i]->retention_ms);
        args[2 + 3 * i] = a[i]->id;
        args[3 + 3 * i] = ret[i];
        args[4 + 3 * i] = a[i]->info ? a[i]->info : "";
    }
    redisReply *r = NULL;
    if (eval_retry(w, rc, QS_DONE, 8, keys, (int)(2 + 3 * n), args, NULL, &r) < 0 || !r)
        log_error("task results not recorded", LF_STR("queue", q), LF_INT("count", (int64_t)n));
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        log_warn("task result dropped: lease lost (the task was recovered elsewhere)",
                 LF_STR("task_id", r->element[i]->str), LF_STR("queue", q));
    if (r)
        freeReplyObject(r);
    free(args);
    free(ret);
}

static void record_failure(struct hthread *h, struct task *t, const char *error, bool archive)
{
    static const char *const sfx[] = {"active",     "lease",       "state",    "msg",
                                      "info",       "retry",       "archived", "@processed_day",
                                      "@processed", "@failed_day", "@failed"};
    const struct worker_opts *o = h->w->o;
    char k[11][QUEUE_KEY_MAX], delay[24], amax[24], aage[24], ttl[24];
    const char *keys[11];
    struct buf info;
    buf_init(&info, 8192);
    /* As asynq counts: retried is the number of retries done so far. */
    if (!archive && t->retried >= t->max_retry)
        archive = true;
    if (!archive)
        t->retried++;
    t->last_failed_ms = now_ms();
    free(t->error);
    t->error = xstrdup(error);
    int64_t d = worker_retry_delay(t->retried, o->retry_base_ms, o->retry_max_ms, rnd01());
    if (task_encode_info(t, &info) < 0)
        buf_reset(&info);
    keys_for(t->queue, sfx, 11, k, keys);
    snprintf(delay, sizeof(delay), "%lld", (long long)d);
    snprintf(amax, sizeof(amax), "%d", o->archive_max_size);
    snprintf(aage, sizeof(aage), "%lld", (long long)o->archive_max_age_ms);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_STAT_TTL_S);
    const char *args[8] = {t->id, h->w->id, buf_str(&info), archive ? "archive" : "retry",
                           delay, amax,     aage,           ttl};
    long long v = eval_retry(h->w, &h->rc, QS_FAIL, 11, keys, 8, args, NULL, NULL);
    if (v == 0)
        log_warn("task result dropped: lease lost (the task was recovered elsewhere)",
                 LF_STR("queue", t->queue));
    else if (archive)
        log_warn("task archived", LF_STR("queue", t->queue),
                 LF_STR("type", t->type ? t->type : "?"), LF_INT("retried", t->retried),
                 LF_STR("error", error));
    else
        log_info("task failed, will retry", LF_STR("queue", t->queue), LF_STR("type", t->type),
                 LF_INT("retry", t->retried), LF_INT("max_retry", t->max_retry),
                 LF_INT("delay_ms", d), LF_STR("error", error));
    buf_release(&info);
}

static void requeue(struct worker *w, struct rds_conn *rc, const char *q, const char *id)
{
    static const char *const sfx[] = {"active", "lease", "state", "pending", "wake"};
    char k[5][QUEUE_KEY_MAX];
    const char *keys[5];
    keys_for(q, sfx, 5, k, keys);
    const char *args[2] = {id, w->id};
    if (eval_retry(w, rc, QS_REQUEUE, 5, keys, 2, args, NULL, NULL) == 1)
        log_info("task requeued at the head of its queue", LF_STR("task_id", id),
                 LF_STR("queue", q));
}

/* ---- metrics ---------------------------------------------------------------------- */

static const double duration_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                          5,     10,    30,   60,   300, 900, 1800};

/* Queue gauges are read from Redis when Prometheus scrapes. */
static void collect_queues(void *arg)
{
    struct worker *w = arg;
    redisContext *c = rds_conn_try(&w->m.rc);
    if (!c)
        return;
    metrics_reset_family(w->m.q_size);
    for (size_t i = 0; i < w->o->nqueues; i++) {
        struct queue_info qi;
        struct buf err;
        buf_init(&err, 512);
        const char *q = w->o->queues[i].name;
        if (queue_inspect(c, q, &qi, &err) < 0) {
            if (c->err)
                rds_conn_broken(&w->m.rc);
            buf_release(&err);
            return;
        }
        buf_release(&err);
        for (int s = 0; s < TASK_STATE_COUNT; s++) {
            const char *l[2] = {q, task_state_name((enum task_state)s)};
            metrics_set(w->m.q_size, l, (double)qi.counts[s]);
        }
        const char *l[1] = {q};
        metrics_set(w->m.q_latency, l, (double)qi.latency_ms / 1000.0);
        metrics_set(w->m.q_paused, l, qi.paused ? 1 : 0);
    }
}

static void metrics_setup(struct worker *w)
{
    struct metrics_registry *r = w->o->metrics;
    static const char *const qt[] = {"queue", "task"};
    static const char *const qs[] = {"queue", "state"};
    static const char *const q1[] = {"queue"};
    if (!r)
        return;
    w->m.succeeded = metrics_counter(r, "inventory_tasks_succeeded_total",
                                     "Tasks that completed successfully.", 2, qt);
    w->m.failed = metrics_counter(r, "inventory_tasks_failed_total",
                                  "Task attempts that failed (retried or archived).", 2, qt);
    w->m.skipped =
        metrics_counter(r, "inventory_tasks_skipped_total", "Tasks that had nothing to do.", 2, qt);
    w->m.duration =
        metrics_histogram(r, "inventory_task_duration_seconds", "Time spent in task handlers.", 2,
                          qt, ARRAY_SIZE(duration_buckets), duration_buckets);
    w->m.in_flight =
        metrics_gauge(r, "inventory_tasks_in_flight", "Tasks this worker is running now.", 0, NULL);
    w->m.q_size = metrics_gauge(r, "inventory_queue_size", "Tasks in a queue by state.", 2, qs);
    w->m.q_latency = metrics_gauge(r, "inventory_queue_latency_seconds",
                                   "Age of the oldest pending task.", 1, q1);
    w->m.q_paused = metrics_gauge(r, "inventory_queue_paused", "1 if the queue is paused.", 1, q1);
    rds_conn_init(&w->m.rc, &w->ropts, "metrics");
    metrics_on_collect(r, collect_queues, w);
}

static void count(struct worker *w, struct metric *m, const struct task *t)
{
    if (!w->o->metrics)
        return;
    /* Unregistered types are outside input: one label value for all. */
    const char *l[2] = {t->queue, t->type && task_handler_find(t->type) ? t->type : "unknown"};
    metrics_inc(m, l, 1);
}

/* ---- handler threads ---------------------------------------------------------- */

/* Called with mu held when tasks may be ready: wakes one idle handler,
 * unless one is already on its way (it passes the wake-up on when it has
 * taken its task). One wake-up at a time keeps short tasks on the threads
 * that are running already, instead of waking every thread for them; long
 * tasks still get one thread each, a wake-up latency apart. */
static void wake_handler(struct worker *w)
{
    if (w->ready_len > 0 && w->idle > 0 && w->waking == 0) {
        w->waking++;
        pthread_cond_signal(&w->cv_ready);
    }
}

static PGconn *thread_db(struct task_ctx *ctx)
{
    struct hthread *h = ctx->worker_thread;
    if (h->pg && PQstatus(h->pg) != CONNECTION_OK) {
        PQreset(h->pg);
        if (PQstatus(h->pg) != CONNECTION_OK) {
            PQfinish(h->pg);
            h->pg = NULL;
        }
    }
    if (!h->pg && pg_connect(ctx->cfg->database.dsn, ctx->cfg->database.connect_timeout_ms, &h->pg,
                             &ctx->err) < 0)
        return NULL;
    return h->pg;
}

static const char *reason_text(enum cancel_reason r)
{
    switch (r) {
    case CANCEL_TIMEOUT:
        return "task timeout exceeded";
    case CANCEL_DEADLINE:
        return "task deadline exceeded";
    case CANCEL_OPERATOR:
        return "cancelled by operator";
    case CANCEL_SHUTDOWN:
        return "worker shutting down";
    case CANCEL_LEASE_LOST:
        return "lease lost";
    case CANCEL_NONE:
        break;
    }
    return "";
}

static void process(struct hthread *h, struct slot *slot, struct ready *rd)
{
    struct worker *w = h->w;
    struct task t;
    struct task_ctx ctx;
    task_init(&t);
    memset(&ctx, 0, sizeof(ctx));
    buf_init(&ctx.err, TASK_ERROR_MAX);
    snprintf(t.id, sizeof(t.id), "%s", rd->id);
    t.queue = xstrdup(rd->queue);
    log_set_context("task_id", t.id);

    if (task_decode_msg(&t, rd->msg, rd->msglen, &ctx.err) < 0) {
        t.max_retry = 0;
        log_error("corrupt task body", LF_STR("queue", t.queue),
                  LF_STR("error", buf_str(&ctx.err)));
        record_failure(h, &t, buf_str(&ctx.err), true);
        count(w, w->m.failed, &t);
        goto out;
    }
    if (rd->infolen && task_decode_info(&t, rd->info, rd->infolen) < 0)
        log_warn("corrupt task info, counting retries from 0", LF_STR("queue", t.queue));
    const struct task_handler *th = task_handler_find(t.type);
    if (!th) {
        char e[TASK_TYPE_MAX + 64];
        snprintf(e, sizeof(e), "no handler registered for task type \"%s\"", t.type);
        record_failure(h, &t, e, true);
        count(w, w->m.failed, &t);
        goto out;
    }
    int64_t wall = now_ms(), mono = mono_ms();
    if (t.deadline_ms && t.deadline_ms <= wall) {
        record_failure(h, &t, reason_text(CANCEL_DEADLINE), true);
        count(w, w->m.failed, &t);
        goto out;
    }
    pthread_mutex_lock(&w->mu);
    snprintf(slot->type, sizeof(slot->type), "%s", t.type);
    slot->started_ms = wall;
    slot->cancel_at_mono = 0;
    if (t.timeout_ms) {
        slot->cancel_at_mono = mono + t.timeout_ms;
        slot->cancel_at_reason = CANCEL_TIMEOUT;
    }
    if (t.deadline_ms &&
        (!slot->cancel_at_mono || mono + (t.deadline_ms - wall) < slot->cancel_at_mono)) {
        slot->cancel_at_mono = mono + (t.deadline_ms - wall);
        slot->cancel_at_reason = CANCEL_DEADLINE;
    }
    pthread_mutex_unlock(&w->mu);

    ctx.task = &t;
    ctx.cfg = w->o->cfg;
    ctx.redis = rds_conn_get(&h->rc, &w->hard_stop);
    ctx.db = thread_db;
    ctx.worker_thread = h;
    ctx.cancelled = &slot->cancelled;
    ctx.metrics = w->o->metrics;
    log_debug("task started", LF_STR("queue", t.queue), LF_STR("type", t.type));
    if (w->o->metrics)
        metrics_inc(w->m.in_flight, NULL, 1);
    enum task_result res = ctx.redis ? th->run(&ctx) : TASK_FAILED;
    if (!ctx.redis)
        buf_setf(&ctx.err, "redis unavailable");
    else if (ctx.redis->err)
        rds_conn_broken(&h->rc); /* the handler's command hit an I/O error */
    if (w->o->metrics) {
        const char *l[2] = {t.queue, t.type};
        metrics_inc(w->m.in_flight, NULL, -1);
        metrics_observe(w->m.duration, l, (double)(mono_ms() - mono) / 1000.0);
    }

    pthread_mutex_lock(&w->mu);
    bool abandoned = slot->abandoned;
    enum cancel_reason reason = slot->reason;
    slot->cancel_at_mono = 0;
    pthread_mutex_unlock(&w->mu);
    if (abandoned) {
        log_info("task result not recorded (requeued or lease lost)", LF_STR("queue", t.queue));
        goto out;
    }
    if (res == TASK_OK || res == TASK_SKIPPED) {
        if (reason == CANCEL_NONE || res == TASK_OK) {
            log_debug("task done", LF_STR("queue", t.queue), LF_STR("type", t.type),
                      LF_BOOL("skipped", res == TASK_SKIPPED));
            ack_push(w, &t);
            count(w, res == TASK_SKIPPED ? w->m.skipped : w->m.succeeded, &t);
            goto out;
        }
    }
    char e[TASK_ERROR_MAX];
    if (reason != CANCEL_NONE)
        snprintf(e, sizeof(e), "%s%s%s", reason_text(reason), ctx.err.len ? ": " : "",
                 buf_str(&ctx.err));
    else
        snprintf(e, sizeof(e), "%s", ctx.err.len ? buf_str(&ctx.err) : "failed (no reason given)");
    /* Past its deadline or stopped by an operator, a task is not retried. */
    record_failure(h, &t, e,
                   ctx.permanent || reason == CANCEL_DEADLINE || reason == CANCEL_OPERATOR);
    count(w, w->m.failed, &t);
out:
    log_set_context(NULL, NULL);
    buf_release(&ctx.err);
    task_release(&t);
}

static void *handler_main(void *arg)
{
    struct hthread *h = arg;
    struct worker *w = h->w;
    struct slot *slot = &w->slots[h->index];
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->ready_len == 0 && !atomic_load(&w->hard_stop) && !atomic_load(&w->fetch_stop)) {
            w->idle++;
            pthread_cond_wait(&w->cv_ready, &w->mu);
            w->idle--;
            if (w->waking > 0)
                w->waking--;
        }
        if (w->ready_len == 0 || atomic_load(&w->hard_stop))
            break;
        struct ready rd = ready_pop(w);
        wake_handler(w);
        slot->busy = true;
        slot->abandoned = false;
        slot->reason = CANCEL_NONE;
        atomic_store(&slot->cancelled, false);
        snprintf(slot->id, sizeof(slot->id), "%s", rd.id);
        snprintf(slot->queue, sizeof(slot->queue), "%s", rd.queue);
        slot->type[0] = '\0';
        slot->started_ms = now_ms();
        w->busy++;
        pthread_mutex_unlock(&w->mu);

        process(h, slot, &rd);
        ready_free(&rd);

        pthread_mutex_lock(&w->mu);
        slot->busy = false;
        w->busy--;
        /* While tasks are ready this thread takes the next one itself: the
         * fetcher (and a shutdown waiting for busy == 0) only needs a
         * wake-up once the ready queue is empty. */
        if (w->ready_len == 0)
            pthread_cond_broadcast(&w->cv_free);
    }
    pthread_mutex_unlock(&w->mu);
    if (h->pg)
        PQfinish(h->pg);
    h->pg = NULL;
    rds_conn_release(&h->rc);
    return NULL;
}

/* ---- fetcher ------------------------------------------------------------------- */

static void set_fd(struct worker *w, int *fd, redisContext *c)
{
    pthread_mutex_lock(&w->mu);
    *fd = c ? c->fd : -1;
    pthread_mutex_unlock(&w->mu);
}

/* One dequeue call; `req` identifies it, so that after an I/O error the
 * same call (same queue, n and req) returns the tasks it took if the script
 * ran but the reply was lost. */
static int dequeue_into(struct worker *w, redisContext *c, const char *q, int n, const char *req,
                        bool *io_error)
{
    static const char *const sfx[] = {"pending", "paused", "active", "state",
                                      "msg",     "info",   "lease"};
    char k[7][QUEUE_KEY_MAX], fetch[QUEUE_KEY_MAX + sizeof(w->id)], nb[16], lease[24];
    const char *keys[8];
    struct buf err;
    buf_init(&err, 1024);
    keys_for(q, sfx, 7, k, keys);
    snprintf(fetch, sizeof(fetch), "inv:{%s}:fetch:%s", q, w->id);
    keys[7] = fetch;
    snprintf(nb, sizeof(nb), "%d", n);
    snprintf(lease, sizeof(lease), "%lld", (long long)w->o->lease_ms);
    const char *args[4] = {nb, lease, w->id, req};
    redisReply *r = queue_eval(c, QS_DEQUEUE, 8, keys, 4, args, NULL, &err);
    int got = 0;
    if (!r) {
        *io_error = c->err != 0;
        if (!*io_error && transient_error(buf_str(&err)))
            sleep_ms(100); /* Redis is loading its data, say: the next round will do */
        else if (!*io_error)
            log_error("dequeue failed", LF_STR("queue", q), LF_STR("error", buf_str(&err)));
        buf_release(&err);
        return 0;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        pthread_mutex_lock(&w->mu);
        for (size_t i = 0; i + 2 < r->elements; i += 3) {
            struct ready rd;
            memset(&rd, 0, sizeof(rd));
            snprintf(rd.id, sizeof(rd.id), "%.*s", (int)r->element[i]->len, r->element[i]->str);
            snprintf(rd.queue, sizeof(rd.queue), "%s", q);
            rd.msglen = r->element[i + 1]->len;
            rd.msg = xmalloc(rd.msglen + 1);
            memcpy(rd.msg, r->element[i + 1]->str, rd.msglen);
            rd.infolen = r->element[i + 2]->len;
            rd.info = xstrndup(r->element[i + 2]->str, rd.infolen);
            ready_push(w, &rd);
            got++;
        }
        wake_handler(w);
        pthread_mutex_unlock(&w->mu);
    }
    freeReplyObject(r);
    buf_release(&err);
    return got;
}

static void *fetcher_main(void *arg)
{
    struct worker *w = arg;
    const struct worker_opts *o = w->o;
    struct rds_conn rc;
    size_t *order = xcalloc(o->nqueues, sizeof(*order));
    const char **blpop = xcalloc(o->nqueues + 2, sizeof(*blpop));
    char(*wake)[QUEUE_KEY_MAX] = xcalloc(o->nqueues, sizeof(*wake));
    blpop[0] = "BLPOP";
    for (size_t i = 0; i < o->nqueues; i++) {
        queue_key(wake[i], o->queues[i].name, "wake");
        blpop[1 + i] = wake[i];
    }
    blpop[1 + o->nqueues] = "1";
    rds_conn_init(&rc, &w->ropts, "fetcher");
    rc.read_timeout_ms = 5000; /* BLPOP waits 1 s at most */
    /* A dequeue cut by an I/O error is repeated as it was, first thing. */
    struct {
        bool on;
        size_t queue; /* index in o->queues */
        int n;
    } again = {false, 0, 0};
    unsigned long long seq = 0;
    char req[24] = "";

    while (!atomic_load(&w->fetch_stop)) {
        pthread_mutex_lock(&w->mu);
        int free_slots;
        while (((free_slots = o->concurrency - w->busy - (int)w->ready_len) <= 0 ||
                w->acks_len + w->sending_len >= ACK_BACKLOG * (size_t)o->concurrency) &&
               !again.on && !atomic_load(&w->fetch_stop))
            pthread_cond_wait(&w->cv_free, &w->mu);
        pthread_mutex_unlock(&w->mu);
        if (atomic_load(&w->fetch_stop))
            break;
        redisContext *c = rds_conn_get(&rc, &w->fetch_stop);
        if (!c)
            break;
        set_fd(w, &w->fetch_fd, c);
        worker_queue_order(o->queues, o->nqueues, o->strict, rnd01, order);
        int got = 0;
        bool io_error = false;
        if (again.on) {
            got = dequeue_into(w, c, o->queues[again.queue].name, again.n, req, &io_error);
            free_slots -= got;
            again.on = io_error;
        }
        for (size_t i = 0; i < o->nqueues && free_slots > 0 && !io_error; i++) {
            int want, n;
            do {
                want = free_slots < BATCH_MAX ? free_slots : BATCH_MAX;
                snprintf(req, sizeof(req), "%llu", ++seq);
                n = dequeue_into(w, c, o->queues[order[i]].name, want, req, &io_error);
                got += n;
                free_slots -= n;
            } while (n == want && free_slots > 0);
            if (io_error) {
                again.on = true;
                again.queue = order[i];
                again.n = want;
            }
        }
        if (!io_error && got == 0 && !atomic_load(&w->fetch_stop)) {
            /* Nothing to do: sleep until an enqueue (or resume, or a due
             * task) pushes a wake token, or 1 s passes. */
            redisReply *r = redisCommandArgv(c, (int)o->nqueues + 2, blpop, NULL);
            if (r)
                freeReplyObject(r);
            else
                io_error = true;
        }
        if (io_error) {
            set_fd(w, &w->fetch_fd, NULL);
            rds_conn_broken(&rc);
        }
    }
    set_fd(w, &w->fetch_fd, NULL);
    if (again.on) {
        /* A dequeue cut short (by the shutdown's shutdown(2), say): take its
         * tasks back, if it ran, so that the shutdown requeues them now
         * (n = 0: no new tasks). One attempt. */
        rds_conn_broken(&rc);
        redisContext *c = rds_conn_try(&rc);
        bool io_error = false;
        if (c)
            (void)dequeue_into(w, c, o->queues[again.queue].name, 0, req, &io_error);
    }
    rds_conn_release(&rc);
    free(order);
    free(blpop);
    free(wake);
    return NULL;
}

/* ---- completer ------------------------------------------------------------------ */

/* Records the successes handed over by the handlers: everything that
 * accumulated while the previous batch was on its way goes in the next one,
 * one script call per queue and BATCH_MAX tasks. Runs until told to stop
 * with nothing left to record (or, at a hard stop, Redis is unreachable:
 * those tasks stay leased and run again after the lease expires). */
static void *completer_main(void *arg)
{
    struct worker *w = arg;
    struct rds_conn rc;
    struct ack *batch = NULL;
    size_t batch_cap = 0;
    const struct ack **group = NULL;
    bool *taken = NULL;
    size_t group_cap = 0;
    rds_conn_init(&rc, &w->ropts, "completer");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->acks_len == 0 && !w->completer_stop)
            pthread_cond_wait(&w->cv_ack, &w->mu);
        if (w->acks_len == 0)
            break;
        /* Swap buffers: the handlers go on filling the other one. */
        struct ack *mine = w->acks;
        size_t n = w->acks_len, cap = w->acks_cap;
        w->acks = batch;
        w->acks_cap = batch_cap;
        w->acks_len = 0;
        batch = mine;
        batch_cap = cap;
        w->sending = batch;
        w->sending_len = n;
        pthread_mutex_unlock(&w->mu);

        if (group_cap < n) {
            group_cap = batch_cap;
            group = xrealloc(group, group_cap * sizeof(*group));
            taken = xrealloc(taken, group_cap * sizeof(*taken));
        }
        /* One call per queue (usually there is one), in order. */
        memset(taken, 0, n * sizeof(*taken));
        for (size_t i = 0; i < n; i++) {
            if (taken[i])
                continue;
            size_t m = 0;
            for (size_t j = i; j < n; j++)
                if (!taken[j] && strcmp(batch[j].queue, batch[i].queue) == 0) {
                    taken[j] = true;
                    group[m++] = &batch[j];
                }
            for (size_t off = 0; off < m; off += BATCH_MAX)
                record_done(w, &rc, batch[i].queue, group + off,
                            m - off < BATCH_MAX ? m - off : BATCH_MAX);
        }
        for (size_t i = 0; i < n; i++) {
            free(batch[i].info);
            batch[i].info = NULL;
        }

        pthread_mutex_lock(&w->mu);
        w->sending = NULL;
        w->sending_len = 0;
        pthread_cond_broadcast(&w->cv_free); /* fetcher and shutdown watch the backlog */
    }
    pthread_mutex_unlock(&w->mu);
    rds_conn_release(&rc);
    free(batch);
    free(group);
    free(taken);
    return NULL;
}

/* ---- canceller ------------------------------------------------------------------ */

static void cancel_task(struct worker *w, const char *id, enum cancel_reason why)
{
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->o->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (s->busy && strcmp(s->id, id) == 0 && s->reason == CANCEL_NONE) {
            s->reason = why;
            atomic_store(&s->cancelled, true);
            if (why == CANCEL_LEASE_LOST) {
                s->abandoned = true;
                log_warn("lease lost", LF_STR("task_id", id), LF_STR("queue", s->queue));
            }
            log_info("cancelling task", LF_STR("task_id", id), LF_STR("reason", reason_text(why)));
        }
    }
    pthread_mutex_unlock(&w->mu);
}

static void *canceller_main(void *arg)
{
    struct worker *w = arg;
    struct rds_conn rc;
    rds_conn_init(&rc, &w->ropts, "canceller");
    rc.read_timeout_ms = -1; /* block; shutdown(2) wakes us */
    while (!atomic_load(&w->hard_stop)) {
        redisContext *c = rds_conn_get(&rc, &w->hard_stop);
        if (!c)
            break;
        set_fd(w, &w->sub_fd, c);
        const char *sub[2] = {"SUBSCRIBE", QUEUE_CANCEL_CHANNEL};
        redisReply *r = redisCommandArgv(c, 2, sub, NULL);
        if (r)
            freeReplyObject(r);
        while (r && !atomic_load(&w->hard_stop)) {
            void *m = NULL;
            if (redisGetReply(c, &m) != REDIS_OK) {
                r = NULL;
                break;
            }
            redisReply *msg = m;
            if (msg->type == REDIS_REPLY_ARRAY && msg->elements == 3 &&
                msg->element[2]->type == REDIS_REPLY_STRING &&
                strcmp(msg->element[0]->str, "message") == 0)
                cancel_task(w, msg->element[2]->str, CANCEL_OPERATOR);
            freeReplyObject(msg);
        }
        pthread_mutex_lock(&w->mu);
        w->sub_fd = -1;
        rds_conn_broken(&rc);
        pthread_mutex_unlock(&w->mu);
    }
    rds_conn_release(&rc);
    return NULL;
}

/* ---- maintenance ------------------------------------------------------------------ */

static json_t *registry_json(struct worker *w, const char *status)
{
    json_t *queues = json_object(), *active = json_array();
    for (size_t i = 0; i < w->o->nqueues; i++)
        json_object_set_new(queues, w->o->queues[i].name, json_integer(w->o->queues[i].priority));
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->o->concurrency; i++)
        if (w->slots[i].busy)
            json_array_append_new(active,
                                  json_pack("{s:s,s:s,s:s,s:I}", "id", w->slots[i].id, "queue",
                                            w->slots[i].queue, "type", w->slots[i].type,
                                            "started_ms", (json_int_t)w->slots[i].started_ms));
    pthread_mutex_unlock(&w->mu);
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:o,s:b,s:s,s:I,s:o}", "id", w->id, "name", w->name,
                     "host", w->host, "pid", (int)getpid(), "concurrency", w->o->concurrency,
                     "queues", queues, "strict_priority", w->o->strict, "status", status,
                     "started_ms", (json_int_t)w->started_ms, "active", active);
}

static const struct presence worker_presence = {WORKER_REGISTRY_KEY, WORKER_INFO_PREFIX};

static int heartbeat(struct worker *w, redisContext *c, const char *status)
{
    json_t *j = registry_json(w, status);
    /* A dead worker disappears with its leases. */
    int rc = presence_beat(c, &worker_presence, w->id, j, w->o->lease_ms, NULL);
    json_decref(j);
    return rc;
}

/* Extends the leases of every task this worker holds (ready, running, or
 * finished and waiting for the completer); running tasks whose lease was
 * taken over are cancelled and not recorded (the done script drops the
 * others' results by its own lease check). */
static void extend_leases(struct worker *w, struct rds_conn *rc)
{
    const struct worker_opts *o = w->o;
    for (size_t q = 0; q < o->nqueues; q++) {
        const char *qn = o->queues[q].name;
        size_t n = 0;
        pthread_mutex_lock(&w->mu);
        char(*ids)[TASK_ID_MAX] = xcalloc(
            (size_t)o->concurrency + w->ready_len + w->acks_len + w->sending_len + 1, TASK_ID_MAX);
        for (int i = 0; i < o->concurrency; i++)
            if (w->slots[i].busy && !w->slots[i].abandoned && strcmp(w->slots[i].queue, qn) == 0)
                snprintf(ids[n++], TASK_ID_MAX, "%s", w->slots[i].id);
        for (size_t i = 0; i < w->ready_len; i++) {
            struct ready *r = &w->ready[(w->ready_head + i) % w->ready_cap];
            if (strcmp(r->queue, qn) == 0)
                snprintf(ids[n++], TASK_ID_MAX, "%s", r->id);
        }
        for (size_t i = 0; i < w->acks_len; i++)
            if (strcmp(w->acks[i].queue, qn) == 0)
                snprintf(ids[n++], TASK_ID_MAX, "%s", w->acks[i].id);
        for (size_t i = 0; i < w->sending_len; i++)
            if (strcmp(w->sending[i].queue, qn) == 0)
                snprintf(ids[n++], TASK_ID_MAX, "%s", w->sending[i].id);
        pthread_mutex_unlock(&w->mu);
        if (n) {
            static const char *const sfx[] = {"active", "lease"};
            char k[2][QUEUE_KEY_MAX], lease[24];
            const char *keys[2];
            const char **args = xcalloc(n + 2, sizeof(*args));
            keys_for(qn, sfx, 2, k, keys);
            snprintf(lease, sizeof(lease), "%lld", (long long)o->lease_ms);
            args[0] = w->id;
            args[1] = lease;
            for (size_t i = 0; i < n; i++)
                args[2 + i] = ids[i];
            redisReply *r = NULL;
            if (eval_retry(w, rc, QS_EXTEND, 2, keys, (int)n + 2, args, NULL, &r) >= 0 && r) {
                /* Tasks that finished meanwhile are reported too: only a
                 * task still running counts as lost. */
                for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
                    cancel_task(w, r->element[i]->str, CANCEL_LEASE_LOST);
            }
            if (r)
                freeReplyObject(r);
            free(args);
        }
        free(ids);
    }
}

static void check_timeouts(struct worker *w)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->o->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (s->busy && s->cancel_at_mono && now >= s->cancel_at_mono && s->reason == CANCEL_NONE) {
            s->reason = s->cancel_at_reason;
            atomic_store(&s->cancelled, true);
            log_warn("cancelling task", LF_STR("task_id", s->id),
                     LF_STR("reason", reason_text(s->reason)));
        }
    }
    pthread_mutex_unlock(&w->mu);
}

static int64_t per_queue(struct worker *w, struct rds_conn *rc, enum qscript s)
{
    const struct worker_opts *o = w->o;
    char amax[24], aage[24], ttl[24];
    snprintf(amax, sizeof(amax), "%d", o->archive_max_size);
    snprintf(aage, sizeof(aage), "%lld", (long long)o->archive_max_age_ms);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_STAT_TTL_S);
    int64_t next_due = 1000;
    for (size_t q = 0; q < o->nqueues; q++) {
        const char *qn = o->queues[q].name;
        char k[12][QUEUE_KEY_MAX];
        const char *keys[12];
        redisReply *r = NULL;
        if (s == QS_FORWARD) {
            static const char *const sfx[] = {"scheduled", "retry", "pending", "state", "wake"};
            const char *args[1] = {"1000"};
            keys_for(qn, sfx, 5, k, keys);
            if (eval_retry(w, rc, s, 5, keys, 1, args, NULL, &r) >= 0 && r &&
                r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
                long long moved = r->element[0]->integer, due = r->element[1]->integer;
                if (moved >= 1000)
                    due = 0; /* more waiting: come back at once */
                if (due >= 0 && due < next_due)
                    next_due = due;
            }
        } else if (s == QS_RECOVER) {
            static const char *const sfx[] = {
                "active", "lease", "state",          "info",       "pending",     "archived",
                "msg",    "wake",  "@processed_day", "@processed", "@failed_day", "@failed"};
            const char *args[4] = {"100", amax, aage, ttl};
            keys_for(qn, sfx, 12, k, keys);
            long long n = eval_retry(w, rc, s, 12, keys, 4, args, NULL, NULL);
            if (n > 0)
                log_warn("recovered tasks of a lost worker", LF_STR("queue", qn),
                         LF_INT("count", n));
        } else if (s == QS_JANITOR) {
            static const char *const sfx[] = {"completed", "archived", "state", "msg", "info"};
            const char *args[3] = {"1000", amax, aage};
            keys_for(qn, sfx, 5, k, keys);
            (void)eval_retry(w, rc, s, 5, keys, 3, args, NULL, NULL);
        }
        if (r)
            freeReplyObject(r);
    }
    return next_due;
}

static void *maint_main(void *arg)
{
    struct worker *w = arg;
    struct rds_conn rc;
    rds_conn_init(&rc, &w->ropts, "heartbeat");
    int64_t next_beat = 0, next_recover = 0, next_forward = 0, next_janitor = 0;
    int64_t beat_every = w->o->lease_ms / 4;
    while (!atomic_load(&w->hard_stop)) {
        int64_t now = mono_ms();
        check_timeouts(w);
        if (now >= next_beat) {
            redisContext *c = rds_conn_get(&rc, &w->hard_stop);
            if (c && heartbeat(w, c, atomic_load(&w->fetch_stop) ? "stopping" : "active") < 0)
                rds_conn_broken(&rc);
            extend_leases(w, &rc);
            next_beat = now + beat_every;
        }
        if (now >= next_recover) {
            per_queue(w, &rc, QS_RECOVER);
            next_recover = now + 1000;
        }
        if (now >= next_forward)
            next_forward = now + per_queue(w, &rc, QS_FORWARD);
        if (now >= next_janitor) {
            per_queue(w, &rc, QS_JANITOR);
            next_janitor = now + 1000;
        }
        pthread_mutex_lock(&w->mu);
        if (!atomic_load(&w->hard_stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv_maint, &w->mu, &ts);
        }
        pthread_mutex_unlock(&w->mu);
    }
    /* Deregister: one attempt, so a dead Redis cannot hold up the exit (the
     * registration expires with its TTL anyway). */
    redisContext *c = rds_conn_try(&rc);
    if (c)
        presence_leave(c, &worker_presence, w->id);
    rds_conn_release(&rc);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void wake_blocked(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->fetch_fd >= 0)
        shutdown(w->fetch_fd, SHUT_RDWR);
    pthread_cond_broadcast(&w->cv_free);
    pthread_cond_broadcast(&w->cv_ready);
    pthread_mutex_unlock(&w->mu);
}

static void shutdown_gracefully(struct worker *w, struct rds_conn *rc)
{
    const struct worker_opts *o = w->o;
    log_info("worker shutting down", LF_INT("in_flight", w->busy),
             LF_INT("timeout_ms", o->shutdown_timeout_ms));
    atomic_store(&w->fetch_stop, true);
    wake_blocked(w);
    pthread_join(w->fetcher, NULL);

    /* Tasks fetched but not started go straight back to the head. */
    pthread_mutex_lock(&w->mu);
    size_t n = w->ready_len;
    struct ready *back = xcalloc(n + 1, sizeof(*back));
    for (size_t i = 0; i < n; i++)
        back[i] = ready_pop(w);
    pthread_cond_broadcast(&w->cv_ready);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = n; i-- > 0;) { /* reverse: the first fetched ends up first */
        requeue(w, rc, back[i].queue, back[i].id);
        ready_free(&back[i]);
    }
    free(back);

    /* Let running tasks finish and their results be recorded, up to the
     * shutdown timeout. */
    int64_t end = mono_ms() + o->shutdown_timeout_ms;
    pthread_mutex_lock(&w->mu);
    while ((w->busy > 0 || w->acks_len + w->sending_len > 0) && mono_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv_free, &w->mu, &ts);
    }
    /* The rest are cancelled and requeued at the head of their queues. */
    int left = 0;
    struct slot *late = xcalloc((size_t)o->concurrency, sizeof(*late));
    for (int i = 0; i < o->concurrency; i++) {
        struct slot *s = &w->slots[i];
        if (!s->busy)
            continue;
        s->abandoned = true;
        s->reason = CANCEL_SHUTDOWN;
        atomic_store(&s->cancelled, true);
        snprintf(late[left].id, sizeof(late[left].id), "%s", s->id);
        snprintf(late[left].queue, sizeof(late[left].queue), "%s", s->queue);
        left++;
    }
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < left; i++)
        requeue(w, rc, late[i].queue, late[i].id);
    free(late);
    if (left)
        log_warn("shutdown timeout: running tasks cancelled and requeued", LF_INT("count", left));
}

static void worker_identity(struct worker *w)
{
    char rnd[TASK_ID_MAX];
    if (gethostname(w->host, sizeof(w->host)) != 0)
        snprintf(w->host, sizeof(w->host), "localhost");
    w->host[sizeof(w->host) - 1] = '\0';
    task_new_id(rnd);
    snprintf(w->name, sizeof(w->name), "%s/%d", w->host, (int)getpid());
    snprintf(w->id, sizeof(w->id), "%s/%.8s", w->name, rnd);
}

int worker_run(const struct worker_opts *o, struct buf *err)
{
    struct worker w;
    struct hthread *ht = NULL;
    struct rds_conn rc;
    int rc_code = -1, started = 0;
    bool completer_started = false;
    memset(&w, 0, sizeof(w));
    w.o = o;
    w.fetch_fd = w.sub_fd = -1;
    w.started_ms = now_ms();
    w.ropts =
        (struct rds_opts){o->cfg->redis.endpoint, o->cfg->redis.username, o->cfg->redis.password,
                          o->cfg->redis.db, o->cfg->redis.connect_timeout_ms};
    worker_identity(&w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv_ready, NULL);
    pthread_cond_init(&w.cv_free, NULL);
    pthread_cond_init(&w.cv_maint, NULL);
    pthread_cond_init(&w.cv_ack, NULL);
    w.slots = xcalloc((size_t)o->concurrency, sizeof(*w.slots));
    w.handlers = xcalloc((size_t)o->concurrency, sizeof(*w.handlers));
    ht = xcalloc((size_t)o->concurrency, sizeof(*ht));
    rds_conn_init(&rc, &w.ropts, "worker");
    metrics_setup(&w);

    /* Fail fast when Redis is unreachable at start: a typo in the endpoint
     * should not look like a worker that waits for work. */
    redisContext *probe;
    if (rds_connect(&w.ropts, &probe, err) < 0)
        goto out;
    const char *sadd[2 + 64];
    size_t ns = 0;
    sadd[ns++] = "SADD";
    sadd[ns++] = QUEUE_SET_KEY;
    for (size_t i = 0; i < o->nqueues && ns < ARRAY_SIZE(sadd); i++)
        sadd[ns++] = o->queues[i].name;
    redisReply *r = redisCommandArgv(probe, (int)ns, sadd, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        buf_setf(err, "redis: cannot register queues: %s", r ? r->str : probe->errstr);
        if (r)
            freeReplyObject(r);
        redisFree(probe);
        goto out;
    }
    freeReplyObject(r);
    heartbeat(&w, probe, "active");
    redisFree(probe);

    for (int i = 0; i < o->concurrency; i++) {
        ht[i].w = &w;
        ht[i].index = i;
        rds_conn_init(&ht[i].rc, &w.ropts, "handler");
        if (pthread_create(&w.handlers[i], NULL, handler_main, &ht[i]) != 0) {
            buf_setf(err, "cannot start handler thread: %s", strerror(errno));
            atomic_store(&w.hard_stop, true);
            atomic_store(&w.fetch_stop, true);
            wake_blocked(&w);
            goto join;
        }
        started++;
    }
    if (pthread_create(&w.completer, NULL, completer_main, &w) != 0 ||
        pthread_create(&w.maint, NULL, maint_main, &w) != 0 ||
        pthread_create(&w.canceller, NULL, canceller_main, &w) != 0 ||
        pthread_create(&w.fetcher, NULL, fetcher_main, &w) != 0) {
        /* Out of threads at start-up: nothing was taken from the queue yet. */
        log_error("cannot start worker threads", LF_STR("error", strerror(errno)));
        abort();
    }
    completer_started = true;
    char queues[512] = "";
    size_t ql = 0;
    for (size_t i = 0; i < o->nqueues && ql < sizeof(queues); i++)
        ql += (size_t)snprintf(queues + ql, sizeof(queues) - ql, "%s%s=%d", i ? "," : "",
                               o->queues[i].name, o->queues[i].priority);
    log_info("worker started", LF_STR("id", w.id), LF_INT("concurrency", o->concurrency),
             LF_STR("queues", queues), LF_BOOL("strict_priority", o->strict));

    while (!atomic_load(o->stop))
        sleep_ms(50);
    shutdown_gracefully(&w, &rc);
    rc_code = 0;

    /* Stop everything else. */
    atomic_store(&w.hard_stop, true);
    pthread_mutex_lock(&w.mu);
    if (w.sub_fd >= 0)
        shutdown(w.sub_fd, SHUT_RDWR);
    pthread_cond_broadcast(&w.cv_maint);
    pthread_mutex_unlock(&w.mu);
    wake_blocked(&w);
    pthread_join(w.canceller, NULL);
    pthread_join(w.maint, NULL);
join:
    for (int i = 0; i < started; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        if (pthread_timedjoin_np(w.handlers[i], NULL, &ts) != 0)
            log_error("a task handler ignores cancellation; exiting without it",
                      LF_STR("task_id", w.slots[i].id));
    }
    if (completer_started) { /* last: it records what the handlers finished */
        pthread_mutex_lock(&w.mu);
        w.completer_stop = true;
        pthread_cond_signal(&w.cv_ack);
        pthread_mutex_unlock(&w.mu);
        pthread_join(w.completer, NULL);
    }
    if (rc_code == 0)
        log_info("worker stopped", LF_STR("id", w.id));
out:
    rds_conn_release(&rc);
    if (o->metrics) {
        metrics_remove_collector(o->metrics, collect_queues, &w);
        rds_conn_release(&w.m.rc);
    }
    for (int i = 0; i < started; i++)
        buf_release(&ht[i].err);
    while (w.ready_len) {
        struct ready rd = ready_pop(&w);
        ready_free(&rd);
    }
    free(w.ready);
    for (size_t i = 0; i < w.acks_len; i++)
        free(w.acks[i].info);
    free(w.acks);
    free(ht);
    free(w.handlers);
    free(w.slots);
    pthread_cond_destroy(&w.cv_ready);
    pthread_cond_destroy(&w.cv_free);
    pthread_cond_destroy(&w.cv_maint);
    pthread_cond_destroy(&w.cv_ack);
    pthread_mutex_destroy(&w.mu);
    return rc_code;
}
