/* De-duplication and the batch upsert of reported hosts (docs/hosts.md).
 *
 * One transaction per batch:
 *  1. advisory locks on every ID-fact value the batch sends (sorted, so
 *     concurrent batches cannot deadlock): two batches that could create
 *     the same host are serialised;
 *  2. the stored hosts any of those values finds, locked FOR UPDATE in id
 *     order: a host another batch is changing is re-read once it commits;
 *  3. in memory, each message in order is matched by the rules against
 *     those hosts and the ones created earlier in the batch, and its sent
 *     fields are merged into its host;
 *  4. one statement inserts the new hosts, updates the matched ones and
 *     returns their events. */
#include "hosts/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/pg.h"

/* Every statement of the transaction: its failure's SQLSTATE is kept. */
static PGresult *exec(PGconn *pg, const char *sql, int np, const char *const *p, char *state,
                      struct buf *err)
{
    return pg_exec_state(pg, sql, np, p, err, state);
}

static int run(PGconn *pg, const char *sql, int np, const char *const *p, char *state,
               struct buf *err)
{
    PGresult *r = exec(pg, sql, np, p, state, err);
    PQclear(r);
    return r ? 0 : -1;
}

/* A host the batch knows: stored (a candidate) or created by it. */
struct rec {
    char id[UUID_LEN + 1];
    char *org, *ptype, *pid, *smid, *iid; /* owned; NULL when unset */
    double order;                         /* later = more recently updated */
    bool created, touched;
    json_t *merged;         /* the sent fields of its messages, merged in order */
    const char *request_id; /* of its last message */
};

/* A multi-map from an ID-fact value to the records that had it; entries
 * go stale when a record's value changes, so lookups re-check the value. */
struct idx {
    uint64_t *hash;
    size_t *rec; /* record index + 1; 0 = empty slot */
    size_t cap;
};

enum kind { K_PROVIDER, K_SMID, K_INSIGHTS };

struct batch {
    struct rec *recs;
    size_t nrecs, cap;
    struct idx idx;
    double clock; /* orders the batch's own updates after every stored one */
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0x1f) * 1099511628211ULL; /* a separator: ("ab","c") != ("a","bc") */
}

static uint64_t fact_hash(const char *org, enum kind k, const char *a, const char *b)
{
    uint64_t h = fnv(14695981039346656037ULL ^ (uint64_t)k, org);
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

/* ---- the index ---- */

static void idx_put(struct idx *x, uint64_t h, size_t rec)
{
    size_t i = (size_t)h & (x->cap - 1);
    while (x->rec[i])
        i = (i + 1) & (x->cap - 1);
    x->hash[i] = h;
    x->rec[i] = rec + 1;
}

static void idx_add_rec(struct batch *b, size_t r)
{
    const struct rec *c = &b->recs[r];
    if (c->pid)
        idx_put(&b->idx, fact_hash(c->org, K_PROVIDER, c->ptype, c->pid), r);
    if (c->smid)
        idx_put(&b->idx, fact_hash(c->org, K_SMID, c->smid, NULL), r);
    if (c->iid)
        idx_put(&b->idx, fact_hash(c->org, K_INSIGHTS, c->iid, NULL), r);
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

/* Merges message w into record r: sent fields replace, facts, tags and
 * system_profile by their top-level keys (as the write statement does). */
static void apply(struct batch *b, size_t r, const struct host_write *w)
{
    struct rec *c = &b->recs[r];
    if (!c->merged)
        c->merged = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(w->patch, key, v)
    {
        json_t *have = json_object_get(c->merged, key);
        if (json_is_object(v) && json_is_object(have))
            json_object_update(have, v);
        else
            json_object_set_new(c->merged, key, json_is_object(v) ? json_copy(v) : json_incref(v));
    }
    bool changed = (w->smid && !eq(c->smid, w->smid)) ||
                   (w->insights_id && !eq(c->iid, w->insights_id)) || (w->provider_id && !c->pid);
    set_fact(&c->smid, w->smid);
    set_fact(&c->iid, w->insights_id);
    if (w->provider_id && !c->pid) { /* immutable once set */
        c->ptype = xstrdup(w->provider_type);
        c->pid = xstrdup(w->provider_id);
    }
    if (changed)
        idx_add_rec(b, r);
    c->touched = true;
    c->order = ++b->clock;
    c->request_id = w->request_id;
}

/* ---- SQL ---- */

static void add_array_elem(struct buf *a, const char *s)
{
    buf_putc(a, a->len > 1 ? ',' : '{');
    buf_putc(a, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(a, '\\');
        buf_putc(a, *s);
    }
    buf_putc(a, '"');
}

static const char *array_text(struct buf *a)
{
    if (a->len <= 1)
        buf_setf(a, "{}");
    else
        buf_putc(a, '}');
    return buf_str(a);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Advisory locks on the batch's ID-fact values, in one sorted statement. */
static int lock_facts(PGconn *pg, const struct host_write *w, size_t n, char *state,
                      struct buf *err)
{
    uint64_t *k = xcalloc(3 * n + 1, sizeof(*k));
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].provider_id)
            k[nk++] = fact_hash(w[i].org_id, K_PROVIDER, w[i].provider_type, w[i].provider_id);
        if (w[i].smid)
            k[nk++] = fact_hash(w[i].org_id, K_SMID, w[i].smid, NULL);
        if (w[i].insights_id)
            k[nk++] = fact_hash(w[i].org_id, K_INSIGHTS, w[i].insights_id, NULL);
    }
    qsort(k, nk, sizeof(*k), cmp_u64);
    struct buf a;
    buf_init(&a, BUF_NOLIMIT);
    buf_putc(&a, '{');
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || k[i] != k[i - 1])
            buf_putf(&a, "%s%lld", a.len > 1 ? "," : "", (long long)k[i]);
    buf_putc(&a, '}');
    free(k);
    const char *p[] = {buf_str(&a)};
    int rc = run(pg, "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k", 1, p,
                 state, err);
    buf_release(&a);
    return rc;
}

