/* What the consumers of one process know was committed: per key, the
 * newest (timestamp, response) written, as 128-bit hashes, so that a
 * message that cannot change the table (older, or an exact repeat) is
 * acked without a trip to PostgreSQL (docs/ingest.md, Skipping stale
 * messages). A fixed-size table: a full bucket forgets its oldest entry,
 * which only costs a trip to the database, never a wrong answer. */
#ifndef INV_INGEST_NEWEST_H
#define INV_INGEST_NEWEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct newest;

/* A table of about `entries` keys (0: a table that knows nothing); seeded
 * from the system's random source so that keys cannot be made to collide. */
struct newest *newest_new(size_t entries);
void newest_free(struct newest *n);

/* The hashes of one observation. */
struct newest_key {
    uint64_t key[2];  /* of ip, port, service */
    uint64_t resp[2]; /* of the response */
    int64_t ts;
};

void newest_hash(const struct newest *n, const char *ip, int port, const char *service,
                 const char *response, size_t response_len, int64_t ts, struct newest_key *out);

/* True when what was committed for the key is at least as new as k: k
 * would not change the table. */
bool newest_covers(struct newest *n, const struct newest_key *k);

/* Records that k was committed (the table keeps the newest it can prove). */
void newest_note(struct newest *n, const struct newest_key *k);

#endif
