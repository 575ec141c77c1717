/* The REST API's request language (see query.h, docs/api.md). */
#include "api/query.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/util.h"

#define SQL_MAX (256u << 10)

/* ---- query string ---- */

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

void api_args_free(struct api_arg *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].key);
        free(a[i].val);
    }
    free(a);
}

int api_args_parse(const char *qs, struct api_arg **out, size_t *n, struct buf *reason)
{
    struct api_arg *a = NULL;
    size_t na = 0;
    *out = NULL;
    *n = 0;
    if (!qs)
        return 0;
    const char *p = qs;
    while (*p) {
        size_t len = strcspn(p, "&");
        if (len == 0) {
            p++;
            continue;
        }
        if (na == API_MAX_ARGS) {
            buf_setf(reason, "more than %d query parameters", API_MAX_ARGS);
            goto fail;
        }
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        char *key = pct_decode(p, kl);
        char *val = eq ? pct_decode(eq + 1, len - kl - 1) : xstrdup("");
        if (!key || !val) {
            free(key);
            free(val);
            buf_setf(reason, "malformed percent-encoding in the query string");
            goto fail;
        }
        if (!key[0]) {
            free(key);
            free(val);
            buf_setf(reason, "empty parameter name in the query string");
            goto fail;
        }
        for (size_t i = 0; i < na; i++)
            if (strcmp(a[i].key, key) == 0) {
                buf_setf(reason, "parameter \"%.64s\" given twice", key);
                free(key);
                free(val);
                goto fail;
            }
        a = xrealloc(a, (na + 1) * sizeof(*a));
        a[na].key = key;
        a[na].val = val;
        na++;
        p += len;
    }
    *out = a;
    *n = na;
    return 0;
fail:
    api_args_free(a, na);
    return -1;
}

/* ---- columns and values ---- */

int api_col_find(const struct model_def *m, const char *name, struct api_col *out)
{
    static const struct api_col pseudo[] = {
        {"id", COL_INT}, {"created_at", COL_TIME}, {"updated_at", COL_TIME}};
    for (size_t i = 0; i < ARRAY_SIZE(pseudo); i++)
        if (strcmp(pseudo[i].name, name) == 0) {
            *out = pseudo[i];
            return 0;
        }
    int i = model_col_index(m, name);
    if (i < 0)
        return -1;
    out->name = m->cols[i].name;
    out->type = m->cols[i].type;
    return 0;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

bool api_valid_time(const char *s)
{
    size_t len = strlen(s);
    if (len < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    struct tm tm = {
        .tm_year = num(s, 4) - 1900, .tm_mon = num(s + 5, 2) - 1, .tm_mday = num(s + 8, 2)};
    const char *p = s + 10;
    if (*p) {
        if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || !digits(p + 1, 2) ||
            p[3] != ':' || !digits(p + 4, 2) || p[6] != ':' || !digits(p + 7, 2))
            return false;
        tm.tm_hour = num(p + 1, 2);
        tm.tm_min = num(p + 4, 2);
        tm.tm_sec = num(p + 7, 2);
        if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
            return false;
        p += 9;
        if (*p == '.') {
            size_t f = 1;
            while (isdigit((unsigned char)p[f]))
                f++;
            if (f == 1 || f > 10)
                return false;
            p += f;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            if (!digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2) || num(p + 1, 2) > 23 ||
                num(p + 4, 2) > 59)
                return false;
            p += 6;
        } else {
            return false;
        }
        if (*p)
            return false;
    }
    if (tm.tm_year + 1900 < 1 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
        return false;
    /* The calendar decides whether the day exists (Feb 30 does not). */
    struct tm chk = tm;
    time_t t = timegm(&chk);
    struct tm back;
    if (!gmtime_r(&t, &back))
        return false;
    return back.tm_mday == tm.tm_mday && back.tm_mon == tm.tm_mon;
}

/* Checks one value for column type t; returns its normalised text (owned)
 * or NULL with a reason. */
static char *check_value(const struct api_col *c, const char *v, const char *key,
                         struct buf *reason)
{
    switch (c->type) {
    case COL_TEXT:
        return xstrdup(v);
    case COL_INT: {
        int64_t x;
        if (parse_int64(v, INT64_MIN, INT64_MAX, &x) < 0) {
            buf_setf(reason, "%.64s: \"%.64s\" is not a 64-bit integer", key, v);
            return NULL;
        }
        return xasprintf("%lld", (long long)x);
    }
    case COL_BOOL: {
        bool b;
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0 && parse_bool(v, &b) < 0) {
            buf_setf(reason, "%.64s: \"%.64s\" is not a boolean (true or false)", key, v);
            return NULL;
        }
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            return xstrdup(v);
        return xstrdup(b ? "true" : "false");
    }
    case COL_TIME:
        if (!api_valid_time(v)) {
            buf_setf(reason, "%.64s: \"%.64s\" is not an RFC 3339 timestamp", key, v);
            return NULL;
        }
        return xstrdup(v);
    }
    return NULL;
}

