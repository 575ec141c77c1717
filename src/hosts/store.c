/* De-duplication and the batch upsert of reported hosts (docs/hosts.md).
 *
 * One transaction per batch:
 *  1. advisory locks on every ID-fact value the batch sends (sorted, so
 *     concurrent batches cannot deadlock): two batches that could create
 *     the same host are serialised;
 *  2. the stored hosts any of those values finds (one index probe per
 *     (org, value)), locked FOR UPDATE in id order: a host another batch
 *     is changing is re-read once it commits;
 *  3. in memory, each message in order is matched by the rules against
 *     those hosts and the ones created earlier in the batch; a host keeps
 *     the list of its messages, whose sent fields are merged as the table
 *     merges them (later wins; facts, tags and system_profile by top-level
 *     key);
 *  4. the new hosts are COPYed into hbi_host, the matched ones updated by
 *     one statement that returns their columns;
 *  5. the events are written here, in the shape of hbi_host_doc(): the
 *     created hosts from what was sent, the updated ones from the returned
 *     columns, timestamps and staleness as PostgreSQL formats them (one
 *     query per batch: now() and the orgs' stale/warn/cull times).
 * Statements are prepared once per connection. */
#include "hosts/store.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "db/pg.h"
#include "hosts/host.h"

/* ---- statements ---- */

enum { S_LOCK, S_CANDIDATES, S_PROBE, S_LOCK_IDS, S_META, S_UPDATE, NSTMTS };

/* The columns of a candidate host, and the ids of the stored hosts the
 * batch's ID-fact values find: exact (org, value) probes of the ID-fact
 * indexes (LATERAL ... OFFSET 0 keeps them index probes under a generic
 * plan). The hosts are then locked by id alone: a host a concurrent batch
 * updates is re-read and re-checked against the id list only (a join
 * would be re-checked against the old row and drop it). */
#define CAND_COLS                                                                                  \
    "SELECT id, org_id, provider_type, provider_id, subscription_manager_id, insights_id,"         \
    " extract(epoch FROM modified_on)::float8 FROM hbi_host WHERE id = ANY ("
#define PROBE_IDS                                                                                  \
    "ARRAY(SELECT x.id FROM unnest($1::text[], $2::text[], $3::text[]) AS k(o, t, v),"             \
    " LATERAL (SELECT id FROM hbi_host h WHERE h.org_id = k.o AND h.provider_type = k.t"           \
    " AND h.provider_id = k.v OFFSET 0) AS x"                                                      \
    " UNION ALL SELECT x.id FROM unnest($4::text[], $5::uuid[]) AS k(o, v),"                       \
    " LATERAL (SELECT id FROM hbi_host h WHERE h.org_id = k.o"                                     \
    " AND h.subscription_manager_id = k.v OFFSET 0) AS x"                                          \
    " UNION ALL SELECT x.id FROM unnest($6::text[], $7::uuid[]) AS k(o, v),"                       \
    " LATERAL (SELECT id FROM hbi_host h WHERE h.org_id = k.o AND h.insights_id = k.v"             \
    " OFFSET 0) AS x)"