static const char *col_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The stored hosts any sent ID-fact value finds, locked. */
static int fetch_candidates(PGconn *pg, struct batch *b, const struct host_write *w, size_t n,
                            char *state, struct buf *err)
{
    struct buf a[4];
    for (int i = 0; i < 4; i++)
        buf_init(&a[i], BUF_NOLIMIT);
    for (size_t i = 0; i < n; i++) {
        add_array_elem(&a[0], w[i].org_id);
        if (w[i].provider_id)
            add_array_elem(&a[1], w[i].provider_id);
        if (w[i].smid)
            add_array_elem(&a[2], w[i].smid);
        if (w[i].insights_id)
            add_array_elem(&a[3], w[i].insights_id);
    }
    const char *p[] = {array_text(&a[0]), array_text(&a[1]), array_text(&a[2]), array_text(&a[3])};
    PGresult *r =
        exec(pg,
             "SELECT id, org_id, provider_type, provider_id, subscription_manager_id, insights_id,"
             " extract(epoch FROM modified_on)::float8 FROM hbi_host"
             " WHERE org_id = ANY($1::text[]) AND (provider_id = ANY($2::text[])"
             " OR subscription_manager_id = ANY($3::uuid[]) OR insights_id = ANY($4::uuid[]))"
             " ORDER BY id FOR UPDATE",
             4, p, state, err);
    for (int i = 0; i < 4; i++)
        buf_release(&a[i]);
    if (!r)
        return -1;
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
    PQclear(r);
    return 0;
}

/* Inserts the created hosts, updates the matched ones (sent fields only)
 * and returns (id, created, event text) per host. */