/* col__in values as a PostgreSQL array literal of quoted elements. */
static char *in_array(const struct api_col *c, const char *v, const char *key, struct buf *reason)
{
    struct buf b;
    buf_init(&b, BUF_NOLIMIT);
    int rc = buf_addc(&b, '{');
    size_t count = 0;
    const char *p = v;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *item = xstrndup(p, len);
        char *norm = check_value(c, item, key, reason);
        free(item);
        if (!norm) {
            buf_release(&b);
            return NULL;
        }
        if (++count > API_MAX_IN) {
            free(norm);
            buf_release(&b);
            buf_setf(reason, "%.64s: more than %d values", key, API_MAX_IN);
            return NULL;
        }
        rc |= buf_adds(&b, count > 1 ? ",\"" : "\"");
        for (const char *q = norm; *q; q++) {
            if (*q == '"' || *q == '\\')
                rc |= buf_addc(&b, '\\');
            rc |= buf_addc(&b, *q);
        }
        rc |= buf_addc(&b, '"');
        free(norm);
        if (!p[len])
            break;
        p += len + 1;
    }
    rc |= buf_addc(&b, '}');
    if (rc) {
        buf_release(&b);
        buf_setf(reason, "%.64s: too long", key);
        return NULL;
    }
    return buf_detach(&b);
}

static const struct {
    const char *name;
    enum api_op op;
} ops[] = {
    {"in", API_IN},   {"prefix", API_PREFIX}, {"gt", API_GT},
    {"gte", API_GTE}, {"lt", API_LT},         {"lte", API_LTE},
};

void api_list_release(struct api_list *l)
{
    for (size_t i = 0; i < l->nfilters; i++)
        free(l->filters[i].value);
    free(l->filters);
    free(l->fields);
    free(l->sortspec);
    free(l->cur_val);
    memset(l, 0, sizeof(*l));
}

static int add_filter(struct api_list *l, const char *key, const char *val, struct buf *reason)
{
    const char *sep = strstr(key, "__");
    char *colname = sep ? xstrndup(key, (size_t)(sep - key)) : xstrdup(key);
    struct api_col c;
    enum api_op op = API_EQ;
    int rc = -1;
    if (api_col_find(l->m, colname, &c) < 0) {
        buf_setf(reason, "unknown column \"%.64s\"", colname);
        goto out;
    }
    if (sep) {
        size_t i;
        for (i = 0; i < ARRAY_SIZE(ops); i++)
            if (strcmp(ops[i].name, sep + 2) == 0)
                break;
        if (i == ARRAY_SIZE(ops)) {
            buf_setf(reason, "unknown operator \"__%.32s\"", sep + 2);
            goto out;
        }
        op = ops[i].op;
    }
    if (op == API_PREFIX && c.type != COL_TEXT) {
        buf_setf(reason, "operator \"__prefix\" needs a text column, \"%s\" is not", c.name);
        goto out;
    }
    if (op >= API_GT && c.type != COL_INT && c.type != COL_TIME) {
        buf_setf(reason, "operator \"%s\" needs a number or timestamp column, \"%s\" is neither",
                 sep, c.name);
        goto out;
    }
    char *v = op == API_IN ? in_array(&c, val, key, reason) : check_value(&c, val, key, reason);
    if (!v)
        goto out;
    l->filters = xrealloc(l->filters, (l->nfilters + 1) * sizeof(*l->filters));
    l->filters[l->nfilters++] = (struct api_filter){c, op, v};
    rc = 0;
out:
    free(colname);
    return rc;
}

