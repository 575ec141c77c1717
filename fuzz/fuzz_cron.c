/* libFuzzer target: cron_parse on arbitrary bytes. Rejected input must give
 * a one-line reason and a zeroed spec; accepted input must round-trip
 * through its normalized text, and cron_next/cron_prev from fixed and
 * input-derived instants must satisfy their contracts, checked against an
 * independent slow matcher written here (its own reading of the fields,
 * libc's calendar: gmtime_r, or localtime_r with TZ set for zoned specs --
 * fine in this single-threaded harness). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCAN_MIN 300 /* minutes the slow matcher scans around each result */

/* ---- the slow matcher: the documented semantics, read straight off the text ---- */

struct slow {
    char f[5][128]; /* field texts */
    bool every;
    int64_t every_ms;
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* Leading digits as a number, saturating (steps may have any length). */
static int number(const char *p)
{
    long v = 0;
    while (*p >= '0' && *p <= '9' && v < 100000000)
        v = v * 10 + (*p++ - '0');
    return (int)v;
}

static int value_of(const char *p, size_t n, int field)
{
    if (n == 3 && field == 3)
        for (int i = 0; i < 12; i++)
            if (strncasecmp(p, months[i], 3) == 0)
                return i + 1;
    if (n == 3 && field == 4)
        for (int i = 0; i < 7; i++)
            if (strncasecmp(p, days[i], 3) == 0)
                return i;
    return number(p);
}

/* Does element "a", "a-b", "*", "?", each with an optional "/n", hold v? */
static bool element_holds(const char *e, size_t n, int field, int v)
{
    static const int lo_of[] = {0, 0, 1, 1, 0}, wild_hi[] = {59, 23, 31, 12, 6};
    const char *slash = memchr(e, '/', n);
    size_t rn = slash ? (size_t)(slash - e) : n;
    int step = slash ? number(slash + 1) : 1;
    int lo, hi;
    if (e[0] == '*' || e[0] == '?') {
        lo = lo_of[field];
        hi = wild_hi[field];
    } else {
        const char *dash = memchr(e, '-', rn);
        lo = value_of(e, dash ? (size_t)(dash - e) : rn, field);
        if (dash)
            hi = value_of(dash + 1, rn - (size_t)(dash - e) - 1, field);
        else
            hi = slash ? (lo > wild_hi[field] ? lo : wild_hi[field]) : lo;
    }
    return v >= lo && v <= hi && (v - lo) % step == 0;
}

static bool field_holds(const char *text, int field, int v)
{
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (element_holds(p, n, field, v))
            return true;
        if (field == 4 && v == 0 && element_holds(p, n, field, 7))
            return true;
        if (!comma)
            return false;
        p = comma + 1;
    }
}

static bool slow_match_tm(const struct slow *w, const struct tm *tm)
{
    if (tm->tm_sec != 0 || !field_holds(w->f[0], 0, tm->tm_min) ||
        !field_holds(w->f[1], 1, tm->tm_hour) || !field_holds(w->f[3], 3, tm->tm_mon + 1))
        return false;
    bool dm = field_holds(w->f[2], 2, tm->tm_mday), wm = field_holds(w->f[4], 4, tm->tm_wday);
    bool star = strchr("*?", w->f[2][0]) || strchr("*?", w->f[4][0]);
    return star ? dm && wm : dm || wm;
}

/* The zone libc evaluates in; "" = UTC via gmtime_r. */
static char libc_zone[300];

static void use_zone(const char *tz)
{
    if (strcmp(tz, "UTC") == 0) {
        libc_zone[0] = '\0';
        return;
    }
    if (strcmp(libc_zone, tz) == 0)
        return;
    char env[310];
    snprintf(env, sizeof(env), ":%s", strcmp(tz, "Local") == 0 ? "/etc/localtime" : tz);
    setenv("TZ", env, 1);
    tzset();
    snprintf(libc_zone, sizeof(libc_zone), "%s", tz);
}

static void local_tm(int64_t ms, struct tm *tm)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    if (libc_zone[0])
        localtime_r(&t, tm);
    else
        gmtime_r(&t, tm);
}

static bool slow_match(const struct slow *w, int64_t ms)
{
    struct tm tm;
    if (ms % 1000 != 0)
        return false;
    local_tm(ms, &tm);
    return slow_match_tm(w, &tm);
}

