/* Cron schedule specs: parsing, next/previous activation, and a small
 * thread-safe reader for the system tz database (TZif files and the POSIX TZ
 * rule in their footer), so no code here touches the process TZ. */
#include "core/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

#define MAX_S     (CRON_MAX_MS / 1000)
#define HORIZON_S (CRON_HORIZON_MS / 1000)
#define NONE      INT64_MIN
#define DAY       86400
#define MAX_TZIF  (1 << 20) /* largest zoneinfo file we read */
#define MAX_UTOFF (26 * 3600)

/* ---- calendar arithmetic: proleptic Gregorian, seconds since the epoch ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* ---- time zones ---- */

/* A date in a POSIX TZ rule ("M3.5.0/3", "J60", "59"). */
struct rule_date {
    char kind;    /* 'J' day 1-365 never counting Feb 29, 'N' day 0-365, 'M' */
    int a, b, c;  /* J/N: a = day; M: a = month, b = week 1-5 (5 = last), c = weekday */
    int32_t time; /* seconds after local midnight; may be negative or past 24h */
};

struct cron_zone {
    int64_t *trans; /* transition instants (Unix s), non-decreasing */
    int32_t *off;   /* UTC offset (s east) in effect from trans[i] on */
    size_t ntrans;
    int32_t first_off; /* before trans[0]: time type 0 (RFC 8536) */
    bool has_rule;     /* the footer rule governs times from the last transition on */
    bool rule_dst;     /* the rule has daylight saving time */
    int32_t std_off, dst_off;
    struct rule_date start, end; /* DST starts (local standard time) / ends (local DST) */
};

/* The UTC offset `off` is in effect on [start, end); start <= t < end. */
struct seg {
    int64_t start, end;
    int32_t off;
};

static void zone_free(struct cron_zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->off);
    free(z);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* "CET", "<+0330>": returns the end of the name or NULL. */
static const char *tz_name(const char *p)
{
    const char *q = p;
    if (*p == '<') {
        for (q = p + 1; *q && *q != '>'; q++)
            if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-')
                return NULL;
        return *q == '>' && q > p + 1 ? q + 1 : NULL;
    }
    while (isalpha((unsigned char)*q))
        q++;
    return q - p >= 3 ? q : NULL;
}

static const char *tz_digits(const char *p, int maxdigits, int *v)
{
    int n = 0;
    *v = 0;
    while (n < maxdigits && isdigit((unsigned char)*p)) {
        *v = *v * 10 + (*p++ - '0');
        n++;
    }
    return n ? p : NULL;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; returns the end or NULL. */
static const char *tz_num(const char *p, int maxh, int32_t *secs)
{
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = tz_digits(p, 3, &h)) || h > maxh)
        return NULL;
    if (*p == ':') {
        if (!(p = tz_digits(p + 1, 2, &m)) || m > 59)
            return NULL;
        if (*p == ':' && (!(p = tz_digits(p + 1, 2, &s)) || s > 59))
            return NULL;
    }
    *secs = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *tz_date(const char *p, struct rule_date *r)
{
    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        r->kind = 'J';
        if (!(p = tz_digits(p + 1, 3, &r->a)) || r->a < 1 || r->a > 365)
            return NULL;
    } else if (*p == 'M') {
        r->kind = 'M';
        if (!(p = tz_digits(p + 1, 2, &r->a)) || r->a < 1 || r->a > 12 || *p != '.' ||
            !(p = tz_digits(p + 1, 1, &r->b)) || r->b < 1 || r->b > 5 || *p != '.' ||
            !(p = tz_digits(p + 1, 1, &r->c)) || r->c > 6)
            return NULL;
    } else {
        r->kind = 'N';
        if (!(p = tz_digits(p, 3, &r->a)) || r->a > 365)
            return NULL;
    }
    r->time = 2 * 3600;
    if (*p == '/')
        p = tz_num(p + 1, 167, &r->time); /* RFC 8536 allows -167..167 hours */
    return p;
}

/* Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". */
static int tz_posix(struct cron_zone *z, const char *s)
{
    int32_t v;
    const char *p = tz_name(s);
    if (!p || !(p = tz_num(p, 24, &v)))
        return -1;
    z->std_off = -v;
    z->dst_off = z->std_off;
    if (!*p)
        return 0;
    if (!(p = tz_name(p)))
        return -1;
    z->rule_dst = true;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = tz_num(p, 24, &v)))
            return -1;
        z->dst_off = -v;
    }
    if (!*p) {
        /* No rule: implementation-defined; glibc uses the US rule. */
        z->start = (struct rule_date){'M', 3, 2, 0, 7200};
        z->end = (struct rule_date){'M', 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',' || !(p = tz_date(p + 1, &z->start)) || *p != ',' ||
        !(p = tz_date(p + 1, &z->end)) || *p)
        return -1;
    return 0;
}

/* Fills z from a TZif file (RFC 8536, versions 1-4). Returns 0, -1 for a
 * malformed file, -2 for a zone with leap seconds. */
static int tzif_parse(struct cron_zone *z, const unsigned char *p, size_t n)
{
    const unsigned char *h = p, *end = p + n;
    size_t tsize = 4;
    uint32_t c[6]; /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */

    for (int pass = 0;; pass++) {
        if ((size_t)(end - h) < 44 || memcmp(h, "TZif", 4) != 0)
            return -1;
        for (int i = 0; i < 6; i++)
            c[i] = be32(h + 20 + 4 * i);
        if (c[3] > 1000000 || c[4] > 256 || c[5] > 65536 || c[2] > 100000 || c[0] > c[4] ||
            c[1] > c[4])
            return -1;
        if (pass == 1 || p[4] < '2')
            break;
        /* Skip the version 1 block to the 64-bit one. */
        size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
        if ((size_t)(end - h) < 44 + v1)
            return -1;
        h += 44 + v1;
        tsize = 8;
    }
    if (c[4] == 0)
        return -1;
    if (c[2])
        return -2;
    size_t timecnt = c[3], typecnt = c[4];
    if ((size_t)(end - h) < 44 + timecnt * (tsize + 1) + typecnt * 6 + c[5] + c[1] + c[0])
        return -1;
    const unsigned char *times = h + 44;
    const unsigned char *idx = times + timecnt * tsize;
    const unsigned char *types = idx + timecnt;
    const unsigned char *data_end = types + typecnt * 6 + c[5] + c[1] + c[0];

    int32_t utoff[256] = {0};
    for (size_t i = 0; i < typecnt; i++) {
        utoff[i] = (int32_t)be32(types + 6 * i);
        if (utoff[i] < -MAX_UTOFF || utoff[i] > MAX_UTOFF)
            return -1;
    }
    z->first_off = utoff[0];
    z->ntrans = timecnt;
    z->trans = xcalloc(timecnt ? timecnt : 1, sizeof(*z->trans));
    z->off = xcalloc(timecnt ? timecnt : 1, sizeof(*z->off));
    for (size_t i = 0; i < timecnt; i++) {
        z->trans[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= typecnt || (i && z->trans[i] < z->trans[i - 1]))
            return -1;
        z->off[i] = utoff[idx[i]];
    }

    if (tsize == 8) {
        /* Footer: "\n<POSIX TZ string>\n"; an empty string means none. */
        const unsigned char *f = data_end, *nl;
        if (f >= end || *f != '\n' || !(nl = memchr(f + 1, '\n', (size_t)(end - f - 1))))
            return -1;
        size_t len = (size_t)(nl - f - 1);
        if (len) {
            char tzs[128];
            if (len >= sizeof(tzs))
                return -1;
            memcpy(tzs, f + 1, len);
            tzs[len] = '\0';
            if (tz_posix(z, tzs) < 0)
                return -1;
            z->has_rule = true;
        }
    }
    return 0;
}

/* IANA-style names only: no absolute paths, no "." or ".." components. */
static bool zone_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 255 || name[0] == '/' || name[len - 1] == '/')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-.", *p))
            return false;
    for (const char *p = name; p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.'))))
            return false;
        p = slash ? slash + 1 : NULL;
    }
    return true;
}

/* Reads at most MAX_TZIF bytes of path; NULL if it cannot be read. */
static unsigned char *read_small_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *data = xmalloc(cap);
    for (;;) {
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0 || len > MAX_TZIF)
            break;
        if (len == cap)
            data = xgrow(data, &cap, cap + 1, 1);
    }
    if (ferror(f) || len > MAX_TZIF) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *n = len;
    return data;
}

