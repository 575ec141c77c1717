/* What every stream consumer shares (docs/ingest.md, Consuming): the read
 * loop over a consumer group (XREADGROUP, and XAUTOCLAIM of entries other
 * consumers left pending), lag gauges, dead letters and acks. The
 * consumer supplies what to do with each batch of entries. */
#ifndef INV_INGEST_STREAM_H
#define INV_INGEST_STREAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/rds.h"

#define STREAM_RETRY_FIRST_MS 100
#define STREAM_RETRY_MAX_MS   5000

/* The metrics every consumer reports, labelled by stream. */
struct stream_metrics {
    struct metric *consumed, *invalid, *batch, *commit, *db_errors, *reclaimed, *length, *pending,
        *lag;
};

void stream_metrics_init(struct stream_metrics *m, struct metrics_registry *reg);

/* One consumer's reading side. take() receives every non-empty batch: the
 * entries are the elements of list, which belongs to reply; take() owns
 * reply (frees it, now or later). */
struct stream_reader {
    char name[200]; /* consumer name in the group: host-pid-index */
    const struct config_stream *sc;
    atomic_bool *stop;
    const struct stream_metrics *m;
    struct rds_conn rds;
    int64_t next_claim_ms;
    void (*take)(void *arg, redisReply *reply, const redisReply *list, bool reclaimed);
    void *arg;
    /* Optional: read_mu is held from sending XREADGROUP until seen(arg,
     * list) has returned, so that the readers sharing it learn of their
     * batches in the order Redis handed them out. */
    pthread_mutex_t *read_mu;
    void (*seen)(void *arg, const redisReply *list);
};

/* Fills r's name and connection (rds options o), read timeout covering
 * the blocking read. */
void stream_reader_init(struct stream_reader *r, const struct config *cfg,
                        const struct config_stream *sc, int index, atomic_bool *stop,
                        const struct stream_metrics *m);
/* Reads until *stop: reclaims and observes lag every claim_interval. */
void stream_read_loop(struct stream_reader *r);

/* Runs fn on n threads, the i-th given (char *)args + i * size, and joins
 * them all; when one cannot start, *stop is set (the others stop too).
 * true when all n ran. */
bool stream_run_consumers(int n, void *(*fn)(void *), void *args, size_t size, atomic_bool *stop);

/* Sleeps up to ms in small steps; false once stopping. */
bool stream_pause(atomic_bool *stop, int64_t ms);

/* An entry's id, and its data field (with its length); NULL when absent. */
const char *stream_entry_id(const redisReply *e);
const char *stream_entry_data(const redisReply *e, size_t *len);

/* Pipelines (redisAppendCommandArgv) an XADD of one invalid entry to the
 * dead-letter stream: id, reason, error and its data. */
void stream_append_dead_letter(redisContext *rc, const struct config_stream *sc, const char *id,
                               const char *reason, const char *error, const char *data, size_t len);
/* Pipelines an XADD MAXLEN ~ max of field/value pairs (n strings). */
void stream_append_xadd(redisContext *rc, const char *stream, int max, const char *const *fv,
                        size_t n);
/* Pipelines one XACK of n ids. */
void stream_append_ack(redisContext *rc, const struct config_stream *sc, const char *const *ids,
                       size_t n);
/* Reads n pipelined replies; false when one failed (logged as who). */
bool stream_replies(const char *who, redisContext *rc, size_t n);

#endif
