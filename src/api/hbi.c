/* The host-based inventory REST API (see hbi.h, docs/api.md).
 *
 * Every statement is parameterised: $1 is the caller's org_id and the
 * filters' values follow, so the SQL text depends only on which filters a
 * request gives and the server's per-connection cache prepares each shape
 * once. Staleness is computed from last_check_in and hbi_org_staleness()
 * (the CTE s); its thresholds are scalar subqueries, evaluated once per
 * statement, so "org_id = $1 AND last_check_in > threshold" and the
 * orderings can use the (org_id, ...) indexes. Hosts are serialised by
 * hbi_host_doc() in SQL and copied into the answer as JSON text. */
#include "api/hbi.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "core/log.h"
#include "core/util.h"
#include "hosts/host.h"
#include "hosts/store.h"
#include "ingest/stream.h"

#define HBI_MAX_PARAMS 48 /* $n of one statement */

/* ---- SQL fragments (the host is h; s is the org's staleness) ---- */

#define WITH_S   "WITH s AS MATERIALIZED (SELECT stale, warn, cull FROM hbi_org_staleness($1)) "
#define STALE_AT "(SELECT now() - make_interval(secs => stale) FROM s)"
#define WARN_AT  "(SELECT now() - make_interval(secs => warn) FROM s)"
#define CULL_AT  "(SELECT now() - make_interval(secs => cull) FROM s)"
#define DOC_OF(h)                                                                                  \
    "hbi_host_doc(" h ", (SELECT stale FROM s), (SELECT warn FROM s), (SELECT cull FROM s))"
/* One row per tag of h: n.ns ("" = no namespace), k.key, v.val (JSON). */
#define TAG_ROWS                                                                                   \
    "jsonb_each(h.tags) n(ns, keys), jsonb_each(CASE WHEN jsonb_typeof(n.keys) = 'object' "        \
    "THEN n.keys ELSE '{}' END) k(key, vals), jsonb_array_elements(CASE WHEN "                     \
    "jsonb_typeof(k.vals) = 'array' AND jsonb_array_length(k.vals) > 0 THEN k.vals "               \
    "ELSE '[null]' END) v(val)"
#define TAG_NS  "nullif(n.ns, '')"
#define TAG_VAL "nullif(v.val #>> '{}', '')"
#define OS_NAME "(h.system_profile -> 'operating_system' ->> 'name')"
#define OS_NUM(f)                                                                                  \
    "(CASE WHEN jsonb_typeof(h.system_profile -> 'operating_system' -> '" f "') = 'number' "       \
    "THEN (h.system_profile -> 'operating_system' ->> '" f "')::numeric END)"
/* The created/updated event of host row u, as host_store writes them. */
#define EVENT_OF(type, u, rid)                                                                     \
    "jsonb_build_object('type', '" type "', 'timestamp', now(), 'platform_metadata', "             \
    "jsonb_build_object('request_id', " rid "::text), 'metadata', jsonb_build_object("             \
    "'request_id', " rid "::text), 'host', " DOC_OF(u "::hbi_host") ")::text"

/* ---- errors ---- */

static const struct {
    unsigned int status;
    const char *error, *title;
} kinds[] = {
    {MHD_HTTP_BAD_REQUEST, "bad request", "Bad Request"},
    {MHD_HTTP_UNAUTHORIZED, "unauthorized", "Unauthorized"},
    {MHD_HTTP_NOT_FOUND, "not found", "Not Found"},
    {MHD_HTTP_CONFLICT, "conflict", "Conflict"},
};

/* Our error shape ({"error", "reason"}) plus HBI's problem members
 * (status, title, detail), so clients of either find theirs. */
static void fail(struct resp *r, unsigned int status, const char *detail)
{
    size_t k = 0;
    while (k + 1 < ARRAY_SIZE(kinds) && kinds[k].status != status)
        k++;
    api_set_error(r, status, kinds[k].error, detail);
    if (!r->body)
        return;
    json_object_set_new(r->body, "status", json_integer(status));
    json_object_set_new(r->body, "title", json_string(kinds[k].title));
    json_object_set_new(r->body, "detail", json_string(detail));
}

