/* Small pure helpers: number and duration parsing, time formatting. */
#ifndef INV_UTIL_H
#define INV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/xalloc.h"

/* Parses a whole decimal integer within [min, max]; 0 or -1. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) MUSTCHECK;
int parse_int(const char *s, int min, int max, int *out) MUSTCHECK;
/* "true/false/yes/no/on/off/1/0" (YAML 1.1 booleans as people write them). */
int parse_bool(const char *s, bool *out) MUSTCHECK;

/* Go-style durations: "300ms", "30s", "1h30m", "2h45m10.5s"; units ns, us
 * (µs), ms, s, m, h; a bare "0" is zero. Result in milliseconds, >= 0.
 * Fractions below a millisecond are truncated. */
int duration_parse(const char *s, int64_t *ms) MUSTCHECK;
/* Formats like Go's time.Duration.String(): "1h7m40.951s", "30m0s", "0s". */
void duration_format(int64_t ms, char *out, size_t n);

/* Wall clock in milliseconds / monotonic clock in milliseconds. */
int64_t now_ms(void);
int64_t mono_ms(void);

/* "2024-06-03 09:41:03.675529 +0000 UTC" (Go's time.Time.String() in UTC)
 * from Unix microseconds; trailing zeros of the fraction are dropped. */
void time_format_go(int64_t unix_us, char *out, size_t n);

/* True if s is a non-empty string of [A-Za-z0-9_.:-] at most max long. */
bool is_safe_name(const char *s, size_t max);

/* The value of one hexadecimal digit (either case), or -1. Inline:
 * validators call it per character of every UUID. */
static inline int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Standard base64 (RFC 4648 section 4, '=' padding required, no line
 * breaks, zero pad bits) of len bytes into out (at least len / 4 * 3
 * bytes): the decoded length, or -1 when s is not canonical base64. */
long base64_decode(const char *s, size_t len, unsigned char *out);

/* True if the n bytes are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool utf8_valid(const unsigned char *s, size_t n);
/* How many of the n bytes of s come before the first control byte
 * (< 0x20), backslash or byte q: the run a string escaper (JSON: q '"';
 * COPY text: q '\\') can copy as it is. Sixteen bytes a step with SSE2,
 * else eight. */
size_t plain_run(const char *s, size_t n, unsigned char q);

/* Trims ASCII whitespace at both ends in place; returns s. */
char *str_trim(char *s);

/* FNV-1a over n bytes, continued from h (FNV1A_OFFSET to start): the
 * in-memory hash tables' and caches' hash. */
#define FNV1A_OFFSET 14695981039346656037ULL
uint64_t fnv1a(uint64_t h, const void *p, size_t n);

#define UUID_LEN 36
/* A random (version 4) UUID, lower-case with dashes. */
void uuid4(char out[UUID_LEN + 1]);

#endif
