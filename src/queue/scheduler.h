/* Periodic scheduler: enqueues each job's ticks; several schedulers may run
 * at once and each tick is enqueued exactly once across them (a per-job
 * "last tick" marker in the queue's slot, checked and advanced by the same
 * Lua script that enqueues). See docs/scheduler.md. */
#ifndef INV_SCHEDULER_H
#define INV_SCHEDULER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/cron.h"
#include "core/metrics.h"
#include "queue/queue.h"

#define SCHED_REGISTRY_KEY   "inv:schedulers"
#define SCHED_INFO_PREFIX    "inv:scheduler:"
#define SCHED_HISTORY_PREFIX "inv:sched:history:"
#define SCHED_HISTORY_MAX    100
#define SCHED_TTL_MS         15000 /* a dead scheduler's entries vanish within this */

struct sched_entry {
    char id[40];   /* stable across schedulers: derived from the job's content */
    char *type;    /* task type */
    char *spec;    /* spec text as configured */
    char *desc;    /* may be NULL */
    char *payload; /* compact JSON or NULL */
    char queue[QUEUE_NAME_MAX];
    const char *origin; /* "config" or "code" */
    struct cron_spec cron;
    int64_t last_tick; /* last tick this scheduler handled (ms), -1: none yet */
    bool failing;      /* the tick after last_tick could not be enqueued yet */
};

struct sched_set {
    struct sched_entry *items;
    size_t n;
};

/* Builds the entries from code and config; validates specs, task names and
 * payloads. Errors are "file:line: message" for config jobs. */
int sched_build(const struct config *cfg, struct sched_set *set, struct buf *err) MUSTCHECK;
void sched_set_release(struct sched_set *set);

struct sched_opts {
    const struct config *cfg;
    atomic_bool *stop;
    struct metrics_registry *metrics; /* optional */
};

/* Runs until *stop; returns 0, or -1 with err when it could not start. */
int sched_run(const struct sched_opts *o, struct sched_set *set, struct buf *err) MUSTCHECK;

/* The periodic jobs of every live scheduler (the presence registry), merged
 * by job id and sorted by type, spec, id; each entry (as the scheduler
 * published it) gains prev_ms (the last enqueued tick) and next_ms (the next
 * run after now), null when unknown. Shared by `scheduler jobs` and the
 * REST API. *out: a new array. */
int sched_live_jobs(redisContext *c, int64_t now, json_t **out, struct buf *err) MUSTCHECK;

#endif