static const struct {
    const char *name, *sql;
    int nparams;
} stmts[NSTMTS] = {
    [S_LOCK] = {"hbi_store_lock",
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k", 1},
    [S_CANDIDATES] = {"hbi_store_candidates", CAND_COLS PROBE_IDS ") ORDER BY id FOR UPDATE", 7},
    /* the same hosts unlocked, and then some of them locked by id (a batch
     * split around what the process's earlier batches hold) */
    [S_PROBE] = {"hbi_store_probe", CAND_COLS PROBE_IDS ")", 7},
    [S_LOCK_IDS] = {"hbi_store_lock_ids", CAND_COLS "$1::uuid[]) ORDER BY id FOR UPDATE", 1},
    /* every host the batch touches checks in now(): its staleness
     * timestamps depend on its org only */
    [S_META] = {"hbi_store_meta",
                "SELECT o, to_json(now())::text,"
                " to_json(now() + make_interval(secs => s.stale))::text,"
                " to_json(now() + make_interval(secs => s.warn))::text,"
                " to_json(now() + make_interval(secs => s.cull))::text"
                " FROM unnest($1::text[]) AS o, hbi_org_staleness(o) AS s",
                1},
    [S_UPDATE] =
        {"hbi_store_update",
         "UPDATE hbi_host h SET display_name = coalesce(s.display_name, h.display_name),"
         " ansible_host = coalesce(s.ansible_host, h.ansible_host),"
         " insights_id = coalesce(s.insights_id, h.insights_id),"
         " subscription_manager_id = coalesce(s.smid, h.subscription_manager_id),"
         " satellite_id = coalesce(s.satellite_id, h.satellite_id),"
         " bios_uuid = coalesce(s.bios_uuid, h.bios_uuid), fqdn = coalesce(s.fqdn, h.fqdn),"
         " ip_addresses = coalesce(s.ip::text[], h.ip_addresses),"
         " mac_addresses = coalesce(s.mac::text[], h.mac_addresses),"
         " provider_id = coalesce(h.provider_id, s.provider_id),"
         " provider_type = coalesce(h.provider_type, s.provider_type),"
         " facts = CASE WHEN s.facts IS NULL THEN h.facts"
         " ELSE hbi_facts_merge(h.facts, s.facts::jsonb) END,"
         " tags = CASE WHEN s.tags IS NULL THEN h.tags ELSE h.tags || s.tags::jsonb END,"
         " system_profile = CASE WHEN s.sp IS NULL THEN h.system_profile"
         " ELSE h.system_profile || s.sp::jsonb END,"
         " owner_id = coalesce(s.owner_id, h.owner_id), reporter = coalesce(s.reporter, "
         "h.reporter),"
         " per_reporter_staleness = CASE WHEN s.reporter IS NULL THEN h.per_reporter_staleness"
         " ELSE h.per_reporter_staleness || jsonb_build_object(s.reporter, jsonb_build_object("
         "'last_check_in', now(), 'check_in_succeeded', true)) END,"
         " modified_on = now(), last_check_in = now()"
         " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[],"
         " $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],"
         " $14::text[], $15::text[], $16::uuid[], $17::text[]) AS s(id, display_name, ansible_host,"
         " insights_id, smid, satellite_id, bios_uuid, fqdn, ip, mac, provider_id, provider_type,"
         " facts, tags, sp, owner_id, reporter)"
         " WHERE h.id = s.id"
         " RETURNING h.id, h.org_id, h.display_name, h.ansible_host, h.insights_id,"
         " h.subscription_manager_id, h.satellite_id, h.bios_uuid, to_jsonb(h.ip_addresses)::text,"
         " to_jsonb(h.mac_addresses)::text, h.fqdn, h.provider_id, h.provider_type, h.facts::text,"
         " h.reporter, h.per_reporter_staleness::text, to_json(h.created_on)::text",
         17},
};

/* The columns COPY fills for a new host; the timestamps default to now(). */
static const char copy_sql[] =
    "COPY hbi_host (id, org_id, display_name, ansible_host, insights_id, subscription_manager_id,"
    " satellite_id, bios_uuid, fqdn, ip_addresses, mac_addresses, provider_id, provider_type,"
    " facts, tags, system_profile, owner_id, reporter, per_reporter_staleness) FROM STDIN";

enum {
    U_ID,
    U_DISPLAY_NAME,
    U_ANSIBLE_HOST,
    U_INSIGHTS_ID,
    U_SMID,
    U_SATELLITE_ID,
    U_BIOS_UUID,
    U_FQDN,
    U_IP,
    U_MAC,
    U_PROVIDER_ID,
    U_PROVIDER_TYPE,
    U_FACTS,
    U_TAGS,
    U_SP,
    U_OWNER_ID,
    U_REPORTER,
    NU
};

static void fail_result(PGconn *pg, const PGresult *r, const char *what, char *state,
                        struct buf *err)
{
    snprintf(state, 6, "%s", r ? pg_sqlstate(r) : "");
    pg_seterr(err, what, pg, r);
}

static PGresult *exec_stmt(PGconn *pg, int s, const char *const *p, char *state, struct buf *err)
{
    PGresult *r = PQexecPrepared(pg, stmts[s].name, stmts[s].nparams, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    fail_result(pg, r, stmts[s].name, state, err);
    PQclear(r);
    return NULL;
}

static int run(PGconn *pg, const char *sql, char *state, struct buf *err)
{
    PGresult *r = PQexec(pg, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc < 0)
        fail_result(pg, r, sql, state, err);
    PQclear(r);
    return rc;
}

/* Prepares the statements unless this connection has them (the last one
 * is prepared last, so its presence means all are). */
static int prepare(PGconn *pg, char *state, struct buf *err)
{
    PGresult *r = PQdescribePrepared(pg, stmts[NSTMTS - 1].name);
    bool have = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    for (int s = 0; s < NSTMTS && !have; s++) {
        r = PQprepare(pg, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || strcmp(pg_sqlstate(r), "42P05") == 0;
        if (!ok)
            fail_result(pg, r, stmts[s].name, state, err);
        PQclear(r);
        if (!ok)
            return -1;
    }
    return 0;
}

/* COPY ... FROM STDIN of rows (text format). */
static int copy_in(PGconn *pg, const struct buf *rows, char *state, struct buf *err)
{
    PGresult *r = PQexec(pg, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fail_result(pg, r, "copy", state, err);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int rc = 0;
    if (PQputCopyData(pg, rows->ptr, (int)rows->len) != 1 || PQputCopyEnd(pg, NULL) != 1) {
        fail_result(pg, NULL, "copy", state, err);
        rc = -1;
    }
    while ((r = PQgetResult(pg)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            fail_result(pg, r, "copy", state, err);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- text forms ---- */

/* An element of a text[] literal: quoted, or NULL. */
static void arr_add(struct buf *a, const char *s, size_t n)
{
    buf_putc(a, a->len ? ',' : '{');
    if (!s) {
        buf_puts(a, "NULL");
        return;
    }
    buf_putc(a, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        buf_put(a, s + run, i - run);
        buf_putc(a, '\\');
        run = i;
    }
    buf_put(a, s + run, n - run);
    buf_putc(a, '"');
}

static void arr_adds(struct buf *a, const char *s)
{
    arr_add(a, s, s ? strlen(s) : 0);
}

static const char *arr_text(struct buf *a)
{
    if (a->len == 0)
        buf_putc(a, '{');
    buf_putc(a, '}');
    return buf_str(a);
}

/* A COPY text field: backslash, tab, newline and carriage return escaped;
 * NULL as \N. sep: the tab before it. */
static void copy_field(struct buf *b, const char *s, size_t n, bool sep)
{
    if (sep)
        buf_putc(b, '\t');
    if (buf_add_copy_text(b, s, n) < 0)
        abort(); /* no cap: cannot fail */
}

static void copy_fields(struct buf *b, const char *s)
{
    copy_field(b, s, s ? strlen(s) : 0, true);
}

static void put_str(struct buf *b, const char *s)
{
    if (!s)
        buf_puts(b, "null");
    else if (buf_add_json_string(b, s, strlen(s)) < 0)
        abort();
}

/* ---- the batch in memory ---- */

/* A host the batch knows: stored (a candidate) or created by it. */
struct rec {
    char id[UUID_LEN + 1];
    char *org, *ptype, *pid, *smid, *iid; /* owned; NULL when unset */
    double order;                         /* later = more recently updated */
    bool created;
    size_t *ws, nws, capws; /* its writes (indices), in order; touched when nws > 0 */
    const struct host_in **hs;
};

/* A multi-map from an ID-fact value to the records that had it; entries
 * go stale when a record's value changes, so lookups re-check the value. */
struct idx {
    uint64_t *hash;
    size_t *rec; /* record index + 1; 0 = empty slot */
    size_t cap;
};

enum kind { K_PROVIDER, K_SMID, K_INSIGHTS };

/* now() and the staleness timestamps of one org, as JSON strings. */
struct org_times {
    char *org, *now, *stale, *warn, *cull;
};

struct batch {
    const struct host_write *w;
    size_t n;
    struct rec *recs;
    size_t nrecs, cap, ncand;
    struct idx idx;
    double clock; /* orders the batch's own updates after every stored one */
    struct org_times *orgs;
    size_t norgs;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    return fnv1a(fnv1a(h, s, strlen(s)), "\x1f", 1); /* a separator: ("ab","c") != ("a","bc") */
}

static uint64_t fact_hash(const char *org, enum kind k, const char *a, const char *b)
{
    uint64_t h = fnv(FNV1A_OFFSET ^ (uint64_t)k, org);
    h = fnv(h, a);
    return b ? fnv(h, b) : h;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void idx_put(struct idx *x, uint64_t h, size_t rec)
{
    size_t i = (size_t)h & (x->cap - 1);
    while (x->rec[i])
        i = (i + 1) & (x->cap - 1);
    x->hash[i] = h;
    x->rec[i] = rec + 1;
}

/* The hashes of the ID-fact values a host carries or a write sends
 * (k[3]); their count. */
static size_t keys_of(const char *org, const char *ptype, const char *pid, const char *smid,
                      const char *iid, uint64_t *k)
{
    size_t n = 0;
    if (pid)
        k[n++] = fact_hash(org, K_PROVIDER, ptype, pid);
    if (smid)
        k[n++] = fact_hash(org, K_SMID, smid, NULL);
    if (iid)
        k[n++] = fact_hash(org, K_INSIGHTS, iid, NULL);
    return n;
}

static size_t rec_keys(const struct rec *c, uint64_t *k)
{
    return keys_of(c->org, c->ptype, c->pid, c->smid, c->iid, k);
}

static size_t write_keys(const struct host_write *w, uint64_t *k)
{
    return keys_of(w->org_id, w->provider_type, w->provider_id, w->smid, w->insights_id, k);
}

static void idx_add_rec(struct batch *b, size_t r)
{
    uint64_t k[3];
    for (size_t i = 0, n = rec_keys(&b->recs[r], k); i < n; i++)
        idx_put(&b->idx, k[i], r);
}

/* The record a provider pair names (the pair is unique per org). */
static struct rec *by_provider(struct batch *b, const struct host_write *w)
{
    uint64_t h = fact_hash(w->org_id, K_PROVIDER, w->provider_type, w->provider_id);
    for (size_t i = (size_t)h & (b->idx.cap - 1); b->idx.rec[i]; i = (i + 1) & (b->idx.cap - 1)) {
        struct rec *c = &b->recs[b->idx.rec[i] - 1];
        if (b->idx.hash[i] == h && eq(c->org, w->org_id) && eq(c->ptype, w->provider_type) &&
            eq(c->pid, w->provider_id))
            return c;
    }
    return NULL;
}

/* The most recently updated record with the same smid or insights_id that
 * does not carry a provider pair different from the message's. */
static struct rec *by_id_fact(struct batch *b, const struct host_write *w, enum kind k)
{
    const char *v = k == K_SMID ? w->smid : w->insights_id;
    if (!v)
        return NULL;
    uint64_t h = fact_hash(w->org_id, k, v, NULL);
    struct rec *best = NULL;
    for (size_t i = (size_t)h & (b->idx.cap - 1); b->idx.rec[i]; i = (i + 1) & (b->idx.cap - 1)) {
        struct rec *c = &b->recs[b->idx.rec[i] - 1];
        if (b->idx.hash[i] != h || !eq(c->org, w->org_id) || !eq(k == K_SMID ? c->smid : c->iid, v))
            continue;
        if (c->pid && w->provider_id &&
            !(eq(c->ptype, w->provider_type) && eq(c->pid, w->provider_id)))
            continue; /* a different provider pair: another host */
        if (!best || c->order > best->order)
            best = c;
    }
    return best;
}

/* The rules, in priority order: the provider pair, then smid, then
 * insights_id; NULL when none finds a host. */
static struct rec *match(struct batch *b, const struct host_write *w)
{
    struct rec *r = w->provider_id ? by_provider(b, w) : NULL;
    if (!r)
        r = by_id_fact(b, w, K_SMID);
    if (!r)
        r = by_id_fact(b, w, K_INSIGHTS);
    return r;
}

static size_t rec_add(struct batch *b)
{
    if (b->nrecs == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->recs = xrealloc(b->recs, b->cap * sizeof(*b->recs));
    }
    struct rec *c = &b->recs[b->nrecs];
    memset(c, 0, sizeof(*c));
    return b->nrecs++;
}

static void set_fact(char **field, const char *v)
{
    if (v && !eq(*field, v)) {
        free(*field);
        *field = xstrdup(v);
    }
}

/* Adds write i to record r: its ID facts are the record's from now on
 * (the provider pair only if it had none: it is immutable). */
static void apply(struct batch *b, size_t r, size_t i)
{
    struct rec *c = &b->recs[r];
    const struct host_write *w = &b->w[i];
    if (c->nws == c->capws) {
        c->capws = c->capws ? 2 * c->capws : 2;
        c->ws = xrealloc(c->ws, c->capws * sizeof(*c->ws));
    }
    c->ws[c->nws++] = i;
    bool changed = (w->smid && !eq(c->smid, w->smid)) ||
                   (w->insights_id && !eq(c->iid, w->insights_id)) || (w->provider_id && !c->pid);
    set_fact(&c->smid, w->smid);
    set_fact(&c->iid, w->insights_id);
    if (w->provider_id && !c->pid) {
        c->ptype = xstrdup(w->provider_type);
        c->pid = xstrdup(w->provider_id);
    }
    if (changed)
        idx_add_rec(b, r);
    c->order = ++b->clock;
}

/* Random (version 4) UUIDs for the hosts a batch creates, from one
 * getrandom() call per 64 of them rather than one each. */
struct uuids {
    unsigned char r[64 * 16];
    size_t left;
};

static void uuid_next(struct uuids *u, char out[UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (u->left == 0) {
        size_t got = 0;
        while (got < sizeof(u->r)) {
            ssize_t n = getrandom(u->r + got, sizeof(u->r) - got, 0);
            if (n > 0)
                got += (size_t)n;
        }
        u->left = sizeof(u->r) / 16;
    }
    unsigned char *r = u->r + --u->left * 16;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (int i = 0, k = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[r[i] >> 4];
        out[k++] = hex[r[i] & 15];
    }
    out[UUID_LEN] = '\0';
}

/* Step 3: every write matched (or a host created) in order. */
static void match_all(struct batch *b, size_t *rec_of)
{
    struct uuids ids = {.left = 0};
    size_t cap = 16;
    /* Each record is indexed under up to 3 values when loaded and again
     * whenever a write changes them; half full at most. */
    while (cap < 2 * 3 * (b->nrecs + 2 * b->n))
        cap <<= 1;
    b->idx.cap = cap;
    b->idx.hash = xmalloc(cap * sizeof(*b->idx.hash));
    b->idx.rec = xcalloc(cap, sizeof(*b->idx.rec));
    for (size_t i = 0; i < b->nrecs; i++)
        idx_add_rec(b, i);
    for (size_t i = 0; i < b->n; i++) {
        struct rec *m = match(b, &b->w[i]);
        size_t r;
        if (m) {
            r = (size_t)(m - b->recs);
        } else {
            r = rec_add(b);
            struct rec *c = &b->recs[r];
            uuid_next(&ids, c->id);
            c->org = xstrdup(b->w[i].org_id);
            c->created = true;
        }
        apply(b, r, i);
        rec_of[i] = r;
    }
    for (size_t r = 0; r < b->nrecs; r++) {
        struct rec *c = &b->recs[r];
        c->hs = xcalloc(c->nws + 1, sizeof(*c->hs));
        for (size_t k = 0; k < c->nws; k++)
            c->hs[k] = b->w[c->ws[k]].host;
    }
}

/* The host of the last write of c that sent field bit, or NULL. */
static const struct host_in *last_sent(const struct rec *c, unsigned bit)
{
    for (size_t k = c->nws; k-- > 0;)
        if (c->hs[k]->sent & bit)
            return c->hs[k];
    return NULL;
}

static const char *request_id_of(const struct batch *b, const struct rec *c)
{
    return b->w[c->ws[c->nws - 1]].request_id;
}

/* The system_profile owner_id the merged profile ends with, or NULL. */
static const char *owner_of(const struct rec *c)
{
    for (size_t k = c->nws; k-- > 0;) {
        const struct host_in *h = c->hs[k];
        if (!(h->sent & HOST_SENT_SYSTEM_PROFILE) || !h->system_profile)
            continue;
        const char *o = json_string_value(json_object_get(h->system_profile, "owner_id"));
        if (o)
            return o;
    }
    return NULL;
}

static void batch_release(struct batch *b)
{
    for (size_t i = 0; i < b->nrecs; i++) {
        struct rec *c = &b->recs[i];
        free(c->org);
        free(c->ptype);
        free(c->pid);
        free(c->smid);
        free(c->iid);
        free(c->ws);
        free(c->hs);
    }
    for (size_t i = 0; i < b->norgs; i++) {
        struct org_times *o = &b->orgs[i];
        free(o->org);
        free(o->now);
        free(o->stale);
        free(o->warn);
        free(o->cull);
    }
    free(b->orgs);
    free(b->recs);
    free(b->idx.hash);
    free(b->idx.rec);
}

/* ---- steps 1, 2 and the batch's facts ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t *sort_unique(uint64_t *k, size_t nk, size_t *n);

/* The hashes of the ID-fact values the writes send, sorted, each once
 * (*n of them). */
static uint64_t *batch_keys(const struct host_write *w, size_t nw, size_t *n)
{
    uint64_t *k = xcalloc(3 * nw + 1, sizeof(*k));
    size_t nk = 0;
    for (size_t i = 0; i < nw; i++)
        nk += write_keys(&w[i], k + nk);
    return sort_unique(k, nk, n);
}

/* k[0..nk) sorted, each once (*n of them); k returned. */
static uint64_t *sort_unique(uint64_t *k, size_t nk, size_t *n)
{
    qsort(k, nk, sizeof(*k), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < nk; i++)
        if (u == 0 || k[i] != k[u - 1])
            k[u++] = k[i];
    *n = u;
    return k;
}

static bool key_at(const uint64_t *k, size_t n, uint64_t key, size_t *at)
{
    const uint64_t *p = bsearch(&key, k, n, sizeof(*k), cmp_u64);
    if (p)
        *at = (size_t)(p - k);
    return p != NULL;
}

/* The advisory locks on the sorted keys k[0..n), in one statement. */
static int lock_keys(PGconn *pg, const uint64_t *k, size_t n, char *state, struct buf *err)
{
    if (n == 0)
        return 0;
    struct buf a;
    buf_init(&a, BUF_NOLIMIT);
    buf_putc(&a, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&a, ',');
        buf_put_i64(&a, (int64_t)k[i]);
    }
    buf_putc(&a, '}');
    const char *p[] = {buf_str(&a)};
    PGresult *r = exec_stmt(pg, S_LOCK, p, state, err);
    PQclear(r);
    buf_release(&a);
    return r ? 0 : -1;
}

/* BEGIN and the advisory locks on the batch's ID-fact values, in one
 * sorted statement; *begun once the transaction is open. The gate opens
 * before both, so that gated batches also start (now(), their hosts'
 * modified_on) in the gate's order; it closes after the candidates are
 * locked too (host_store_gated). */
static int begin_locked(PGconn *pg, const struct batch *b, const struct host_store_gate *gate,
                        bool *begun, char *state, struct buf *err)
{
    size_t nk;
    uint64_t *k = batch_keys(b->w, b->n, &nk);
    if (gate && gate->before)
        gate->before(gate->arg);
    *begun = run(pg, "BEGIN", state, err) == 0;
    int rc = *begun ? lock_keys(pg, k, nk, state, err) : -1;
    free(k);
    return rc;
}

static const char *col_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The stored hosts any sent ID-fact value finds (stmt S_CANDIDATES:
 * locked, in id order; S_PROBE: as they are). */
static PGresult *probe(PGconn *pg, const struct batch *b, int stmt, char *state, struct buf *err)
{
    struct buf a[7];
    for (int i = 0; i < 7; i++)
        buf_init(&a[i], BUF_NOLIMIT);
    for (size_t i = 0; i < b->n; i++) {
        const struct host_write *w = &b->w[i];
        if (w->provider_id) {
            arr_adds(&a[0], w->org_id);
            arr_adds(&a[1], w->provider_type);
            arr_adds(&a[2], w->provider_id);
        }
        if (w->smid) {
            arr_adds(&a[3], w->org_id);
            arr_adds(&a[4], w->smid);
        }
        if (w->insights_id) {
            arr_adds(&a[5], w->org_id);
            arr_adds(&a[6], w->insights_id);
        }
    }
    const char *p[7];
    for (int i = 0; i < 7; i++)
        p[i] = arr_text(&a[i]);
    PGresult *r = exec_stmt(pg, stmt, p, state, err);
    for (int i = 0; i < 7; i++)
        buf_release(&a[i]);
    return r;
}

/* The hosts of r (CAND_COLS) as b's candidates; r cleared. */
static void load_candidates(struct batch *b, PGresult *r)
{
    for (int row = 0; row < PQntuples(r); row++) {
        size_t k = rec_add(b);
        struct rec *c = &b->recs[k];
        snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(r, row, 0));
        c->org = xstrdup(PQgetvalue(r, row, 1));
        c->ptype = dup_or_null(col_or_null(r, row, 2));
        c->pid = dup_or_null(col_or_null(r, row, 3));
        c->smid = dup_or_null(col_or_null(r, row, 4));
        c->iid = dup_or_null(col_or_null(r, row, 5));
        c->order = strtod(PQgetvalue(r, row, 6), NULL);
    }
    b->ncand = b->nrecs;
    PQclear(r);
}

static int fetch_candidates(PGconn *pg, struct batch *b, char *state, struct buf *err)
{
    PGresult *r = probe(pg, b, S_CANDIDATES, state, err);
    if (!r)
        return -1;
    load_candidates(b, r);
    return 0;
}

/* ---- a batch split around what the process's earlier batches hold ---- */

/* One part of a batch in flight: the values it locks (or will) and the
 * stored hosts it reaches. */
struct host_claim {
    struct host_claims *owner;
    uint64_t *keys; /* sorted */
    size_t nkeys;
    char (*hosts)[UUID_LEN + 1]; /* sorted */
    size_t nhosts;
    /* Every value and host: a batch that failed before it read its stored
     * hosts, which a later batch may reach through values it does not send. */
    bool all;
    struct host_claim **pinned; /* kept until this one ends */
    size_t npinned;
    unsigned pins;
    bool ended;
    struct host_claim *next;
};

void host_claims_init(struct host_claims *cs)
{
    pthread_mutex_init(&cs->mu, NULL);
    cs->head = NULL;
}

void host_claims_destroy(struct host_claims *cs)
{
    pthread_mutex_destroy(&cs->mu);
}

static void claim_free_locked(struct host_claims *cs, struct host_claim *c);

/* Drops one pin of each of list[0..n) and frees list (cs->mu held). */
static void unpin_locked(struct host_claims *cs, struct host_claim **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (--list[i]->pins == 0 && list[i]->ended)
            claim_free_locked(cs, list[i]);
    free(list);
}

static void claim_free_locked(struct host_claims *cs, struct host_claim *c)
{
    for (struct host_claim **p = &cs->head; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    free(c->keys);
    free(c->hosts);
    unpin_locked(cs, c->pinned, c->npinned);
    free(c);
}

static void claim_end(struct host_claim *c)
{
    if (!c)
        return;
    struct host_claims *cs = c->owner;
    pthread_mutex_lock(&cs->mu);
    c->ended = true;
    if (c->pins == 0)
        claim_free_locked(cs, c);
    pthread_mutex_unlock(&cs->mu);
}

/* Every claim held now, pinned (*n of them): none goes while the caller
 * decides its split against them, nor while its deferred part waits. */
static struct host_claim **pin_all(struct host_claims *cs, size_t *n)
{
    pthread_mutex_lock(&cs->mu);
    size_t k = 0;
    for (const struct host_claim *c = cs->head; c; c = c->next)
        k++;
    struct host_claim **list = xcalloc(k + 1, sizeof(*list));
    k = 0;
    for (struct host_claim *c = cs->head; c; c = c->next) {
        c->pins++;
        list[k++] = c;
    }
    pthread_mutex_unlock(&cs->mu);
    *n = k;
    return list;
}

static void unpin(struct host_claims *cs, struct host_claim **list, size_t n)
{
    pthread_mutex_lock(&cs->mu);
    unpin_locked(cs, list, n);
    pthread_mutex_unlock(&cs->mu);
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The batch's values joined into parts: by the writes that send them
 * together and the stored hosts that carry them together; a part is held
 * when any of its values or hosts is claimed by an earlier batch. */
struct split {
    uint64_t *wk; /* the values of write i: wk[3i .. 3i + wn[i]) */
    unsigned char *wn;
    uint64_t *keys; /* the batch's values, sorted, each once */
    size_t nkeys;
    size_t *up;
    bool *held;                 /* of a root */
    struct host_claim **pinned; /* every claim held when the split began */
    size_t npinned;
    bool *hit; /* pinned[i] holds a value or host of the batch */
};

/* Whether a claim of s->pinned has key k (or host id); the ones that do
 * are marked hit. */
static bool claimed_key(struct split *s, uint64_t k)
{
    bool any = false;
    size_t at;
    for (size_t i = 0; i < s->npinned; i++)
        if (s->pinned[i]->all || key_at(s->pinned[i]->keys, s->pinned[i]->nkeys, k, &at))
            any = s->hit[i] = true;
    return any;
}

static bool claimed_host(struct split *s, const char *id)
{
    bool any = false;
    for (size_t i = 0; i < s->npinned; i++) {
        const struct host_claim *c = s->pinned[i];
        if (c->all || bsearch(id, c->hosts, c->nhosts, sizeof(*c->hosts), cmp_uuid))
            any = s->hit[i] = true;
    }
    return any;
}

static size_t split_root(struct split *s, size_t i)
{
    while (s->up[i] != i) {
        s->up[i] = s->up[s->up[i]];
        i = s->up[i];
    }
    return i;
}

/* Joins the batch's values among k[0..n) (values it does not send are
 * no link); marks their part held. */
static void split_join(struct split *s, const uint64_t *k, size_t n, bool held)
{
    size_t first = SIZE_MAX, at;
    for (size_t i = 0; i < n; i++) {
        if (!key_at(s->keys, s->nkeys, k[i], &at))
            continue;
        size_t r = split_root(s, at);
        if (first == SIZE_MAX) {
            first = r;
        } else if (r != first) {
            s->up[r] = first;
            s->held[first] |= s->held[r];
        }
        s->held[first] |= held;
    }
}

static bool split_held(struct split *s, const uint64_t *k, size_t n)
{
    size_t at;
    for (size_t i = 0; i < n; i++)
        if (key_at(s->keys, s->nkeys, k[i], &at) && s->held[split_root(s, at)])
            return true;
    return false;
}

static bool rec_held(struct split *s, const struct rec *c)
{
    uint64_t k[3];
    return split_held(s, k, rec_keys(c, k));
}

/* Which part a claim covers. */
enum part { PART_FREE, PART_HELD, PART_ALL };

static bool in_part(enum part p, bool held)
{
    return p == PART_ALL || held == (p == PART_HELD);
}

/* The claim of the values and hosts (of recs[0..n) and more[0..nmore))
 * of part p, with pinned (taken). */
static struct host_claim *claim_part(struct split *s, enum part p, const struct rec *recs, size_t n,
                                     const struct rec *more, size_t nmore,
                                     struct host_claim **pinned, size_t npinned)
{
    struct host_claim *c = xcalloc(1, sizeof(*c));
    c->keys = xcalloc(s->nkeys + 1, sizeof(*c->keys));
    for (size_t i = 0; i < s->nkeys; i++)
        if (in_part(p, s->held[split_root(s, i)]))
            c->keys[c->nkeys++] = s->keys[i];
    c->hosts = xcalloc(n + nmore + 1, sizeof(*c->hosts));
    for (size_t i = 0; i < n + nmore; i++) {
        const struct rec *r = i < n ? &recs[i] : &more[i - n];
        if (in_part(p, rec_held(s, r)))
            memcpy(c->hosts[c->nhosts++], r->id, sizeof(*c->hosts));
    }
    qsort(c->hosts, c->nhosts, sizeof(*c->hosts), cmp_uuid);
    c->pinned = pinned;
    c->npinned = npinned;
    return c;
}

static void claim_add(struct host_claims *cs, struct host_claim *c)
{
    c->owner = cs;
    pthread_mutex_lock(&cs->mu);
    c->next = cs->head;
    cs->head = c;
    pthread_mutex_unlock(&cs->mu);
}

/* Steps 1 and 2 of a batch split around gate->claims: BEGIN; the advisory
 * locks of the values that no earlier batch claims, nor a write of the
 * batch connects to a claimed one; the stored hosts every value finds, as
 * they are (one that is claimed holds the values it carries); those of the
 * free part locked by id (and re-read: a host another process changed may
 * now connect a free value to a held one).
 * With no claim held, this is begin_locked and fetch_candidates. wdef[i]:
 * write i is deferred. Claims: *now for the free part (ended at its
 * commit), *later for the deferred one, which pins the claims that held
 * it until it is written. */
static int split_locked(PGconn *pg, struct batch *b, const struct host_store_gate *gate, bool *wdef,
                        struct host_claim **now, struct host_claim **later, bool *begun,
                        char *state, struct buf *err)
{
    struct host_claims *cs = gate->claims;
    struct split s = {.wk = xcalloc(3 * b->n + 1, sizeof(*s.wk))};
    s.wn = xcalloc(b->n + 1, sizeof(*s.wn));
    uint64_t *all = xcalloc(3 * b->n + 1, sizeof(*all));
    size_t nall = 0;
    for (size_t i = 0; i < b->n; i++) {
        s.wn[i] = (unsigned char)write_keys(&b->w[i], s.wk + 3 * i);
        memcpy(all + nall, s.wk + 3 * i, s.wn[i] * sizeof(*all));
        nall += s.wn[i];
    }
    s.keys = sort_unique(all, nall, &s.nkeys);
    s.up = xcalloc(s.nkeys + 1, sizeof(*s.up));
    s.held = xcalloc(s.nkeys + 1, sizeof(*s.held));
    for (size_t i = 0; i < s.nkeys; i++)
        s.up[i] = i;
    uint64_t k[3];
    for (size_t i = 0; i < b->n; i++)
        split_join(&s, s.wk + 3 * i, s.wn[i], false);
    if (gate->before)
        gate->before(gate->arg);
    s.pinned = pin_all(cs, &s.npinned);
    s.hit = xcalloc(s.npinned + 1, sizeof(*s.hit));
    for (size_t i = 0; i < s.nkeys; i++)
        if (claimed_key(&s, s.keys[i]))
            s.held[split_root(&s, i)] = true;
    /* the values free so far locked first: no host with one of them can
     * appear unseen while the stored hosts are probed */
    uint64_t *free_keys = xcalloc(s.nkeys + 1, sizeof(*free_keys));
    size_t nfree = 0;
    for (size_t i = 0; i < s.nkeys; i++)
        if (!s.held[split_root(&s, i)])
            free_keys[nfree++] = s.keys[i];
    *begun = run(pg, "BEGIN", state, err) == 0;
    int rc = *begun ? lock_keys(pg, free_keys, nfree, state, err) : -1;
    free(free_keys);
    struct batch found = {.w = b->w, .n = b->n};
    bool read_hosts = false;
    if (rc == 0 && s.npinned == 0) {
        rc = fetch_candidates(pg, b, state, err); /* nothing is claimed: lock at once */
        read_hosts = rc == 0;
    } else if (rc == 0) {
        PGresult *r = probe(pg, b, S_PROBE, state, err);
        if (r) {
            read_hosts = true;
            load_candidates(&found, r);
            for (size_t i = 0; i < found.nrecs; i++)
                split_join(&s, k, rec_keys(&found.recs[i], k), claimed_host(&s, found.recs[i].id));
            struct buf ids;
            buf_init(&ids, BUF_NOLIMIT);
            for (size_t i = 0; i < found.nrecs; i++)
                if (!rec_held(&s, &found.recs[i]))
                    arr_adds(&ids, found.recs[i].id);
            const char *p[] = {arr_text(&ids)};
            r = exec_stmt(pg, S_LOCK_IDS, p, state, err);
            buf_release(&ids);
        }
        if (r)
            load_candidates(b, r);
        else
            rc = -1;
    }
    if (rc == 0) {
        for (size_t i = 0; i < b->ncand; i++)
            split_join(&s, k, rec_keys(&b->recs[i], k), false);
        bool any = false;
        for (size_t i = 0; i < b->n; i++)
            any |= wdef[i] = split_held(&s, s.wk + 3 * i, s.wn[i]);
        claim_add(cs, *now = claim_part(&s, PART_FREE, b->recs, b->ncand, NULL, 0, NULL, 0));
        /* The deferred part keeps the claims that held it: a host it
         * reaches once they are written carries one of their values or
         * was one of their hosts, and no later batch may write it first.
         * Those that did not hold it are let go. */
        struct host_claim **keep = xcalloc(s.npinned + 1, sizeof(*keep));
        size_t nkeep = 0, nlet = 0;
        for (size_t i = 0; any && i < s.npinned; i++)
            if (s.hit[i])
                keep[nkeep++] = s.pinned[i];
        for (size_t i = 0; i < s.npinned; i++)
            if (!any || !s.hit[i])
                s.pinned[nlet++] = s.pinned[i];
        unpin(cs, s.pinned, nlet);
        if (any)
            claim_add(cs, *later = claim_part(&s, PART_HELD, b->recs, b->ncand, found.recs,
                                              found.nrecs, keep, nkeep));
        else
            free(keep);
    } else {
        /* Failed: what the batch sends and the hosts it found stay
         * claimed (host_store_gated hands the claim to the caller) until a
         * retry wrote it; everything does when it failed before it read
         * its hosts (a later batch finds a host by the values it sends
         * and the hosts claimed, not by the host's other values). */
        *now = claim_part(&s, PART_ALL, b->recs, b->nrecs, found.recs, found.nrecs, NULL, 0);
        (*now)->all = !read_hosts;
        claim_add(cs, *now);
        unpin(cs, s.pinned, s.npinned);
    }
    if (gate->after)
        gate->after(gate->arg);
    batch_release(&found);
    free(s.wk);
    free(s.wn);
    free(s.keys);
    free(s.up);
    free(s.held);
    free(s.hit);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_org(const void *a, const void *b)
{
    return strcmp(((const struct org_times *)a)->org, ((const struct org_times *)b)->org);
}

/* now() and the staleness timestamps of every org the batch touches. */
static int fetch_times(PGconn *pg, struct batch *b, char *state, struct buf *err)
{
    const char **orgs = xcalloc(b->n + 1, sizeof(*orgs));
    for (size_t i = 0; i < b->n; i++)
        orgs[i] = b->w[i].org_id;
    qsort(orgs, b->n, sizeof(*orgs), cmp_str);
    struct buf a;
    buf_init(&a, BUF_NOLIMIT);
    for (size_t i = 0; i < b->n; i++)
        if (i == 0 || strcmp(orgs[i], orgs[i - 1]) != 0)
            arr_adds(&a, orgs[i]);
    free(orgs);
    const char *p[] = {arr_text(&a)};
    PGresult *r = exec_stmt(pg, S_META, p, state, err);
    buf_release(&a);
    if (!r)
        return -1;
    b->norgs = (size_t)PQntuples(r);
    b->orgs = xcalloc(b->norgs + 1, sizeof(*b->orgs));
    for (size_t i = 0; i < b->norgs; i++) {
        struct org_times *o = &b->orgs[i];
        o->org = xstrdup(PQgetvalue(r, (int)i, 0));
        o->now = xstrdup(PQgetvalue(r, (int)i, 1));
        o->stale = xstrdup(PQgetvalue(r, (int)i, 2));
        o->warn = xstrdup(PQgetvalue(r, (int)i, 3));
        o->cull = xstrdup(PQgetvalue(r, (int)i, 4));
    }
    PQclear(r);
    qsort(b->orgs, b->norgs, sizeof(*b->orgs), cmp_org);
    return 0;
}

static const struct org_times *times_of(const struct batch *b, const char *org)
{
    struct org_times key = {.org = (char *)org};
    return bsearch(&key, b->orgs, b->norgs, sizeof(*b->orgs), cmp_org);
}

/* ---- step 4 and 5: writes and events ---- */

/* The columns of a host as hbi_host_doc() shows them: text values (JSON
 * strings, or null) and JSON texts (null when NULL). */
struct doc {
    const char *id, *org_id, *display_name, *ansible_host, *insights_id, *smid, *satellite_id,
        *bios_uuid, *fqdn, *provider_id, *provider_type, *reporter;
    const char *ip, *mac, *facts, *prs, *created, *updated, *stale, *warn, *cull;
};

/* hbi_host_doc()'s keys in the order jsonb keeps them (by length, then
 * bytes), so that the event reads as it did when PostgreSQL wrote it. */
static const struct {
    const char *key;
    size_t off;
    bool json;         /* the member is JSON text, not a string value */
    const char *fixed; /* or the value is always this */
} doc_keys[] = {
#define K(key, member, json)                                                                       \
    {                                                                                              \
        key, offsetof(struct doc, member), json, NULL                                              \
    }
    K("id", id, false),
    K("fqdn", fqdn, false),
    K("facts", facts, true),
    {"groups", 0, true, "[]"},
    K("org_id", org_id, false),
    {"account", 0, true, "null"},
    K("created", created, true),
    K("updated", updated, true),
    K("reporter", reporter, false),
    K("bios_uuid", bios_uuid, false),
    K("insights_id", insights_id, false),
    K("provider_id", provider_id, false),
    K("ansible_host", ansible_host, false),
    K("display_name", display_name, false),
    K("ip_addresses", ip, true),
    K("satellite_id", satellite_id, false),
    K("last_check_in", updated, true),
    K("mac_addresses", mac, true),
    K("provider_type", provider_type, false),
    K("stale_timestamp", stale, true),
    K("culled_timestamp", cull, true),
    K("per_reporter_staleness", prs, true),
    K("stale_warning_timestamp", warn, true),
    K("subscription_manager_id", smid, false),
#undef K
};

static void doc_times(struct doc *d, const struct org_times *t)
{
    d->updated = t->now;
    d->stale = t->stale;
    d->warn = t->warn;
    d->cull = t->cull;
}

/* The created/updated event of d, with the request id of the host's last
 * message (owned; b is scratch space). */
static char *event_text(struct buf *b, const char *type, const struct doc *d, const char *rid)
{
    buf_reset(b);
    buf_puts(b, "{\"host\": {");
    for (size_t i = 0; i < ARRAY_SIZE(doc_keys); i++) {
        buf_puts(b, i ? ", \"" : "\"");
        buf_puts(b, doc_keys[i].key);
        buf_puts(b, "\": ");
        const char *v = doc_keys[i].fixed
                            ? doc_keys[i].fixed
                            : *(const char *const *)((const char *)d + doc_keys[i].off);
        if (doc_keys[i].json)
            buf_puts(b, v ? v : "null");
        else
            put_str(b, v);
    }
    buf_puts(b, "}, \"type\": ");
    put_str(b, type);
    buf_puts(b, ", \"metadata\": {\"request_id\": ");
    put_str(b, rid);
    buf_puts(b, "}, \"timestamp\": ");
    buf_puts(b, d->updated);
    buf_puts(b, ", \"platform_metadata\": {\"request_id\": ");
    put_str(b, rid);
    buf_puts(b, "}}");
    char *e = xmalloc(b->len + 1);
    memcpy(e, b->ptr, b->len + 1);
    return e;
}

/* A list of addresses as a JSON array (spaced) or a text[] literal. */
static void addr_json(struct buf *b, char *const *v, size_t n)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        put_str(b, v[i]);
    }
    buf_putc(b, ']');
}

static void addr_array(struct buf *b, char *const *v, size_t n)
{
    buf_reset(b);
    for (size_t i = 0; i < n; i++)
        arr_adds(b, v[i]);
    arr_text(b);
}

/* {reporter: {"last_check_in": now, "check_in_succeeded": true}}, as the
 * table's update writes it (jsonb order). */
static void prs_json(struct buf *b, const char *reporter, const char *now)
{
    buf_reset(b);
    if (!reporter) {
        buf_puts(b, "{}");
        return;
    }
    buf_putc(b, '{');
    put_str(b, reporter);
    buf_puts(b, ": {\"last_check_in\": ");
    buf_puts(b, now);
    buf_puts(b, ", \"check_in_succeeded\": true}}");
}

/* The facts the writes of a host sent, merged (a namespace sent later
 * replaces it; sorted by namespace), as the column keeps them and
 * hbi_host_doc() shows them: [{"facts": {...}, "namespace": ns}], spaced
 * as jsonb prints it. */
static void facts_doc(struct buf *b, const struct rec *c)
{
    const json_t **facts = NULL;
    size_t n = host_patch_facts(c->hs, c->nws, &facts);
    buf_reset(b);
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? ", {\"facts\": " : "{\"facts\": ");
        host_patch_json(b, json_object_get(facts[i], "facts"), true);
        buf_puts(b, ", \"namespace\": ");
        put_str(b, json_string_value(json_object_get(facts[i], "namespace")));
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
    free(facts);
}

/* Scratch buffers reused for every host of a batch. */
struct scratch {
    struct buf ip, mac, facts, col, prs, event;
};

static const char *text_or_null(const char *s)
{
    return s && *s ? s : NULL;
}

/* One new host: its COPY row and its created event (NULL without the
 * org's times). */
static char *created(struct batch *b, struct rec *c, struct buf *rows, struct scratch *x)
{
    const struct org_times *t = times_of(b, c->org);
    if (!t)
        return NULL;
    const struct host_in *dn = last_sent(c, HOST_SENT_DISPLAY_NAME),
                         *ah = last_sent(c, HOST_SENT_ANSIBLE_HOST),
                         *rep = last_sent(c, HOST_SENT_REPORTER),
                         *ins = last_sent(c, HOST_SENT_INSIGHTS_ID),
                         *sm = last_sent(c, HOST_SENT_SUBSCRIPTION_MANAGER_ID),
                         *sat = last_sent(c, HOST_SENT_SATELLITE_ID),
                         *bios = last_sent(c, HOST_SENT_BIOS_UUID),
                         *fq = last_sent(c, HOST_SENT_FQDN), *pr = last_sent(c, HOST_SENT_PROVIDER),
                         *ip = last_sent(c, HOST_SENT_IP_ADDRESSES),
                         *mac = last_sent(c, HOST_SENT_MAC_ADDRESSES);
    struct doc d = {
        .id = c->id,
        .org_id = c->org,
        .display_name = dn   ? dn->display_name
                        : fq ? fq->fqdn
                             : c->id,
        .ansible_host = ah ? ah->ansible_host : NULL,
        .insights_id = ins ? text_or_null(ins->insights_id) : NULL,
        .smid = sm ? text_or_null(sm->subscription_manager_id) : NULL,
        .satellite_id = sat ? text_or_null(sat->satellite_id) : NULL,
        .bios_uuid = bios ? text_or_null(bios->bios_uuid) : NULL,
        .fqdn = fq ? fq->fqdn : NULL,
        .provider_id = pr ? pr->provider_id : NULL,
        .provider_type = pr ? text_or_null(pr->provider_type) : NULL,
        .reporter = rep ? rep->reporter : NULL,
        .created = t->now,
    };
    doc_times(&d, t);
    buf_reset(&x->ip);
    buf_reset(&x->mac);
    if (ip)
        addr_json(&x->ip, ip->ip_addresses, ip->n_ip_addresses);
    if (mac)
        addr_json(&x->mac, mac->mac_addresses, mac->n_mac_addresses);
    d.ip = ip ? buf_str(&x->ip) : NULL;
    d.mac = mac ? buf_str(&x->mac) : NULL;
    facts_doc(&x->facts, c);
    d.facts = buf_str(&x->facts);
    prs_json(&x->prs, d.reporter, t->now);
    d.prs = buf_str(&x->prs);

    /* the row, in copy_sql's column order */
    copy_field(rows, d.id, strlen(d.id), false);
    copy_fields(rows, d.org_id);
    copy_fields(rows, d.display_name);
    copy_fields(rows, d.ansible_host);
    copy_fields(rows, d.insights_id);
    copy_fields(rows, d.smid);
    copy_fields(rows, d.satellite_id);
    copy_fields(rows, d.bios_uuid);
    copy_fields(rows, d.fqdn);
    if (ip)
        addr_array(&x->col, ip->ip_addresses, ip->n_ip_addresses);
    copy_fields(rows, ip ? buf_str(&x->col) : NULL);
    if (mac)
        addr_array(&x->col, mac->mac_addresses, mac->n_mac_addresses);
    copy_fields(rows, mac ? buf_str(&x->col) : NULL);
    copy_fields(rows, d.provider_id);
    copy_fields(rows, d.provider_type);
    copy_field(rows, x->facts.ptr, x->facts.len, true);
    buf_reset(&x->col);
    host_patch_tags(&x->col, c->hs, c->nws, false);
    copy_field(rows, x->col.ptr, x->col.len, true);
    buf_reset(&x->col);
    host_patch_profile(&x->col, c->hs, c->nws, false);
    copy_field(rows, x->col.ptr, x->col.len, true);
    copy_fields(rows, owner_of(c));
    copy_fields(rows, d.reporter);
    copy_field(rows, x->prs.ptr, x->prs.len, true);
    buf_putc(rows, '\n');
    return event_text(&x->event, "created", &d, request_id_of(b, c));
}

/* One matched host's sent fields as elements of the update's arrays. */
static void stage_update(const struct rec *c, struct buf *u, struct scratch *x)
{
    const struct host_in *dn = last_sent(c, HOST_SENT_DISPLAY_NAME),
                         *ah = last_sent(c, HOST_SENT_ANSIBLE_HOST),
                         *rep = last_sent(c, HOST_SENT_REPORTER),
                         *ins = last_sent(c, HOST_SENT_INSIGHTS_ID),
                         *sm = last_sent(c, HOST_SENT_SUBSCRIPTION_MANAGER_ID),
                         *sat = last_sent(c, HOST_SENT_SATELLITE_ID),
                         *bios = last_sent(c, HOST_SENT_BIOS_UUID),
                         *fq = last_sent(c, HOST_SENT_FQDN), *pr = last_sent(c, HOST_SENT_PROVIDER),
                         *ip = last_sent(c, HOST_SENT_IP_ADDRESSES),
                         *mac = last_sent(c, HOST_SENT_MAC_ADDRESSES);
    arr_adds(&u[U_ID], c->id);
    arr_adds(&u[U_DISPLAY_NAME], dn ? dn->display_name : NULL);
    arr_adds(&u[U_ANSIBLE_HOST], ah ? ah->ansible_host : NULL);
    arr_adds(&u[U_INSIGHTS_ID], ins ? text_or_null(ins->insights_id) : NULL);
    arr_adds(&u[U_SMID], sm ? text_or_null(sm->subscription_manager_id) : NULL);
    arr_adds(&u[U_SATELLITE_ID], sat ? text_or_null(sat->satellite_id) : NULL);
    arr_adds(&u[U_BIOS_UUID], bios ? text_or_null(bios->bios_uuid) : NULL);
    arr_adds(&u[U_FQDN], fq ? fq->fqdn : NULL);
    if (ip)
        addr_array(&x->col, ip->ip_addresses, ip->n_ip_addresses);
    arr_adds(&u[U_IP], ip ? buf_str(&x->col) : NULL);
    if (mac)
        addr_array(&x->col, mac->mac_addresses, mac->n_mac_addresses);
    arr_adds(&u[U_MAC], mac ? buf_str(&x->col) : NULL);
    arr_adds(&u[U_PROVIDER_ID], pr ? pr->provider_id : NULL);
    arr_adds(&u[U_PROVIDER_TYPE], pr ? text_or_null(pr->provider_type) : NULL);
    facts_doc(&x->facts, c);
    arr_add(&u[U_FACTS], host_patch_sent(c->hs, c->nws, HOST_SENT_FACTS) ? x->facts.ptr : NULL,
            x->facts.len);
    buf_reset(&x->col);
    host_patch_tags(&x->col, c->hs, c->nws, false);
    arr_add(&u[U_TAGS], host_patch_sent(c->hs, c->nws, HOST_SENT_TAGS) ? x->col.ptr : NULL,
            x->col.len);
    buf_reset(&x->col);
    host_patch_profile(&x->col, c->hs, c->nws, false);
    arr_add(&u[U_SP], host_patch_sent(c->hs, c->nws, HOST_SENT_SYSTEM_PROFILE) ? x->col.ptr : NULL,
            x->col.len);
    arr_adds(&u[U_OWNER_ID], owner_of(c));
    arr_adds(&u[U_REPORTER], rep ? rep->reporter : NULL);
}

static int cmp_rec_id(const void *key, const void *r)
{
    return strcmp(key, ((const struct rec *)r)->id);
}

/* Updates the matched hosts and writes their events from the returned
 * columns into out->hosts[done_of[record]]. */
static int write_updated(PGconn *pg, struct batch *b, const size_t *done_of,
                         struct host_store_result *out, struct scratch *x, struct buf *err)
{
    struct buf u[NU];
    for (int i = 0; i < NU; i++)
        buf_init(&u[i], BUF_NOLIMIT);
    size_t staged = 0;
    for (size_t r = 0; r < b->ncand; r++)
        if (b->recs[r].nws) {
            stage_update(&b->recs[r], u, x);
            staged++;
        }
    PGresult *res = NULL;
    if (staged) {
        const char *p[NU];
        for (int i = 0; i < NU; i++)
            p[i] = arr_text(&u[i]);
        res = exec_stmt(pg, S_UPDATE, p, out->sqlstate, err);
    }
    for (int i = 0; i < NU; i++)
        buf_release(&u[i]);
    if (!staged)
        return 0;
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        const char *id = PQgetvalue(res, row, 0);
        struct rec *c = bsearch(id, b->recs, b->ncand, sizeof(*b->recs), cmp_rec_id);
        const struct org_times *t = times_of(b, PQgetvalue(res, row, 1));
        if (!c || !c->nws || !t)
            continue;
        struct doc d = {
            .id = id,
            .org_id = PQgetvalue(res, row, 1),
            .display_name = col_or_null(res, row, 2),
            .ansible_host = col_or_null(res, row, 3),
            .insights_id = col_or_null(res, row, 4),
            .smid = col_or_null(res, row, 5),
            .satellite_id = col_or_null(res, row, 6),
            .bios_uuid = col_or_null(res, row, 7),
            .ip = col_or_null(res, row, 8),
            .mac = col_or_null(res, row, 9),
            .fqdn = col_or_null(res, row, 10),
            .provider_id = col_or_null(res, row, 11),
            .provider_type = col_or_null(res, row, 12),
            .facts = col_or_null(res, row, 13),
            .reporter = col_or_null(res, row, 14),
            .prs = col_or_null(res, row, 15),
            .created = col_or_null(res, row, 16),
        };
        doc_times(&d, t);
        struct host_done *dd = &out->hosts[done_of[c - b->recs]];
        free(dd->event);
        dd->event = event_text(&x->event, "updated", &d, request_id_of(b, c));
    }
    PQclear(res);
    return 0;
}

static int cmp_first(const void *a, const void *b, void *arg)
{
    const struct batch *bt = arg;
    size_t x = bt->recs[*(const size_t *)a].ws[0], y = bt->recs[*(const size_t *)b].ws[0];
    return x < y ? -1 : x > y;
}

/* out->hosts: one per touched record, in the order of their first
 * messages; done_of[record] its index there. */
static void list_done(struct batch *b, size_t *done_of, struct host_store_result *out)
{
    size_t *order = xcalloc(b->nrecs + 1, sizeof(*order)), n = 0;
    for (size_t r = 0; r < b->nrecs; r++)
        if (b->recs[r].nws)
            order[n++] = r;
    qsort_r(order, n, sizeof(*order), cmp_first, b);
    out->nhosts = n;
    out->hosts = xcalloc(n + 1, sizeof(*out->hosts));
    for (size_t k = 0; k < n; k++) {
        const struct rec *c = &b->recs[order[k]];
        struct host_done *d = &out->hosts[k];
        done_of[order[k]] = k;
        memcpy(d->id, c->id, sizeof(d->id));
        snprintf(d->org_id, sizeof(d->org_id), "%s", c->org);
        d->created = c->created;
    }
    free(order);
}

static int in_transaction(PGconn *pg, struct batch *b, size_t *rec_of, size_t *host_of,
                          struct host_store_result *out, struct buf *err)
{
    match_all(b, rec_of);
    if (fetch_times(pg, b, out->sqlstate, err) < 0)
        return -1;
    size_t *done_of = xcalloc(b->nrecs + 1, sizeof(*done_of));
    list_done(b, done_of, out);
    struct scratch x;
    struct buf *all[] = {&x.ip, &x.mac, &x.facts, &x.col, &x.prs, &x.event};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        buf_init(all[i], BUF_NOLIMIT);
    struct buf rows;
    buf_init(&rows, BUF_NOLIMIT);
    int rc = 0;
    for (size_t r = b->ncand; r < b->nrecs && rc == 0; r++) {
        out->hosts[done_of[r]].event = created(b, &b->recs[r], &rows, &x);
        if (!out->hosts[done_of[r]].event) {
            buf_setf(err, "no staleness for org %s", b->recs[r].org);
            rc = -1;
        }
    }
    if (rc == 0 && rows.len)
        rc = copy_in(pg, &rows, out->sqlstate, err);
    buf_release(&rows);
    if (rc == 0)
        rc = write_updated(pg, b, done_of, out, &x, err);
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        buf_release(all[i]);
    for (size_t k = 0; rc == 0 && k < out->nhosts; k++)
        if (!out->hosts[k].event) {
            buf_setf(err, "host %s was not updated", out->hosts[k].id);
            rc = -1;
        }
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        host_of[i] = done_of[rec_of[i]];
    free(done_of);
    return rc;
}

int host_store(PGconn *pg, const struct host_write *w, size_t n, struct host_store_result *out,
               struct buf *err)
{
    return host_store_gated(pg, w, n, NULL, out, err);
}

int host_store_gated(PGconn *pg, const struct host_write *w, size_t n,
                     const struct host_store_gate *gate, struct host_store_result *out,
                     struct buf *err)
{
    memset(out, 0, sizeof(*out));
    out->host_of = xcalloc(n + 1, sizeof(*out->host_of));
    if (n == 0)
        return 0;
    struct batch b = {.w = w, .n = n};
    size_t *rec_of = xcalloc(n, sizeof(*rec_of));
    bool begun = false, *wdef = xcalloc(n + 1, sizeof(*wdef));
    struct host_write *part = NULL;
    struct host_claim *now = NULL;
    size_t *host_of = out->host_of;
    int rc = prepare(pg, out->sqlstate, err);
    if (rc == 0 && gate && gate->claims) {
        rc = split_locked(pg, &b, gate, wdef, &now, &out->hold, &begun, out->sqlstate, err);
        if (rc == 0 && out->hold) { /* b: the writes not deferred */
            part = xcalloc(n + 1, sizeof(*part));
            out->deferred = xcalloc(n + 1, sizeof(*out->deferred));
            host_of = xcalloc(n + 1, sizeof(*host_of));
            b.n = 0;
            for (size_t i = 0; i < n; i++)
                if (wdef[i])
                    out->deferred[out->ndeferred++] = i;
                else
                    part[b.n++] = w[i];
            b.w = part;
        }
    } else if (rc == 0) {
        /* The gate closes once the stored hosts the batch finds are locked
         * too: a later batch may reach one of them through another ID fact
         * (no advisory lock in common) and must then wait for this one. */
        rc = begin_locked(pg, &b, gate, &begun, out->sqlstate, err);
        if (rc == 0)
            rc = fetch_candidates(pg, &b, out->sqlstate, err);
        if (gate && gate->after)
            gate->after(gate->arg);
    }
    if (rc == 0 && b.n)
        rc = in_transaction(pg, &b, rec_of, host_of, out, err);
    if (rc == 0)
        rc = run(pg, "COMMIT", out->sqlstate, err);
    if (rc == 0)
        claim_end(now);
    if (rc == 0 && host_of != out->host_of)
        for (size_t i = 0, k = 0; i < n; i++)
            out->host_of[i] = wdef[i] ? SIZE_MAX : host_of[k++];
    if (rc < 0) {
        if (begun && PQstatus(pg) == CONNECTION_OK)
            PQclear(PQexec(pg, "ROLLBACK"));
        for (size_t i = 0; i < out->nhosts; i++)
            free(out->hosts[i].event);
        free(out->hosts);
        out->hosts = NULL;
        out->nhosts = 0;
        out->failed[0] = now; /* the caller keeps them until a retry has written the batch */
        out->failed[1] = out->hold;
        out->hold = NULL;
        free(out->deferred);
        out->deferred = NULL;
        out->ndeferred = 0;
    }
    if (host_of != out->host_of)
        free(host_of);
    free(part);
    free(wdef);
    free(rec_of);
    batch_release(&b);
    return rc;
}

void host_store_result_settle(struct host_store_result *r)
{
    claim_end(r->hold);
    r->hold = NULL;
}

void host_claim_end(struct host_claim *c)
{
    claim_end(c);
}

void host_store_result_release(struct host_store_result *r)
{
    for (size_t i = 0; i < r->nhosts; i++)
        free(r->hosts[i].event);
    free(r->hosts);
    free(r->host_of);
    host_store_result_settle(r);
    claim_end(r->failed[0]);
    claim_end(r->failed[1]);
    free(r->deferred);
    memset(r, 0, sizeof(*r));
}

bool host_store_rejected(const struct host_store_result *r)
{
    const char *s = r->sqlstate;
    return (s[0] == '2' && (s[1] == '2' || (s[1] == '3' && strcmp(s, "23505") != 0))) ||
           (s[0] == '4' && s[1] == '2');
}
