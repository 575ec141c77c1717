/* Queue client: enqueue, inspect and control queues and tasks in Redis.
 * The worker runtime (worker.c) builds on the same keys and scripts.
 * All functions take a connected hiredis context owned by the caller and
 * report failures in err (0 ok, -1 error, or a QUEUE_* status). */
#ifndef INV_QUEUE_H
#define INV_QUEUE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "queue/scripts.h"
#include "queue/task.h"

#define QUEUE_NAME_MAX       64
#define QUEUE_DEFAULT        "default"
#define QUEUE_STAT_TTL_S     (90 * 86400) /* daily statistics are kept 90 days */
#define QUEUE_KEY_MAX        192
#define QUEUE_CANCEL_CHANNEL "inv:cancel"
#define QUEUE_SET_KEY        "inv:queues"

enum { QUEUE_CONFLICT = 1, QUEUE_NOTFOUND = 2, QUEUE_BUSY = 3, QUEUE_DUPLICATE = 4 };

/* Names usable as queue names: 1..63 bytes of [A-Za-z0-9_.:-]. */
bool queue_name_valid(const char *q);
/* "inv:{q}:<suffix>" */
void queue_key(char out[QUEUE_KEY_MAX], const char *q, const char *suffix);
/* "inv:{q}:<what>:YYYY-MM-DD" for today (UTC), or "inv:{q}:<what>" when total. */
void queue_stat_key(char out[QUEUE_KEY_MAX], const char *q, const char *what, bool daily);

/* Runs a script by SHA, loading it when Redis answers NOSCRIPT (after a
 * restart). Returns the reply (caller frees) or NULL with err set; an error
 * reply is turned into NULL + err. */
redisReply *queue_eval(redisContext *c, enum qscript s, int nkeys, const char *const *keys,
                       int nargs, const char *const *args, const size_t *arglens,
                       struct buf *err) MUSTCHECK;

struct enqueue_opts {
    const char *id;        /* NULL: a new UUID */
    const char *queue;     /* NULL: "default" */
    int max_retry;         /* < 0: default 25 */
    int64_t timeout_ms;    /* < 0: default 30m; 0: none */
    int64_t deadline_ms;   /* Unix ms; 0: none */
    int64_t retention_ms;  /* keep completed tasks; 0: delete at once */
    int64_t process_at_ms; /* Unix ms; 0: now */
    /* Periodic jobs: enqueue only when tick_ms is newer than the job's last
     * enqueued tick (kept in the queue's slot), else QUEUE_DUPLICATE. */
    const char *tick_job; /* NULL: not a periodic tick */
    int64_t tick_ms;
};

/* Enqueues a task. 0 ok (id_out filled), QUEUE_CONFLICT when a task with
 * that id exists in the queue, QUEUE_DUPLICATE for a periodic tick already
 * enqueued, -1 on error (bad options or Redis). */
int queue_enqueue(redisContext *c, const char *type, const void *payload, size_t len,
                  const struct enqueue_opts *o, char id_out[TASK_ID_MAX],
                  struct buf *err) MUSTCHECK;

struct enqueue_item {
    const char *type;
    const void *payload;
    size_t len;
    const struct enqueue_opts *opts; /* may be NULL */
};

/* Enqueues n tasks in one pipeline (fan-out, bulk submission). Nothing is
 * sent when an item is invalid (-1). Otherwise status[i] is 0 or
 * QUEUE_CONFLICT, ids[i] (if ids) the id of each enqueued task, and the
 * return is 0, or -1 when Redis failed part-way (status tells which). */
int queue_enqueue_many(redisContext *c, const struct enqueue_item *items, size_t n,
                       char (*ids)[TASK_ID_MAX], int *status, struct buf *err) MUSTCHECK;

struct queue_info {
    char name[QUEUE_NAME_MAX];
    long long memory;   /* bytes, MEMORY USAGE of the queue's keys */
    int64_t latency_ms; /* age of the oldest pending task */
    long long size;     /* all tasks in the queue */
    long long counts[TASK_STATE_COUNT];
    long long processed_day, failed_day, processed_total, failed_total;
    bool paused;
};

/* Known queue names, sorted (caller frees each and the array). */
int queue_list(redisContext *c, char ***names, size_t *n, struct buf *err) MUSTCHECK;
int queue_inspect(redisContext *c, const char *q, struct queue_info *info,
                  struct buf *err) MUSTCHECK;
int queue_set_paused(redisContext *c, const char *q, bool paused, struct buf *err) MUSTCHECK;
/* Deletes every task in `state` (not active); *deleted counts them. */
int queue_drain(redisContext *c, const char *q, enum task_state state, long long *deleted,
                struct buf *err) MUSTCHECK;

/* Lists tasks in one state, page by page (offset, count). *out is an array
 * of *n tasks (task_release each, free the array). Pending are listed in
 * the order they will run. */
int queue_tasks(redisContext *c, const char *q, enum task_state state, long long offset,
                long long count, struct task **out, size_t *n, struct buf *err) MUSTCHECK;
/* Loads one task; q NULL searches every known queue. QUEUE_NOTFOUND. */
int queue_task_get(redisContext *c, const char *q, const char *id, struct task *t,
                   struct buf *err) MUSTCHECK;
/* Deletes a task that is not running; QUEUE_NOTFOUND, QUEUE_BUSY (active). */
int queue_task_delete(redisContext *c, const char *q, const char *id, struct buf *err) MUSTCHECK;
/* Asks every worker to cancel task id; *receivers = workers listening. */
int queue_task_cancel(redisContext *c, const char *id, long long *receivers,
                      struct buf *err) MUSTCHECK;

/* The last tick enqueued for periodic job `job` in queue q (ms), or -1. */
int queue_tick_marker(redisContext *c, const char *q, const char *job, int64_t *tick_ms,
                      struct buf *err) MUSTCHECK;

/* JSON of a queue / a task, the shapes of `queue inspect -o json` and
 * `task inspect -o json`, shared by the CLI and the API (caller decrefs). */
struct json_t;
struct json_t *queue_info_json(const struct queue_info *qi);
struct json_t *task_to_json(const struct task *t);

/* Redis server time in Unix ms. */
int queue_server_time(redisContext *c, int64_t *ms, struct buf *err) MUSTCHECK;

#endif
