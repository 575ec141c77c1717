/* Writes reported hosts: de-duplication by ID facts and the set-based
 * upsert of a batch in one transaction (docs/hosts.md, De-duplication).
 * Shared by `inventory ingest start hosts` and POST /hosts.
 *
 *   struct host_write w[n] = ...;     (host_write_init)
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
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/util.h"

struct host_in;

/* One reported host, validated and normalised (lower-cased ID facts). */
struct host_write {
    const char *org_id;
    const char *provider_type, *provider_id; /* both or neither */
    const char *smid, *insights_id;          /* UUID text, or NULL when not sent */
    const struct host_in *host;              /* its sent fields (borrowed) */
    const char *request_id;                  /* NULL or "": none */
};

/* One host a batch wrote. */
struct host_done {
    char id[UUID_LEN + 1];
    char org_id[40];
    bool created;
    char *event; /* the created/updated event, JSON text (owned) */
};

struct host_claim;

struct host_store_result {
    struct host_done *hosts;
    size_t nhosts;
    size_t *host_of;  /* per write: its index in hosts (SIZE_MAX: deferred) */
    char sqlstate[6]; /* of a failure, "" when none or not from PostgreSQL */
    /* With a gate's claims: the writes (indices, in order) that share a
     * value or a stored host with batches read earlier, not written; they
     * are to be written (host_store) once those batches are, and stay
     * claimed (hold) until host_store_result_settle(). */
    size_t *deferred, ndeferred;
    struct host_claim *hold;
    /* A failed attempt's claims (with a gate's claims): what it sent and
     * found stays claimed, so that no batch read later writes a host it
     * shares before a retry; the caller ends them (host_claim_end) once
     * the batch is written. */
    struct host_claim *failed[2];
};

/* w for a validated host h (which must outlive w, and so must request_id):
 * its ID facts and the host, whose sent fields (h->sent) are written.
 * host_write_release is a no-op kept for symmetry. */
void host_write_init(struct host_write *w, const struct host_in *h, const char *request_id);
void host_write_release(struct host_write *w);

/* The column forms of the sent fields of hs[0..n) (the writes of one host,
 * in order), as store.c writes them (patch.c). A later write's namespace
 * (facts, tags) or top-level key (system_profile) replaces an earlier
 * one's, as jsonb || does. spaced: ", " and ": " as PostgreSQL prints
 * jsonb, else compact. */
/* Any of hs sent the field (a HOST_SENT_* bit). */
bool host_patch_sent(const struct host_in *const *hs, size_t n, unsigned sent);
/* facts: the {namespace, facts} elements that make up the merged
 * {namespace: facts}, by namespace in byte order; *out allocated (free()),
 * the count returned. */
size_t host_patch_facts(const struct host_in *const *hs, size_t n, const json_t ***out);
/* tags as {namespace or "": {key: [values]}} */
void host_patch_tags(struct buf *b, const struct host_in *const *hs, size_t n, bool spaced);
/* system_profile, its top-level keys merged */
void host_patch_profile(struct buf *b, const struct host_in *const *hs, size_t n, bool spaced);
/* One JSON value, reals as PostgreSQL prints the numeric it reads from
 * jansson's text (plain notation: what jsonb keeps and shows). */
void host_patch_json(struct buf *b, const json_t *v, bool spaced);

/* Matches every write to a host (stored, or created earlier in the batch)
 * by the ID-fact rules, then inserts the new hosts and updates the matched
 * ones in one transaction (BEGIN ... COMMIT on pg), and writes their
 * created/updated events (the host as hbi_host_doc() shows it). Prepares
 * its statements on pg once (names "hbi_store_*"). 0, or -1 with err set,
 * the transaction rolled back and out->sqlstate telling why. */
int host_store(PGconn *pg, const struct host_write *w, size_t n, struct host_store_result *out,
               struct buf *err) MUSTCHECK;

/* host_store with calls around BEGIN, the statement that takes the
 * advisory locks and the one that locks the stored hosts the batch finds:
 * before(arg) just before them (it may wait, e.g. for batches read earlier
 * to hold theirs, so that batches that share a host commit, and all start,
 * in the order they were read), after(arg) once they returned, whatever
 * happened. A failure before that point (preparing the statements) calls
 * neither. With claims (struct host_claims below), the writes that share
 * an ID-fact value or a stored host with what the process's earlier
 * batches claim are not written but left in out->deferred, and the rest
 * commits without waiting for those batches. */
struct host_claims;
struct host_store_gate {
    void (*before)(void *arg);
    void (*after)(void *arg);
    void *arg;
    struct host_claims *claims; /* NULL: the whole batch waits for what it shares */
};
int host_store_gated(PGconn *pg, const struct host_write *w, size_t n,
                     const struct host_store_gate *gate, struct host_store_result *out,
                     struct buf *err) MUSTCHECK;
void host_store_result_release(struct host_store_result *r);
/* Ends the claim on r's deferred writes: call once they are written. */
void host_store_result_settle(struct host_store_result *r);
void host_claim_end(struct host_claim *c); /* NULL: nothing */

/* What the batches of one process have in flight hold, for the gate: the
 * ID-fact values they lock and the stored hosts they reach, written now
 * or deferred (docs/hosts.md, Ingestion). A batch writes what shares
 * none of it at once and defers the rest; it takes its claims and checks
 * them in the gate's order, so a later batch never overtakes an earlier
 * one on a host. Claims of a batch written before a deferred part of a
 * later one stay until that part is written. */
struct host_claims {
    pthread_mutex_t mu;
    struct host_claim *head;
};
void host_claims_init(struct host_claims *cs);
void host_claims_destroy(struct host_claims *cs); /* every claim ended */

/* True for failures that retrying the same batch cannot cure: the data
 * (SQLSTATE classes 22, 23 other than unique violations, 42). */
bool host_store_rejected(const struct host_store_result *r);

#endif
