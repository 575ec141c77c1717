/* Writes reported hosts: de-duplication by ID facts and the set-based
 * upsert of a batch in one transaction (docs/hosts.md, De-duplication).
 * Shared by `inventory ingest start hosts` and POST /hosts.
 *
 *   struct host_write w[n] = ...;     (from host_patch)
 *   struct host_store_result r;
 *   if (host_store(pg, w, n, &r, &err) == 0) {
 *       ... r.hosts[r.host_of[i]] is where message i went; publish r.hosts[k].event
 *       host_store_result_release(&r);
 *   }
 */
#ifndef INV_HOSTS_STORE_H
#define INV_HOSTS_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/util.h"

/* One reported host, validated and normalised (lower-cased ID facts). */
struct host_write {
    const char *org_id;
    const char *provider_type, *provider_id; /* both or neither */
    const char *smid, *insights_id;          /* UUID text, or NULL when not sent */
    json_t *patch;                           /* the sent columns (borrowed; host_patch) */
    const char *request_id;                  /* NULL or "": none */
};

/* One host a batch wrote. */
struct host_done {
    char id[UUID_LEN + 1];
    char org_id[40];
    bool created;
    char *event; /* the created/updated event, JSON text (owned) */
};

struct host_store_result {
    struct host_done *hosts;
    size_t nhosts;
    size_t *host_of;  /* per write: its index in hosts */
    char sqlstate[6]; /* of a failure, "" when none or not from PostgreSQL */
};

/* Matches every write to a host (stored, or created earlier in the batch)
 * by the ID-fact rules, then inserts the new hosts and updates the matched
 * ones in one transaction (BEGIN ... COMMIT on pg). 0, or -1 with err set,
 * the transaction rolled back and out->sqlstate telling why. */
struct host_in;

/* w for a validated host h (which must outlive w): its ID facts and, as the
 * patch, the fields it sent in column form (tags nested {namespace: {key:
 * [values]}}, facts {namespace: {...}}). Release with host_write_release. */
void host_write_init(struct host_write *w, const struct host_in *h, const char *request_id);
void host_write_release(struct host_write *w);

int host_store(PGconn *pg, const struct host_write *w, size_t n, struct host_store_result *out,
               struct buf *err) MUSTCHECK;
void host_store_result_release(struct host_store_result *r);

/* True for failures that retrying the same batch cannot cure: the data
 * (SQLSTATE classes 22, 23 other than unique violations, 42). */
bool host_store_rejected(const struct host_store_result *r);

#endif
