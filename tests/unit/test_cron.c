/* Unit tests: core/cron (spec parsing, next/prev activation, time zones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/cron.h"

/* "2026-03-29T02:30[:SS[.mmm]]" followed by "Z" or "+HH:MM"/"-HH:MM"; "none"
 * is -1. Returns Unix ms. */
static int64_t iso_ms(const char *s)
{
    int y, mo, d, h, mi, sec = 0, ms = 0, n = 0, oh = 0, om = 0;
    char sign;
    if (strcmp(s, "none") == 0)
        return -1;
    if (sscanf(s, "%d-%d-%dT%d:%d%n", &y, &mo, &d, &h, &mi, &n) != 5)
        fail_msg("bad ISO time \"%s\"", s);
    const char *p = s + n;
    if (*p == ':') {
        int k = 0;
        if (sscanf(p, ":%d%n", &sec, &k) != 1)
            fail_msg("bad seconds in \"%s\"", s);
        p += k;
        if (*p == '.') {
            if (sscanf(p, ".%3d%n", &ms, &k) != 1 || k != 4)
                fail_msg("want .mmm in \"%s\"", s);
            p += k;
        }
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    if (strcmp(p, "Z") != 0) {
        if (sscanf(p, "%c%d:%d", &sign, &oh, &om) != 3 || (sign != '+' && sign != '-'))
            fail_msg("want Z or +HH:MM in \"%s\"", s);
        t -= (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    }
    return t * 1000 + ms;
}

static void fmt_ms(int64_t ms, char *out, size_t n)
{
    if (ms == -1) {
        snprintf(out, n, "none");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void parse_ok(struct cron_spec *s, const char *spec, const char *tz)
{
    struct buf err;
    buf_init(&err, 1024);
    if (cron_parse(s, spec, tz, &err) < 0)
        fail_msg("cron_parse(\"%s\", %s) failed: %s", spec, tz ? tz : "NULL", buf_str(&err));
    buf_release(&err);
}

struct row {
    const char *spec;
    const char *tz; /* default zone, NULL = UTC */
    const char *at;
    const char *want;
};

static void check_rows(const struct row *rows, size_t n, bool prev)
{
    for (size_t i = 0; i < n; i++) {
        struct cron_spec s;
        char got_s[40], want_s[40];
        parse_ok(&s, rows[i].spec, rows[i].tz);
        int64_t at = iso_ms(rows[i].at), want = iso_ms(rows[i].want);
        int64_t got = prev ? cron_prev(&s, at) : cron_next(&s, at);
        cron_release(&s);
        if (got != want) {
            fmt_ms(got, got_s, sizeof(got_s));
            fmt_ms(want, want_s, sizeof(want_s));
            fail_msg("%s(\"%s\", tz %s, %s) = %s, want %s (%s)", prev ? "cron_prev" : "cron_next",
                     rows[i].spec, rows[i].tz ? rows[i].tz : "UTC", rows[i].at, got_s, want_s,
                     rows[i].want);
        }
    }
}

static void test_next_fields(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* plain, values, lists, ranges, steps */
        {"* * * * *", NULL, "2025-01-01T00:00Z", "2025-01-01T00:01Z"},
        {"* * * * *", NULL, "2025-01-01T00:00:30Z", "2025-01-01T00:01Z"},
        {"* * * * *", NULL, "2025-01-01T00:00:59.999Z", "2025-01-01T00:01Z"},
        {"5 * * * *", NULL, "2025-01-01T00:05Z", "2025-01-01T01:05Z"},
        {"5 * * * *", NULL, "2025-01-01T00:04:59.999Z", "2025-01-01T00:05Z"},
        {"1,15,30 * * * *", NULL, "2025-01-01T00:15Z", "2025-01-01T00:30Z"},
        {"1,15,30 * * * *", NULL, "2025-01-01T00:30Z", "2025-01-01T01:01Z"},
        {"10-12 * * * *", NULL, "2025-01-01T00:11Z", "2025-01-01T00:12Z"},
        {"10-12 * * * *", NULL, "2025-01-01T00:12Z", "2025-01-01T01:10Z"},
        {"*/15 * * * *", NULL, "2025-01-01T00:46Z", "2025-01-01T01:00Z"},
        {"0-10/5 * * * *", NULL, "2025-01-01T00:06Z", "2025-01-01T00:10Z"},
        {"0-10/5 * * * *", NULL, "2025-01-01T00:10Z", "2025-01-01T01:00Z"},
        {"7/20 * * * *", NULL, "2025-01-01T00:30Z", "2025-01-01T00:47Z"},
        {"7/20 * * * *", NULL, "2025-01-01T00:47Z", "2025-01-01T01:07Z"},
        {"*/61 * * * *", NULL, "2025-01-01T00:00Z", "2025-01-01T01:00Z"},
        {"0 9-17/4 * * *", NULL, "2025-01-01T13:00Z", "2025-01-01T17:00Z"},
        {"0 9-17/4 * * *", NULL, "2025-01-01T17:00Z", "2025-01-02T09:00Z"},
        {"0,30 8,20 * * *", NULL, "2025-01-01T08:30Z", "2025-01-01T20:00Z"},
        {"30 2 15 * *", NULL, "2025-01-20T00:00Z", "2025-02-15T02:30Z"},
        {"0 0 */10 * *", NULL, "2025-01-21T00:00Z", "2025-01-31T00:00Z"},
        {"0 0 */10 * *", NULL, "2025-02-21T00:00Z", "2025-03-01T00:00Z"},
        {"0 0 5/10 * *", NULL, "2025-01-25T00:00Z", "2025-02-05T00:00Z"},
        /* month names and ranges, case-insensitive */
        {"0 0 1 jan,Jul *", NULL, "2025-02-01T00:00Z", "2025-07-01T00:00Z"},
        {"0 0 * FEB-apr *", NULL, "2025-04-30T23:59Z", "2026-02-01T00:00Z"},
        {"0 0 1 */3 *", NULL, "2025-02-01T00:00Z", "2025-04-01T00:00Z"},
        {"0 0 1 jan-dec/6 *", NULL, "2025-01-01T00:00Z", "2025-07-01T00:00Z"},
        /* day names, 7 = Sunday; 2025-01-01 is a Wednesday */
        {"0 0 * * MON-FRI", NULL, "2025-01-03T12:00Z", "2025-01-06T00:00Z"},
        {"0 0 * * mon-fri", NULL, "2025-01-06T00:00Z", "2025-01-07T00:00Z"},
        {"0 12 * * 7", NULL, "2025-01-01T00:00Z", "2025-01-05T12:00Z"},
        {"0 12 * * 0", NULL, "2025-01-01T00:00Z", "2025-01-05T12:00Z"},
        {"0 12 * * Sun", NULL, "2025-01-01T00:00Z", "2025-01-05T12:00Z"},
        {"0 12 * * 5-7", NULL, "2025-01-06T00:00Z", "2025-01-10T12:00Z"},
        {"0 12 * * 5-7", NULL, "2025-01-11T12:00Z", "2025-01-12T12:00Z"},
        {"0 12 * * 6,7", NULL, "2025-01-06T00:00Z", "2025-01-11T12:00Z"},
        {"0 0 * * */2", NULL, "2025-01-01T00:00Z", "2025-01-02T00:00Z"}, /* Sun,Tue,Thu,Sat */
        {"0 0 * * 1/2", NULL, "2025-01-03T00:00Z", "2025-01-06T00:00Z"}, /* Mon,Wed,Fri */
        /* month ends and leap years */
        {"0 0 31 * *", NULL, "2025-03-31T00:00Z", "2025-05-31T00:00Z"},
        {"0 0 31 * *", NULL, "2025-07-31T00:00Z", "2025-08-31T00:00Z"},
        {"0 0 30 * *", NULL, "2025-01-30T00:00Z", "2025-03-30T00:00Z"},
        {"0 0 29 2 *", NULL, "2025-03-01T00:00Z", "2028-02-29T00:00Z"},
        {"0 0 29 2 *", NULL, "2023-12-31T00:00Z", "2024-02-29T00:00Z"},
        {"0 0 29 2 *", NULL, "2096-03-01T00:00Z", "none"}, /* 2100 is no leap year */
        {"0 0 30 2 *", NULL, "2025-01-01T00:00Z", "none"},
        {"0 0 31 4,6,9,11 *", NULL, "2025-01-01T00:00Z", "none"},
    };
    check_rows(rows, ARRAY_SIZE(rows), false);
}

static void test_next_dom_dow(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* both restricted: either matches (2025-07-13 is a Sunday) */
        {"0 0 13 * FRI", NULL, "2025-07-05T00:00Z", "2025-07-11T00:00Z"},
        {"0 0 13 * FRI", NULL, "2025-07-11T00:00Z", "2025-07-13T00:00Z"},
        {"0 0 13 * FRI", NULL, "2025-07-13T00:00Z", "2025-07-18T00:00Z"},
        {"0 0 1-31 * FRI", NULL, "2025-07-01T00:00Z", "2025-07-02T00:00Z"},
        {"0 0 1,15 * 1", NULL, "2025-07-01T00:00Z", "2025-07-07T00:00Z"},
        /* dom unrestricted (starts with '*' or '?'): both must match */
        {"0 0 * * FRI", NULL, "2025-07-01T00:00Z", "2025-07-04T00:00Z"},
        {"0 0 ? * FRI", NULL, "2025-07-01T00:00Z", "2025-07-04T00:00Z"},
        {"0 0 */2 * FRI", NULL, "2025-07-01T00:00Z", "2025-07-11T00:00Z"},
        {"0 0 *,2 * FRI", NULL, "2025-07-01T00:00Z", "2025-07-04T00:00Z"},
        /* dow unrestricted */
        {"0 0 13 * *", NULL, "2025-07-01T00:00Z", "2025-07-13T00:00Z"},
        {"0 0 13 * ?", NULL, "2025-07-01T00:00Z", "2025-07-13T00:00Z"},
        {"0 0 13 * */3", NULL, "2025-07-14T00:00Z", "2025-08-13T00:00Z"}, /* Sun,Wed,Sat */
        {"0 0 13 * 5", NULL, "2026-02-14T00:00Z", "2026-02-20T00:00Z"},
    };
    check_rows(rows, ARRAY_SIZE(rows), false);
}

static void test_next_descriptors(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"@hourly", NULL, "2025-01-01T10:30Z", "2025-01-01T11:00Z"},
        {"@hourly", NULL, "2025-01-01T23:00Z", "2025-01-02T00:00Z"},
        {"@daily", NULL, "2025-01-01T00:00Z", "2025-01-02T00:00Z"},
        {"@midnight", NULL, "2025-01-01T12:00Z", "2025-01-02T00:00Z"},
        {"@weekly", NULL, "2025-01-01T00:00Z", "2025-01-05T00:00Z"},
        {"@weekly", NULL, "2025-01-05T00:00Z", "2025-01-12T00:00Z"},
        {"@monthly", NULL, "2025-01-15T00:00Z", "2025-02-01T00:00Z"},
        {"@monthly", NULL, "2025-12-01T00:00Z", "2026-01-01T00:00Z"},
        {"@yearly", NULL, "2025-01-01T00:00Z", "2026-01-01T00:00Z"},
        {"@annually", NULL, "2024-12-31T23:59:59.999Z", "2025-01-01T00:00Z"},
        {"@DAILY", NULL, "2025-01-01T00:00Z", "2025-01-02T00:00Z"},
        /* year rollover */
        {"0 0 * * *", NULL, "2025-12-31T00:00Z", "2026-01-01T00:00Z"},
        {"59 23 31 12 *", NULL, "2025-12-31T23:59Z", "2026-12-31T23:59Z"},
        {"0 0 1 1 *", NULL, "1969-06-01T00:00Z", "1970-01-01T00:00Z"},
        {"* * * * *", NULL, "9999-12-31T23:58Z", "9999-12-31T23:59Z"},
        {"* * * * *", NULL, "9999-12-31T23:59Z", "none"},
        /* @every: multiples of the interval since the epoch */
        {"@every 1s", NULL, "2025-01-01T00:00:00.500Z", "2025-01-01T00:00:01Z"},
        {"@every 1s", NULL, "2025-01-01T00:00:01Z", "2025-01-01T00:00:02Z"},
        {"@every 30s", NULL, "2025-01-01T00:00:31Z", "2025-01-01T00:01:00Z"},
        {"@every 1h30m", NULL, "2025-01-01T00:00Z", "2025-01-01T01:30Z"},
        {"@every 1h30m", NULL, "2025-01-01T01:29:59.999Z", "2025-01-01T01:30Z"},
        {"@every 90m", NULL, "2025-01-01T01:30Z", "2025-01-01T03:00Z"},
        {"@every 7m", NULL, "2025-01-01T00:00Z", "2025-01-01T00:05Z"},
        {"@every 1h0m30s", NULL, "2025-01-01T00:00Z", "2025-01-01T00:36Z"},
        {"@every 24h", NULL, "2025-06-15T13:14Z", "2025-06-16T00:00Z"},
        {"@every 24h", "Europe/Berlin", "2025-06-15T13:14Z", "2025-06-16T00:00Z"},
        {"@every 1s", NULL, "1960-01-01T00:00Z", "1970-01-01T00:00Z"},
    };
    check_rows(rows, ARRAY_SIZE(rows), false);
}

