/* Prometheus metrics: registry, series lookup and text exposition (0.0.4).
 *
 * Locking: reg->lock guards the family and collector arrays (registration is
 * rare); each family has its own mutex around its series, held only for a
 * hash lookup and an add on the hot path. Families are never removed before
 * metrics_registry_release, so pointers copied under reg->lock stay valid
 * while a render walks them. reg->render_lock serialises scrapes so two
 * collectors never rebuild the same family at once. */
#include "core/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* One label-value tuple of a family. */
struct series {
    struct series *next; /* hash chain */
    uint64_t hash;
    char **values;     /* nlabels owned strings */
    double value;      /* counter, gauge */
    double sum;        /* histogram */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: nbounds + 1 per-bucket counts, last is +Inf */
};

struct metric {
    pthread_mutex_t lock; /* everything below that changes: series and their values */
    struct metrics_registry *reg;
    enum metric_type type;
    char *name;
    char *help;
    size_t nlabels;
    char **labelnames;
    size_t nbounds;
    double *bounds;
    size_t max_series;
    struct series *solo;   /* the one series of a label-less family */
    struct series **table; /* hash chains; tablesize is a power of two */
    size_t tablesize;
    struct series **all; /* every series, for reset and render */
    size_t nseries, all_cap;
    bool warned; /* series cap already logged */
};

static const char *const type_names[] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

/* Misuse of the API is a bug in the caller, found by the first test run. */
PRINTF_LIKE(1, 2) static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fatal: metrics: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void lock(pthread_mutex_t *mu)
{
    if (pthread_mutex_lock(mu) != 0)
        die("pthread_mutex_lock failed");
}

static void unlock(pthread_mutex_t *mu)
{
    pthread_mutex_unlock(mu);
}

/* ---- names ---- */

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static void check_labels(const char *name, enum metric_type type, size_t nlabels,
                         const char *const labelnames[])
{
    if (nlabels > 0 && !labelnames)
        die("%s: %zu label names declared but none given", name, nlabels);
    for (size_t i = 0; i < nlabels; i++) {
        const char *l = labelnames[i];
        if (!valid_name(l, false) || strncmp(l, "__", 2) == 0)
            die("%s: invalid label name \"%s\"", name, l ? l : "(null)");
        if (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0)
            die("%s: label name \"le\" is reserved for histogram buckets", name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labelnames[j], l) == 0)
                die("%s: duplicate label name \"%s\"", name, l);
    }
}

/* Returns how many bounds to keep: a trailing +Inf is implicit anyway. */
static size_t check_bounds(const char *name, size_t nbounds, const double bounds[])
{
    if (nbounds > 0 && !bounds)
        die("%s: %zu buckets declared but no bounds given", name, nbounds);
    if (nbounds > 0 && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
        nbounds--;
    for (size_t i = 0; i < nbounds; i++) {
        if (isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            die("%s: histogram bounds must be strictly increasing numbers", name);
    }
    return nbounds;
}

/* ---- series ---- */

/* FNV-1a over the values; a 0xff byte (never in UTF-8) separates them so
 * ("ab","c") and ("a","bc") differ. */
static uint64_t hash_values(size_t n, const char *const values[])
{
    uint64_t h = FNV1A_OFFSET;
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        h = fnv1a(fnv1a(h, v, strlen(v)), "\xff", 1);
    }
    return h;
}

static bool same_values(size_t n, char *const have[], const char *const want[])
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(have[i], want[i] ? want[i] : "") != 0)
            return false;
    return true;
}

/* Allocates a zeroed series; values copied (NULL -> ""). */
static struct series *series_new(const struct metric *m, const char *const values[], uint64_t h)
{
    struct series *s = xcalloc(1, sizeof(*s));
    s->hash = h;
    if (m->nlabels > 0) {
        s->values = xcalloc(m->nlabels, sizeof(char *));
        for (size_t i = 0; i < m->nlabels; i++)
            s->values[i] = xstrdup(values[i] ? values[i] : "");
    }
    if (m->type == METRIC_HISTOGRAM)
        s->buckets = xcalloc(m->nbounds + 1, sizeof(uint64_t));
    return s;
}