/* Splits the accepted spec's text into the slow matcher's fields. */
static bool slow_init(struct slow *w, const char *text)
{
    static const struct {
        const char *name, *line;
    } desc[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    char buf[600];
    memset(w, 0, sizeof(*w));
    snprintf(buf, sizeof(buf), "%s", text);
    char *p = buf;
    if (strncmp(p, "CRON_TZ=", 8) == 0 || strncmp(p, "TZ=", 3) == 0)
        p = strchr(p, ' ') + 1;
    if (strncasecmp(p, "@every ", 7) == 0) {
        w->every = true;
        return true;
    }
    for (size_t i = 0; i < sizeof(desc) / sizeof(desc[0]); i++)
        if (strcasecmp(p, desc[i].name) == 0)
            p = strcpy(buf, desc[i].line);
    for (int i = 0; i < 5; i++) {
        char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        if (n >= sizeof(w->f[i]))
            return false; /* too long for the slow matcher: skip the checks */
        memcpy(w->f[i], p, n);
        p = sp ? sp + 1 : p + n;
    }
    return true;
}

/* ---- contracts ---- */

static void check_no_match(const struct slow *w, int64_t from, int64_t to)
{
    /* No activation in the open interval (from, to): scan whole minutes of
     * local time near each end (offsets here are whole minutes). */
    int64_t first = (from / 60000 + 1) * 60000;
    for (int64_t t = first, k = 0; t < to && k < SCAN_MIN; t += 60000, k++)
        if (t > from && slow_match(w, t))
            abort();
    for (int64_t t = (to - 1) / 60000 * 60000, k = 0; t > from && k < SCAN_MIN; t -= 60000, k++)
        if (t < to && slow_match(w, t))
            abort();
}

static bool whole_minute_offset(int64_t ms)
{
    struct tm tm;
    local_tm(ms, &tm);
    return tm.tm_gmtoff % 60 == 0;
}

static void check_fields(const struct cron_spec *s, const struct slow *w, int64_t a)
{
    int64_t n = cron_next(s, a);
    if (n != -1) {
        if (n <= a || n > CRON_MAX_MS || n % 1000 != 0 || n - (a < 0 ? 0 : a) > CRON_HORIZON_MS)
            abort();
        if (cron_prev(s, n) != n || cron_next(s, n - 1) != n)
            abort();
        int64_t p = cron_prev(s, n - 1);
        if (p != -1 && p > a)
            abort(); /* an activation between a and n */
        if (!slow_match(w, n))
            abort();
        if (whole_minute_offset(n) && n % 60000 == 0)
            check_no_match(w, a < -1 ? -1 : a, n);
    } else if (a >= 0 && a < CRON_MAX_MS - CRON_HORIZON_MS && whole_minute_offset(a)) {
        check_no_match(w, a, a + CRON_HORIZON_MS);
    }

    int64_t am = a > CRON_MAX_MS ? CRON_MAX_MS : a; /* prev's clamp */
    int64_t p = cron_prev(s, a);
    if (p != -1) {
        if (p > am || p < 0 || p % 1000 != 0 || am - p > CRON_HORIZON_MS + 999)
            abort();
        int64_t after = cron_next(s, p);
        if (after != -1 && after <= am)
            abort(); /* an activation between p and a */
        if (!slow_match(w, p))
            abort();
        if (whole_minute_offset(p) && p % 60000 == 0)
            check_no_match(w, p, am + 1);
    } else if (a > CRON_HORIZON_MS && a <= CRON_MAX_MS && whole_minute_offset(a)) {
        check_no_match(w, a - CRON_HORIZON_MS, a + 1);
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void check_every(const struct cron_spec *s, int64_t a)
{
    int64_t d = s->every_ms, n = cron_next(s, a), p = cron_prev(s, a);
    if (d < 1000 || d % 1000 != 0)
        abort();
    if (a < CRON_MAX_MS) {
        int64_t want = (floor_div(a < -1 ? -1 : a, d) + 1) * d;
        if (n != (want > CRON_MAX_MS ? -1 : want))
            abort();
    } else if (n != -1) {
        abort();
    }
    if (a < 0 ? p != -1 : p != floor_div(a > CRON_MAX_MS ? CRON_MAX_MS : a, d) * d)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t fixed[] = {
        INT64_MIN,
        -1,
        0,
        951782400000LL, /* 2000-02-29T00:00Z */
        1735689540000,  /* 2024-12-31T23:59Z */
        1774744200000,  /* 2026-03-29T00:30Z, Europe's spring change */
        1792889100000,  /* 2026-10-25T00:45Z, Europe's autumn change */
        4102444800000,  /* 2100-01-01T00:00Z */
        CRON_MAX_MS - 3600000,
        INT64_MAX,
    };
    if (size > 512)
        return 0;
    char *spec = malloc(size + 1);
    memcpy(spec, data, size);
    spec[size] = '\0';

    /* A default zone from the first byte, so zoned evaluation is reached
     * without the fuzzer having to spell a zone name. */
    static const char *const zones[] = {
        NULL,
        "Europe/Berlin",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "Africa/Casablanca",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "Europe/Dublin",
        "Africa/Monrovia",
        "America/St_Johns",
        "Local",
        "UTC",
        "Etc/GMT+12",
        "Antarctica/Troll",
        "America/Godthab",
    };
    const char *tz = size ? zones[data[0] % 16] : NULL;

    struct cron_spec s;
    struct buf err;
    buf_init(&err, 4096);
    if (cron_parse(&s, spec, tz, &err) < 0) {
        const char *msg = buf_str(&err);
        if (!*msg || strchr(msg, '\n') || s.kind != CRON_NONE || s.text || s.zone)
            abort();
        goto out;
    }

    /* The normalized text parses to the same schedule. */
    struct cron_spec again;
    if (cron_parse(&again, cron_spec_text(&s), tz, NULL) < 0 || again.kind != s.kind ||
        again.minute != s.minute || again.hour != s.hour || again.dom != s.dom ||
        again.month != s.month || again.dow != s.dow || again.dom_star != s.dom_star ||
        again.dow_star != s.dow_star || again.every_ms != s.every_ms ||
        strcmp(cron_spec_text(&again), cron_spec_text(&s)) != 0 ||
        strcmp(cron_spec_tz(&again), cron_spec_tz(&s)) != 0)
        abort();
    cron_release(&again);
    if (s.kind == CRON_FIELDS && (!s.minute || !s.hour || !s.month || (!s.dom && !s.dow)))
        abort();

    uint64_t h = 1469598103934665603ULL; /* FNV-1a: one more instant from the input */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;

    struct slow w;
    if (!slow_init(&w, cron_spec_text(&s)))
        goto out;
    use_zone(cron_spec_tz(&s));
    for (size_t i = 0; i <= sizeof(fixed) / sizeof(fixed[0]); i++) {
        int64_t a =
            i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : (int64_t)(h % (CRON_MAX_MS + 1));
        if (s.kind == CRON_EVERY)
            check_every(&s, a);
        else
            check_fields(&s, &w, a);
    }
out:
    cron_release(&s);
    buf_release(&err);
    free(spec);
    return 0;
}