static void test_next_zones(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* Europe/Berlin 2026-03-29: 02:00 CET -> 03:00 CEST, 02:30 does not exist */
        {"CRON_TZ=Europe/Berlin 30 2 * * *", NULL, "2026-03-28T12:00Z", "2026-03-30T02:30+02:00"},
        {"TZ=Europe/Berlin 30 2 * * *", NULL, "2026-03-28T12:00Z", "2026-03-30T02:30+02:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-30T02:30+02:00"},
        {"CRON_TZ=Europe/Berlin 30 2 * * *", "America/New_York", "2026-03-28T12:00Z",
         "2026-03-30T02:30+02:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-03-27T12:00Z", "2026-03-28T02:30+01:00"},
        {"0 * * * *", "Europe/Berlin", "2026-03-29T00:30Z", "2026-03-29T03:00+02:00"},
        {"*/30 * * * *", "Europe/Berlin", "2026-03-29T01:30+01:00", "2026-03-29T03:00+02:00"},
        {"0 3 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T03:00+02:00"},
        /* 2026-10-25: 03:00 CEST -> 02:00 CET, 02:30 occurs twice */
        {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00Z", "2026-10-25T02:30+02:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T02:30+02:00", "2026-10-25T02:30+01:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T02:30+01:00", "2026-10-26T02:30+01:00"},
        {"45,15 2 * * *", "Europe/Berlin", "2026-10-25T02:20+02:00", "2026-10-25T02:45+02:00"},
        {"45,15 2 * * *", "Europe/Berlin", "2026-10-25T02:45+02:00", "2026-10-25T02:15+01:00"},
        {"0 * * * *", "Europe/Berlin", "2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00"},
        /* fixed and half-hour offsets, the other hemisphere */
        {"0 9 * * *", "America/New_York", "2026-01-01T00:00Z", "2026-01-01T14:00Z"},
        {"0 9 * * *", "America/New_York", "2026-07-01T00:00Z", "2026-07-01T13:00Z"},
        {"0 0 * * *", "Asia/Kolkata", "2026-01-01T00:00Z", "2026-01-01T18:30Z"},
        {"0 0 1 * *", "Asia/Tokyo", "2026-01-31T15:00Z", "2026-02-28T15:00Z"},
        {"30 2 * * *", "Australia/Sydney", "2026-10-03T12:00Z", "2026-10-05T02:30+11:00"},
        {"0 0 * * *", "UTC", "2026-01-01T00:00Z", "2026-01-02T00:00Z"},
        {"0 0 * * *", "Etc/UTC", "2026-01-01T00:00Z", "2026-01-02T00:00Z"},
        {"0 0 * * *", "Etc/GMT-3", "2026-01-01T00:00Z", "2026-01-01T21:00Z"},
        /* far future: only the zone's POSIX rule applies (last Sunday of March) */
        {"30 2 * * *", "Europe/Berlin", "2077-03-27T12:00Z", "2077-03-29T02:30+02:00"},
        {"0 12 * * *", "Europe/Berlin", "2250-07-01T00:00Z", "2250-07-01T12:00+02:00"},
        {"0 12 * * *", "Europe/Berlin", "2250-12-01T00:00Z", "2250-12-01T12:00+01:00"},
    };
    check_rows(rows, ARRAY_SIZE(rows), false);
}