static void series_free(const struct metric *m, struct series *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->values && i < m->nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void series_zero(const struct metric *m, struct series *s)
{
    s->value = 0;
    s->sum = 0;
    s->count = 0;
    if (s->buckets)
        memset(s->buckets, 0, (m->nbounds + 1) * sizeof(uint64_t));
}

static void table_insert(struct series **table, size_t size, struct series *s)
{
    size_t i = (size_t)(s->hash & (size - 1));
    s->next = table[i];
    table[i] = s;
}

/* Keeps the load factor at or below one. Caller holds m->lock. */
static void table_grow(struct metric *m)
{
    if (m->nseries < m->tablesize)
        return;
    size_t size = m->tablesize ? m->tablesize * 2 : 16;
    struct series **table = xcalloc(size, sizeof(*table));
    for (size_t i = 0; i < m->nseries; i++)
        table_insert(table, size, m->all[i]);
    free(m->table);
    m->table = table;
    m->tablesize = size;
}

/* Bumps the dropped-series counter and says so once per family. */
static void count_dropped(struct metric *m, bool first)
{
    if (first)
        log_warn("metric series limit reached; new label values are dropped",
                 LF_STR("metric", m->name), LF_INT("limit", m->max_series));
    metrics_inc(m->reg->dropped, NULL, 1);
}

/* Locks m and returns the series for values, creating it if needed; NULL
 * (and m unlocked) when the family is at its series cap. */
static struct series *lock_series(struct metric *m, const char *const values[])
{
    if (m->nlabels == 0) {
        lock(&m->lock);
        return m->solo;
    }
    if (!values)
        die("%s: label values missing (%zu labels declared)", m->name, m->nlabels);
    uint64_t h = hash_values(m->nlabels, values);
    lock(&m->lock);
    if (m->tablesize > 0) {
        for (struct series *s = m->table[h & (m->tablesize - 1)]; s; s = s->next)
            if (s->hash == h && same_values(m->nlabels, s->values, values))
                return s;
    }
    if (m->nseries >= m->max_series) {
        bool first = !m->warned;
        m->warned = true;
        unlock(&m->lock);
        count_dropped(m, first);
        return NULL;
    }
    struct series *s = series_new(m, values, h);
    table_grow(m);
    table_insert(m->table, m->tablesize, s);
    m->all = xgrow(m->all, &m->all_cap, m->nseries + 1, sizeof(*m->all));
    m->all[m->nseries++] = s;
    return s;
}

/* ---- registration ---- */

static bool same_shape(const struct metric *m, enum metric_type type, const char *help,
                       size_t nlabels, const char *const labelnames[], size_t nbounds,
                       const double bounds[])
{
    if (m->type != type || strcmp(m->help, help) != 0 || m->nlabels != nlabels ||
        m->nbounds != nbounds)
        return false;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(m->labelnames[i], labelnames[i]) != 0)
            return false;
    for (size_t i = 0; i < nbounds; i++)
        if (m->bounds[i] != bounds[i])
            return false;
    return true;
}

static struct metric *family_new(struct metrics_registry *reg, enum metric_type type,
                                 const char *name, const char *help, size_t nlabels,
                                 const char *const labelnames[], size_t nbounds,
                                 const double bounds[])
{
    struct metric *m = xcalloc(1, sizeof(*m));
    if (pthread_mutex_init(&m->lock, NULL) != 0)
        die("pthread_mutex_init failed");
    m->reg = reg;
    m->type = type;
    m->name = xstrdup(name);
    m->help = xstrdup(help);
    m->nlabels = nlabels;
    if (nlabels > 0) {
        m->labelnames = xcalloc(nlabels, sizeof(char *));
        for (size_t i = 0; i < nlabels; i++)
            m->labelnames[i] = xstrdup(labelnames[i]);
    }
    m->nbounds = nbounds;
    if (nbounds > 0) {
        m->bounds = xcalloc(nbounds, sizeof(double));
        memcpy(m->bounds, bounds, nbounds * sizeof(double));
    }
    m->max_series = reg->max_series;
    if (nlabels == 0) {
        /* Always present, so a label-less family renders 0 before first use. */
        m->solo = series_new(m, NULL, 0);
        m->all = xgrow(m->all, &m->all_cap, 1, sizeof(*m->all));
        m->all[m->nseries++] = m->solo;
    }
    return m;
}

