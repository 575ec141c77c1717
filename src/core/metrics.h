/* A small thread-safe Prometheus client: a registry of metric families
 * (counter, gauge, histogram), each with label names fixed at registration
 * and one series per label-value tuple, created on first use. Rendered in the
 * text exposition format 0.0.4 for a /metrics endpoint.
 *
 *   static const char *const labels[] = {"queue", "outcome"};
 *   struct metric *tasks = metrics_counter(&reg, "inventory_tasks_total",
 *                                          "Tasks processed.", 2, labels);
 *   metrics_inc(tasks, (const char *const[]){"default", "ok"}, 1);
 *
 * Registration mistakes (bad names, a name reused with another shape) are
 * programming errors and abort; recording never fails and never allocates
 * for a series that already exists. */
#ifndef INV_METRICS_H
#define INV_METRICS_H

#include <pthread.h>
#include <stddef.h>

#include "core/buf.h"

/* Series per family beyond which new label-value tuples are dropped (and
 * counted in METRICS_DROPPED_NAME) so a runaway label cannot eat memory. */
#define METRICS_MAX_SERIES   10000
#define METRICS_DROPPED_NAME "inventory_metrics_dropped_series_total"
/* Content type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metric_type { METRIC_COUNTER = 0, METRIC_GAUGE, METRIC_HISTOGRAM };

/* A metric family; owned by its registry, valid until metrics_registry_release. */
struct metric;

/* Runs at the start of every metrics_render, on the scraping thread, for
 * values computed at scrape time (e.g. queue lengths read from Redis). It may
 * call metrics_set/metrics_inc/metrics_reset_family and register families.
 * Collectors of one registry never run concurrently with each other. */
typedef void (*metrics_collect_fn)(void *arg);

struct metrics_collector {
    metrics_collect_fn fn;
    void *arg;
};

/* Fields are private to metrics.c except max_series. */
struct metrics_registry {
    pthread_mutex_t lock;        /* families and collectors arrays */
    pthread_mutex_t render_lock; /* one scrape (collect + render) at a time */
    struct metric **families;    /* sorted by name */
    size_t nfamilies, families_cap;
    struct metrics_collector *collectors;
    size_t ncollectors, collectors_cap;
    struct metric *dropped; /* METRICS_DROPPED_NAME */
    /* Series cap for families registered afterwards; METRICS_MAX_SERIES by
     * default. Lower it (tests) before registering, never concurrently. */
    size_t max_series;
};

/* Fills reg and registers METRICS_DROPPED_NAME. */
void metrics_registry_init(struct metrics_registry *reg);
/* Frees every family; struct metric pointers become invalid. No other thread
 * may use the registry by then. */
void metrics_registry_release(struct metrics_registry *reg);

/* Register a family, or return the existing one when name, type, help, label
 * names (and bounds) are identical; anything else with the same name aborts.
 * Names match [a-zA-Z_:][a-zA-Z0-9_:]* and must not clash with a histogram's
 * x_bucket/x_sum/x_count; label names match [a-zA-Z_][a-zA-Z0-9_]* without a
 * leading "__" ("le" is also reserved for histograms). help is required
 * (promtool rejects metrics without it); counter names should end in
 * "_total", which promtool's lint also checks. Strings and arrays are copied. */
struct metric *metrics_counter(struct metrics_registry *reg, const char *name, const char *help,
                               size_t nlabels, const char *const labelnames[]);
struct metric *metrics_gauge(struct metrics_registry *reg, const char *name, const char *help,
                             size_t nlabels, const char *const labelnames[]);
/* bounds: bucket upper limits (inclusive, "le"), strictly increasing; the
 * +Inf bucket is implicit (a trailing +Inf in bounds is ignored). */
struct metric *metrics_histogram(struct metrics_registry *reg, const char *name, const char *help,
                                 size_t nlabels, const char *const labelnames[], size_t nbuckets,
                                 const double bounds[]);

/* Recording. labelvalues holds one value per label name, in registration
 * order, or is NULL for a family without labels (NULL for a labelled family
 * aborts; a NULL value is taken as ""). Values are copied when a series is
 * created. Calling the wrong function for the type aborts. */

/* Counter or gauge: adds delta. A counter ignores negative and NaN deltas
 * (counters only go up). */
void metrics_inc(struct metric *m, const char *const labelvalues[], double delta);
/* Counter or gauge: sets the value. On a counter, only for mirroring a
 * monotonic count kept elsewhere (from a collector). */
void metrics_set(struct metric *m, const char *const labelvalues[], double v);
/* Histogram: records one observation. */
void metrics_observe(struct metric *m, const char *const labelvalues[], double v);
/* Forgets every series of a labelled family (a label-less one goes back to
 * zero), so a collector can replace the set, e.g. queues that disappeared. */
void metrics_reset_family(struct metric *m);

/* Calls fn(arg) before each render, in registration order. arg is borrowed. */
void metrics_on_collect(struct metrics_registry *reg, metrics_collect_fn fn, void *arg);

/* Runs the collectors, then appends every family with at least one series,
 * sorted by name, in text format 0.0.4 (METRICS_CONTENT_TYPE). -1 when out
 * would exceed its cap (out is then released, see buf_add). */
/* Unregisters a collector; when it returns, fn is not running and will not
 * run again with arg. */
void metrics_remove_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *arg);
int metrics_render(struct metrics_registry *reg, struct buf *out) MUSTCHECK;

/* Formats v as Prometheus expects: shortest text that reads back as the same
 * double, integers without a fraction ("3"), "+Inf", "-Inf", "NaN". out of
 * at least METRICS_FMT_SIZE bytes. */
#define METRICS_FMT_SIZE 32
void metrics_format_double(double v, char *out, size_t n);

#endif