/* Loads `name` into *out (NULL for UTC). The caller owns *out. */
static int zone_load(const char *name, struct cron_zone **out, struct buf *err)
{
    static const char *const dirs[] = {"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo",
                                       "/usr/lib/zoneinfo", "/etc/zoneinfo"};
    char shown[64];
    unsigned char *data = NULL;
    size_t n = 0;

    *out = NULL;
    snprintf(shown, sizeof(shown), "%.60s", name);
    for (char *q = shown; *q; q++)
        if (!isprint((unsigned char)*q))
            *q = '?';
    if (strcmp(name, "UTC") == 0)
        return 0;
    if (strcmp(name, "Local") == 0) {
        data = read_small_file("/etc/localtime", &n);
    } else if (zone_name_ok(name)) {
        const char *tzdir = getenv("TZDIR");
        char path[512];
        for (size_t i = 0; !data && i <= ARRAY_SIZE(dirs); i++) {
            const char *dir = i == 0 ? tzdir : dirs[i - 1];
            if (!dir || !*dir)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            data = read_small_file(path, &n);
        }
    }
    if (!data) {
        buf_setf(err, "unknown time zone \"%s\"", shown);
        return -1;
    }
    struct cron_zone *z = xcalloc(1, sizeof(*z));
    int rc = tzif_parse(z, data, n);
    free(data);
    if (rc < 0) {
        zone_free(z);
        if (rc == -2)
            buf_setf(err, "time zone \"%s\" counts leap seconds, which is not supported", shown);
        else
            buf_setf(err, "unknown time zone \"%s\" (not a valid zoneinfo file)", shown);
        return -1;
    }
    *out = z;
    return 0;
}

/* Local time (as seconds since a local 1970-01-01) of a rule date in year y. */
static int64_t rule_local(const struct rule_date *r, int64_t y)
{
    int64_t days = days_from_civil(y, 1, 1);
    if (r->kind == 'J') {
        days += r->a - 1 + (is_leap(y) && r->a >= 60);
    } else if (r->kind == 'N') {
        days += r->a;
    } else {
        days = days_from_civil(y, r->a, 1);
        int d = 1 + (r->c - weekday(days) + 7) % 7 + 7 * (r->b - 1);
        while (d > days_in_month(y, r->a))
            d -= 7;
        days += d - 1;
    }
    return days * DAY + r->time;
}

/* The footer rule's segment around t. */
static void rule_segment(const struct cron_zone *z, int64_t t, struct seg *g)
{
    g->off = z->std_off;
    g->start = INT64_MIN;
    g->end = INT64_MAX;
    if (!z->rule_dst)
        return;
    /* Transitions of the years around t, in order; at equal instants the
     * end of DST sorts first, so a rule with DST all year stays in DST. */
    struct {
        int64_t at;
        int32_t off;
    } ev[6];
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t + z->std_off, DAY), &y, &m, &d);
    for (int i = 0; i < 3; i++) {
        ev[2 * i].at = rule_local(&z->end, y - 1 + i) - z->dst_off;
        ev[2 * i].off = z->std_off;
        ev[2 * i + 1].at = rule_local(&z->start, y - 1 + i) - z->std_off;
        ev[2 * i + 1].off = z->dst_off;
    }
    for (int i = 1; i < 6; i++) /* stable insertion sort keeps end-before-start */
        for (int j = i; j > 0 && ev[j - 1].at > ev[j].at; j--) {
            int64_t at = ev[j].at;
            int32_t off = ev[j].off;
            ev[j] = ev[j - 1];
            ev[j - 1].at = at;
            ev[j - 1].off = off;
        }
    for (int i = 0; i < 6; i++) {
        if (ev[i].at > t) {
            g->end = ev[i].at;
            break;
        }
        g->off = ev[i].off;
        g->start = ev[i].at;
    }
}