static void failf(struct resp *r, unsigned int status, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void failf(struct resp *r, unsigned int status, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fail(r, status, text);
}

int hbi_authorize(const char *header, struct identity *who, struct resp *r)
{
    if (!header) {
        fail(r, MHD_HTTP_UNAUTHORIZED, "missing x-rh-identity header");
        return -1;
    }
    struct buf why;
    buf_init(&why, 512);
    int rc = identity_parse(header, strlen(header), who, &why);
    if (rc < 0)
        fail(r, MHD_HTTP_UNAUTHORIZED, why.len ? buf_str(&why) : "invalid x-rh-identity header");
    buf_release(&why);
    return rc;
}

/* ---- small helpers ---- */

/* A UUID of n bytes at s, with dashes or without (HBI's non-strict form),
 * into out lower-cased with dashes; false when it is not one. */
static bool uuid_norm(const char *s, size_t n, char out[UUID_LEN + 1])
{
    char hex[32];
    size_t h = 0;
    if (n != UUID_LEN && n != 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (n == UUID_LEN && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int d = hex_digit(s[i]);
        if (d < 0)
            return false;
        hex[h++] = "0123456789abcdef"[d];
    }
    snprintf(out, UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
    return true;
}

/* Characters (UTF-8 code points) of s, as HBI counts lengths. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The request's id for events: x-rh-insights-request-id when it is a
 * safe name of up to 64 characters, else a new UUID. */
static void request_id(const struct resp *r, char out[HOST_REQUEST_ID_MAX + 1])
{
    if (r->request_id && is_safe_name(r->request_id, HOST_REQUEST_ID_MAX))
        snprintf(out, HOST_REQUEST_ID_MAX + 1, "%s", r->request_id);
    else
        uuid4(out);
}

/* Percent-decodes n bytes (a second level of encoding inside a value:
 * tags, path segments); NULL for a bad escape or a NUL byte. Owned. */
static char *unescape(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi = 0, lo = 0;
        if (s[i] == '%' && (i + 2 >= n || (hi = hex_digit(s[i + 1])) < 0 ||
                            (lo = hex_digit(s[i + 2])) < 0 || hi * 16 + lo == 0)) {
            free(out);
            return NULL;
        }
        if (s[i] == '%') {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* The request body as JSON of type want; NULL after a 400. */
static json_t *load_body(struct resp *r, json_type want)
{
    const char *what = want == JSON_ARRAY ? "an array" : "an object";
    json_error_t je;
    json_t *doc = r->in_len ? json_loadb(r->in, r->in_len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!r->in_len)
        failf(r, MHD_HTTP_BAD_REQUEST, "the body must be %s (JSON)", what);
    else if (!doc)
        failf(r, MHD_HTTP_BAD_REQUEST, "invalid JSON body: %.120s", je.text);
    else if (json_typeof(doc) != want)
        failf(r, MHD_HTTP_BAD_REQUEST, "the body must be %s (JSON)", what);
    if (doc && json_typeof(doc) != want) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* An empty answer (PATCH, DELETE: HBI sends no body). */
static void no_content(struct resp *r, unsigned int status)
{
    r->status = status;
    r->text = xstrdup("");
    r->ctype = NULL;
    r->body = json_null(); /* not sent: marks the answer as given */
}

/* ---- statements ---- */

struct stmt {
    struct buf sql;
    struct buf where; /* the conditions on h: visibility, then filters */
    char *params[HBI_MAX_PARAMS];
    int n;
};

static void stmt_init(struct stmt *st)
{
    memset(st, 0, sizeof(*st));
    buf_init(&st->sql, BUF_NOLIMIT);
    buf_init(&st->where, BUF_NOLIMIT);
}

static void stmt_release(struct stmt *st)
{
    buf_release(&st->sql);
    buf_release(&st->where);
    for (int i = 0; i < st->n; i++)
        free(st->params[i]);
    st->n = 0;
}

/* Adds a parameter (copied; NULL is SQL NULL) and returns its number. The
 * parameter table bounds how many a statement gets. */
static int param(struct stmt *st, const char *v)
{
    if (st->n == HBI_MAX_PARAMS) {
        log_error("api: too many SQL parameters", LF_INT("max", HBI_MAX_PARAMS));
        abort();
    }
    st->params[st->n] = v ? xstrdup(v) : NULL;
    return ++st->n;
}

static PGresult *run(struct api_server *s, enum api_db db, const struct stmt *st, struct resp *r)
{
    return api_query(s, db, buf_str(&st->sql), st->n, (const char *const *)st->params, r);
}

/* What the caller may see: its org ($1), hosts not culled, and for a
 * System identity only the hosts it owns. */
#define VISIBLE "h.org_id = $1 AND h.last_check_in > " CULL_AT
/* The number of VISIBLE hosts, from the per-org counts the writes keep
 * (hbi_host_count, a row per writing backend's slot) less the culled
 * hosts not reaped yet (an index range, usually empty): not 10,000s of
 * index entries and heap pages counted for every page. */
#define VISIBLE_TOTAL                                                                              \
    "(SELECT coalesce(sum(n), 0) FROM hbi_host_count WHERE org_id = $1) - (SELECT count(*) "       \
    "FROM hbi_host h WHERE h.org_id = $1 AND h.last_check_in <= " CULL_AT ")"

static void where_visible(struct stmt *st, const struct identity *who)
{
    param(st, who->org_id);
    buf_puts(&st->where, VISIBLE);
    if (who->type != IDENTITY_SYSTEM)
        return;
    char owner[UUID_LEN + 1];
    if (uuid_norm(who->cn, strlen(who->cn), owner))
        buf_putf(&st->where, " AND h.owner_id = $%d::uuid", param(st, owner));
    else
        buf_puts(&st->where, " AND false"); /* owner ids are UUIDs: such a cn owns nothing */
}

/* ---- query parameters ---- */

/* The routes a parameter belongs to. */
enum {
    R_HOSTS = 1u << 0,     /* GET /hosts */
    R_BY_ID = 1u << 1,     /* GET /hosts/{ids}, .../system_profile, .../tags/count */
    R_HOST_TAGS = 1u << 2, /* GET /hosts/{ids}/tags */
    R_TAGS = 1u << 3,      /* GET /tags */
    R_EXISTS = 1u << 4,    /* GET /host_exists */
    R_NONE = 0,            /* the others take no parameter */
};
#define R_FILTERS (R_HOSTS | R_TAGS)
#define R_PAGES   (R_HOSTS | R_BY_ID | R_HOST_TAGS | R_TAGS)

/* Staleness states (HBI's names). */
enum { ST_FRESH = 1u << 0, ST_STALE = 1u << 1, ST_WARN = 1u << 2, ST_UNKNOWN = 1u << 3 };
#define ST_LIVE (ST_FRESH | ST_STALE | ST_WARN)

static const struct {
    const char *name;
    unsigned bit;
    const char *sql; /* the state's range of last_check_in */
} states[] = {
    {"fresh", ST_FRESH, "h.last_check_in > " STALE_AT},
    {"stale", ST_STALE, "(h.last_check_in <= " STALE_AT " AND h.last_check_in > " WARN_AT ")"},
    {"stale_warning", ST_WARN, "h.last_check_in <= " WARN_AT},
    {"unknown", ST_UNKNOWN, NULL}, /* no stale timestamp: never here */
};

/* registered_with: "insights" (an insights_id) and the reporters HBI
 * knows, each also negated with "!". */
static const char *const reporters[] = {"insights", "yupana", "puptoo", "rhsm-conduit",
                                        "cloud-connector"};

/* A request's parameters, checked (strings borrowed from the parsed
 * query string). */
struct hq {
    const char *display_name, *fqdn, *hostname_or_id, *provider_id, *updated_start, *updated_end;
    const char *search, *order_by, *order_how;
    char insights_id[UUID_LEN + 1]; /* "" when not given */
    const char *provider_type;
    unsigned staleness;  /* ST_* given; 0: the default (fresh, stale, stale_warning) */
    unsigned reg, unreg; /* registered_with: bits of reporters[], of negated ones */
    json_t *tags;        /* {namespace or "": {key: [value]}}: containment; NULL when none */
    int64_t page, per_page;
};

struct param;
typedef int (*param_fn)(struct hq *q, const struct param *p, const char *v, struct buf *why);

struct param {
    const char *name;
    param_fn fn;
    size_t off;      /* p_text: the member of struct hq set */
    unsigned routes; /* R_* that take it */
    bool repeat;     /* may be given again (HBI's lists) */
};

static int p_text(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    (void)why;
    if (*v) /* empty: no filter, as HBI */
        *(const char **)((char *)q + p->off) = v;
    return 0;
}

static int p_uuid(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    if (uuid_norm(v, strlen(v), q->insights_id))
        return 0;
    buf_setf(why, "%s: \"%.40s\" is not a UUID", p->name, v);
    return -1;
}

static int p_provider_type(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    static const char *const types[] = {"alibaba", "aws", "azure", "gcp", "ibm"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (strcmp(v, types[i]) == 0) {
            q->provider_type = types[i];
            return 0;
        }
    buf_setf(why, "%s: \"%.40s\" is not one of alibaba, aws, azure, gcp, ibm", p->name, v);
    return -1;
}

static int p_time(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    if (api_valid_time(v))
        return p_text(q, p, v, why);
    buf_setf(why, "%s: \"%.40s\" is not an RFC 3339 date-time", p->name, v);
    return -1;
}

static int p_staleness(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    for (const char *e = v;; e++) {
        size_t n = strcspn(e, ","), k = 0;
        while (k < ARRAY_SIZE(states) &&
               !(strlen(states[k].name) == n && strncmp(states[k].name, e, n) == 0))
            k++;
        if (k == ARRAY_SIZE(states)) {
            buf_setf(why, "%s: \"%.*s\" is not one of fresh, stale, stale_warning, unknown",
                     p->name, (int)(n > 40 ? 40 : n), e);
            return -1;
        }
        q->staleness |= states[k].bit;
        e += n;
        if (!*e)
            return 0;
    }
}

static int p_registered_with(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    for (const char *e = v;; e++) {
        size_t n = strcspn(e, ",");
        bool neg = *e == '!';
        size_t k = 0;
        while (k < ARRAY_SIZE(reporters) &&
               !(strlen(reporters[k]) == n - neg && strncmp(reporters[k], e + neg, n - neg) == 0))
            k++;
        if (k == ARRAY_SIZE(reporters) || (neg && k == 0)) {
            buf_setf(why,
                     "%s: \"%.*s\" is not one of insights, yupana, puptoo, rhsm-conduit, "
                     "cloud-connector or a reporter negated with !",
                     p->name, (int)(n > 40 ? 40 : n), e);
            return -1;
        }
        *(neg ? &q->unreg : &q->reg) |= 1u << k;
        e += n;
        if (!*e)
            return 0;
    }
}

/* One part of a tag: percent-decoded, at most 255 characters. */
static char *tag_part(const char *s, size_t n, const char *what, struct buf *why)
{
    char *v = unescape(s, n);
    if (!v)
        buf_setf(why, "tags: bad percent-encoding in the %s", what);
    else if (chars(v) > 255)
        buf_setf(why, "tags: %s is longer than 255 characters", what);
    if (v && why->len) {
        free(v);
        v = NULL;
    }
    return v;
}

/* namespace/key=value (each part URL-encoded; namespace and value
 * optional): one more condition of the containment document. The
 * namespace ends at the first '/' before any '='. */
static int p_tags(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    (void)p;
    const char *slash = strchr(v, '/'), *eq = strchr(v, '='), *key = v;
    char *ns = NULL, *k = NULL, *val = NULL;
    int rc = -1;
    if (slash && (!eq || slash < eq)) {
        if (!(ns = tag_part(v, (size_t)(slash - v), "namespace", why)))
            goto out;
        key = slash + 1;
    }
    eq = strchr(key, '=');
    if (!(k = tag_part(key, eq ? (size_t)(eq - key) : strlen(key), "key", why)) ||
        (eq && !(val = tag_part(eq + 1, strlen(eq + 1), "value", why))))
        goto out;
    if (!*k) {
        buf_setf(why, "tags: \"%.60s\" has no key (namespace/key=value)", v);
        goto out;
    }
    if (!q->tags)
        q->tags = json_object();
    json_t *keys = json_object_get(q->tags, ns ? ns : "");
    if (!keys)
        json_object_set_new(q->tags, ns ? ns : "", keys = json_object());
    json_t *values = json_object_get(keys, k);
    if (!values)
        json_object_set_new(keys, k, values = json_array());
    if (val && *val)
        json_array_append_new(values, json_string(val));
    rc = 0;
out:
    free(ns);
    free(k);
    free(val);
    return rc;
}

static int p_page(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    bool per = p->off == offsetof(struct hq, per_page);
    int64_t max = per ? HBI_MAX_PER_PAGE : HBI_MAX_PAGE;
    if (parse_int64(v, 1, max, per ? &q->per_page : &q->page) == 0)
        return 0;
    buf_setf(why, "%s: expected an integer in 1..%lld", p->name, (long long)max);
    return -1;
}

static int p_order_how(struct hq *q, const struct param *p, const char *v, struct buf *why)
{
    if (strcmp(v, "ASC") == 0 || strcmp(v, "DESC") == 0)
        return p_text(q, p, v, why);
    buf_setf(why, "%s: expected ASC or DESC", p->name);
    return -1;
}

#define AT(m) offsetof(struct hq, m)

static const struct param params[] = {
    {"display_name", p_text, AT(display_name), R_FILTERS, false},
    {"fqdn", p_text, AT(fqdn), R_FILTERS, false},
    {"hostname_or_id", p_text, AT(hostname_or_id), R_FILTERS, false},
    {"insights_id", p_uuid, 0, R_FILTERS | R_EXISTS, false},
    {"provider_id", p_text, AT(provider_id), R_FILTERS, false},
    {"provider_type", p_provider_type, 0, R_FILTERS, false},
    {"updated_start", p_time, AT(updated_start), R_FILTERS, false},
    {"updated_end", p_time, AT(updated_end), R_FILTERS, false},
    {"staleness", p_staleness, 0, R_FILTERS, true},
    {"tags", p_tags, 0, R_FILTERS, true},
    {"registered_with", p_registered_with, 0, R_FILTERS, true},
    {"search", p_text, AT(search), R_HOST_TAGS | R_TAGS, false},
    {"order_by", p_text, AT(order_by), R_PAGES, false},
    {"order_how", p_order_how, AT(order_how), R_PAGES, false},
    {"page", p_page, AT(page), R_PAGES, false},
    {"per_page", p_page, AT(per_page), R_PAGES, false},
};

/* Applies one decoded parameter; seen tracks those given once. */
static int apply_param(struct hq *q, unsigned route, const struct api_arg *a, uint32_t *seen,
                       struct buf *why)
{
    size_t k = 0;
    while (k < ARRAY_SIZE(params) && strcmp(params[k].name, a->key) != 0)
        k++;
    if (k == ARRAY_SIZE(params) || !(params[k].routes & route)) {
        buf_setf(why, "unknown parameter \"%.64s\"", a->key);
        return -1;
    }
    if ((*seen & (1u << k)) && !params[k].repeat) {
        buf_setf(why, "parameter \"%.64s\" given twice", a->key);
        return -1;
    }
    *seen |= 1u << k;
    return params[k].fn(q, &params[k], a->val, why);
}

/* Parses the query string of a route (R_*): known parameters only, lists
 * (staleness, tags, registered_with) repeated or comma-separated. The
 * decoded values stay in *args for q's strings. -1 with why set. */
static int parse_query(const char *qs, unsigned route, struct hq *q, struct api_arg **args,
                       size_t *nargs, struct buf *why)
{
    uint32_t seen = 0;
    memset(q, 0, sizeof(*q));
    q->page = 1;
    q->per_page = 50;
    *args = NULL;
    *nargs = 0;
    for (const char *p = qs ? qs : ""; *p && !why->len;) {
        size_t len = strcspn(p, "&");
        char *seg = xstrndup(p, len);
        struct api_arg *one = NULL;
        size_t k = 0;
        /* One parameter at a time: api_args_parse refuses repeats. */
        if (api_args_parse(seg, &one, &k, why) == 0 && k == 1) {
            if (*nargs == API_MAX_ARGS)
                buf_setf(why, "more than %d query parameters", API_MAX_ARGS);
            *args = xrealloc(*args, (*nargs + 1) * sizeof(**args));
            (*args)[(*nargs)++] = one[0];
            free(one);
            if (!why->len)
                (void)apply_param(q, route, &(*args)[*nargs - 1], &seen, why);
        } else {
            api_args_free(one, k);
        }
        free(seg);
        p += len + (p[len] == '&');
    }
    return why->len ? -1 : 0;
}

/* ---- orderings ---- */

struct order {
    const char *name, *asc, *desc;
    bool desc_default;
};

/* GET /hosts and the {host_id_list} routes. The tie-breaks follow the
 * indexes (org_id, modified_on DESC, id) and (org_id, display_name, id),
 * so a page is read from the index. */
static const struct order host_orders[] = {
    {"updated", "h.modified_on, h.id DESC", "h.modified_on DESC, h.id", true},
    {"display_name", "h.display_name, h.id", "h.display_name DESC, h.id DESC", false},
    {"last_check_in", "h.last_check_in, h.id", "h.last_check_in DESC, h.id DESC", true},
    {"operating_system",
     OS_NAME " NULLS LAST, " OS_NUM("major") " NULLS LAST, " OS_NUM(
         "minor") " NULLS LAST, h.modified_on DESC, h.id",
     OS_NAME " DESC NULLS LAST, " OS_NUM("major") " DESC NULLS LAST, " OS_NUM(
         "minor") " DESC NULLS LAST, h.modified_on DESC, h.id",
     true},
};

/* GET /tags (rows of t: ns, key, val, c). */
static const struct order tag_orders[] = {
    {"tag", "coalesce(ns, ''), key, coalesce(val, '')",
     "coalesce(ns, '') DESC, key DESC, coalesce(val, '') DESC", false},
    {"count", "c, coalesce(ns, ''), key, coalesce(val, '')",
     "c DESC, coalesce(ns, ''), key, coalesce(val, '')", false},
};

/* The ORDER BY of q among orders (the first is the default); NULL with
 * why set. order_how alone is refused where HBI refuses it (hosts). */
static const char *order_sql(const struct hq *q, const struct order *orders, size_t n,
                             bool how_alone, struct buf *why)
{
    const struct order *o = &orders[0];
    if (!q->order_by && q->order_how && !how_alone) {
        buf_setf(why, "order_how needs order_by");
        return NULL;
    }
    if (q->order_by) {
        size_t k = 0;
        while (k < n && strcmp(orders[k].name, q->order_by) != 0)
            k++;
        if (k == n) {
            buf_setf(why, "order_by: \"%.40s\" is not one of %s", q->order_by,
                     orders == tag_orders
                         ? "tag, count"
                         : "display_name, updated, last_check_in, operating_system");
            return NULL;
        }
        o = &orders[k];
    }
    bool desc = q->order_how ? strcmp(q->order_how, "DESC") == 0 : o->desc_default;
    return desc ? o->desc : o->asc;
}

/* ---- filters ---- */

static void where_staleness(struct stmt *st, unsigned given)
{
    unsigned live = (given ? given : ST_LIVE) & ST_LIVE;
    if (live == ST_LIVE)
        return; /* every state but culled: visibility says it */
    if (!live) {
        buf_puts(&st->where, " AND false");
        return;
    }
    const char *sep = " AND (";
    for (size_t i = 0; i < ARRAY_SIZE(states); i++)
        if (live & states[i].bit) {
            buf_putf(&st->where, "%s%s", sep, states[i].sql);
            sep = " OR ";
        }
    buf_putc(&st->where, ')');
}

/* HBI's registered_with: any of insights (an insights_id), a reporter
 * whose own check-in is not culled, or a negated reporter never seen. */
static void where_registered(struct stmt *st, unsigned reg, unsigned unreg)
{
    const char *sep = " AND (";
    for (size_t i = 0; i < ARRAY_SIZE(reporters); i++) {
        if (reg & (1u << i) && i == 0) {
            buf_putf(&st->where, "%sh.insights_id IS NOT NULL", sep);
        } else if (reg & (1u << i)) {
            int k = param(st, reporters[i]);
            buf_putf(&st->where,
                     "%s(h.per_reporter_staleness ? $%d AND (h.per_reporter_staleness -> $%d ->> "
                     "'last_check_in')::timestamptz > " CULL_AT ")",
                     sep, k, k);
        }
        if (reg & (1u << i))
            sep = " OR ";
        if (unreg & (1u << i)) {
            buf_putf(&st->where, "%sNOT (h.per_reporter_staleness ? $%d)", sep,
                     param(st, reporters[i]));
            sep = " OR ";
        }
    }
    if (reg | unreg)
        buf_putc(&st->where, ')');
}

static void where_filters(struct stmt *st, const struct hq *q)
{
    struct buf *w = &st->where;
    if (q->display_name)
        buf_putf(w, " AND strpos(lower(h.display_name), lower($%d)) > 0",
                 param(st, q->display_name));
    if (q->fqdn)
        buf_putf(w, " AND h.fqdn = lower($%d)", param(st, q->fqdn));
    if (q->hostname_or_id) {
        char id[UUID_LEN + 1];
        int k = param(st, q->hostname_or_id);
        buf_putf(w,
                 " AND (strpos(lower(h.display_name), lower($%d)) > 0 OR "
                 "strpos(h.fqdn, lower($%d)) > 0",
                 k, k);
        if (uuid_norm(q->hostname_or_id, strlen(q->hostname_or_id), id))
            buf_putf(w, " OR h.id = $%d::uuid", param(st, id));
        buf_putc(w, ')');
    }
    if (q->insights_id[0])
        buf_putf(w, " AND h.insights_id = $%d::uuid", param(st, q->insights_id));
    if (q->provider_type)
        buf_putf(w, " AND h.provider_type = $%d", param(st, q->provider_type));
    if (q->provider_id)
        buf_putf(w, " AND h.provider_id = lower($%d)", param(st, q->provider_id));
    if (q->updated_start)
        buf_putf(w, " AND h.modified_on >= $%d::timestamptz", param(st, q->updated_start));
    if (q->updated_end)
        buf_putf(w, " AND h.modified_on <= $%d::timestamptz", param(st, q->updated_end));
    if (q->tags) {
        char *doc = json_dumps(q->tags, JSON_COMPACT);
        buf_putf(w, " AND h.tags @> $%d::jsonb", param(st, doc)); /* the GIN index */
        free(doc);
    }
    where_staleness(st, q->staleness);
    where_registered(st, q->reg, q->unreg);
}

/* ---- one read call ---- */

struct call {
    struct hq q;
    struct api_arg *args;
    size_t nargs;
    struct stmt st;
    const char *order; /* its ORDER BY (routes with pages) */
};

static void call_release(struct call *c)
{
    json_decref(c->q.tags);
    api_args_free(c->args, c->nargs);
    stmt_release(&c->st);
}

/* Parses the parameters of route and starts the statement's conditions
 * with what the caller may see (and, on filtering routes, the filters).
 * -1 after a 400 (c released). */
static int call_start(struct call *c, const char *qs, unsigned route, struct resp *r)
{
    struct buf why;
    buf_init(&why, 512);
    stmt_init(&c->st);
    c->order = NULL;
    int rc = parse_query(qs, route, &c->q, &c->args, &c->nargs, &why);
    if (rc == 0 && (route & R_PAGES)) {
        c->order = route == R_TAGS
                       ? order_sql(&c->q, tag_orders, ARRAY_SIZE(tag_orders), true, &why)
                       : order_sql(&c->q, host_orders, ARRAY_SIZE(host_orders), false, &why);
        rc = c->order ? 0 : -1;
    }
    if (rc < 0) {
        fail(r, MHD_HTTP_BAD_REQUEST, buf_str(&why));
        call_release(c);
    } else {
        where_visible(&c->st, r->who);
        if (route & R_FILTERS)
            where_filters(&c->st, &c->q);
    }
    buf_release(&why);
    return rc;
}

/* For routes without parameters: -1 after a 400 naming the first. */
static int no_query(const char *qs, struct resp *r)
{
    struct call c;
    if (call_start(&c, qs, R_NONE, r) < 0)
        return -1;
    call_release(&c);
    return 0;
}

/* The {host_id_list} segment: comma-separated UUIDs (the commas may be
 * percent-encoded), added as "h.id = ANY(...)". -1 after a 400. */
static int where_ids(struct stmt *st, const struct slice *cap, struct resp *r)
{
    char *list = unescape(cap->p, cap->len);
    struct buf arr;
    buf_init(&arr, BUF_NOLIMIT);
    buf_putc(&arr, '{');
    size_t n = 0;
    int rc = list ? 0 : -1;
    for (const char *e = list; rc == 0; e++) {
        size_t len = strcspn(e, ",");
        char id[UUID_LEN + 1];
        if (!uuid_norm(e, len, id) || ++n > HBI_MAX_IDS) {
            rc = -1;
            break;
        }
        buf_putf(&arr, "%s%s", n > 1 ? "," : "", id);
        e += len;
        if (!*e)
            break;
    }
    if (rc < 0 && n > HBI_MAX_IDS)
        failf(r, MHD_HTTP_BAD_REQUEST, "host_id_list: more than %d ids", HBI_MAX_IDS);
    else if (rc < 0)
        fail(r, MHD_HTTP_BAD_REQUEST, "host_id_list: expected comma-separated host UUIDs");
    buf_putc(&arr, '}');
    if (rc == 0)
        buf_putf(&st->where, " AND h.id = ANY($%d::uuid[])", param(st, buf_str(&arr)));
    free(list);
    buf_release(&arr);
    return rc;
}

/* ---- pages ---- */

/* The page's LIMIT and OFFSET as parameters $*a and $*b. */
static void page_params(struct call *c, int *a, int *b)
{
    char lim[24], off[24];
    snprintf(lim, sizeof(lim), "%lld", (long long)c->q.per_page);
    snprintf(off, sizeof(off), "%lld", (long long)((c->q.page - 1) * c->q.per_page));
    *a = param(&c->st, lim);
    *b = param(&c->st, off);
}

/* The page statement: rows (total, cols...) of the hosts matching the
 * conditions, in order; the total is a scalar subquery, so one round trip
 * answers both (without filters, VISIBLE_TOTAL). The page's ids are found
 * first and only they are serialised: rows skipped by OFFSET cost no
 * hbi_host_doc. */
static void page_sql(struct call *c, const char *cols)
{
    int a, b;
    page_params(c, &a, &b);
    const char *w = buf_str(&c->st.where);
    struct buf total;
    buf_init(&total, BUF_NOLIMIT);
    if (strcmp(w, VISIBLE) == 0)
        buf_puts(&total, VISIBLE_TOTAL);
    else
        buf_putf(&total, "(SELECT count(*) FROM hbi_host h WHERE %s)", w);
    buf_putf(&c->st.sql,
             WITH_S "SELECT %s, %s FROM (SELECT h.id FROM hbi_host h WHERE %s ORDER BY %s "
                    "LIMIT $%d OFFSET $%d) p JOIN hbi_host h ON h.id = p.id ORDER BY %s",
             buf_str(&total), cols, w, c->order, a, b, c->order);
    buf_release(&total);
}

/* HBI's envelope {total, count, page, per_page, results} from rows
 * (total, value), or (total, id, value) with results keyed by host id. */
static void page_answer(struct resp *r, const PGresult *res, const struct hq *q, bool keyed)
{
    int rows = PQntuples(res);
    struct buf out;
    buf_init(&out, API_MAX_ANSWER);
    int rc =
        buf_addf(&out, "{\"total\":%s,\"count\":%d,\"page\":%lld,\"per_page\":%lld,\"results\":%c",
                 rows ? PQgetvalue(res, 0, 0) : "0", rows, (long long)q->page,
                 (long long)q->per_page, keyed ? '{' : '[');
    for (int i = 0; i < rows && rc == 0; i++) {
        if (i)
            rc = buf_addc(&out, ',');
        if (rc == 0 && keyed) /* a UUID: no escapes */
            rc = buf_addf(&out, "\"%s\":", PQgetvalue(res, i, 1));
        if (rc == 0)
            rc = buf_adds(&out, PQgetvalue(res, i, keyed ? 2 : 1));
    }
    if (rc == 0)
        rc = buf_adds(&out, keyed ? "}}" : "]}");
    api_set_json_text(r, &out, rc);
    buf_release(&out);
}

enum { PAGE_LIST = 0, PAGE_KEYED = 1, PAGE_NEED_ONE = 2 };

/* Runs the page statement and answers it. An empty page past the first is
 * HBI's 404 (page out of range); PAGE_NEED_ONE makes an empty first page
 * a 404 too (none of the ids is visible). */
static void page_run(struct api_server *s, struct call *c, unsigned how, struct resp *r)
{
    /* generic plans: the LIMIT/OFFSET parameters would have every page
     * planned anew (internal.h) */
    PGresult *res = run(s, API_DB_READ_GENERIC, &c->st, r);
    if (!res)
        return;
    if (PQntuples(res) == 0 && c->q.page > 1)
        failf(r, MHD_HTTP_NOT_FOUND, "page %lld is out of range", (long long)c->q.page);
    else if (PQntuples(res) == 0 && (how & PAGE_NEED_ONE))
        fail(r, MHD_HTTP_NOT_FOUND, "No hosts found.");
    else
        page_answer(r, res, &c->q, how & PAGE_KEYED);
    PQclear(res);
}

/* A {host_id_list} route: the hosts among the ids, a page of cols. */
static void by_ids(struct api_server *s, const struct slice *cap, const char *qs, unsigned route,
                   const char *cols, unsigned how, struct resp *r)
{
    struct call c;
    if (call_start(&c, qs, route, r) < 0)
        return;
    if (where_ids(&c.st, cap, r) == 0) {
        page_sql(&c, cols);
        page_run(s, &c, how, r);
    }
    call_release(&c);
}

/* ---- reads ---- */

void hbi_openapi_doc(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    (void)qs;
    r->body = hbi_openapi(s->cfg);
}

void hbi_hosts_list(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    struct call c;
    if (call_start(&c, qs, R_HOSTS, r) < 0)
        return;
    page_sql(&c, DOC_OF("h") "::text");
    page_run(s, &c, PAGE_LIST, r);
    call_release(&c);
}

void hbi_hosts_get(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    by_ids(s, &caps[0], qs, R_BY_ID, DOC_OF("h") "::text", PAGE_NEED_ONE, r);
}

void hbi_system_profile(struct api_server *s, const struct slice *caps, const char *qs,
                        struct resp *r)
{
    by_ids(s, &caps[0], qs, R_BY_ID,
           "json_build_object('id', h.id, 'system_profile', h.system_profile)::text", PAGE_NEED_ONE,
           r);
}

void hbi_host_tag_count(struct api_server *s, const struct slice *caps, const char *qs,
                        struct resp *r)
{
    by_ids(s, &caps[0], qs, R_BY_ID, "h.id, (SELECT count(*) FROM " TAG_ROWS ")", PAGE_KEYED, r);
}

void hbi_host_tags(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    struct call c;
    if (call_start(&c, qs, R_HOST_TAGS, r) < 0)
        return;
    struct buf cols;
    buf_init(&cols, BUF_NOLIMIT);
    buf_puts(&cols, "h.id, (SELECT coalesce(json_agg(json_build_object('namespace', " TAG_NS
                    ", 'key', k.key, 'value', " TAG_VAL ") ORDER BY " TAG_NS
                    " NULLS FIRST, k.key, " TAG_VAL " NULLS FIRST), '[]') FROM " TAG_ROWS);
    /* search: a case-insensitive substring of "namespace/key=value" */
    if (c.q.search)
        buf_putf(&cols,
                 " WHERE strpos(lower(n.ns || '/' || k.key || '=' || coalesce(" TAG_VAL
                 ", '')), lower($%d)) > 0",
                 param(&c.st, c.q.search));
    buf_puts(&cols, ")::text");
    if (where_ids(&c.st, &caps[0], r) == 0) {
        page_sql(&c, buf_str(&cols));
        page_run(s, &c, PAGE_KEYED, r);
    }
    buf_release(&cols);
    call_release(&c);
}

/* GET /tags: the tags of the org's hosts that match the filters, with the
 * number of hosts carrying each. */
void hbi_tags(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    struct call c;
    if (call_start(&c, qs, R_TAGS, r) < 0)
        return;
    struct stmt *st = &c.st;
    buf_putf(&st->sql,
             WITH_S ", t AS (SELECT " TAG_NS " AS ns, k.key, " TAG_VAL " AS val, count(*) AS c "
                    "FROM hbi_host h, " TAG_ROWS " WHERE %s GROUP BY 1, 2, 3), "
                    "f AS (SELECT * FROM t",
             buf_str(&st->where));
    if (c.q.search)
        buf_putf(&st->sql,
                 " WHERE strpos(lower(coalesce(ns, '') || '/' || key || '=' || "
                 "coalesce(val, '')), lower($%d)) > 0",
                 param(st, c.q.search));
    int a, b;
    page_params(&c, &a, &b);
    buf_putf(&st->sql,
             ") SELECT (SELECT count(*) FROM f), json_build_object('tag', json_build_object("
             "'namespace', ns, 'key', key, 'value', val), 'count', c)::text FROM f "
             "ORDER BY %s LIMIT $%d OFFSET $%d",
             c.order, a, b);
    page_run(s, &c, PAGE_LIST, r);
    call_release(&c);
}

/* GET /host_exists?insights_id=: the id of the one visible host with it;
 * 404 when none, 409 when several. */
void hbi_host_exists(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    struct call c;
    if (call_start(&c, qs, R_EXISTS, r) < 0)
        return;
    if (!c.q.insights_id[0]) {
        fail(r, MHD_HTTP_BAD_REQUEST, "insights_id is required");
        call_release(&c);
        return;
    }
    buf_putf(&c.st.sql,
             WITH_S "SELECT h.id FROM hbi_host h WHERE %s AND h.insights_id = $%d::uuid LIMIT 2",
             buf_str(&c.st.where), param(&c.st, c.q.insights_id));
    PGresult *res = run(s, API_DB_READ, &c.st, r);
    if (res && PQntuples(res) == 0)
        failf(r, MHD_HTTP_NOT_FOUND, "No host found for Insights ID '%s'.", c.q.insights_id);
    else if (res && PQntuples(res) > 1)
        failf(r, MHD_HTTP_CONFLICT, "More than one host was found with the Insights ID '%s'",
              c.q.insights_id);
    else if (res)
        r->body = json_pack("{s:s}", "id", PQgetvalue(res, 0, 0));
    PQclear(res);
    call_release(&c);
}

/* ---- events ---- */

#define EVENT_FIELDS 8 /* type, id, org_id, data: as host_store's events */

/* XADDs n events (EVENT_FIELDS strings each) to hosts.events, pipelined.
 * The database has committed: a Redis failure is logged, not answered. */
static void publish(struct api_server *s, const char *const *fv, size_t n)
{
    const struct config *cfg = s->cfg;
    if (!n)
        return;
    redisContext *c = api_redis(s);
    if (!c) {
        log_error("api: events not published: redis unavailable", LF_INT("events", (long long)n));
        return;
    }
    for (size_t i = 0; i < n; i++)
        stream_append_xadd(c, cfg->hosts.events, cfg->hosts.events_max, fv + i * EVENT_FIELDS,
                           EVENT_FIELDS);
    if (!stream_replies("api", c, n)) {
        log_error("api: events not published", LF_INT("events", (long long)n),
                  LF_STR("error", c->errstr));
        if (c->err)
            api_redis_broken(s);
    }
}

/* Publishes rows (id, org_id, event) of a write; rows without an event
 * (nothing changed) are skipped. */
static void publish_rows(struct api_server *s, const PGresult *res, const char *type)
{
    int rows = PQntuples(res);
    const char **fv = xcalloc((size_t)rows * EVENT_FIELDS + 1, sizeof(*fv));
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 2))
            continue;
        const char *e[EVENT_FIELDS] = {"type",   type,
                                       "id",     PQgetvalue(res, i, 0),
                                       "org_id", PQgetvalue(res, i, 1),
                                       "data",   PQgetvalue(res, i, 2)};
        memcpy(fv + n++ * EVENT_FIELDS, e, sizeof(e));
    }
    publish(s, fv, n);
    free(fv);
}

/* ---- PATCH and DELETE /hosts/{host_id_list} ---- */

/* HBI's PatchHostIn: display_name (1..200 characters) and ansible_host
 * (0..255), nothing else. */
static int patch_parse(const json_t *doc, const char **name, const char **ansible, struct buf *why)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        bool dn = strcmp(key, "display_name") == 0;
        size_t min = dn ? 1 : 0, max = dn ? 200 : 255;
        if (!dn && strcmp(key, "ansible_host") != 0) {
            buf_setf(why, "unknown field \"%.64s\" (display_name, ansible_host)", key);
            return -1;
        }
        if (!json_is_string(v) || chars(json_string_value(v)) < min ||
            chars(json_string_value(v)) > max) {
            buf_setf(why, "%s: expected a string of %zu..%zu characters", key, min, max);
            return -1;
        }
        *(dn ? name : ansible) = json_string_value(v);
    }
    return 0;
}

void hbi_hosts_patch(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    const char *name = NULL, *ansible = NULL;
    char rid[HOST_REQUEST_ID_MAX + 1];
    struct buf why;
    struct call c;
    if (call_start(&c, qs, R_NONE, r) < 0)
        return;
    buf_init(&why, 512);
    json_t *doc = load_body(r, JSON_OBJECT);
    if (!doc || patch_parse(doc, &name, &ansible, &why) < 0) {
        if (doc)
            fail(r, MHD_HTTP_BAD_REQUEST, buf_str(&why));
        goto out;
    }
    if (where_ids(&c.st, &caps[0], r) < 0)
        goto out;
    request_id(r, rid);
    int dn = param(&c.st, name), ah = param(&c.st, ansible),
        has = param(&c.st, ansible ? "t" : "f");
    int ri = param(&c.st, rid);
    /* t: the visible hosts asked for (locked); u: those the patch changes. */
    buf_putf(&c.st.sql,
             WITH_S
             ", t AS (SELECT h.id FROM hbi_host h WHERE %s FOR UPDATE), "
             "u AS (UPDATE hbi_host h SET display_name = coalesce($%d::text, h.display_name), "
             "ansible_host = CASE WHEN $%d::bool THEN $%d::text ELSE h.ansible_host END, "
             "modified_on = now() FROM t WHERE h.id = t.id AND "
             "(h.display_name IS DISTINCT FROM coalesce($%d::text, h.display_name) OR "
             "($%d::bool AND h.ansible_host IS DISTINCT FROM $%d::text)) RETURNING h.*) "
             "SELECT t.id, u.org_id, CASE WHEN u.id IS NOT NULL THEN " EVENT_OF(
                 "updated", "u", "$%d") " END FROM t LEFT JOIN u ON u.id = t.id",
             buf_str(&c.st.where), dn, has, ah, dn, has, ah, ri, ri);
    PGresult *res = run(s, API_DB_WRITE, &c.st, r);
    if (res && PQntuples(res) == 0)
        fail(r, MHD_HTTP_NOT_FOUND, "Requested host not found.");
    else if (res) {
        publish_rows(s, res, "updated");
        no_content(r, MHD_HTTP_OK);
    }
    PQclear(res);
out:
    json_decref(doc);
    buf_release(&why);
    call_release(&c);
}

void hbi_hosts_delete(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r)
{
    char rid[HOST_REQUEST_ID_MAX + 1];
    struct call c;
    if (call_start(&c, qs, R_NONE, r) < 0)
        return;
    if (where_ids(&c.st, &caps[0], r) < 0) {
        call_release(&c);
        return;
    }
    request_id(r, rid);
    int ri = param(&c.st, rid);
    /* HBI's delete event (manual_delete: asked for through the API). */
    buf_putf(&c.st.sql,
             WITH_S
             ", d AS (DELETE FROM hbi_host h WHERE %s RETURNING h.id, h.org_id, "
             "h.insights_id, h.subscription_manager_id) "
             "SELECT d.id, d.org_id, jsonb_build_object('type', 'delete', 'id', d.id, "
             "'org_id', d.org_id, 'account', NULL, 'insights_id', d.insights_id, "
             "'subscription_manager_id', d.subscription_manager_id, 'request_id', $%d::text, "
             "'manual_delete', true, 'timestamp', now(), 'platform_metadata', "
             "jsonb_build_object('request_id', $%d::text), 'metadata', "
             "jsonb_build_object('request_id', $%d::text))::text FROM d",
             buf_str(&c.st.where), ri, ri, ri);
    PGresult *res = run(s, API_DB_WRITE, &c.st, r);
    if (res && PQntuples(res) == 0)
        fail(r, MHD_HTTP_NOT_FOUND, "No hosts found for deletion.");
    else if (res) {
        publish_rows(s, res, "delete");
        no_content(r, MHD_HTTP_OK);
    }
    PQclear(res);
    call_release(&c);
}

/* ---- POST /hosts/checkin ---- */

static const char *const canonical_facts[] = {
    "insights_id", "subscription_manager_id", "satellite_id", "bios_uuid",     "ip_addresses",
    "fqdn",        "mac_addresses",           "provider_id",  "provider_type",
};

/* HBI's CreateCheckIn: canonical facts (at least one) and checkin_frequency
 * (minutes, 1..2880, accepted and not kept). Validated as a reported host
 * (host_parse) into h. 0, or an HTTP status with why set. */
static unsigned int checkin_parse(const json_t *doc, const char *org_id, struct host_in *h,
                                  json_t **facts, struct buf *why)
{
    const char *key;
    json_t *v;
    *facts = json_object();
    json_object_foreach((json_t *)doc, key, v)
    {
        size_t k = 0;
        while (k < ARRAY_SIZE(canonical_facts) && strcmp(canonical_facts[k], key) != 0)
            k++;
        if (k < ARRAY_SIZE(canonical_facts)) {
            json_object_set(*facts, key, v);
        } else if (strcmp(key, "checkin_frequency") != 0) {
            buf_setf(why, "unknown field \"%.64s\"", key);
            return MHD_HTTP_BAD_REQUEST;
        } else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                   json_integer_value(v) > 2880) {
            buf_setf(why, "checkin_frequency: expected an integer in 1..2880");
            return MHD_HTTP_BAD_REQUEST;
        }
    }
    if (!json_object_size(*facts)) {
        buf_setf(why, "at least one canonical fact is required");
        return MHD_HTTP_BAD_REQUEST;
    }
    enum host_invalid bad = host_parse(*facts, org_id, h, why);
    /* Only ID facts find a host: without one, none matches. */
    if (bad == HOST_NO_ID_FACT)
        buf_setf(why, "No hosts match the provided canonical facts.");
    return bad == HOST_OK ? 0 : bad == HOST_NO_ID_FACT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST;
}

/* The host the ID facts of h find, by the de-duplication rules: the
 * provider pair; else the first of subscription_manager_id, insights_id
 * that finds a host not carrying another provider pair (the most recently
 * updated). Its last_check_in (and updated) become now. */
static void checkin_sql(struct stmt *st, const struct host_in *h, const char *rid)
{
    struct buf m, prio;
    char pair_ok[160] = "";
    buf_init(&m, BUF_NOLIMIT);
    buf_init(&prio, BUF_NOLIMIT);
    if (h->sent & HOST_SENT_PROVIDER) {
        int t = param(st, h->provider_type), i = param(st, h->provider_id);
        buf_putf(&m, "(h.provider_type = $%d AND h.provider_id = $%d)", t, i);
        buf_putf(&prio, "WHEN h.provider_type = $%d AND h.provider_id = $%d THEN 0 ", t, i);
        snprintf(pair_ok, sizeof(pair_ok),
                 " AND (h.provider_id IS NULL OR (h.provider_type = $%d AND h.provider_id = $%d))",
                 t, i);
    }
    /* the other ID facts, each excluding hosts with another provider pair */
    const char *sep = m.len ? " OR ((" : "((";
    if (h->sent & HOST_SENT_SUBSCRIPTION_MANAGER_ID) {
        int k = param(st, h->subscription_manager_id);
        buf_putf(&m, "%sh.subscription_manager_id = $%d::uuid", sep, k);
        buf_putf(&prio, "WHEN h.subscription_manager_id = $%d::uuid THEN 1 ", k);
        sep = " OR ";
    }
    if (h->sent & HOST_SENT_INSIGHTS_ID) {
        buf_putf(&m, "%sh.insights_id = $%d::uuid", sep, param(st, h->insights_id));
        sep = " OR ";
    }
    if (strcmp(sep, " OR ") == 0)
        buf_putf(&m, ")%s)", pair_ok);
    int ri = param(st, rid);
    buf_putf(&st->sql,
             WITH_S ", m AS (SELECT h.id FROM hbi_host h WHERE %s AND (%s) ORDER BY %s%s%s"
                    "h.modified_on DESC LIMIT 1 FOR UPDATE), "
                    "u AS (UPDATE hbi_host h SET last_check_in = now(), modified_on = now() "
                    "FROM m WHERE h.id = m.id RETURNING h.*) "
                    "SELECT u.id, u.org_id, " EVENT_OF("updated", "u", "$%d") ", " DOC_OF(
                        "u::hbi_host") "::text FROM u",
             buf_str(&st->where), buf_str(&m), prio.len ? "CASE " : "", buf_str(&prio),
             prio.len ? "ELSE 2 END, " : "", ri, ri);
    buf_release(&m);
    buf_release(&prio);
}

void hbi_hosts_checkin(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r)
{
    (void)caps;
    struct host_in h = {0};
    json_t *facts = NULL;
    char rid[HOST_REQUEST_ID_MAX + 1];
    struct buf why;
    struct call c;
    if (call_start(&c, qs, R_NONE, r) < 0)
        return;
    buf_init(&why, 512);
    json_t *doc = load_body(r, JSON_OBJECT);
    if (!doc)
        goto out;
    unsigned int bad = checkin_parse(doc, r->who->org_id, &h, &facts, &why);
    if (bad) {
        fail(r, bad, buf_str(&why));
        goto out;
    }
    request_id(r, rid);
    checkin_sql(&c.st, &h, rid);
    PGresult *res = run(s, API_DB_WRITE, &c.st, r);
    if (res && PQntuples(res) == 0) {
        fail(r, MHD_HTTP_NOT_FOUND, "No hosts match the provided canonical facts.");
    } else if (res) {
        publish_rows(s, res, "updated");
        struct buf out;
        buf_init(&out, API_MAX_ANSWER);
        api_set_json_text(r, &out, buf_adds(&out, PQgetvalue(res, 0, 3)));
        buf_release(&out);
        r->status = MHD_HTTP_CREATED;
    }
    PQclear(res);
out:
    host_in_release(&h);
    json_decref(facts);
    json_decref(doc);
    buf_release(&why);
    call_release(&c);
}

/* ---- POST /hosts ---- */

/* The "host" of a created/updated event text (a new reference). */
static json_t *event_host(const char *event)
{
    json_t *e = json_loads(event, 0, NULL);
    json_t *h = json_incref(json_object_get(e, "host"));
    json_decref(e);
    return h ? h : json_object();
}

/* Publishes what host_store wrote, as the ingestion consumer does. */
static void publish_stored(struct api_server *s, const struct host_store_result *res)
{
    const char **fv = xcalloc(res->nhosts * EVENT_FIELDS + 1, sizeof(*fv));
    for (size_t k = 0; k < res->nhosts; k++) {
        const struct host_done *d = &res->hosts[k];
        const char *e[EVENT_FIELDS] = {
            "type",  d->created ? "created" : "updated", "id", d->id, "org_id", d->org_id, "data",
            d->event};
        memcpy(fv + k * EVENT_FIELDS, e, sizeof(e));
    }
    publish(s, fv, res->nhosts);
    free(fv);
}

/* Validates every element (host_parse under the caller's org, the owner
 * rule for a System): the valid ones become writes (wi[i]: index + 1),
 * the others error entries of data. Returns the writes. */
static size_t hosts_validate(json_t *doc, const struct identity *who, const char *rid,
                             struct host_in *in, struct host_write *w, size_t *wi, json_t *data)
{
    struct buf why;
    size_t nw = 0;
    buf_init(&why, 512);
    for (size_t i = 0; i < json_array_size(doc); i++) {
        json_t *e = json_array_get(doc, i);
        enum host_invalid bad = HOST_BAD_JSON;
        buf_setf(&why, "expected a host object");
        if (json_is_object(e))
            bad = host_parse(e, who->org_id, &in[i], &why);
        if (bad == HOST_OK)
            bad = host_check_owner(&in[i], who, &why);
        if (bad != HOST_OK) {
            json_array_append_new(data,
                                  json_pack("{s:i,s:s,s:s,s:O}", "status", 400, "title",
                                            "Bad Request", "detail", buf_str(&why), "host", e));
            continue;
        }
        host_write_init(&w[nw], &in[i], rid);
        wi[i] = ++nw;
        json_array_append_new(data, json_null()); /* filled once stored */
    }
    buf_release(&why);
    return nw;
}

/* host_store on the write connection; -1 after an error answer. */
static int hosts_store(struct api_server *s, const struct host_write *w, size_t nw,
                       struct host_store_result *res, struct resp *r)
{
    struct buf err;
    PGconn *pg = api_write_conn(s, r);
    if (!pg)
        return -1;
    buf_init(&err, 2048);
    int rc = host_store(pg, w, nw, res, &err);
    if (rc < 0) {
        log_error("api: hosts not stored", LF_STR("sqlstate", res->sqlstate),
                  LF_STR("error", buf_str(&err)));
        if (host_store_rejected(res))
            fail(r, MHD_HTTP_BAD_REQUEST, "the database refused the hosts");
        else if (PQstatus(pg) != CONNECTION_OK)
            api_set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable", NULL);
        else
            api_set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
        host_store_result_release(res);
    }
    buf_release(&err);
    return rc;
}

/* POST /hosts: HBI's multi-status answer, one entry per element in order:
 * {status: 201 created | 200 updated, host} or {status: 400, title,
 * detail, host: the element}. */
void hbi_hosts_add(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r)
{
    (void)caps;
    char rid[HOST_REQUEST_ID_MAX + 1];
    if (no_query(qs, r) < 0)
        return;
    json_t *doc = load_body(r, JSON_ARRAY);
    if (!doc)
        return;
    size_t n = json_array_size(doc);
    if (n > HBI_MAX_HOSTS_IN) {
        failf(r, MHD_HTTP_BAD_REQUEST, "more than %d hosts in one request", HBI_MAX_HOSTS_IN);
        json_decref(doc);
        return;
    }
    struct host_in *in = xcalloc(n + 1, sizeof(*in));
    struct host_write *w = xcalloc(n + 1, sizeof(*w));
    size_t *wi = xcalloc(n + 1, sizeof(*wi));
    struct host_store_result res = {0};
    json_t *data = json_array();
    request_id(r, rid);
    size_t nw = hosts_validate(doc, r->who, rid, in, w, wi, data);
    if (nw && hosts_store(s, w, nw, &res, r) < 0) {
        json_decref(data);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!wi[i])
            continue;
        const struct host_done *d = &res.hosts[res.host_of[wi[i] - 1]];
        json_array_set_new(
            data, i,
            json_pack("{s:i,s:o}", "status", d->created ? 201 : 200, "host", event_host(d->event)));
    }
    publish_stored(s, &res);
    r->status = MHD_HTTP_MULTI_STATUS;
    r->body = json_pack("{s:I,s:I,s:o}", "total", (json_int_t)n, "errors", (json_int_t)(n - nw),
                        "data", data);
    if (nw)
        host_store_result_release(&res);
out:
    for (size_t i = 0; i < nw; i++)
        host_write_release(&w[i]);
    for (size_t i = 0; i < n; i++)
        host_in_release(&in[i]);
    free(in);
    free(w);
    free(wi);
    json_decref(doc);
}