static void all_fields(struct api_list *l)
{
    size_t n = model_ncols(l->m);
    l->fields = xcalloc(n + 3, sizeof(*l->fields));
    l->fields[l->nfields++] = (struct api_col){"id", COL_INT};
    for (size_t i = 0; i < n; i++)
        l->fields[l->nfields++] = (struct api_col){l->m->cols[i].name, l->m->cols[i].type};
    l->fields[l->nfields++] = (struct api_col){"created_at", COL_TIME};
    l->fields[l->nfields++] = (struct api_col){"updated_at", COL_TIME};
}

static int set_fields(struct api_list *l, const char *v, struct buf *reason)
{
    size_t cap = model_ncols(l->m) + 3;
    l->fields = xcalloc(cap, sizeof(*l->fields));
    const char *p = v;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *name = xstrndup(p, len);
        struct api_col c;
        if (api_col_find(l->m, name, &c) < 0) {
            buf_setf(reason, "fields: unknown column \"%.64s\"", name);
            free(name);
            return -1;
        }
        free(name);
        for (size_t i = 0; i < l->nfields; i++)
            if (strcmp(l->fields[i].name, c.name) == 0) {
                buf_setf(reason, "fields: column \"%s\" given twice", c.name);
                return -1;
            }
        l->fields[l->nfields++] = c;
        if (!p[len])
            break;
        p += len + 1;
    }
    return 0;
}

int api_list_parse(const struct model_def *m, const struct api_arg *args, size_t nargs,
                   int64_t max_page, struct api_list *l, struct buf *reason)
{
    memset(l, 0, sizeof(*l));
    l->m = m;
    l->limit = API_DEFAULT_LIMIT < max_page ? API_DEFAULT_LIMIT : max_page;
    l->sort = (struct api_col){"id", COL_INT};
    const char *cursor = NULL, *fields = NULL;
    for (size_t i = 0; i < nargs; i++) {
        const char *k = args[i].key, *v = args[i].val;
        if (strcmp(k, "limit") == 0) {
            if (parse_int64(v, 1, max_page, &l->limit) < 0) {
                buf_setf(reason, "limit: \"%.64s\" is not an integer in 1..%lld", v,
                         (long long)max_page);
                goto fail;
            }
        } else if (strcmp(k, "sort") == 0) {
            const char *name = v[0] == '-' ? v + 1 : v;
            if (api_col_find(m, name, &l->sort) < 0) {
                buf_setf(reason, "sort: unknown column \"%.64s\"", name);
                goto fail;
            }
            l->desc = v[0] == '-';
        } else if (strcmp(k, "fields") == 0) {
            fields = v;
        } else if (strcmp(k, "total") == 0) {
            if (parse_bool(v, &l->total) < 0) {
                buf_setf(reason, "total: \"%.64s\" is not a boolean (true or false)", v);
                goto fail;
            }
        } else if (strcmp(k, "next") == 0) {
            cursor = v;
        } else if (add_filter(l, k, v, reason) < 0) {
            goto fail;
        }
    }
    l->sortspec = xasprintf("%s%s", l->desc ? "-" : "", l->sort.name);
    if (fields) {
        if (set_fields(l, fields, reason) < 0)
            goto fail;
    } else {
        all_fields(l);
    }
    if (cursor) {
        if (api_cursor_decode(cursor, l->sortspec, l->sort.type, &l->cur_val, &l->cur_id, reason) <
            0)
            goto fail;
        l->has_cursor = true;
    }
    return 0;
fail:
    api_list_release(l);
    return -1;
}

/* ---- SQL ---- */

void api_sql_init(struct api_sql *q)
{
    memset(q, 0, sizeof(*q));
    buf_init(&q->sql, SQL_MAX);
}