static const char *const write_sql =
    "WITH w AS ("
    " SELECT (e->>'id')::uuid AS id, (e->>'new')::bool AS new, e->>'org_id' AS org_id,"
    " e->'p' AS p, e->>'rid' AS rid FROM jsonb_array_elements($1::jsonb) AS e),"
    " ins AS ("
    " INSERT INTO hbi_host (id, org_id, display_name, ansible_host, insights_id,"
    " subscription_manager_id, satellite_id, bios_uuid, fqdn, ip_addresses, mac_addresses,"
    " provider_id, provider_type, facts, tags, system_profile, owner_id, reporter,"
    " per_reporter_staleness)"
    " SELECT id, org_id, coalesce(p->>'display_name', p->>'fqdn', id::text), p->>'ansible_host',"
    " (p->>'insights_id')::uuid, (p->>'subscription_manager_id')::uuid, p->>'satellite_id',"
    " (p->>'bios_uuid')::uuid, p->>'fqdn',"
    " CASE WHEN p ? 'ip_addresses' THEN ARRAY(SELECT jsonb_array_elements_text(p->'ip_addresses')) "
    "END,"
    " CASE WHEN p ? 'mac_addresses' THEN ARRAY(SELECT "
    "jsonb_array_elements_text(p->'mac_addresses')) END,"
    " p->>'provider_id', p->>'provider_type', coalesce(p->'facts', '{}'),"
    " coalesce(p->'tags', '{}'), coalesce(p->'system_profile', '{}'),"
    " (p->'system_profile'->>'owner_id')::uuid, p->>'reporter',"
    " CASE WHEN p ? 'reporter' THEN jsonb_build_object(p->>'reporter', jsonb_build_object("
    " 'last_check_in', now(), 'check_in_succeeded', true)) ELSE '{}' END"
    " FROM w WHERE new RETURNING *),"
    " upd AS ("
    " UPDATE hbi_host h SET"
    " display_name = coalesce(w.p->>'display_name', h.display_name),"
    " ansible_host = CASE WHEN w.p ? 'ansible_host' THEN w.p->>'ansible_host'"
    " ELSE h.ansible_host END,"
    " insights_id = coalesce((w.p->>'insights_id')::uuid, h.insights_id),"
    " subscription_manager_id = coalesce((w.p->>'subscription_manager_id')::uuid,"
    " h.subscription_manager_id),"
    " satellite_id = coalesce(w.p->>'satellite_id', h.satellite_id),"
    " bios_uuid = coalesce((w.p->>'bios_uuid')::uuid, h.bios_uuid),"
    " fqdn = coalesce(w.p->>'fqdn', h.fqdn),"
    " ip_addresses = CASE WHEN w.p ? 'ip_addresses'"
    " THEN ARRAY(SELECT jsonb_array_elements_text(w.p->'ip_addresses')) ELSE h.ip_addresses END,"
    " mac_addresses = CASE WHEN w.p ? 'mac_addresses'"
    " THEN ARRAY(SELECT jsonb_array_elements_text(w.p->'mac_addresses')) ELSE h.mac_addresses END,"
    " provider_id = coalesce(h.provider_id, w.p->>'provider_id'),"
    " provider_type = coalesce(h.provider_type, w.p->>'provider_type'),"
    " facts = h.facts || coalesce(w.p->'facts', '{}'),"
    " tags = h.tags || coalesce(w.p->'tags', '{}'),"
    " system_profile = h.system_profile || coalesce(w.p->'system_profile', '{}'),"
    " owner_id = coalesce((w.p->'system_profile'->>'owner_id')::uuid, h.owner_id),"
    " reporter = coalesce(w.p->>'reporter', h.reporter),"
    " per_reporter_staleness = h.per_reporter_staleness || CASE WHEN w.p ? 'reporter'"
    " THEN jsonb_build_object(w.p->>'reporter', jsonb_build_object('last_check_in', now(),"
    " 'check_in_succeeded', true)) ELSE '{}' END,"
    " modified_on = now(), last_check_in = now()"
    " FROM w WHERE NOT w.new AND h.id = w.id RETURNING h.*),"
    " done AS (SELECT 'created' AS t, ins::hbi_host AS h FROM ins"
    " UNION ALL SELECT 'updated', upd::hbi_host FROM upd)"
    " SELECT (d.h).id, d.t = 'created', jsonb_build_object('type', d.t, 'timestamp', now(),"
    " 'platform_metadata', jsonb_build_object('request_id', w.rid),"
    " 'metadata', jsonb_build_object('request_id', w.rid),"
    " 'host', hbi_host_doc(d.h, s.stale, s.warn, s.cull))::text, (d.h).org_id"
    " FROM done d JOIN w ON w.id = (d.h).id, hbi_org_staleness((d.h).org_id) AS s";

static char *write_json(const struct batch *b)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < b->nrecs; i++) {
        const struct rec *c = &b->recs[i];
        if (!c->touched)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "id", json_string(c->id));
        json_object_set_new(e, "new", json_boolean(c->created));
        json_object_set_new(e, "org_id", json_string(c->org));
        json_object_set_new(
            e, "rid", c->request_id && *c->request_id ? json_string(c->request_id) : json_null());
        json_object_set(e, "p", c->merged);
        json_array_append_new(arr, e);
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

static int write_hosts(PGconn *pg, struct batch *b, struct host_store_result *out, struct buf *err)
{
    char *doc = write_json(b);
    const char *p[] = {doc};
    PGresult *r = exec(pg, write_sql, 1, p, out->sqlstate, err);
    free(doc);
    if (!r)
        return -1;
    out->nhosts = (size_t)PQntuples(r);
    out->hosts = xcalloc(out->nhosts + 1, sizeof(*out->hosts));
    for (size_t i = 0; i < out->nhosts; i++) {
        struct host_done *d = &out->hosts[i];
        snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(r, (int)i, 0));
        d->created = PQgetvalue(r, (int)i, 1)[0] == 't';
        d->event = xstrdup(PQgetvalue(r, (int)i, 2));
        snprintf(d->org_id, sizeof(d->org_id), "%s", PQgetvalue(r, (int)i, 3));
    }
    PQclear(r);
    return 0;
}