/* ---- /account/staleness ---- */

/* HBI's StalenessOutput of the org ($1): its record, or the defaults with
 * id "system_default" and no timestamps. The record's id is derived from
 * the org (hbi_staleness has none); immutable_* equal conventional_*. */
#define STALENESS_OUT                                                                              \
    "SELECT json_build_object('id', CASE WHEN o.org_id IS NULL THEN 'system_default' "             \
    "ELSE md5('hbi_staleness/' || o.org_id)::uuid::text END, 'org_id', $1::text, "                 \
    "'conventional_time_to_stale', st.stale, 'conventional_time_to_stale_warning', st.warn, "      \
    "'conventional_time_to_delete', st.cull, 'immutable_time_to_stale', st.stale, "                \
    "'immutable_time_to_stale_warning', st.warn, 'immutable_time_to_delete', st.cull, "            \
    "'created', o.created_on, 'updated', o.modified_on)::text "                                    \
    "FROM hbi_org_staleness($1) st LEFT JOIN hbi_staleness o ON o.org_id = $1"

static void staleness_answer(struct api_server *s, enum api_db db, unsigned int status,
                             struct resp *r)
{
    const char *p[] = {r->who->org_id};
    PGresult *res = api_query(s, db, STALENESS_OUT, 1, p, r);
    if (!res)
        return;
    struct buf out;
    buf_init(&out, API_MAX_ANSWER);
    api_set_json_text(r, &out, buf_adds(&out, PQgetvalue(res, 0, 0)));
    if (r->status == MHD_HTTP_OK)
        r->status = status;
    buf_release(&out);
    PQclear(res);
}