static void family_free(struct metric *m)
{
    for (size_t i = 0; i < m->nseries; i++)
        series_free(m, m->all[i]);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labelnames[i]);
    free(m->labelnames);
    free(m->bounds);
    free(m->table);
    free(m->all);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Index of name in the sorted families, or where it would go (*found
 * false). Caller holds reg->lock. */
static size_t find_family(const struct metrics_registry *reg, const char *name, bool *found)
{
    size_t lo = 0, hi = reg->nfamilies;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->families[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *const histogram_suffixes[] = {"_bucket", "_sum", "_count"};

/* A histogram "x" writes samples x_bucket, x_sum and x_count; another family
 * under one of those names would break the exposition. Caller holds
 * reg->lock. */
static void check_suffix_clash(const struct metrics_registry *reg, enum metric_type type,
                               const char *name)
{
    size_t len = strlen(name);
    bool found;
    for (size_t i = 0; i < ARRAY_SIZE(histogram_suffixes); i++) {
        const char *suf = histogram_suffixes[i];
        size_t sl = strlen(suf);
        if (type == METRIC_HISTOGRAM) {
            char *sample = xasprintf("%s%s", name, suf);
            find_family(reg, sample, &found);
            free(sample);
            if (found)
                die("histogram %s clashes with metric %s%s", name, name, suf);
        }
        if (len > sl && strcmp(name + len - sl, suf) == 0) {
            char *base = xstrndup(name, len - sl);
            size_t at = find_family(reg, base, &found);
            free(base);
            if (found && reg->families[at]->type == METRIC_HISTOGRAM)
                die("%s clashes with the samples of histogram %.*s", name, (int)(len - sl), name);
        }
    }
}

static struct metric *register_family(struct metrics_registry *reg, enum metric_type type,
                                      const char *name, const char *help, size_t nlabels,
                                      const char *const labelnames[], size_t nbounds,
                                      const double bounds[])
{
    if (!valid_name(name, true))
        die("invalid metric name \"%s\"", name ? name : "(null)");
    /* promtool rejects families without HELP; every metric gets one. */
    if (!help || !*help)
        die("%s: help text is required", name);
    check_labels(name, type, nlabels, labelnames);
    nbounds = check_bounds(name, nbounds, bounds);

    lock(&reg->lock);
    bool found;
    size_t at = find_family(reg, name, &found);
    if (found) {
        struct metric *m = reg->families[at];
        unlock(&reg->lock);
        if (!same_shape(m, type, help, nlabels, labelnames, nbounds, bounds))
            die("%s registered twice with different type, help, labels or buckets", name);
        return m;
    }
    check_suffix_clash(reg, type, name);
    struct metric *m = family_new(reg, type, name, help, nlabels, labelnames, nbounds, bounds);
    /* Kept sorted by name for stable output. */
    reg->families =
        xgrow(reg->families, &reg->families_cap, reg->nfamilies + 1, sizeof(*reg->families));
    memmove(reg->families + at + 1, reg->families + at,
            (reg->nfamilies - at) * sizeof(*reg->families));
    reg->families[at] = m;
    reg->nfamilies++;
    unlock(&reg->lock);
    return m;
}

struct metric *metrics_counter(struct metrics_registry *reg, const char *name, const char *help,
                               size_t nlabels, const char *const labelnames[])
{
    return register_family(reg, METRIC_COUNTER, name, help, nlabels, labelnames, 0, NULL);
}

struct metric *metrics_gauge(struct metrics_registry *reg, const char *name, const char *help,
                             size_t nlabels, const char *const labelnames[])
{
    return register_family(reg, METRIC_GAUGE, name, help, nlabels, labelnames, 0, NULL);
}

struct metric *metrics_histogram(struct metrics_registry *reg, const char *name, const char *help,
                                 size_t nlabels, const char *const labelnames[], size_t nbuckets,
                                 const double bounds[])
{
    return register_family(reg, METRIC_HISTOGRAM, name, help, nlabels, labelnames, nbuckets,
                           bounds);
}

void metrics_registry_init(struct metrics_registry *reg)
{
    memset(reg, 0, sizeof(*reg));
    if (pthread_mutex_init(&reg->lock, NULL) != 0 ||
        pthread_mutex_init(&reg->render_lock, NULL) != 0)
        die("pthread_mutex_init failed");
    reg->max_series = METRICS_MAX_SERIES;
    reg->dropped = metrics_counter(reg, METRICS_DROPPED_NAME,
                                   "Label-value combinations not recorded because their "
                                   "metric reached its series limit.",
                                   0, NULL);
}

void metrics_registry_release(struct metrics_registry *reg)
{
    for (size_t i = 0; i < reg->nfamilies; i++)
        family_free(reg->families[i]);
    free(reg->families);
    free(reg->collectors);
    pthread_mutex_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->render_lock);
    memset(reg, 0, sizeof(*reg));
}

void metrics_on_collect(struct metrics_registry *reg, metrics_collect_fn fn, void *arg)
{
    lock(&reg->lock);
    reg->collectors = xgrow(reg->collectors, &reg->collectors_cap, reg->ncollectors + 1,
                            sizeof(*reg->collectors));
    reg->collectors[reg->ncollectors++] = (struct metrics_collector){fn, arg};
    unlock(&reg->lock);
}

void metrics_remove_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *arg)
{
    /* render_lock first: once we hold it no collector is running, so the
     * caller may free arg as soon as we return. */
    lock(&reg->render_lock);
    lock(&reg->lock);
    for (size_t i = 0; i < reg->ncollectors; i++)
        if (reg->collectors[i].fn == fn && reg->collectors[i].arg == arg) {
            memmove(&reg->collectors[i], &reg->collectors[i + 1],
                    (reg->ncollectors - i - 1) * sizeof(*reg->collectors));
            reg->ncollectors--;
            break;
        }
    unlock(&reg->lock);
    unlock(&reg->render_lock);
}

