/* Task handlers: what a worker runs for each task type. Every data source
 * exports a static table of handlers (src/sources/<name>/tasks.c); the
 * registry (registry.c) lists the tables, so adding a source is one line. */
#ifndef INV_HANDLER_H
#define INV_HANDLER_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"
#include "queue/task.h"

enum task_result {
    TASK_OK = 0,  /* done */
    TASK_FAILED,  /* failed: retried with backoff, or archived if permanent/exhausted */
    TASK_SKIPPED, /* nothing to do (e.g. the source is disabled): counts as done */
};

/* What a handler gets. The connections belong to the worker thread and stay
 * open between tasks; a handler must not close them. */
struct task_ctx {
    const struct task *task;
    const struct config *cfg;
    redisContext *redis; /* this thread's connection */
    PGconn *(*db)(
        struct task_ctx *ctx); /* opens this thread's connection lazily; NULL + err on failure */
    void *worker_thread;       /* opaque, for db() */
    atomic_bool *cancelled;    /* set on timeout, deadline, `task cancel` or shutdown */
    /* The worker's registry (NULL when none): sources register their own
     * families on first use (metrics_gauge returns the existing family). */
    struct metrics_registry *metrics;
    struct buf err; /* the error to record when the result is TASK_FAILED */
    bool permanent; /* archive at once, do not retry */
};

#define TH_NEEDS_DB 0x1u

struct task_handler {
    const char *type; /* "aws:task:collect-regions" */
    const char *desc;
    enum task_result (*run)(struct task_ctx *ctx);
    unsigned flags;
};

/* Records an error for the task; returns TASK_FAILED for `return task_fail(...)`. */
enum task_result task_fail(struct task_ctx *ctx, bool permanent, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* The payload as a JSON object (empty payload = {}); NULL after recording a
 * permanent failure when it is not one: a bad payload does not get better
 * by retrying. Caller json_decref()s. */
struct json_t *task_payload_object(struct task_ctx *ctx);

static inline bool task_cancelled(const struct task_ctx *ctx)
{
    return atomic_load_explicit(ctx->cancelled, memory_order_relaxed);
}

/* NULL when no handler is registered for type. */
const struct task_handler *task_handler_find(const char *type);
/* Calls fn for every registered handler, sorted by type. */
void task_handlers_each(void (*fn)(const struct task_handler *h, void *arg), void *arg);

/* A periodic task registered in code (the scheduler enqueues it on the
 * default queue unless the config declares the same job differently). */
struct periodic_task {
    const char *spec; /* "@every 1h", "0 3 * * *" */
    const char *type;
    const char *payload; /* JSON, or NULL */
    const char *desc;
    /* NULL, or false when the configuration leaves the task nothing to do
     * (its source is disabled): the scheduler then leaves it out. */
    bool (*enabled)(const struct config *cfg);
};

/* Calls fn for every periodic task registered in code. */
void periodic_tasks_each(void (*fn)(const struct periodic_task *p, void *arg), void *arg);

/* Per-source tables, terminated by a row with type NULL. */
extern const struct task_handler aux_task_handlers[];
extern const struct periodic_task aux_periodic_tasks[];
extern const struct task_handler aws_task_handlers[];
extern const struct periodic_task aws_periodic_tasks[];
extern const struct task_handler hosts_task_handlers[];
extern const struct periodic_task hosts_periodic_tasks[];

#endif