static const struct {
    const char *name;
    int64_t max; /* HBI's bounds: 7 days, 180 days, 2 years */
    int slot;    /* in v[]; immutable_* are accepted and not kept (no immutable hosts) */
} staleness_keys[] = {
    {"conventional_time_to_stale", 604800, 0},
    {"conventional_time_to_stale_warning", 15552000, 1},
    {"conventional_time_to_delete", 63072000, 2},
    {"immutable_time_to_stale", 604800, -1},
    {"immutable_time_to_stale_warning", 15552000, -1},
    {"immutable_time_to_delete", 63072000, -1},
};

/* HBI's StalenessIn over the current values v (stale, warn, delete
 * seconds): every value in range, and they must increase. -1 with why. */
static int staleness_parse(const json_t *doc, int64_t v[3], struct buf *why)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)doc, key, val)
    {
        size_t k = 0;
        while (k < ARRAY_SIZE(staleness_keys) && strcmp(staleness_keys[k].name, key) != 0)
            k++;
        if (k == ARRAY_SIZE(staleness_keys)) {
            buf_setf(why, "unknown field \"%.64s\"", key);
            return -1;
        }
        json_int_t x = json_is_integer(val) ? json_integer_value(val) : 0;
        if (x < 1 || x > staleness_keys[k].max) {
            buf_setf(why, "Validation Error: %s must be an integer in 1..%lld", key,
                     (long long)staleness_keys[k].max);
            return -1;
        }
        if (staleness_keys[k].slot >= 0)
            v[staleness_keys[k].slot] = x;
    }
    for (int i = 0; i < 2; i++)
        for (int j = i + 1; j < 3; j++)
            if (v[i] >= v[j]) {
                buf_setf(why, "Validation Error: %s must be lower than %s", staleness_keys[i].name,
                         staleness_keys[j].name);
                return -1;
            }
    return 0;
}