/* ---- recording ---- */

void metrics_inc(struct metric *m, const char *const labelvalues[], double delta)
{
    if (m->type == METRIC_HISTOGRAM)
        die("%s: metrics_inc on a histogram (use metrics_observe)", m->name);
    /* Written so NaN fails too. */
    if (m->type == METRIC_COUNTER && !(delta >= 0))
        return;
    struct series *s = lock_series(m, labelvalues);
    if (!s)
        return;
    s->value += delta;
    unlock(&m->lock);
}

void metrics_set(struct metric *m, const char *const labelvalues[], double v)
{
    if (m->type == METRIC_HISTOGRAM)
        die("%s: metrics_set on a histogram", m->name);
    struct series *s = lock_series(m, labelvalues);
    if (!s)
        return;
    s->value = v;
    unlock(&m->lock);
}

void metrics_observe(struct metric *m, const char *const labelvalues[], double v)
{
    if (m->type != METRIC_HISTOGRAM)
        die("%s: metrics_observe on a %s", m->name, type_names[m->type]);
    /* First bucket with v <= bound, found before locking; NaN lands in +Inf
     * as in the Go client. */
    size_t lo = 0, hi = m->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    struct series *s = lock_series(m, labelvalues);
    if (!s)
        return;
    s->buckets[lo]++;
    s->count++;
    s->sum += v;
    unlock(&m->lock);
}

void metrics_reset_family(struct metric *m)
{
    lock(&m->lock);
    if (m->nlabels == 0) {
        series_zero(m, m->solo);
    } else {
        for (size_t i = 0; i < m->nseries; i++)
            series_free(m, m->all[i]);
        m->nseries = 0;
        if (m->table)
            memset(m->table, 0, m->tablesize * sizeof(*m->table));
        m->warned = false;
    }
    unlock(&m->lock);
}

/* ---- rendering ---- */

void metrics_format_double(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
    } else if (isinf(v)) {
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
        /* Integral and exact in a double (2^53): counters look like counts;
         * "+ 0.0" turns -0 into 0. */
        snprintf(out, n, "%.0f", v + 0.0);
    } else {
        /* Shortest of 15..17 significant digits that reads back exactly. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, n, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* esc_quote: label values also escape '"'; HELP text does not. */
static int add_escaped(struct buf *out, const char *s, bool esc_quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && esc_quote)
            rep = "\\\"";
        if (!rep)
            continue;
        if (buf_add(out, run, (size_t)(s - run)) < 0 || buf_adds(out, rep) < 0)
            return -1;
        run = s + 1;
    }
    return buf_add(out, run, (size_t)(s - run));
}