/* The segment of constant UTC offset that contains instant t (Unix s). */
static void zone_segment(const struct cron_zone *z, int64_t t, struct seg *g)
{
    g->off = 0;
    g->start = INT64_MIN;
    g->end = INT64_MAX;
    if (!z)
        return;
    size_t n = z->ntrans;
    if (n == 0 || t >= z->trans[n - 1]) {
        if (z->has_rule) {
            rule_segment(z, t, g);
        } else {
            g->off = n ? z->off[n - 1] : z->first_off;
        }
        if (n && g->start < z->trans[n - 1])
            g->start = z->trans[n - 1];
        return;
    }
    if (t < z->trans[0]) {
        g->off = z->first_off;
        g->end = z->trans[0];
        return;
    }
    size_t lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    g->off = z->off[lo];
    g->start = z->trans[lo];
    g->end = z->trans[hi];
}

/* ---- parsing ---- */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct field_def {
    const char *name;
    int min, max;             /* explicit values */
    int wild_max;             /* where `*` and `a/n` end (day-of-week: 6, 7 is an alias) */
    const char *const *names; /* three-letter names, or NULL */
    int nnames;
    int names_base; /* value of names[0] */
    bool question;  /* `?` allowed */
} field_defs[] = {
    {"minute", 0, 59, 59, NULL, 0, 0, false},
    {"hour", 0, 23, 23, NULL, 0, 0, false},
    {"day-of-month", 1, 31, 31, NULL, 0, 0, true},
    {"month", 1, 12, 12, month_names, 12, 1, false},
    {"day-of-week", 0, 7, 6, dow_names, 7, 0, true},
};

