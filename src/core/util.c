/* Small pure helpers shared by every module. */
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    if (parse_int64(s, min, max, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static const struct {
    const char *name;
    double ms;
} units[] = {
    {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
    {"s", 1e3},   {"m", 60e3},  {"h", 3600e3},
};

int duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || v < 0)
            return -1;
        p = end;
        size_t best = 0, bestlen = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].name);
            if (strncmp(p, units[i].name, l) == 0 && l > bestlen) {
                best = i;
                bestlen = l;
            }
        }
        if (!bestlen)
            return -1;
        total += v * units[best].ms;
        p += bestlen;
        if (total > 9.2e15) /* ~290,000 years, far past any sane setting */
            return -1;
    }
    *ms = (int64_t)total;
    return 0;
}

void duration_format(int64_t ms, char *out, size_t n)
{
    if (ms == 0) {
        snprintf(out, n, "0s");
        return;
    }
    const char *sign = "";
    if (ms < 0) {
        sign = "-";
        ms = -ms;
    }
    if (ms < 1000) {
        snprintf(out, n, "%s%" PRId64 "ms", sign, ms);
        return;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[32];
    if (frac) {
        snprintf(sec, sizeof(sec), "%" PRId64 ".%03" PRId64, s, frac);
        size_t l = strlen(sec);
        while (sec[l - 1] == '0')
            sec[--l] = '\0';
    } else {
        snprintf(sec, sizeof(sec), "%" PRId64, s);
    }
    if (h)
        snprintf(out, n, "%s%" PRId64 "h%" PRId64 "m%ss", sign, h, m, sec);
    else if (m)
        snprintf(out, n, "%s%" PRId64 "m%ss", sign, m, sec);
    else
        snprintf(out, n, "%s%ss", sign, sec);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_go(int64_t unix_us, char *out, size_t n)
{
    time_t secs = (time_t)(unix_us / 1000000);
    int64_t us = unix_us % 1000000;
    if (us < 0) {
        us += 1000000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32], frac[16] = "";
    strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
    if (us) {
        snprintf(frac, sizeof(frac), ".%06" PRId64, us);
        size_t l = strlen(frac);
        while (frac[l - 1] == '0')
            frac[--l] = '\0';
    }
    snprintf(out, n, "%s%s +0000 UTC", base, frac);
}

bool is_safe_name(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s)
        return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || !(isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

char *str_trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    if (i)
        memmove(s, s + i, n - i + 1);
    return s;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long base64_decode(const char *s, size_t len, unsigned char *out)
{
    if (len % 4)
        return -1;
    size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
    long n = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t digits = i + 4 == len ? 4 - pad : 4;
        for (size_t k = 0; k < 4; k++) {
            int d = k < digits ? b64_value((unsigned char)s[i + k]) : 0;
            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        out[n++] = (unsigned char)(v >> 16);
        if (digits > 2)
            out[n++] = (unsigned char)(v >> 8);
        if (digits > 3)
            out[n++] = (unsigned char)v;
        /* The bits past the last byte must be zero: one text per byte string. */
        if ((digits == 2 && (v & 0xffff)) || (digits == 3 && (v & 0xff)))
            return -1;
    }
    return n;
}

#define BYTES(b) (0x0101010101010101ull * (uint8_t)(b))

/* The high bit of the lane of each byte of w below b (b <= 0x80), and
 * maybe of lanes above a flagged one (a borrow); the lowest flagged lane
 * is exact, as no borrow comes from below it. */
static inline uint64_t any_below(uint64_t w, unsigned char b)
{
    return (w - BYTES(b)) & ~w & BYTES(0x80);
}

size_t plain_run(const char *s, size_t n, unsigned char q)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* Sixteen bytes a step where SSE2 is there (every x86-64): a lane is
     * flagged when it equals the backslash or q, or when min(c, 0x1f) == c
     * (c < 0x20, unsigned). */
    const __m128i bs = _mm_set1_epi8('\\'), qq = _mm_set1_epi8((char)q), ctl = _mm_set1_epi8(0x1f);
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, bs), _mm_cmpeq_epi8(v, qq)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
        unsigned mask = (unsigned)_mm_movemask_epi8(m); /* bit k: s[i + k] */
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#endif
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t m =
            any_below(w, 0x20) | any_below(w ^ BYTES('\\'), 1) | any_below(w ^ BYTES(q), 1);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (m)
            return i + (size_t)__builtin_ctzll(m) / 8; /* lane 0 is s[i] */
#else
        if (m)
            break;
#endif
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '\\' || c == q)
            break;
    }
    return i;
}

bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w;
#if defined(__SSE2__)
        if (n - i >= 16 &&
            _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i))) == 0) {
            i += 16; /* ASCII: no high bit in sixteen bytes */
            continue;
        }
#endif
        if (n - i >= 8 && (memcpy(&w, s + i, 8), !(w & BYTES(0x80)))) {
            i += 8; /* ASCII */
            continue;
        }
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

void uuid4(char out[UUID_LEN + 1])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}