/* ---- the batch ---- */

static void batch_release(struct batch *b)
{
    for (size_t i = 0; i < b->nrecs; i++) {
        struct rec *c = &b->recs[i];
        free(c->org);
        free(c->ptype);
        free(c->pid);
        free(c->smid);
        free(c->iid);
        if (c->merged)
            json_decref(c->merged);
    }
    free(b->recs);
    free(b->idx.hash);
    free(b->idx.rec);
}

/* Steps 3: every write matched (or a host created) in order; host_of[i]
 * is a record index until write_hosts maps it to out->hosts. */
static void match_all(struct batch *b, const struct host_write *w, size_t n, size_t *rec_of)
{
    size_t cap = 16;
    /* Every record can be indexed under 3 values, plus re-indexing on change. */
    while (cap < 4 * (3 * (b->nrecs + n) + 3 * n))
        cap <<= 1;
    b->idx.cap = cap;
    b->idx.hash = xcalloc(cap, sizeof(*b->idx.hash));
    b->idx.rec = xcalloc(cap, sizeof(*b->idx.rec));
    for (size_t i = 0; i < b->nrecs; i++)
        idx_add_rec(b, i);
    for (size_t i = 0; i < n; i++) {
        struct rec *m = match(b, &w[i]);
        size_t r;
        if (m) {
            r = (size_t)(m - b->recs);
        } else {
            r = rec_add(b);
            struct rec *c = &b->recs[r];
            uuid4(c->id);
            c->org = xstrdup(w[i].org_id);
            c->created = true;
        }
        apply(b, r, &w[i]);
        rec_of[i] = r;
    }
}

static int cmp_done(const void *a, const void *b)
{
    return strcmp(((const struct host_done *)a)->id, ((const struct host_done *)b)->id);
}

static int cmp_id_done(const void *key, const void *d)
{
    return strcmp(key, ((const struct host_done *)d)->id);
}

static int in_transaction(PGconn *pg, struct batch *b, const struct host_write *w, size_t n,
                          size_t *rec_of, struct host_store_result *out, struct buf *err)
{
    if (lock_facts(pg, w, n, out->sqlstate, err) < 0 ||
        fetch_candidates(pg, b, w, n, out->sqlstate, err) < 0)
        return -1;
    match_all(b, w, n, rec_of);
    if (write_hosts(pg, b, out, err) < 0)
        return -1;
    /* rec_of -> index in out->hosts, by host id */
    qsort(out->hosts, out->nhosts, sizeof(*out->hosts), cmp_done);
    for (size_t i = 0; i < n; i++) {
        const struct host_done *d = bsearch(b->recs[rec_of[i]].id, out->hosts, out->nhosts,
                                            sizeof(*out->hosts), cmp_id_done);
        out->host_of[i] = d ? (size_t)(d - out->hosts) : 0;
    }
    return 0;
}

int host_store(PGconn *pg, const struct host_write *w, size_t n, struct host_store_result *out,
               struct buf *err)
{
    memset(out, 0, sizeof(*out));
    out->host_of = xcalloc(n + 1, sizeof(*out->host_of));
    if (n == 0)
        return 0;
    struct batch b = {0};
    size_t *rec_of = xcalloc(n, sizeof(*rec_of));
    int rc = run(pg, "BEGIN", 0, NULL, out->sqlstate, err);
    if (rc == 0)
        rc = in_transaction(pg, &b, w, n, rec_of, out, err);
    if (rc == 0)
        rc = run(pg, "COMMIT", 0, NULL, out->sqlstate, err);
    if (rc < 0) {
        struct buf ignore;
        buf_init(&ignore, 256);
        char st[6];
        if (PQstatus(pg) == CONNECTION_OK)
            PQclear(exec(pg, "ROLLBACK", 0, NULL, st, &ignore));
        buf_release(&ignore);
        for (size_t i = 0; i < out->nhosts; i++)
            free(out->hosts[i].event);
        free(out->hosts);
        out->hosts = NULL;
        out->nhosts = 0;
    }
    free(rec_of);
    batch_release(&b);
    return rc;
}

void host_store_result_release(struct host_store_result *r)
{
    for (size_t i = 0; i < r->nhosts; i++)
        free(r->hosts[i].event);
    free(r->hosts);
    free(r->host_of);
    memset(r, 0, sizeof(*r));
}

bool host_store_rejected(const struct host_store_result *r)
{
    const char *s = r->sqlstate;
    return (s[0] == '2' && (s[1] == '2' || (s[1] == '3' && strcmp(s, "23505") != 0))) ||
           (s[0] == '4' && s[1] == '2');
}