/* The equivalent line of each descriptor (robfig/cron's table). */
static const struct {
    const char *name;
    const char *line;
} descriptors[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* Copies input text for an error message: at most 40 bytes, non-printable
 * bytes as '?', so the message stays one printable line. */
static const char *show(char out[48], const char *p, size_t n)
{
    size_t k = n > 40 ? 40 : n;
    for (size_t i = 0; i < k; i++)
        out[i] = isprint((unsigned char)p[i]) ? p[i] : '?';
    if (k < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static bool all_of(const char *p, size_t n, int (*pred)(int))
{
    for (size_t i = 0; i < n; i++)
        if (!pred((unsigned char)p[i]))
            return false;
    return n > 0;
}

/* Digits to int, saturating at 999999 (enough to be out of every range). */
static int small_number(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v > 99999 ? 999999 : v * 10 + (p[i] - '0');
    return v;
}

static int parse_value(const struct field_def *f, const char *p, size_t n, const char *elem,
                       size_t elen, int *out, struct buf *err)
{
    char a[48], b[48];
    if (n == 0) {
        buf_setf(err, "field \"%s\": missing value in \"%s\"", f->name, show(a, elem, elen));
        return -1;
    }
    if (all_of(p, n, isdigit)) {
        *out = small_number(p, n);
        if (*out < f->min || *out > f->max) {
            buf_setf(err, "field \"%s\": value %s out of range %d-%d", f->name, show(a, p, n),
                     f->min, f->max);
            return -1;
        }
        return 0;
    }
    if (f->names && all_of(p, n, isalpha)) {
        for (int i = 0; n == 3 && i < f->nnames; i++) {
            if (strncasecmp(p, f->names[i], 3) == 0) {
                *out = f->names_base + i;
                return 0;
            }
        }
        buf_setf(err, "field \"%s\": unknown name \"%s\" (want %s)", f->name, show(a, p, n),
                 f->names == month_names ? "JAN-DEC" : "SUN-SAT");
        return -1;
    }
    buf_setf(err, "field \"%s\": invalid value \"%s\" in \"%s\"", f->name, show(a, p, n),
             show(b, elem, elen));
    return -1;
}

/* One list element: `*`, `?`, `a`, `a-b`, each optionally with `/n`. */
static int parse_element(const struct field_def *f, const char *p, size_t n, uint64_t *bits,
                         struct buf *err)
{
    char a[48], b[48];
    const char *slash = memchr(p, '/', n);
    size_t rn = slash ? (size_t)(slash - p) : n;
    int lo, hi, step = 1;

    if (rn == 1 && (p[0] == '*' || p[0] == '?')) {
        if (p[0] == '?' && !f->question) {
            buf_setf(err, "field \"%s\": \"?\" is only allowed in day-of-month and day-of-week",
                     f->name);
            return -1;
        }
        lo = f->min;
        hi = f->wild_max;
    } else {
        const char *dash = memchr(p, '-', rn);
        size_t an = dash ? (size_t)(dash - p) : rn;
        if (parse_value(f, p, an, p, n, &lo, err) < 0)
            return -1;
        if (dash) {
            if (parse_value(f, dash + 1, rn - an - 1, p, n, &hi, err) < 0)
                return -1;
            if (lo > hi) {
                buf_setf(err, "field \"%s\": range %s is reversed (start after end)", f->name,
                         show(a, p, rn));
                return -1;
            }
        } else {
            hi = !slash ? lo : lo > f->wild_max ? lo : f->wild_max;
        }
    }
    if (slash) {
        const char *sp = slash + 1;
        size_t sn = n - rn - 1;
        if (!all_of(sp, sn, isdigit)) {
            buf_setf(err, "field \"%s\": invalid step \"%s\" in \"%s\"", f->name, show(a, sp, sn),
                     show(b, p, n));
            return -1;
        }
        step = small_number(sp, sn);
        if (step == 0) {
            buf_setf(err, "field \"%s\": step 0 in \"%s\" (must be at least 1)", f->name,
                     show(a, p, n));
            return -1;
        }
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int parse_field(const struct field_def *f, struct slice text, uint64_t *bits,
                       struct buf *err)
{
    char a[48];
    const char *p = text.p, *end = text.p + text.len;
    *bits = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (n == 0) {
            buf_setf(err, "field \"%s\": empty list element in \"%s\"", f->name,
                     show(a, text.p, text.len));
            return -1;
        }
        if (parse_element(f, p, n, bits, err) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Splits s at ASCII blanks into at most max tokens; returns the count of
 * all tokens (which may exceed max). */
static size_t tokenize(const char *s, struct slice *tok, size_t max)
{
    size_t count = 0;
    for (const char *p = s; *p;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (count < max)
            tok[count] = (struct slice){p, (size_t)(q - p)};
        count++;
        p = q;
    }
    return count;
}

static int parse_fields(struct cron_spec *s, const struct slice *tok, struct buf *err)
{
    uint64_t bits[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(&field_defs[i], tok[i], &bits[i], err) < 0)
            return -1;
    s->kind = CRON_FIELDS;
    s->minute = bits[0];
    s->hour = (uint32_t)bits[1];
    s->dom = (uint32_t)bits[2];
    s->month = (uint16_t)bits[3];
    s->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 = Sunday = 0 */
    s->dom_star = tok[2].p[0] == '*' || tok[2].p[0] == '?';
    s->dow_star = tok[4].p[0] == '*' || tok[4].p[0] == '?';
    return 0;
}

static int parse_every(struct cron_spec *s, struct slice d, struct buf *err)
{
    char text[64], shown[48];
    int64_t ms;
    show(shown, d.p, d.len);
    /* Only what Go durations are made of: duration_parse's strtod would
     * also take "1e3s" or "0x10s". */
    bool ok = d.len < sizeof(text);
    for (size_t i = 0; ok && i < d.len; i++)
        ok = isdigit((unsigned char)d.p[i]) || strchr(".nusmh\xc2\xb5", d.p[i]);
    if (ok) {
        memcpy(text, d.p, d.len);
        text[d.len] = '\0';
        ok = duration_parse(text, &ms) == 0;
    }
    if (!ok) {
        buf_setf(err, "@every: invalid duration \"%s\" (want e.g. 30s, 5m, 1h30m)", shown);
        return -1;
    }
    if (ms < 1000) {
        buf_setf(err, "@every: duration \"%s\" is shorter than the minimum of 1s", shown);
        return -1;
    }
    if (ms % 1000) {
        buf_setf(err, "@every: duration \"%s\" is not a whole number of seconds", shown);
        return -1;
    }
    if (ms > CRON_MAX_MS) {
        buf_setf(err, "@every: duration \"%s\" is too long", shown);
        return -1;
    }
    s->kind = CRON_EVERY;
    s->every_ms = ms;
    return 0;
}

static int parse_descriptor(struct cron_spec *s, const struct slice *tok, size_t ntok,
                            struct buf *err)
{
    char a[48];
    if (tok[0].len == 6 && strncasecmp(tok[0].p, "@every", 6) == 0) {
        if (ntok != 2) {
            buf_setf(err, "@every takes exactly one duration, e.g. \"@every 1h30m\" (found %zu)",
                     ntok - 1);
            return -1;
        }
        return parse_every(s, tok[1], err);
    }
    for (size_t i = 0; i < ARRAY_SIZE(descriptors); i++) {
        if (strlen(descriptors[i].name) != tok[0].len ||
            strncasecmp(tok[0].p, descriptors[i].name, tok[0].len) != 0)
            continue;
        if (ntok != 1) {
            buf_setf(err, "descriptor \"%s\" takes no arguments", descriptors[i].name);
            return -1;
        }
        struct slice line[5];
        tokenize(descriptors[i].line, line, 5);
        return parse_fields(s, line, err);
    }
    buf_setf(err,
             "unknown descriptor \"%s\" (want @yearly, @annually, @monthly, @weekly, @daily, "
             "@midnight, @hourly or @every <duration>)",
             show(a, tok[0].p, tok[0].len));
    return -1;
}

static const char *const tz_prefixes[] = {"CRON_TZ=", "TZ="};

int cron_parse(struct cron_spec *s, const char *spec, const char *default_tz, struct buf *err)
{
    struct slice tok[8];
    char a[48];
    char *tz = NULL;
    size_t ntok, first = 0, len = 0;

    memset(s, 0, sizeof(*s));
    ntok = tokenize(spec ? spec : "", tok, ARRAY_SIZE(tok));
    if (ntok == 0) {
        buf_setf(err, "empty spec");
        goto fail;
    }
    for (size_t i = 0; i < ARRAY_SIZE(tz_prefixes); i++) {
        const char *prefix = tz_prefixes[i];
        size_t pl = strlen(prefix);
        if (tok[0].len < pl || memcmp(tok[0].p, prefix, pl) != 0)
            continue;
        if (tok[0].len == pl) {
            buf_setf(err, "empty time zone in \"%s\"", prefix);
            goto fail;
        }
        if (ntok == 1) {
            buf_setf(err, "time zone prefix \"%s\" without a schedule",
                     show(a, tok[0].p, tok[0].len));
            goto fail;
        }
        tz = xstrndup(tok[0].p + pl, tok[0].len - pl);
        first = 1;
        break;
    }
    if (!tz)
        tz = xstrdup(default_tz && *default_tz ? default_tz : "UTC");

    if (tok[first].p[0] == '@') {
        if (parse_descriptor(s, tok + first, ntok - first, err) < 0)
            goto fail;
    } else if (ntok - first != 5) {
        buf_setf(err, "expected 5 fields (minute hour day-of-month month day-of-week), found %zu",
                 ntok - first);
        goto fail;
    } else if (parse_fields(s, tok + first, err) < 0) {
        goto fail;
    }
    if (zone_load(tz, &s->zone, err) < 0)
        goto fail;

    /* The normalized text: the tokens joined by single spaces. */
    for (size_t i = 0; i < ntok; i++)
        len += tok[i].len + 1;
    s->text = xmalloc(len);
    len = 0;
    for (size_t i = 0; i < ntok; i++) {
        memcpy(s->text + len, tok[i].p, tok[i].len);
        len += tok[i].len;
        s->text[len++] = i + 1 < ntok ? ' ' : '\0';
    }
    s->tz_name = tz;
    return 0;

fail:
    free(tz);
    cron_release(s);
    return -1;
}

void cron_release(struct cron_spec *s)
{
    if (!s)
        return;
    free(s->text);
    free(s->tz_name);
    zone_free(s->zone);
    memset(s, 0, sizeof(*s));
}

const char *cron_spec_text(const struct cron_spec *s)
{
    return s && s->text ? s->text : "";
}

const char *cron_spec_tz(const struct cron_spec *s)
{
    return s && s->tz_name ? s->tz_name : "UTC";
}

/* ---- evaluation on local wall-clock time ("local seconds": seconds since
 * a local 1970-01-01 00:00, no zone involved) ---- */

static int next_bit(uint64_t mask, int from, int max)
{
    for (int i = from; i <= max; i++)
        if (mask >> i & 1)
            return i;
    return -1;
}

static int prev_bit(uint64_t mask, int from, int min)
{
    for (int i = from; i >= min; i--)
        if (mask >> i & 1)
            return i;
    return -1;
}

static bool day_matches(const struct cron_spec *s, int d, int wd)
{
    bool dm = s->dom >> d & 1, wm = s->dow >> wd & 1;
    return s->dom_star || s->dow_star ? dm && wm : dm || wm;
}

/* First matching minute L with lo <= L < hi, or NONE. */
static int64_t local_next(const struct cron_spec *s, int64_t lo, int64_t hi)
{
    int64_t L = floor_div(lo + 59, 60) * 60;
    while (L < hi) {
        int64_t days = floor_div(L, DAY), y, mday = days * DAY;
        int m, d, h = (int)((L - mday) / 3600), mi = (int)((L - mday) % 3600 / 60), x;
        civil_from_days(days, &y, &m, &d);
        if (!(s->month >> m & 1))
            L = (days - d + 1 + days_in_month(y, m)) * DAY; /* 1st of next month */
        else if (!day_matches(s, d, weekday(days)))
            L = mday + DAY;
        else if (!(s->hour >> h & 1))
            L = (x = next_bit(s->hour, h + 1, 23)) < 0 ? mday + DAY : mday + x * 3600;
        else if (!(s->minute >> mi & 1))
            L = mday + h * 3600 + ((x = next_bit(s->minute, mi + 1, 59)) < 0 ? 3600 : x * 60);
        else
            return L;
    }
    return NONE;
}

/* Last matching minute L with lo <= L <= hi, or NONE. */
static int64_t local_prev(const struct cron_spec *s, int64_t lo, int64_t hi)
{
    int64_t L = floor_div(hi, 60) * 60;
    while (L >= lo) {
        int64_t days = floor_div(L, DAY), y, mday = days * DAY;
        int m, d, h = (int)((L - mday) / 3600), mi = (int)((L - mday) % 3600 / 60), x;
        civil_from_days(days, &y, &m, &d);
        if (!(s->month >> m & 1))
            L = (days - d + 1) * DAY - 60; /* last minute of the previous month */
        else if (!day_matches(s, d, weekday(days)))
            L = mday - 60;
        else if (!(s->hour >> h & 1))
            L = (x = prev_bit(s->hour, h - 1, 0)) < 0 ? mday - 60 : mday + x * 3600 + 59 * 60;
        else if (!(s->minute >> mi & 1))
            L = mday + h * 3600 + ((x = prev_bit(s->minute, mi - 1, 0)) < 0 ? -60 : x * 60);
        else
            return L;
    }
    return NONE;
}

int64_t cron_next(const struct cron_spec *s, int64_t after_ms)
{
    if (!s || s->kind == CRON_NONE || after_ms >= CRON_MAX_MS)
        return -1;
    if (after_ms < -1)
        after_ms = -1;
    if (s->kind == CRON_EVERY) {
        int64_t n = (floor_div(after_ms, s->every_ms) + 1) * s->every_ms;
        return n > CRON_MAX_MS ? -1 : n;
    }
    /* Walk the segments of constant UTC offset from `after` on; within one,
     * local time is instant + offset, so the first local match there is the
     * first instant that matches. */
    int64_t t = floor_div(after_ms, 1000) + 1;
    int64_t limit = t + HORIZON_S > MAX_S + 1 ? MAX_S + 1 : t + HORIZON_S;
    while (t < limit) {
        struct seg g;
        zone_segment(s->zone, t, &g);
        int64_t end = g.end < limit ? g.end : limit;
        int64_t L = local_next(s, t + g.off, end + g.off);
        if (L != NONE)
            return (L - g.off) * 1000;
        t = end;
    }
    return -1;
}

int64_t cron_prev(const struct cron_spec *s, int64_t t_ms)
{
    if (!s || s->kind == CRON_NONE || t_ms < 0)
        return -1;
    if (t_ms > CRON_MAX_MS)
        t_ms = CRON_MAX_MS;
    if (s->kind == CRON_EVERY)
        return floor_div(t_ms, s->every_ms) * s->every_ms;
    int64_t t = floor_div(t_ms, 1000);
    int64_t low = t - HORIZON_S < 0 ? 0 : t - HORIZON_S;
    while (t >= low) {
        struct seg g;
        zone_segment(s->zone, t, &g);
        int64_t start = g.start > low ? g.start : low;
        int64_t L = local_prev(s, start + g.off, t + g.off);
        if (L != NONE)
            return (L - g.off) * 1000;
        t = start - 1;
    }
    return -1;
}
