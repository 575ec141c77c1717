/* The queue's Lua scripts. Each state transition is one script; every key a
 * script touches is passed in KEYS and all keys of a queue share the hash
 * tag {queue}, so the queue runs unchanged on Redis Cluster. Times inside
 * the scripts come from the Redis server clock (TIME), so leases and due
 * times do not depend on the clocks of the machines running workers. */
#ifndef INV_QUEUE_SCRIPTS_H
#define INV_QUEUE_SCRIPTS_H

enum qscript {
    QS_ENQUEUE = 0,
    QS_DEQUEUE,
    QS_DONE,
    QS_FAIL,
    QS_REQUEUE,
    QS_EXTEND,
    QS_FORWARD,
    QS_RECOVER,
    QS_JANITOR,
    QS_DELETE,
    QS_DRAIN,
    QS_COUNT,
};

struct qscript_def {
    const char *name;
    const char *body; /* full Lua source (prelude included) */
    char sha[41];     /* SHA1 hex of body, filled by qscripts_init */
};

/* Computes the SHA1 of every script once per process (thread-safe). */
void qscripts_init(void);
const struct qscript_def *qscript(enum qscript which);

#endif