static void test_prev(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"*/15 * * * *", NULL, "2025-01-01T00:14:59.999Z", "2025-01-01T00:00Z"},
        {"*/15 * * * *", NULL, "2025-01-01T00:15Z", "2025-01-01T00:15Z"},
        {"0 0 29 2 *", NULL, "2025-03-01T00:00Z", "2024-02-29T00:00Z"},
        {"0 0 30 2 *", NULL, "2025-03-01T00:00Z", "none"},
        {"0 0 * * 7", NULL, "2025-01-04T23:59Z", "2024-12-29T00:00Z"},
        {"0 0 13 * FRI", NULL, "2025-07-12T00:00Z", "2025-07-11T00:00Z"},
        {"0 9-17/4 * * *", NULL, "2025-01-02T08:59Z", "2025-01-01T17:00Z"},
        {"@yearly", NULL, "2025-06-01T00:00Z", "2025-01-01T00:00Z"},
        {"@weekly", NULL, "2025-01-04T00:00Z", "2024-12-29T00:00Z"},
        {"0 0 1 1 *", NULL, "1970-06-01T00:00Z", "1970-01-01T00:00Z"},
        {"0 0 2 1 *", NULL, "1970-06-01T00:00Z", "1970-01-02T00:00Z"},
        {"0 0 2 1 *", NULL, "1970-01-01T12:00Z", "none"}, /* before the epoch */
        {"* * * * *", NULL, "1969-12-31T23:59Z", "none"},
        {"@every 1h30m", NULL, "2025-01-01T01:29:59.999Z", "2025-01-01T00:00Z"},
        {"@every 1h30m", NULL, "2025-01-01T01:30Z", "2025-01-01T01:30Z"},
        {"@every 7m", NULL, "2025-01-01T00:04Z", "2024-12-31T23:58Z"},
        {"30 2 * * *", "Europe/Berlin", "2026-03-30T00:00Z", "2026-03-28T02:30+01:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T01:45Z", "2026-10-25T02:30+01:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T01:29Z", "2026-10-25T02:30+02:00"},
        {"0 * * * *", "Europe/Berlin", "2026-03-29T00:59Z", "2026-03-29T01:00+01:00"},
    };
    check_rows(rows, ARRAY_SIZE(rows), true);
}