/* The org's current seconds and whether it has a record; -1 after a 5xx. */
static int staleness_now(struct api_server *s, struct resp *r, int64_t v[3], bool *exists)
{
    const char *p[] = {r->who->org_id};
    PGresult *res = api_query(s, API_DB_WRITE,
                              "SELECT st.stale, st.warn, st.cull, o.org_id IS NOT NULL FROM "
                              "hbi_org_staleness($1) st LEFT JOIN hbi_staleness o ON o.org_id = $1",
                              1, p, r);
    if (!res)
        return -1;
    for (int i = 0; i < 3; i++)
        v[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
    *exists = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);
    return 0;
}

/* POST (create) and PATCH (update) share the checks; -1 after an error
 * answer, else the merged values in v. */
static int staleness_input(struct api_server *s, const char *qs, bool create, int64_t v[3],
                           struct resp *r)
{
    bool exists = false;
    struct buf why;
    if (no_query(qs, r) < 0)
        return -1;
    json_t *doc = load_body(r, JSON_OBJECT);
    if (!doc || staleness_now(s, r, v, &exists) < 0) {
        json_decref(doc);
        return -1;
    }
    buf_init(&why, 512);
    int rc = -1;
    if (create && exists)
        failf(r, MHD_HTTP_BAD_REQUEST, "Staleness record for org_id %s already exists.",
              r->who->org_id);
    else if (!create && !exists)
        failf(r, MHD_HTTP_NOT_FOUND, "Staleness record for org_id %s does not exist.",
              r->who->org_id);
    else if (staleness_parse(doc, v, &why) < 0)
        fail(r, MHD_HTTP_BAD_REQUEST, buf_str(&why));
    else
        rc = 0;
    buf_release(&why);
    json_decref(doc);
    return rc;
}

