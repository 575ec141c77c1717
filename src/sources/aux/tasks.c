/* Built-in (aux) tasks: queue housekeeping, as in the reference system, and
 * diagnostics that let an operator exercise a deployment end to end
 * (noop for throughput, sleep for cancellation/shutdown, fail for retries). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/rds.h"
#include "core/util.h"
#include "queue/handler.h"
#include "queue/queue.h"
#include "sources/aux/aux.h"

static enum task_result drain_state(struct task_ctx *ctx, enum task_state state)
{
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    json_t *jq = json_object_get(p, "queue");
    char **names = NULL;
    size_t n = 0;
    enum task_result rc = TASK_OK;
    if (jq && !json_is_string(jq)) {
        json_decref(p);
        return task_fail(ctx, true, "invalid payload: \"queue\" must be a string");
    }
    if (jq) {
        names = xcalloc(1, sizeof(*names));
        names[0] = xstrdup(json_string_value(jq));
        n = 1;
    } else if (queue_list(ctx->redis, &names, &n, &ctx->err) < 0) {
        json_decref(p);
        return TASK_FAILED;
    }
    for (size_t i = 0; i < n; i++) {
        long long deleted = 0;
        if (rc == TASK_OK && queue_drain(ctx->redis, names[i], state, &deleted, &ctx->err) < 0) {
            rc = TASK_FAILED;
            ctx->permanent = !queue_name_valid(names[i]);
        }
        if (rc == TASK_OK)
            log_info("deleted tasks", LF_STR("queue", names[i]),
                     LF_STR("state", task_state_name(state)), LF_INT("count", deleted));
        free(names[i]);
    }
    free(names);
    json_decref(p);
    return rc;
}

static enum task_result delete_completed(struct task_ctx *ctx)
{
    return drain_state(ctx, TASK_COMPLETED);
}

static enum task_result delete_archived(struct task_ctx *ctx)
{
    return drain_state(ctx, TASK_ARCHIVED);
}

#define PROBE_PREFIX "inv:probe:"

/* With payload {"notify": "inv:probe:<name>"} the task id is pushed to that
 * list: a canary that proves the whole path (enqueue, pickup, ack) and
 * measures its latency. Only keys under inv:probe: can be written. */
static enum task_result noop(struct task_ctx *ctx)
{
    if (ctx->task->payload_len == 0)
        return TASK_OK;
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    const char *key = json_string_value(json_object_get(p, "notify"));
    enum task_result rc = TASK_OK;
    if (key) {
        if (strncmp(key, PROBE_PREFIX, strlen(PROBE_PREFIX)) != 0 || strlen(key) > 200) {
            rc = task_fail(ctx, true, "invalid payload: notify must be a key under %s",
                           PROBE_PREFIX);
        } else {
            const char *argv[3] = {"LPUSH", key, ctx->task->id};
            redisReply *r = rds_cmd(ctx->redis, &ctx->err, 3, argv, NULL);
            if (!r)
                rc = TASK_FAILED;
            else
                freeReplyObject(r);
        }
    }
    json_decref(p);
    return rc;
}

static enum task_result sleep_task(struct task_ctx *ctx)
{
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    const char *d = json_string_value(json_object_get(p, "duration"));
    int64_t ms = 1000;
    if (d && duration_parse(d, &ms) < 0) {
        json_decref(p);
        return task_fail(ctx, true, "invalid payload: bad duration \"%s\"", d);
    }
    json_decref(p);
    int64_t end = mono_ms() + ms;
    while (mono_ms() < end) {
        if (task_cancelled(ctx))
            return task_fail(ctx, false, "cancelled after %lld ms",
                             (long long)(ms - (end - mono_ms())));
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return TASK_OK;
}

static enum task_result fail_task(struct task_ctx *ctx)
{
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    const char *e = json_string_value(json_object_get(p, "error"));
    bool permanent = json_is_true(json_object_get(p, "permanent"));
    enum task_result rc = task_fail(ctx, permanent, "%s", e ? e : "failed on purpose");
    json_decref(p);
    return rc;
}

const struct task_handler aux_task_handlers[] = {
    {"aux:task:delete-completed-tasks",
     "delete completed tasks of payload.queue (default: every queue)", delete_completed, 0},
    {"aux:task:delete-archived-tasks",
     "delete archived tasks of payload.queue (default: every queue)", delete_archived, 0},
    {"aux:task:housekeeper",
     "delete rows not seen within each model's retention (payload.retention: [{name, duration}])",
     aux_housekeeper, TH_NEEDS_DB},
    {"aux:task:noop",
     "diagnostic: do nothing; payload.notify (a key under inv:probe:) gets the task id", noop, 0},
    {"aux:task:sleep", "diagnostic: sleep payload.duration (default 1s), cancellable", sleep_task,
     0},
    {"aux:task:fail", "diagnostic: fail with payload.error (payload.permanent archives at once)",
     fail_task, 0},
    {NULL, NULL, NULL, 0},
};

/* Archived tasks are trimmed by age and count on every worker; nothing of
 * aux needs a schedule of its own. Sources add rows here ({spec, type,
 * payload, desc}) for their periodic collection. */
const struct periodic_task aux_periodic_tasks[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