static int add_double(struct buf *out, double v)
{
    char tmp[METRICS_FMT_SIZE];
    metrics_format_double(v, tmp, sizeof(tmp));
    return buf_adds(out, tmp);
}

/* "{a="x",le="0.5"}", or nothing when there are no labels; le may be NULL. */
static int add_labels(struct buf *out, const struct metric *m, const struct series *s,
                      const char *le)
{
    if (m->nlabels == 0 && !le)
        return 0;
    if (buf_addc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (buf_addf(out, "%s%s=\"", i ? "," : "", m->labelnames[i]) < 0 ||
            add_escaped(out, s->values[i], true) < 0 || buf_addc(out, '"') < 0)
            return -1;
    }
    if (le && buf_addf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le) < 0)
        return -1;
    return buf_addc(out, '}');
}

/* One sample line: name[suffix]{labels} value */
static int add_sample(struct buf *out, const struct metric *m, const struct series *s,
                      const char *suffix, const char *le, double v)
{
    if (buf_adds(out, m->name) < 0 || buf_adds(out, suffix) < 0 || add_labels(out, m, s, le) < 0 ||
        buf_addc(out, ' ') < 0 || add_double(out, v) < 0)
        return -1;
    return buf_addc(out, '\n');
}

static int add_histogram(struct buf *out, const struct metric *m, const struct series *s)
{
    char le[METRICS_FMT_SIZE];
    uint64_t cum = 0;
    for (size_t i = 0; i < m->nbounds; i++) {
        cum += s->buckets[i];
        metrics_format_double(m->bounds[i], le, sizeof(le));
        if (add_sample(out, m, s, "_bucket", le, (double)cum) < 0)
            return -1;
    }
    cum += s->buckets[m->nbounds];
    if (add_sample(out, m, s, "_bucket", "+Inf", (double)cum) < 0 ||
        add_sample(out, m, s, "_sum", NULL, s->sum) < 0)
        return -1;
    return add_sample(out, m, s, "_count", NULL, (double)s->count);
}

/* qsort has no context argument in ISO C; the comparator reads the label
 * count of the family being sorted from here. */
static _Thread_local size_t sort_nlabels;

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    for (size_t i = 0; i < sort_nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static int render_family(struct buf *out, struct metric *m)
{
    int rc = 0;
    lock(&m->lock);
    if (m->nseries == 0)
        goto out;
    /* Sorted by label values so the output does not depend on which thread
     * created a series first. */
    if (m->nlabels > 0) {
        sort_nlabels = m->nlabels;
        qsort(m->all, m->nseries, sizeof(*m->all), cmp_series);
    }
    rc = -1;
    if (buf_addf(out, "# HELP %s ", m->name) < 0 || add_escaped(out, m->help, false) < 0 ||
        buf_addc(out, '\n') < 0)
        goto out;
    if (buf_addf(out, "# TYPE %s %s\n", m->name, type_names[m->type]) < 0)
        goto out;
    for (size_t i = 0; i < m->nseries; i++) {
        const struct series *s = m->all[i];
        if (m->type == METRIC_HISTOGRAM ? add_histogram(out, m, s) < 0
                                        : add_sample(out, m, s, "", NULL, s->value) < 0)
            goto out;
    }
    rc = 0;
out:
    unlock(&m->lock);
    return rc;
}

static void run_collectors(struct metrics_registry *reg)
{
    /* Copied so a collector may register families or collectors without
     * deadlocking on reg->lock. */
    lock(&reg->lock);
    size_t n = reg->ncollectors;
    struct metrics_collector *c = xmalloc(n * sizeof(*c));
    if (n)
        memcpy(c, reg->collectors, n * sizeof(*c));
    unlock(&reg->lock);
    for (size_t i = 0; i < n; i++)
        c[i].fn(c[i].arg);
    free(c);
}

int metrics_render(struct metrics_registry *reg, struct buf *out)
{
    int rc = 0;
    lock(&reg->render_lock);
    run_collectors(reg);

    lock(&reg->lock);
    size_t n = reg->nfamilies;
    struct metric **fam = xmalloc(n * sizeof(*fam));
    if (n)
        memcpy(fam, reg->families, n * sizeof(*fam));
    unlock(&reg->lock);

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = render_family(out, fam[i]);
    free(fam);
    unlock(&reg->render_lock);
    return rc;
}
