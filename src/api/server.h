/* The REST API server on libmicrohttpd: its polling thread (epoll) reads
 * requests and sends answers, worker threads run them from one queue, each
 * worker with its own lazily opened PostgreSQL connection; routes in a
 * table (server.c), JSON in and out. See docs/api.md.
 *
 *   struct api_server s;
 *   if (api_server_start(&s, cfg, &err) < 0) ... buf_str(&err) ...
 *   ... wait for SIGTERM ...
 *   api_server_stop(&s);   // stop accepting, drain in-flight requests, close
 */
#ifndef INV_API_SERVER_H
#define INV_API_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/rds.h"

#define API_MEMORY_LIMIT (32u << 10) /* per connection: request line + headers */
#define API_CONN_LIMIT   1024u
#define API_MAX_BODY     (1u << 20) /* request body; larger -> 413 */

struct MHD_Daemon;
struct api_slot;
struct req;

/* Private to server.c; the caller only allocates it. */
struct api_server {
    const struct config *cfg; /* borrowed until api_server_stop */
    struct MHD_Daemon *daemon;
    unsigned int port;
    unsigned int threads;    /* workers (api.threads) */
    unsigned int io_threads; /* libmicrohttpd's */
    pthread_mutex_t mu;      /* guards slots */
    struct api_slot **slots; /* one per worker: its connections (server.c) */
    size_t nslots;
    pthread_t *workers;
    size_t nworkers;     /* started */
    pthread_mutex_t qmu; /* guards the queue and stopping */
    pthread_cond_t qcv;
    struct req *qhead, *qtail; /* requests waiting for a worker, oldest first */
    bool stopping;
    atomic_int inflight;         /* requests between their request line and completion */
    struct metrics_registry reg; /* GET /metrics */
    struct metric *m_requests, *m_latency, *m_inflight;
};

/* Listens on cfg->api.address with cfg->api.threads threads (0: CPUs) and
 * logs "http server listening ... port=N". -1 with a reason in err. */
int api_server_start(struct api_server *s, const struct config *cfg, struct buf *err) MUSTCHECK;
unsigned int api_server_port(const struct api_server *s);
/* Stops accepting, lets in-flight requests finish (up to the request
 * timeout), stops the threads and closes the connections. */
void api_server_stop(struct api_server *s);

#endif
