/* The scan-message generator behind `inventory ingest simulate scans`
 * (docs/ingest.md, "Simulator"): a deterministic stream of scan messages
 * for a seed, with chosen fractions of duplicates, out-of-order and
 * invalid messages. Pure: no I/O, no clock.
 *
 *   struct sim s;
 *   sim_init(&s, &(struct sim_opts){.seed = 1, .keys = 10000, ...});
 *   for (;;) {
 *       const struct sim_msg *m = sim_next(&s);
 *       XADD stream * m->field m->data ...
 *   }
 *   sim_release(&s);
 */
#ifndef INV_INGEST_SIM_H
#define INV_INGEST_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SIM_KEYS_MAX 10000000   /* --keys upper bound (8 bytes of state per key) */
#define SIM_RING     4096       /* recent valid messages a duplicate is drawn from */
#define SIM_BASE_TS  1732000000 /* first timestamps (2024-11-19), whatever the wall clock */

/* What a message is, as counted in the summary; the four add up to all. */
enum sim_kind {
    SIM_FRESH = 0,    /* valid, newer than anything sent for its key */
    SIM_DUPLICATE,    /* the exact data of a recent valid message */
    SIM_OUT_OF_ORDER, /* valid, older than the newest sent for its key */
    SIM_INVALID,      /* breaks exactly one rule (reasons in turn) */
    SIM_NKINDS
};

struct sim_opts {
    uint64_t seed;
    int64_t keys;      /* 1..SIM_KEYS_MAX distinct (ip, port, service) */
    double duplicates; /* fractions 0..1, summing to at most 1 */
    double out_of_order;
    double invalid;
    size_t max_message_size; /* an oversized message exceeds this */
};

struct sim_msg {
    enum sim_kind kind;
    int reason;        /* SIM_INVALID: the enum scan_invalid it provokes */
    const char *field; /* the stream entry's field: "data" (another for one
                        * `json` variant: an entry without data) */
    struct slice data; /* valid until the next sim_next */
};

struct sim {
    struct sim_opts o;
    uint64_t rng;
    int64_t stride, offset; /* fresh message i goes to key (i * stride + offset) % keys */
    int64_t *newest;        /* per key: newest timestamp sent, 0 never */
    uint64_t fresh;         /* fresh messages so far */
    uint64_t invalid;       /* invalid messages so far (picks the reason) */
    char *ring[SIM_RING];   /* owned copies of recent valid messages */
    size_t ring_len[SIM_RING];
    size_t ring_n, ring_next;
    struct buf out, resp, val; /* scratch, reused: message, response text, its JSON value */
    char *b64;                 /* scratch for base64 */
    size_t b64_cap;
    struct sim_msg msg;
};

/* Fills s for o (validated by the caller). Release with sim_release. */
void sim_init(struct sim *s, const struct sim_opts *o);
/* The next message; owned by s, valid until the next call. */
const struct sim_msg *sim_next(struct sim *s);
void sim_release(struct sim *s);
const char *sim_kind_name(enum sim_kind k);

#endif