/* next and prev agree: walking forward visits exactly the activations that
 * prev reports, in order. */
static void test_walk_consistency(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *tz;
    } specs[] = {
        {"*/7 */5 * * *", NULL},
        {"0 0 13 * FRI", NULL},
        {"15 3 * * 1-5", NULL},
        {"*/20 * * * *", "Europe/Berlin"},
        {"30 1-3 * * *", "Europe/Berlin"},
        {"0 0 * * *", "America/Sao_Paulo"},
        {"@every 1h30m", NULL},
        {"0 */6 29 2 *", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
        struct cron_spec s;
        parse_ok(&s, specs[i].spec, specs[i].tz);
        int64_t t = iso_ms("2016-01-01T00:00Z");
        for (int k = 0; k < 3000; k++) {
            int64_t n = cron_next(&s, t);
            if (n == -1)
                break;
            if (n <= t || cron_prev(&s, n) != n || cron_prev(&s, n - 1) > t ||
                cron_next(&s, n - 1) != n)
                fail_msg("%s: inconsistent at next(%lld) = %lld", specs[i].spec, (long long)t,
                         (long long)n);
            t = n;
        }
        cron_release(&s);
    }
}

/* Compares zone handling with glibc's localtime_r, read with TZ set (this
 * test process is single-threaded): every 15 minutes in the ranges below,
 * "0 * * * *" must activate exactly when glibc says the local minute is 0,
 * and "30 2 * * *" exactly when the local time is 02:30; prev must return
 * the latest such instant. All these zones have offsets in whole quarter
 * hours over these years. */