void api_sql_release(struct api_sql *q)
{
    buf_release(&q->sql);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    q->nparams = 0;
}

/* Adds a parameter (copied or NULL); returns its $ number. */
static int param(struct api_sql *q, const char *v)
{
    q->params[q->nparams] = v ? xstrdup(v) : NULL;
    return ++q->nparams;
}

static const char *cast_of(enum col_type t)
{
    return t == COL_INT    ? "bigint"
           : t == COL_BOOL ? "boolean"
           : t == COL_TIME ? "timestamptz"
                           : "text";
}

int api_col_select(struct buf *b, const struct api_col *c)
{
    if (c->type == COL_TIME)
        return buf_addf(b, "to_char(m.%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                        c->name);
    return buf_addf(b, "m.%s", c->name);
}

/* The sort key as ordered: NULLs first as the smallest value. */
static int sort_expr(struct buf *b, const struct api_col *c)
{
    switch (c->type) {
    case COL_TEXT:
        return buf_addf(b, "COALESCE(m.%s, '')", c->name);
    case COL_INT:
        return strcmp(c->name, "id") == 0 ? buf_adds(b, "m.id")
                                          : buf_addf(b, "COALESCE(m.%s, 0)", c->name);
    case COL_BOOL:
        return buf_addf(b, "COALESCE(m.%s, false)", c->name);
    case COL_TIME:
        return buf_addf(b, "COALESCE(m.%s, '-infinity'::timestamptz)", c->name);
    }
    return -1;
}

/* The sort key in its cursor form (microseconds since the epoch for
 * timestamps, NULL for a NULL timestamp). */
static int key_expr(struct buf *b, const struct api_col *c)
{
    if (c->type == COL_TIME)
        return buf_addf(b, "(EXTRACT(EPOCH FROM m.%s) * 1000000)::bigint", c->name);
    return sort_expr(b, c);
}

int api_list_sql(const struct api_list *l, bool count, struct api_sql *q)
{
    struct buf *s = &q->sql;
    int rc = 0;
    if (count) {
        rc |= buf_addf(s, "SELECT count(*) FROM %s AS m WHERE true", l->m->table);
    } else {
        rc |= buf_adds(s, "SELECT m.id, ");
        rc |= key_expr(s, &l->sort);
        for (size_t i = 0; i < l->nfields; i++) {
            rc |= buf_adds(s, ", ");
            rc |= api_col_select(s, &l->fields[i]);
        }
        rc |= buf_addf(s, " FROM %s AS m WHERE true", l->m->table);
    }
    for (size_t i = 0; i < l->nfilters; i++) {
        const struct api_filter *f = &l->filters[i];
        const char *cast = cast_of(f->col.type), *name = f->col.name;
        int n = param(q, f->value);
        switch (f->op) {
        case API_EQ:
            rc |= buf_addf(s, " AND m.%s = $%d::%s", name, n, cast);
            break;
        case API_IN:
            rc |= buf_addf(s, " AND m.%s = ANY($%d::%s[])", name, n, cast);
            break;
        case API_PREFIX:
            rc |= buf_addf(s, " AND starts_with(m.%s, $%d::text)", name, n);
            break;
        case API_GT:
        case API_GTE:
        case API_LT:
        case API_LTE: {
            const char *o = f->op == API_GT    ? ">"
                            : f->op == API_GTE ? ">="
                            : f->op == API_LT  ? "<"
                                               : "<=";
            rc |= buf_addf(s, " AND m.%s %s $%d::%s", name, o, n, cast);
            break;
        }
        }
    }
    if (count)
        return rc ? -1 : 0;
    bool by_id = strcmp(l->sort.name, "id") == 0;
    const char *cmp = l->desc ? "<" : ">", *dir = l->desc ? "DESC" : "ASC";
    if (l->has_cursor) {
        if (by_id) {
            rc |= buf_addf(s, " AND m.id %s $%d::bigint", cmp, param(q, l->cur_val));
        } else {
            int kv = param(q, l->cur_val);
            char idt[24];
            snprintf(idt, sizeof(idt), "%lld", (long long)l->cur_id);
            int ki = param(q, idt);
            rc |= buf_adds(s, " AND (");
            rc |= sort_expr(s, &l->sort);
            rc |= buf_addf(s, ", m.id) %s (", cmp);
            if (l->sort.type == COL_TIME)
                rc |= buf_addf(s,
                               "COALESCE('epoch'::timestamptz + $%d::bigint * interval "
                               "'1 microsecond', '-infinity'::timestamptz)",
                               kv);
            else
                rc |= buf_addf(s, "$%d::%s", kv, cast_of(l->sort.type));
            rc |= buf_addf(s, ", $%d::bigint)", ki);
        }
    }
    rc |= buf_adds(s, " ORDER BY ");
    if (!by_id) {
        rc |= sort_expr(s, &l->sort);
        rc |= buf_addf(s, " %s, ", dir);
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%lld", (long long)l->limit + 1);
    rc |= buf_addf(s, "m.id %s LIMIT $%d", dir, param(q, lim));
    return rc ? -1 : 0;
}

/* ---- cursor ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *api_b64url_encode(const unsigned char *p, size_t n)
{
    char *out = xmalloc(n / 3 * 4 + 5), *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
        *o++ = b64[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = b64[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long api_b64url_decode(const char *s, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    long n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Leftover bits must be zero: one text per byte string. */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return n;
}

char *api_cursor_encode(const char *sortspec, enum col_type t, const char *key, int64_t id)
{
    json_t *v;
    if (!key)
        v = json_null();
    else if (t == COL_INT || t == COL_TIME)
        v = json_integer(strtoll(key, NULL, 10));
    else if (t == COL_BOOL)
        v = json_boolean(key[0] == 't');
    else
        v = json_string(key);
    json_t *o =
        json_pack("{s:s,s:o,s:I}", "s", sortspec, "v", v ? v : json_null(), "i", (json_int_t)id);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text)
        return xstrdup("");
    char *out = api_b64url_encode((const unsigned char *)text, strlen(text));
    free(text);
    return out;
}

