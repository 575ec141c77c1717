/* Worker runtime: N handler threads fed by one fetcher, leases kept alive by
 * a heartbeat, crash recovery, retries, timeouts, cancellation, graceful
 * shutdown. See docs/queue.md. */
#ifndef INV_WORKER_H
#define INV_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"
#include "queue/queue.h"

#define WORKER_REGISTRY_KEY "inv:workers"
#define WORKER_INFO_PREFIX  "inv:worker:"

struct worker_queue {
    char name[QUEUE_NAME_MAX];
    int priority;
};

struct worker_opts {
    const struct config *cfg;
    int concurrency; /* >= 1 */
    const struct worker_queue *queues;
    size_t nqueues;
    bool strict; /* strict priority instead of weighted */
    int64_t lease_ms;
    int64_t shutdown_timeout_ms;
    int64_t retry_base_ms, retry_max_ms;
    int archive_max_size;
    int64_t archive_max_age_ms;
    atomic_bool *stop;                /* set by the caller (signal) to shut down */
    struct metrics_registry *metrics; /* optional: task and queue metrics go here */
};

/* Runs until *o->stop becomes true, then shuts down gracefully. Returns 0,
 * or -1 with err when it could not start. */
int worker_run(const struct worker_opts *o, struct buf *err) MUSTCHECK;

/* Backoff before retry number `retried` (1-based): base * 2^(retried-1),
 * capped, with +-25% jitter from `rnd` in [0,1). Exposed for tests. */
int64_t worker_retry_delay(int retried, int64_t base_ms, int64_t max_ms, double rnd);

/* Order in which to try queues for one fetch: strict = by priority, highest
 * first; weighted = a random order where each queue comes first with
 * probability priority/sum. `rnd` returns [0,1). Exposed for tests. */
void worker_queue_order(const struct worker_queue *q, size_t n, bool strict, double (*rnd)(void),
                        size_t *order);

#endif