static void test_zones_against_libc(void **state)
{
    (void)state;
    static const char *const zones[] = {
        "Europe/Berlin",   "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe",
        "Asia/Kathmandu",  "Pacific/Apia",     "America/St_Johns",  "Africa/Casablanca",
        "Pacific/Chatham", "Europe/Dublin",
    };
    static const char *const ranges[][2] = {
        {"2010-01-01T00:00Z", "2013-01-01T00:00Z"},
        {"2036-06-01T00:00Z", "2039-06-01T00:00Z"}, /* past fat-file tables */
        {"2100-01-01T00:00Z", "2101-01-01T00:00Z"},
    };
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    for (size_t z = 0; z < ARRAY_SIZE(zones); z++) {
        char env[80];
        snprintf(env, sizeof(env), ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        struct cron_spec hourly, daily;
        parse_ok(&hourly, "0 * * * *", zones[z]);
        parse_ok(&daily, "30 2 * * *", zones[z]);
        for (size_t r = 0; r < ARRAY_SIZE(ranges); r++) {
            int64_t from = iso_ms(ranges[r][0]) / 1000, to = iso_ms(ranges[r][1]) / 1000;
            int64_t nh = cron_next(&hourly, (from - 1) * 1000);
            int64_t nd = cron_next(&daily, (from - 1) * 1000);
            int64_t last_h = -1, last_d = -1; /* latest libc matches seen */
            for (int64_t t = from; t < to; t += 900) {
                time_t tt = (time_t)t;
                struct tm tm;
                localtime_r(&tt, &tm);
                bool want_h = tm.tm_min == 0 && tm.tm_sec == 0;
                bool want_d = tm.tm_hour == 2 && tm.tm_min == 30 && tm.tm_sec == 0;
                if (want_h != (nh == t * 1000))
                    fail_msg("%s hourly at %lld: libc says %s, next = %lld", zones[z], (long long)t,
                             want_h ? "match" : "no match", (long long)nh);
                if (want_d != (nd == t * 1000))
                    fail_msg("%s 02:30 at %lld: libc says %s, next = %lld", zones[z], (long long)t,
                             want_d ? "match" : "no match", (long long)nd);
                last_h = want_h ? t * 1000 : last_h;
                last_d = want_d ? t * 1000 : last_d;
                if ((last_h != -1 && cron_prev(&hourly, t * 1000 + 899999) != last_h) ||
                    (last_d != -1 && cron_prev(&daily, t * 1000 + 899999) != last_d))
                    fail_msg("%s: prev at %lld disagrees with libc", zones[z], (long long)t);
                if (nh == t * 1000)
                    nh = cron_next(&hourly, nh);
                if (nd == t * 1000)
                    nd = cron_next(&daily, nd);
            }
        }
        cron_release(&hourly);
        cron_release(&daily);
    }
    if (old_tz) {
        setenv("TZ", old_tz, 1);
        free(old_tz);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *tz, *err;
    } rows[] = {
        {"", NULL, "empty spec"},
        {" \t ", NULL, "empty spec"},
        {"* * * *", NULL,
         "expected 5 fields (minute hour day-of-month month day-of-week), found 4"},
        {"* * * * * *", NULL, "found 6"},
        {"0 * * * * * * * * * *", NULL, "found 11"},
        {"60 * * * *", NULL, "field \"minute\": value 60 out of range 0-59"},
        {"* 25 * * *", NULL, "field \"hour\": value 25 out of range 0-23"},
        {"0 0 0 * *", NULL, "field \"day-of-month\": value 0 out of range 1-31"},
        {"0 0 32 * *", NULL, "field \"day-of-month\": value 32 out of range 1-31"},
        {"0 0 1 13 *", NULL, "field \"month\": value 13 out of range 1-12"},
        {"0 0 1 0 *", NULL, "field \"month\": value 0 out of range 1-12"},
        {"0 0 * * 8", NULL, "field \"day-of-week\": value 8 out of range 0-7"},
        {"99999999999 * * * *", NULL, "field \"minute\": value 99999999999 out of range 0-59"},
        {"0 0 1 JANUARY *", NULL, "field \"month\": unknown name \"JANUARY\""},
        {"0 0 1 jun-foo *", NULL, "field \"month\": unknown name \"foo\""},
        {"0 0 * * FUN", NULL, "field \"day-of-week\": unknown name \"FUN\""},
        {"0 0 * MON *", NULL, "field \"month\": unknown name \"MON\""},
        {"MON * * * *", NULL, "field \"minute\": invalid value \"MON\""},
        {"0 0 L * *", NULL, "field \"day-of-month\": invalid value \"L\""},
        {"*/0 * * * *", NULL, "field \"minute\": step 0 in \"*/0\""},
        {"0 0-23/0 * * *", NULL, "field \"hour\": step 0"},
        {"*/x * * * *", NULL, "field \"minute\": invalid step \"x\" in \"*/x\""},
        {"*/ * * * *", NULL, "field \"minute\": invalid step \"\""},
        {"1/2/3 * * * *", NULL, "field \"minute\": invalid step \"2/3\""},
        {"5-1 * * * *", NULL, "field \"minute\": range 5-1 is reversed"},
        {"0 0 * * FRI-SUN", NULL, "field \"day-of-week\": range FRI-SUN is reversed"},
        {"5x * * * *", NULL, "field \"minute\": invalid value \"5x\""},
        {"1-2-3 * * * *", NULL, "field \"minute\": invalid value \"2-3\" in \"1-2-3\""},
        {"-5 * * * *", NULL, "field \"minute\": missing value in \"-5\""},
        {"1- * * * *", NULL, "field \"minute\": missing value in \"1-\""},
        {"1,,2 * * * *", NULL, "field \"minute\": empty list element in \"1,,2\""},
        {"1, * * * *", NULL, "field \"minute\": empty list element"},
        {"*-5 * * * *", NULL, "field \"minute\": invalid value \"*\""},
        {"? * * * *", NULL, "field \"minute\": \"?\" is only allowed in day-of-month"},
        {"0 0 * * MON#2", NULL, "field \"day-of-week\": invalid value \"MON#2\""},
        {"0 0 * * *\x01", NULL, "field \"day-of-week\": invalid value \"*?\""},
        {"0 0 \xc3\xa9 * *", NULL, "field \"day-of-month\": invalid value \"??\""},
        {"@every 0s", NULL, "@every: duration \"0s\" is shorter than the minimum of 1s"},
        {"@every 0", NULL, "shorter than the minimum of 1s"},
        {"@every 500ms", NULL, "@every: duration \"500ms\" is shorter than the minimum of 1s"},
        {"@every 1.5s", NULL, "@every: duration \"1.5s\" is not a whole number of seconds"},
        {"@every 1001ms", NULL, "not a whole number of seconds"},
        {"@every -5s", NULL, "@every: invalid duration \"-5s\""},
        {"@every 1e3s", NULL, "@every: invalid duration \"1e3s\""},
        {"@every forever", NULL, "@every: invalid duration \"forever\""},
        {"@every 10", NULL, "@every: invalid duration \"10\""},
        {"@every", NULL, "@every takes exactly one duration"},
        {"@every 1h 30m", NULL,
         "@every takes exactly one duration, e.g. \"@every 1h30m\" (found 2)"},
        {"@every 99999999999h", NULL, "@every: invalid duration"},
        {"@every 100000000h", NULL, "@every: duration \"100000000h\" is too long"},
        {"@fortnightly", NULL, "unknown descriptor \"@fortnightly\""},
        {"@", NULL, "unknown descriptor \"@\""},
        {"@daily 5", NULL, "descriptor \"@daily\" takes no arguments"},
        {"CRON_TZ=Mars/Olympus * * * * *", NULL, "unknown time zone \"Mars/Olympus\""},
        {"TZ=../../etc/passwd * * * * *", NULL, "unknown time zone \"../../etc/passwd\""},
        {"TZ=/etc/localtime * * * * *", NULL, "unknown time zone \"/etc/localtime\""},
        {"TZ=zone.tab * * * * *", NULL, "unknown time zone \"zone.tab\" (not a valid zoneinfo"},
        {"TZ=Europe * * * * *", NULL, "unknown time zone \"Europe\""},
        {"TZ=right/Europe/Berlin * * * * *", NULL, "leap seconds"},
        {"CRON_TZ= * * * * *", NULL, "empty time zone in \"CRON_TZ=\""},
        {"CRON_TZ=Europe/Berlin", NULL, "time zone prefix \"CRON_TZ=Europe/Berlin\" without"},
        {"cron_tz=Europe/Berlin * * * * *", NULL, "found 6"},
        {"* * * * *", "Nowhere/Special", "unknown time zone \"Nowhere/Special\""},
        {"60 * * * *", "Nowhere/Special", "field \"minute\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct cron_spec s;
        struct buf err;
        buf_init(&err, 1024);
        memset(&s, 0x5a, sizeof(s));
        if (cron_parse(&s, rows[i].spec, rows[i].tz, &err) == 0)
            fail_msg("cron_parse(\"%s\") succeeded, want error \"%s\"", rows[i].spec, rows[i].err);
        const char *msg = buf_str(&err);
        if (!strstr(msg, rows[i].err))
            fail_msg("cron_parse(\"%s\"): error \"%s\", want it to contain \"%s\"", rows[i].spec,
                     msg, rows[i].err);
        if (strchr(msg, '\n'))
            fail_msg("cron_parse(\"%s\"): error is not one line: \"%s\"", rows[i].spec, msg);
        assert_int_equal(s.kind, CRON_NONE); /* zeroed, so releasing is harmless */
        assert_null(s.text);
        assert_int_equal(cron_next(&s, 0), -1);
        cron_release(&s);
        buf_release(&err);
    }
    /* NULL spec and NULL err are allowed */
    struct cron_spec s;
    assert_int_equal(cron_parse(&s, NULL, NULL, NULL), -1);
}

static void test_text_and_fields(void **state)
{
    (void)state;
    struct cron_spec s;
    parse_ok(&s, "  0   0 * *\tMON ", NULL);
    assert_string_equal(cron_spec_text(&s), "0 0 * * MON");
    assert_string_equal(cron_spec_tz(&s), "UTC");
    assert_int_equal(s.kind, CRON_FIELDS);
    assert_int_equal(s.dow, 1 << 1);
    assert_true(s.dom_star);
    assert_false(s.dow_star);
    cron_release(&s);

    parse_ok(&s, "CRON_TZ=Europe/Berlin  30 2 * * 0,7", "Asia/Tokyo");
    assert_string_equal(cron_spec_text(&s), "CRON_TZ=Europe/Berlin 30 2 * * 0,7");
    assert_string_equal(cron_spec_tz(&s), "Europe/Berlin");
    assert_int_equal(s.dow, 1);
    assert_false(s.dow_star);
    cron_release(&s);

    parse_ok(&s, "@every   1h30m", "Asia/Tokyo");
    assert_string_equal(cron_spec_text(&s), "@every 1h30m");
    assert_string_equal(cron_spec_tz(&s), "Asia/Tokyo");
    assert_int_equal(s.kind, CRON_EVERY);
    assert_int_equal(s.every_ms, 5400000);
    cron_release(&s);

    parse_ok(&s, "@weekly", "");
    assert_int_equal(s.minute, 1);
    assert_int_equal(s.hour, 1);
    assert_int_equal(s.dow, 1);
    assert_int_equal(s.month, 0x1ffe);
    assert_int_equal(s.dom, 0xfffffffe);
    assert_string_equal(cron_spec_tz(&s), "UTC");
    cron_release(&s);

    parse_ok(&s, "* * * * *", "Local");
    assert_string_equal(cron_spec_tz(&s), "Local");
    cron_release(&s);

    /* unparsed and released specs are inert */
    memset(&s, 0, sizeof(s));
    assert_string_equal(cron_spec_text(&s), "");
    assert_int_equal(cron_next(&s, 0), -1);
    assert_int_equal(cron_prev(&s, 0), -1);
    cron_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_fields),
        cmocka_unit_test(test_next_dom_dow),
        cmocka_unit_test(test_next_descriptors),
        cmocka_unit_test(test_next_zones),
        cmocka_unit_test(test_prev),
        cmocka_unit_test(test_walk_consistency),
        cmocka_unit_test(test_zones_against_libc),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_text_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