int api_cursor_decode(const char *s, const char *sortspec, enum col_type t, char **key, int64_t *id,
                      struct buf *reason)
{
    size_t len = strlen(s);
    *key = NULL;
    *id = 0;
    if (len == 0 || len > API_MAX_CURSOR) {
        buf_setf(reason, "malformed cursor in \"next\"");
        return -1;
    }
    unsigned char *raw = xmalloc(len * 3 / 4 + 1);
    long n = api_b64url_decode(s, len, raw);
    json_t *o = NULL;
    int rc = -1;
    if (n > 0)
        o = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    json_t *js = json_object_get(o, "s"), *jv = json_object_get(o, "v"),
           *ji = json_object_get(o, "i");
    if (!json_is_object(o) || json_object_size(o) != 3 || !json_is_string(js) || !jv ||
        !json_is_integer(ji) || json_integer_value(ji) < 1) {
        buf_setf(reason, "malformed cursor in \"next\"");
        goto out;
    }
    if (strcmp(json_string_value(js), sortspec) != 0) {
        buf_setf(reason, "cursor in \"next\" was made for another sort order");
        goto out;
    }
    bool ok;
    switch (t) {
    case COL_TEXT:
        ok = json_is_string(jv) && strlen(json_string_value(jv)) == json_string_length(jv);
        if (ok)
            *key = xstrdup(json_string_value(jv));
        break;
    case COL_BOOL:
        ok = json_is_boolean(jv);
        if (ok)
            *key = xstrdup(json_is_true(jv) ? "true" : "false");
        break;
    case COL_INT:
        ok = json_is_integer(jv);
        if (ok)
            *key = xasprintf("%lld", (long long)json_integer_value(jv));
        break;
    case COL_TIME:
        ok = json_is_null(jv) || json_is_integer(jv);
        if (ok && json_is_integer(jv))
            *key = xasprintf("%lld", (long long)json_integer_value(jv));
        break;
    default:
        ok = false;
    }
    if (!ok) {
        buf_setf(reason, "malformed cursor in \"next\"");
        goto out;
    }
    *id = json_integer_value(ji);
    rc = 0;
out:
    json_decref(o);
    return rc;
}
