/* Tasks: the unit of work on the queue. A task has an immutable message
 * (type, payload, options; stored encoded in Redis) and mutable info
 * (retries, last error, timestamps) that the Lua scripts update. */
#ifndef INV_TASK_H
#define INV_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TASK_ID_MAX             64 /* ids are at most 63 bytes of [A-Za-z0-9_.:-] */
#define TASK_TYPE_MAX           128
#define TASK_PAYLOAD_MAX        (8u * 1024 * 1024)
#define TASK_ERROR_MAX          2048
#define TASK_DEFAULT_MAX_RETRY  25
#define TASK_DEFAULT_TIMEOUT_MS (30 * 60 * 1000)

enum task_state {
    TASK_PENDING = 0,
    TASK_ACTIVE,
    TASK_SCHEDULED,
    TASK_RETRY,
    TASK_ARCHIVED,
    TASK_COMPLETED,
    TASK_STATE_COUNT,
};

struct task {
    char id[TASK_ID_MAX];
    char *type;             /* owned */
    char *queue;            /* owned */
    unsigned char *payload; /* owned; may be NULL when payload_len == 0 */
    size_t payload_len;
    int max_retry;
    int64_t timeout_ms;   /* 0 = no timeout */
    int64_t deadline_ms;  /* Unix ms; 0 = no deadline */
    int64_t retention_ms; /* keep completed tasks this long; 0 = delete at once */
    int64_t created_ms;
    /* Mutable info. */
    int retried;
    int64_t last_failed_ms; /* 0 = never */
    int64_t completed_ms;   /* 0 = not completed */
    char *error;            /* owned; last error, NULL if none */
    /* Where it is (filled by inspection). */
    enum task_state state;
    int64_t state_since_ms;
    int64_t next_process_ms; /* scheduled/retry: when; 0 otherwise */
    bool orphaned;           /* active, but its lease has expired */
};

void task_init(struct task *t);
void task_release(struct task *t);

const char *task_state_name(enum task_state s);
int task_state_parse(const char *s, enum task_state *out) MUSTCHECK;

/* Fills id with a random (v4) UUID. */
void task_new_id(char id[TASK_ID_MAX]);
/* Valid caller-supplied id: 1..63 bytes of [A-Za-z0-9_.:-]. */
bool task_id_valid(const char *id);

/* Message codec: the immutable part, in a compact binary form that the
 * decoder checks field by field (bodies in Redis are outside input). */
int task_encode_msg(const struct task *t, struct buf *out) MUSTCHECK;
/* Fills type, payload and options of t; -1 with err for corrupt input. */
int task_decode_msg(struct task *t, const char *data, size_t len, struct buf *err) MUSTCHECK;

/* Info codec: "retried\tmax_retry\tlast_failed_ms\tcompleted_ms\terror",
 * readable from Lua (recovery increments the first field). */
int task_encode_info(const struct task *t, struct buf *out) MUSTCHECK;
int task_decode_info(struct task *t, const char *data, size_t len) MUSTCHECK;

/* State values in Redis are "<state>:<since_ms>". */
int task_decode_state(struct task *t, const char *data, size_t len) MUSTCHECK;

#endif