/* Runs the write of v for the org; the rows it touched, -1 after a 5xx. */
static int staleness_write(struct api_server *s, const char *sql, const int64_t v[3],
                           struct resp *r)
{
    char t[3][24];
    for (int i = 0; i < 3; i++)
        snprintf(t[i], sizeof(t[i]), "%lld", (long long)v[i]);
    const char *p[] = {r->who->org_id, t[0], t[1], t[2]};
    PGresult *res = api_query(s, API_DB_WRITE, sql, 4, p, r);
    if (!res)
        return -1;
    int n = PQntuples(res);
    PQclear(res);
    return n;
}

void hbi_staleness_get(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r)
{
    (void)caps;
    if (no_query(qs, r) == 0)
        staleness_answer(s, API_DB_READ, MHD_HTTP_OK, r);
}

/* POST (create) and PATCH (update): the same checks, one statement each. */
static void staleness_set(struct api_server *s, const char *qs, bool create, struct resp *r)
{
    int64_t v[3];
    if (staleness_input(s, qs, create, v, r) < 0)
        return;
    int n =
        staleness_write(s,
                        create ? "INSERT INTO hbi_staleness (org_id, conventional_time_to_stale, "
                                 "conventional_time_to_stale_warning, "
                                 "conventional_time_to_delete) VALUES ($1, $2, $3, $4) "
                                 "ON CONFLICT (org_id) DO NOTHING RETURNING org_id"
                               : "UPDATE hbi_staleness SET conventional_time_to_stale = $2, "
                                 "conventional_time_to_stale_warning = $3, "
                                 "conventional_time_to_delete = $4, modified_on = now() "
                                 "WHERE org_id = $1 RETURNING org_id",
                        v, r);
    if (n == 0)
        failf(r, create ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND,
              "Staleness record for org_id %s %s.", r->who->org_id,
              create ? "already exists" : "does not exist");
    else if (n > 0)
        staleness_answer(s, API_DB_WRITE, create ? MHD_HTTP_CREATED : MHD_HTTP_OK, r);
}

void hbi_staleness_create(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    (void)caps;
    staleness_set(s, qs, true, r);
}

void hbi_staleness_update(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    (void)caps;
    staleness_set(s, qs, false, r);
}

/* DELETE: back to the defaults; 204, or 404 without a record. */
void hbi_staleness_delete(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r)
{
    (void)caps;
    const char *p[] = {r->who->org_id};
    if (no_query(qs, r) < 0)
        return;
    PGresult *res = api_query(
        s, API_DB_WRITE, "DELETE FROM hbi_staleness WHERE org_id = $1 RETURNING org_id", 1, p, r);
    if (res && PQntuples(res) == 0)
        failf(r, MHD_HTTP_NOT_FOUND, "Staleness record for org_id %s does not exist.",
              r->who->org_id);
    else if (res)
        no_content(r, MHD_HTTP_NO_CONTENT);
    PQclear(res);
}
