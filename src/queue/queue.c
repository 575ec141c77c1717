/* Queue client (see queue.h and docs/queue.md). */
#include "queue/queue.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/rds.h"
#include "core/util.h"

/* Per-state container keys; active is a ZSET of leases. */
static const char *const state_keys[TASK_STATE_COUNT] = {
    [TASK_PENDING] = "pending", [TASK_ACTIVE] = "active",     [TASK_SCHEDULED] = "scheduled",
    [TASK_RETRY] = "retry",     [TASK_ARCHIVED] = "archived", [TASK_COMPLETED] = "completed",
};

bool queue_name_valid(const char *q)
{
    return is_safe_name(q, QUEUE_NAME_MAX - 1);
}

void queue_key(char out[QUEUE_KEY_MAX], const char *q, const char *suffix)
{
    snprintf(out, QUEUE_KEY_MAX, "inv:{%s}:%s", q, suffix);
}

void queue_stat_key(char out[QUEUE_KEY_MAX], const char *q, const char *what, bool daily)
{
    if (!daily) {
        snprintf(out, QUEUE_KEY_MAX, "inv:{%s}:%s", q, what);
        return;
    }
    char day[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    snprintf(out, QUEUE_KEY_MAX, "inv:{%s}:%s:%s", q, what, day);
}

redisReply *queue_eval(redisContext *c, enum qscript s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args, const size_t *arglens, struct buf *err)
{
    const struct qscript_def *def = qscript(s);
    int argc = 3 + nkeys + nargs;
    const char **argv = xmalloc((size_t)argc * sizeof(*argv));
    size_t *lens = xmalloc((size_t)argc * sizeof(*lens));
    char nk[16];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = def->sha;
    argv[2] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    for (int i = 0; i < argc; i++)
        lens[i] = (i >= 3 + nkeys && arglens) ? arglens[i - 3 - nkeys] : strlen(argv[i]);
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* The script cache is empty after a Redis restart: EVAL loads it. */
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = def->body;
        lens[0] = 4;
        lens[1] = strlen(def->body);
        r = redisCommandArgv(c, argc, argv, lens);
    }
    free(argv);
    free(lens);
    if (!r) {
        buf_setf(err, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        buf_setf(err, "redis script %s: %.*s", def->name, (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int queue_server_time(redisContext *c, int64_t *ms, struct buf *err)
{
    const char *argv[] = {"TIME"};
    redisReply *r = rds_cmd(c, err, 1, argv, NULL);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        *ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
              strtoll(r->element[1]->str, NULL, 10) / 1000;
        rc = 0;
    } else {
        buf_setf(err, "redis TIME: unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

/* One enqueue, encoded and ready to send. */
struct enqueue_req {
    struct task t;
    struct buf msg, info;
    char k[7][QUEUE_KEY_MAX];
    char at[24], tick[24];
    int nkeys, argc;
    const char *argv[3 + 7 + 6];
    size_t lens[3 + 7 + 6];
};

static void req_release(struct enqueue_req *r)
{
    task_release(&r->t);
    buf_release(&r->msg);
    buf_release(&r->info);
}

/* Validates and encodes; fills r->argv as EVALSHA enqueue. */
static int prepare(struct enqueue_req *r, const char *type, const void *payload, size_t len,
                   const struct enqueue_opts *o, struct buf *err)
{
    static const char *const suffix[7] = {"msg",       "state", "info", "pending",
                                          "scheduled", "wake",  "sched"};
    const char *q = o && o->queue ? o->queue : QUEUE_DEFAULT;
    task_init(&r->t);
    buf_init(&r->msg, TASK_PAYLOAD_MAX + 4096);
    buf_init(&r->info, 4096);
    if (!queue_name_valid(q)) {
        buf_setf(err, "invalid queue name \"%s\" (1-63 of A-Z a-z 0-9 _ . : -)", q);
        return -1;
    }
    if (!type || !*type || strlen(type) > TASK_TYPE_MAX) {
        buf_setf(err, "invalid task type (1-%d bytes)", TASK_TYPE_MAX);
        return -1;
    }
    if (len > TASK_PAYLOAD_MAX) {
        buf_setf(err, "payload of %zu bytes exceeds the limit of %u", len, TASK_PAYLOAD_MAX);
        return -1;
    }
    struct task *t = &r->t;
    if (o && o->id) {
        if (!task_id_valid(o->id)) {
            buf_setf(err, "invalid task id \"%s\" (1-63 of A-Z a-z 0-9 _ . : -)", o->id);
            return -1;
        }
        snprintf(t->id, sizeof(t->id), "%s", o->id);
    } else {
        task_new_id(t->id);
    }
    t->queue = xstrdup(q);
    t->type = xstrdup(type);
    t->payload = (unsigned char *)(len ? xmalloc(len) : NULL);
    if (len)
        memcpy(t->payload, payload, len);
    t->payload_len = len;
    if (o && o->max_retry >= 0)
        t->max_retry = o->max_retry;
    if (o && o->timeout_ms >= 0)
        t->timeout_ms = o->timeout_ms;
    t->deadline_ms = o ? o->deadline_ms : 0;
    t->retention_ms = o ? o->retention_ms : 0;
    t->created_ms = now_ms();
    if (t->timeout_ms == 0 && t->deadline_ms == 0)
        t->timeout_ms = TASK_DEFAULT_TIMEOUT_MS; /* a task always has a bound */
    if (task_encode_msg(t, &r->msg) < 0 || task_encode_info(t, &r->info) < 0) {
        buf_setf(err, "cannot encode task");
        return -1;
    }
    snprintf(r->at, sizeof(r->at), "%lld", (long long)(o ? o->process_at_ms : 0));
    bool tick = o && o->tick_job;
    r->nkeys = tick ? 7 : 6;
    r->argc = 3 + r->nkeys + (tick ? 6 : 4);
    r->argv[0] = "EVALSHA";
    r->argv[1] = qscript(QS_ENQUEUE)->sha;
    r->argv[2] = tick ? "7" : "6";
    for (int i = 0; i < r->nkeys; i++) {
        queue_key(r->k[i], q, suffix[i]);
        r->argv[3 + i] = r->k[i];
    }
    const char **a = r->argv + 3 + r->nkeys;
    a[0] = t->id;
    a[1] = r->msg.ptr;
    a[2] = r->info.ptr ? r->info.ptr : "";
    a[3] = r->at;
    if (tick) {
        snprintf(r->tick, sizeof(r->tick), "%lld", (long long)o->tick_ms);
        a[4] = o->tick_job;
        a[5] = r->tick;
    }
    for (int i = 0; i < r->argc; i++)
        r->lens[i] = strlen(r->argv[i]);
    r->lens[3 + r->nkeys + 1] = r->msg.len;
    r->lens[3 + r->nkeys + 2] = r->info.len;
    return 0;
}

static int enqueue_status(const redisReply *r, const struct enqueue_req *req, struct buf *err)
{
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 2) {
        buf_setf(err, "tick %s of periodic job %s was already enqueued", req->tick,
                 req->argv[3 + req->nkeys + 4]);
        return QUEUE_DUPLICATE;
    }
    buf_setf(err, "task id \"%s\" conflicts with another task in queue %s", req->t.id,
             req->t.queue);
    return QUEUE_CONFLICT;
}

int queue_enqueue(redisContext *c, const char *type, const void *payload, size_t len,
                  const struct enqueue_opts *o, char id_out[TASK_ID_MAX], struct buf *err)
{
    struct enqueue_item item = {type, payload, len, o};
    int status = -1;
    int rc = queue_enqueue_many(c, &item, 1, (char(*)[TASK_ID_MAX])id_out, &status, err);
    return rc < 0 ? -1 : status;
}

int queue_enqueue_many(redisContext *c, const struct enqueue_item *items, size_t n,
                       char (*ids)[TASK_ID_MAX], int *status, struct buf *err)
{
    struct enqueue_req *reqs = xcalloc(n ? n : 1, sizeof(*reqs));
    size_t prepared = 0, sent = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++)
        status[i] = -1;
    for (; prepared < n; prepared++)
        if (prepare(&reqs[prepared], items[prepared].type, items[prepared].payload,
                    items[prepared].len, items[prepared].opts, err) < 0) {
            prepared++; /* release this one too */
            goto out;
        }
    /* Register queue names first: a queue that has tasks is always listed.
     * One SADD per run of equal queues keeps this cheap for batches. */
    const char *last = NULL;
    size_t sadds = 0;
    for (size_t i = 0; i < n; i++) {
        if (last && strcmp(last, reqs[i].t.queue) == 0)
            continue;
        last = reqs[i].t.queue;
        const char *sadd[3] = {"SADD", QUEUE_SET_KEY, last};
        if (redisAppendCommandArgv(c, 3, sadd, NULL) != REDIS_OK)
            goto io;
        sadds++;
    }
    for (; sent < n; sent++)
        if (redisAppendCommandArgv(c, reqs[sent].argc, reqs[sent].argv, reqs[sent].lens) !=
            REDIS_OK)
            goto io;
    /* Read every reply before anything else is sent on this connection. */
    redisReply **rep = xcalloc(sadds + n, sizeof(*rep));
    for (size_t i = 0; i < sadds + n; i++) {
        void *v = NULL;
        if (redisGetReply(c, &v) != REDIS_OK) {
            for (size_t j = 0; j < i; j++)
                freeReplyObject(rep[j]);
            free(rep);
            goto io;
        }
        rep[i] = v;
    }
    rc = 0;
    for (size_t i = 0; i < sadds + n; i++) {
        redisReply *r = rep[i];
        if (i < sadds) {
            if (r->type == REDIS_REPLY_ERROR) {
                buf_setf(err, "redis SADD: %s", r->str);
                rc = -1;
            }
            freeReplyObject(r);
            continue;
        }
        size_t k = i - sadds;
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            /* The script cache was empty (a Redis restart): queue_eval
             * loads it; the rest of the batch then finds it. */
            freeReplyObject(r);
            int nk = reqs[k].nkeys;
            r = queue_eval(c, QS_ENQUEUE, nk, reqs[k].argv + 3, reqs[k].argc - 3 - nk,
                           reqs[k].argv + 3 + nk, reqs[k].lens + 3 + nk, err);
            if (!r) {
                rc = -1;
                continue;
            }
        }
        if (r->type == REDIS_REPLY_ERROR) {
            buf_setf(err, "redis script enqueue: %s", r->str);
            rc = -1;
        } else {
            status[k] = enqueue_status(r, &reqs[k], err);
            if (status[k] == 0 && ids)
                snprintf(ids[k], TASK_ID_MAX, "%s", reqs[k].t.id);
        }
        freeReplyObject(r);
    }
    free(rep);
    goto out;
io:
    buf_setf(err, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
    rc = -1;
out:
    for (size_t i = 0; i < prepared; i++)
        req_release(&reqs[i]);
    free(reqs);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int queue_list(redisContext *c, char ***names, size_t *n, struct buf *err)
{
    const char *argv[] = {"SMEMBERS", QUEUE_SET_KEY};
    redisReply *r = rds_cmd(c, err, 2, argv, NULL);
    *names = NULL;
    *n = 0;
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        *names = xcalloc(r->elements, sizeof(char *));
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                (*names)[(*n)++] = xstrndup(r->element[i]->str, r->element[i]->len);
        qsort(*names, *n, sizeof(char *), cmp_str);
    }
    freeReplyObject(r);
    return 0;
}

/* Sends `n` commands pipelined and collects the replies (caller frees each).
 * -1 with err on I/O error; error replies are left for the caller. */
static int pipeline(redisContext *c, int n, const char *const *const *argvs, const int *argcs,
                    redisReply **replies, struct buf *err)
{
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, argcs[i], (const char **)argvs[i], NULL) != REDIS_OK)
            goto fail;
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK) {
            for (int k = 0; k < i; k++)
                freeReplyObject(replies[k]);
            goto fail;
        }
        replies[i] = r;
    }
    return 0;
fail:
    buf_setf(err, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
    return -1;
}

static long long reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

int queue_inspect(redisContext *c, const char *q, struct queue_info *info, struct buf *err)
{
    enum { NK = 12 };
    static const char *const suffix[NK] = {"pending",  "active",    "scheduled", "retry",
                                           "archived", "completed", "paused",    "msg",
                                           "state",    "info",      "lease",     "wake"};
    char k[NK][QUEUE_KEY_MAX], pday[QUEUE_KEY_MAX], fday[QUEUE_KEY_MAX], ptot[QUEUE_KEY_MAX],
        ftot[QUEUE_KEY_MAX];
    memset(info, 0, sizeof(*info));
    if (!queue_name_valid(q)) {
        buf_setf(err, "invalid queue name \"%s\"", q);
        return -1;
    }
    snprintf(info->name, sizeof(info->name), "%s", q);
    for (int i = 0; i < NK; i++)
        queue_key(k[i], q, suffix[i]);
    queue_stat_key(pday, q, "processed", true);
    queue_stat_key(fday, q, "failed", true);
    queue_stat_key(ptot, q, "processed", false);
    queue_stat_key(ftot, q, "failed", false);

    /* 0 LLEN pending, 1-5 ZCARD, 6 EXISTS paused, 7-10 GET stats, 11 LINDEX
     * oldest pending, 12 TIME, 13.. MEMORY USAGE of the 12 queue keys. */
    const char *cmds[13 + 12][4];
    int argcs[13 + 12];
    const char *const *argvs[13 + 12];
    int n = 0;
#define CMD2(a, b)     (cmds[n][0] = (a), cmds[n][1] = (b), argcs[n] = 2, argvs[n] = cmds[n], n++)
#define CMD3(a, b, c3) (cmds[n][2] = (c3), CMD2(a, b), argcs[n - 1] = 3)
    CMD2("LLEN", k[0]);
    for (int i = 1; i <= 5; i++)
        CMD2("ZCARD", k[i]);
    CMD2("EXISTS", k[6]);
    CMD2("GET", pday);
    CMD2("GET", fday);
    CMD2("GET", ptot);
    CMD2("GET", ftot);
    CMD3("LINDEX", k[0], "-1");
    cmds[n][0] = "TIME";
    argcs[n] = 1;
    argvs[n] = cmds[n];
    n++;
#undef CMD2
#undef CMD3
    const char *mem[12][5]; /* MEMORY USAGE key SAMPLES 0: exact sizes */
    for (int i = 0; i < 12; i++, n++) {
        mem[i][0] = "MEMORY";
        mem[i][1] = "USAGE";
        mem[i][2] = k[i];
        mem[i][3] = "SAMPLES";
        mem[i][4] = "0";
        argvs[n] = mem[i];
        argcs[n] = 5;
    }
    redisReply *rep[13 + 12];
    if (pipeline(c, n, argvs, argcs, rep, err) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < 13; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            buf_setf(err, "redis %s: %s", cmds[i][0], rep[i]->str);
            rc = -1;
        }
    if (rc == 0) {
        info->counts[TASK_PENDING] = reply_int(rep[0]);
        info->counts[TASK_ACTIVE] = reply_int(rep[1]);
        info->counts[TASK_SCHEDULED] = reply_int(rep[2]);
        info->counts[TASK_RETRY] = reply_int(rep[3]);
        info->counts[TASK_ARCHIVED] = reply_int(rep[4]);
        info->counts[TASK_COMPLETED] = reply_int(rep[5]);
        for (int i = 0; i < TASK_STATE_COUNT; i++)
            info->size += info->counts[i];
        info->paused = reply_int(rep[6]) > 0;
        info->processed_day = reply_int(rep[7]);
        info->failed_day = reply_int(rep[8]);
        info->processed_total = reply_int(rep[9]);
        info->failed_total = reply_int(rep[10]);
        for (int i = 13; i < n; i++)
            info->memory += reply_int(rep[i]);
        int64_t now = 0;
        if (rep[12]->type == REDIS_REPLY_ARRAY && rep[12]->elements == 2)
            now = strtoll(rep[12]->element[0]->str, NULL, 10) * 1000 +
                  strtoll(rep[12]->element[1]->str, NULL, 10) / 1000;
        if (rep[11]->type == REDIS_REPLY_STRING) {
            const char *argv[3] = {"HGET", k[8], rep[11]->str};
            redisReply *s = rds_cmd(c, err, 3, argv, NULL);
            struct task t;
            task_init(&t);
            if (s && s->type == REDIS_REPLY_STRING && task_decode_state(&t, s->str, s->len) == 0 &&
                now > t.state_since_ms)
                info->latency_ms = now - t.state_since_ms;
            if (s)
                freeReplyObject(s);
            task_release(&t);
        }
    }
    for (int i = 0; i < n; i++)
        freeReplyObject(rep[i]);
    return rc;
}

int queue_set_paused(redisContext *c, const char *q, bool paused, struct buf *err)
{
    char k[QUEUE_KEY_MAX];
    if (!queue_name_valid(q)) {
        buf_setf(err, "invalid queue name \"%s\"", q);
        return -1;
    }
    queue_key(k, q, "paused");
    const char *set[3] = {"SET", k, "1"}, *del[2] = {"DEL", k};
    redisReply *r = paused ? rds_cmd(c, err, 3, set, NULL) : rds_cmd(c, err, 2, del, NULL);
    if (!r)
        return -1;
    freeReplyObject(r);
    if (!paused) {
        /* Wake fetchers blocked while the queue was paused. */
        char w[QUEUE_KEY_MAX];
        queue_key(w, q, "wake");
        const char *push[3] = {"LPUSH", w, "1"};
        r = rds_cmd(c, err, 3, push, NULL);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

int queue_drain(redisContext *c, const char *q, enum task_state state, long long *deleted,
                struct buf *err)
{
    char k[4][QUEUE_KEY_MAX];
    *deleted = 0;
    if (!queue_name_valid(q)) {
        buf_setf(err, "invalid queue name \"%s\"", q);
        return -1;
    }
    if (state == TASK_ACTIVE || (unsigned)state >= TASK_STATE_COUNT) {
        buf_setf(err, "active tasks cannot be drained (cancel them)");
        return -1;
    }
    queue_key(k[0], q, state_keys[state]);
    queue_key(k[1], q, "state");
    queue_key(k[2], q, "msg");
    queue_key(k[3], q, "info");
    const char *keys[4] = {k[0], k[1], k[2], k[3]};
    const char *args[2] = {state == TASK_PENDING ? "list" : "zset", "1000"};
    for (;;) {
        redisReply *r = queue_eval(c, QS_DRAIN, 4, keys, 2, args, NULL, err);
        if (!r)
            return -1;
        long long got = reply_int(r);
        freeReplyObject(r);
        *deleted += got;
        if (got == 0)
            return 0;
    }
}

/* Fills t from the hashes' replies (msg, state, info). -1 if the body is
 * missing or corrupt; err says why. */
static int load_task(struct task *t, const char *q, const char *id, const redisReply *msg,
                     const redisReply *state, const redisReply *info, struct buf *err)
{
    snprintf(t->id, sizeof(t->id), "%s", id);
    free(t->queue);
    t->queue = xstrdup(q);
    if (!state || state->type != REDIS_REPLY_STRING) {
        buf_setf(err, "task %s not found in queue %s", id, q);
        return QUEUE_NOTFOUND;
    }
    if (task_decode_state(t, state->str, state->len) < 0) {
        buf_setf(err, "task %s: corrupt state", id);
        return -1;
    }
    if (!msg || msg->type != REDIS_REPLY_STRING ||
        task_decode_msg(t, msg->str, msg->len, err) < 0) {
        if (!msg || msg->type != REDIS_REPLY_STRING)
            buf_setf(err, "task %s: message missing", id);
        return -1;
    }
    if (info && info->type == REDIS_REPLY_STRING && task_decode_info(t, info->str, info->len) < 0) {
        buf_setf(err, "task %s: corrupt info", id);
        return -1;
    }
    return 0;
}

int queue_tasks(redisContext *c, const char *q, enum task_state state, long long offset,
                long long count, struct task **out, size_t *n, struct buf *err)
{
    char k[QUEUE_KEY_MAX], km[QUEUE_KEY_MAX], ks[QUEUE_KEY_MAX], ki[QUEUE_KEY_MAX], start[24],
        stop[24];
    *out = NULL;
    *n = 0;
    if (!queue_name_valid(q)) {
        buf_setf(err, "invalid queue name \"%s\"", q);
        return -1;
    }
    if ((unsigned)state >= TASK_STATE_COUNT || offset < 0 || count <= 0) {
        buf_setf(err, "invalid listing");
        return -1;
    }
    queue_key(k, q, state_keys[state]);
    queue_key(km, q, "msg");
    queue_key(ks, q, "state");
    queue_key(ki, q, "info");
    redisReply *ids;
    if (state == TASK_PENDING) {
        /* The list's tail runs first: page from the end. */
        snprintf(start, sizeof(start), "%lld", -(offset + count));
        snprintf(stop, sizeof(stop), "%lld", -(offset + 1));
        const char *argv[4] = {"LRANGE", k, start, stop};
        ids = rds_cmd(c, err, 4, argv, NULL);
    } else {
        snprintf(start, sizeof(start), "%lld", offset);
        snprintf(stop, sizeof(stop), "%lld", offset + count - 1);
        const char *argv[5] = {"ZRANGE", k, start, stop, "WITHSCORES"};
        ids = rds_cmd(c, err, 5, argv, NULL);
    }
    if (!ids)
        return -1;
    size_t step = state == TASK_PENDING ? 1 : 2, total = ids->elements / step;
    int rc = 0;
    int64_t now = 0;
    if (total && (rc = queue_server_time(c, &now, err)) < 0)
        goto out;
    if (total) {
        int ncmd = (int)total * 3;
        const char *(*argvs3)[3] = xcalloc((size_t)ncmd, sizeof(*argvs3));
        const char *const **argvs = xcalloc((size_t)ncmd, sizeof(*argvs));
        int *argcs = xcalloc((size_t)ncmd, sizeof(int));
        redisReply **rep = xcalloc((size_t)ncmd, sizeof(*rep));
        const char *hk[3] = {km, ks, ki};
        for (size_t i = 0; i < total; i++)
            for (int h = 0; h < 3; h++) {
                size_t x = i * 3 + (size_t)h;
                argvs3[x][0] = "HGET";
                argvs3[x][1] = hk[h];
                argvs3[x][2] = ids->element[i * step]->str;
                argvs[x] = argvs3[x];
                argcs[x] = 3;
            }
        if (pipeline(c, ncmd, argvs, argcs, rep, err) < 0) {
            rc = -1;
        } else {
            *out = xcalloc(total, sizeof(**out));
            for (size_t i = 0; i < total; i++) {
                /* Pending lists come newest first; show the next to run first. */
                size_t src = state == TASK_PENDING ? total - 1 - i : i;
                struct task *t = &(*out)[*n];
                task_init(t);
                struct buf e2;
                buf_init(&e2, 512);
                int lr = load_task(t, q, ids->element[src * step]->str, rep[src * 3],
                                   rep[src * 3 + 1], rep[src * 3 + 2], &e2);
                if (lr == QUEUE_NOTFOUND) { /* moved on meanwhile */
                    task_release(t);
                    buf_release(&e2);
                    continue;
                }
                if (lr < 0) { /* show it anyway, with the reason as its error */
                    free(t->error);
                    t->error = xstrdup(buf_str(&e2));
                }
                buf_release(&e2);
                if (step == 2) {
                    long long score = strtoll(ids->element[src * 2 + 1]->str, NULL, 10);
                    if (state == TASK_SCHEDULED || state == TASK_RETRY)
                        t->next_process_ms = score;
                    if (state == TASK_ACTIVE && score < now)
                        t->orphaned = true;
                }
                (*n)++;
            }
            for (int i = 0; i < ncmd; i++)
                freeReplyObject(rep[i]);
        }
        free(argvs3);
        free(argvs);
        free(argcs);
        free(rep);
    }
out:
    freeReplyObject(ids);
    return rc;
}

static int get_in_queue(redisContext *c, const char *q, const char *id, struct task *t,
                        struct buf *err)
{
    char km[QUEUE_KEY_MAX], ks[QUEUE_KEY_MAX], ki[QUEUE_KEY_MAX], kz[QUEUE_KEY_MAX];
    queue_key(km, q, "msg");
    queue_key(ks, q, "state");
    queue_key(ki, q, "info");
    const char *a0[3] = {"HGET", km, id}, *a1[3] = {"HGET", ks, id}, *a2[3] = {"HGET", ki, id};
    const char *const *argvs[3] = {a0, a1, a2};
    int argcs[3] = {3, 3, 3};
    redisReply *rep[3];
    if (pipeline(c, 3, argvs, argcs, rep, err) < 0)
        return -1;
    int rc = load_task(t, q, id, rep[0], rep[1], rep[2], err);
    for (int i = 0; i < 3; i++)
        freeReplyObject(rep[i]);
    if (rc != 0)
        return rc;
    if (t->state == TASK_SCHEDULED || t->state == TASK_RETRY || t->state == TASK_ACTIVE) {
        queue_key(kz, q, state_keys[t->state]);
        const char *argv[3] = {"ZSCORE", kz, id};
        redisReply *r = rds_cmd(c, err, 3, argv, NULL);
        if (!r)
            return -1;
        long long score = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
        freeReplyObject(r);
        if (t->state == TASK_ACTIVE) {
            int64_t now;
            if (queue_server_time(c, &now, err) < 0)
                return -1;
            t->orphaned = score < now;
        } else {
            t->next_process_ms = score;
        }
    }
    return 0;
}

int queue_task_get(redisContext *c, const char *q, const char *id, struct task *t, struct buf *err)
{
    if (!task_id_valid(id)) {
        buf_setf(err, "invalid task id \"%s\"", id);
        return -1;
    }
    if (q) {
        if (!queue_name_valid(q)) {
            buf_setf(err, "invalid queue name \"%s\"", q);
            return -1;
        }
        return get_in_queue(c, q, id, t, err);
    }
    char **names;
    size_t n;
    if (queue_list(c, &names, &n, err) < 0)
        return -1;
    int rc = QUEUE_NOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (rc == QUEUE_NOTFOUND)
            rc = get_in_queue(c, names[i], id, t, err);
        free(names[i]);
    }
    free(names);
    if (rc == QUEUE_NOTFOUND)
        buf_setf(err, "task %s not found in any queue", id);
    return rc;
}

int queue_task_delete(redisContext *c, const char *q, const char *id, struct buf *err)
{
    static const char *const suffix[8] = {"state",     "msg",   "info",     "pending",
                                          "scheduled", "retry", "archived", "completed"};
    char k[8][QUEUE_KEY_MAX];
    const char *keys[8];
    if (!queue_name_valid(q) || !task_id_valid(id)) {
        buf_setf(err, "invalid queue name or task id");
        return -1;
    }
    for (int i = 0; i < 8; i++) {
        queue_key(k[i], q, suffix[i]);
        keys[i] = k[i];
    }
    const char *args[1] = {id};
    redisReply *r = queue_eval(c, QS_DELETE, 8, keys, 1, args, NULL, err);
    if (!r)
        return -1;
    long long v = reply_int(r);
    freeReplyObject(r);
    if (v == 1)
        return 0;
    if (v == 0) {
        buf_setf(err, "task %s not found in queue %s", id, q);
        return QUEUE_NOTFOUND;
    }
    buf_setf(err, "task %s is running: cancel it first ('inventory task cancel --id %s')", id, id);
    return QUEUE_BUSY;
}

int queue_task_cancel(redisContext *c, const char *id, long long *receivers, struct buf *err)
{
    if (!task_id_valid(id)) {
        buf_setf(err, "invalid task id \"%s\"", id);
        return -1;
    }
    const char *argv[3] = {"PUBLISH", QUEUE_CANCEL_CHANNEL, id};
    redisReply *r = rds_cmd(c, err, 3, argv, NULL);
    if (!r)
        return -1;
    *receivers = reply_int(r);
    freeReplyObject(r);
    return 0;
}

int queue_tick_marker(redisContext *c, const char *q, const char *job, int64_t *tick_ms,
                      struct buf *err)
{
    char key[QUEUE_KEY_MAX];
    queue_key(key, q, "sched");
    *tick_ms = -1;
    redisReply *r = redisCommand(c, "HGET %s %s", key, job);
    if (!r) {
        buf_setf(err, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING) {
        *tick_ms = strtoll(r->str, NULL, 10);
    } else if (r->type != REDIS_REPLY_NIL) {
        buf_setf(err, "redis HGET %s: %s", key,
                 r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

json_t *queue_info_json(const struct queue_info *qi)
{
    char lat[32];
    duration_format(qi->latency_ms, lat, sizeof(lat));
    return json_pack(
        "{s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "name", qi->name,
        "memory_usage", (json_int_t)qi->memory, "latency_ms", (json_int_t)qi->latency_ms, "latency",
        lat, "size", (json_int_t)qi->size, "pending", (json_int_t)qi->counts[TASK_PENDING],
        "active", (json_int_t)qi->counts[TASK_ACTIVE], "scheduled",
        (json_int_t)qi->counts[TASK_SCHEDULED], "retry", (json_int_t)qi->counts[TASK_RETRY],
        "archived", (json_int_t)qi->counts[TASK_ARCHIVED], "completed",
        (json_int_t)qi->counts[TASK_COMPLETED], "processed_daily", (json_int_t)qi->processed_day,
        "failed_daily", (json_int_t)qi->failed_day, "processed_total",
        (json_int_t)qi->processed_total, "failed_total", (json_int_t)qi->failed_total, "paused",
        qi->paused);
}

json_t *task_to_json(const struct task *t)
{
    json_t *payload = NULL;
    if (t->payload_len) {
        payload = json_loadb((const char *)t->payload, t->payload_len, JSON_DECODE_ANY, NULL);
        if (!payload)
            payload = json_stringn_nocheck((const char *)t->payload, t->payload_len);
    }
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s?,s:o?}", "id", t->id, "queue",
        t->queue ? t->queue : "", "type", t->type ? t->type : "", "state",
        task_state_name(t->state), "orphaned", t->orphaned, "retried", t->retried, "max_retry",
        t->max_retry, "timeout_ms", (json_int_t)t->timeout_ms, "deadline_ms",
        (json_int_t)t->deadline_ms, "retention_ms", (json_int_t)t->retention_ms,
        "last_failed_at_ms", (json_int_t)t->last_failed_ms, "next_process_at_ms",
        (json_int_t)t->next_process_ms, "completed_at_ms", (json_int_t)t->completed_ms,
        "created_at_ms", (json_int_t)t->created_ms, "last_error", t->error, "payload", payload);
}
