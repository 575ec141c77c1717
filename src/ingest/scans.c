/* Scan messages: validation (docs/ingest.md, Messages). The consumer that
 * runs it is scan_consumer.c. */
#include "ingest/scans.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsontok.h"
#include "core/util.h"

#define TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
/* Values of one message (ours has 9); more is refused as "json". */
#define SCAN_MAX_TOKENS 128

static const char *const reason_names[SCAN_NREASONS] = {
    "ok",        "json",         "missing_field", "ip",       "port",     "service",
    "timestamp", "data_version", "base64",        "encoding", "oversized"};

const char *scan_invalid_name(enum scan_invalid r)
{
    return r < SCAN_NREASONS ? reason_names[r] : "unknown";
}

void scan_msg_release(struct scan_msg *m)
{
    free(m->response);
    memset(m, 0, sizeof(*m));
}

/* ---- validation ---- */

static enum scan_invalid fail(struct buf *detail, enum scan_invalid r, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static enum scan_invalid fail(struct buf *detail, enum scan_invalid r, const char *fmt, ...)
{
    if (detail) {
        char text[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        buf_setf(detail, "%s", text);
    }
    return r;
}

int scan_ip_canonical(const char *in, char *out, size_t n)
{
    unsigned char addr[16];
    int af = strchr(in, ':') ? AF_INET6 : AF_INET;
    return strlen(in) <= 45 && inet_pton(af, in, addr) == 1 &&
                   inet_ntop(af, addr, out, (socklen_t)n)
               ? 0
               : -1;
}

/* The token of the member key of object t[obj], or -1; a key given twice
 * is -2 (refused as JSON, as a map cannot hold it). */
static int member(const char *s, const struct jt *t, int obj, const char *key)
{
    int found = -1;
    for (int k = obj + 1; k < (int)t[obj].next; k = (int)t[k + 1].next)
        if (jt_eq(s, &t[k], key)) {
            if (found >= 0)
                return -2;
            found = k + 1;
        }
    return found;
}

static enum scan_invalid parse_ip(const char *s, const struct jt *v, struct scan_msg *m,
                                  struct buf *detail)
{
    char ip[64];
    long n = v->type == JT_STRING ? jt_string(s, v, ip, sizeof(ip)) : -1;
    if (n < 0 || strlen(ip) != (size_t)n) /* not a string, too long, or with a NUL */
        return fail(detail, SCAN_IP, "ip: expected an IPv4 or IPv6 address");
    if (scan_ip_canonical(ip, m->ip, sizeof(m->ip)) < 0)
        return fail(detail, SCAN_IP, "ip: \"%.45s\" is not an IPv4 or IPv6 address", ip);
    return SCAN_OK;
}

static enum scan_invalid parse_service(const char *s, const struct jt *v, struct scan_msg *m,
                                       struct buf *detail)
{
    long n = v->type == JT_STRING ? jt_string(s, v, m->service, sizeof(m->service)) : -1;
    if (n < 1)
        return fail(detail, SCAN_SERVICE, "service: expected a string of 1..%d bytes",
                    SCAN_SERVICE_MAX);
    for (long i = 0; i < n; i++)
        if ((unsigned char)m->service[i] < 0x20 || m->service[i] == 0x7f)
            return fail(detail, SCAN_SERVICE, "service: control character at byte %ld", i);
    return SCAN_OK;
}

/* The response of data_version 1 (base64 of UTF-8) or 2 (a JSON string). */
static enum scan_invalid parse_response(const char *s, const struct jt *t, int data, int version,
                                        struct scan_msg *m, struct buf *detail)
{
    const char *field = version == 1 ? "response_bytes_utf8" : "response_str";
    int k = t[data].type == JT_OBJECT ? member(s, t, data, field) : -1;
    if (k == -2)
        return fail(detail, SCAN_JSON, "data.%s given twice", field);
    if (k < 0)
        return fail(detail, SCAN_MISSING_FIELD, "missing data.%s (data_version %d)", field,
                    version);
    const struct jt *v = &t[k];
    size_t cap = (size_t)(v->end - v->start) + 1; /* decoding never grows the text */
    if (v->type != JT_STRING)
        return fail(detail, version == 1 ? SCAN_BASE64 : SCAN_ENCODING,
                    "data.%s: expected a string", field);
    char *text = xmalloc(cap);
    long n = jt_string(s, v, text, cap);
    if (version == 1) {
        unsigned char *out = xmalloc((size_t)n / 4 * 3 + 1);
        long len = base64_decode(text, (size_t)n, out);
        free(text);
        if (len < 0) {
            free(out);
            return fail(detail, SCAN_BASE64, "data.%s: not canonical base64", field);
        }
        text = (char *)out;
        n = len;
        if (!utf8_valid(out, (size_t)n)) {
            free(text);
            return fail(detail, SCAN_ENCODING, "data.%s: decoded bytes are not UTF-8 text", field);
        }
    }
    if (memchr(text, 0, (size_t)n)) {
        free(text);
        return fail(detail, SCAN_ENCODING, "data.%s: text with a NUL byte", field);
    }
    text[n] = '\0';
    m->response = text;
    m->response_len = (size_t)n;
    return SCAN_OK;
}

enum scan_invalid scan_parse(const char *data, size_t len, size_t max, struct scan_msg *out,
                             struct buf *detail)
{
    memset(out, 0, sizeof(*out));
    if (!data)
        return fail(detail, SCAN_JSON, "entry without a data field");
    if (len > max)
        return fail(detail, SCAN_OVERSIZED, "%zu bytes, over the limit of %zu", len, max);
    struct jt t[SCAN_MAX_TOKENS];
    const char *why = NULL;
    if (jt_parse(data, len, t, SCAN_MAX_TOKENS, &why) < 0)
        return fail(detail, SCAN_JSON, "%s", why);
    if (t[0].type != JT_OBJECT)
        return fail(detail, SCAN_JSON, "not a JSON object");
    static const char *const names[] = {"ip",        "port",         "service",
                                        "timestamp", "data_version", "data"};
    int at[ARRAY_SIZE(names)];
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        at[i] = member(data, t, 0, names[i]);
        if (at[i] == -2)
            return fail(detail, SCAN_JSON, "duplicate key \"%s\"", names[i]);
    }
    enum scan_invalid r = SCAN_OK;
    for (size_t i = 0; i < ARRAY_SIZE(names) && r == SCAN_OK; i++)
        if (at[i] < 0)
            r = fail(detail, SCAN_MISSING_FIELD, "missing field \"%s\"", names[i]);
    int64_t port = 0, ts = 0, ver = 0;
    if (r == SCAN_OK)
        r = parse_ip(data, &t[at[0]], out, detail);
    if (r == SCAN_OK && (jt_int64(data, &t[at[1]], &port) < 0 || port < 1 || port > 65535))
        r = fail(detail, SCAN_PORT, "port: expected an integer in 1..65535");
    if (r == SCAN_OK)
        r = parse_service(data, &t[at[2]], out, detail);
    if (r == SCAN_OK && (jt_int64(data, &t[at[3]], &ts) < 0 || ts < 0 || ts > TS_MAX))
        r = fail(detail, SCAN_TIMESTAMP, "timestamp: expected Unix seconds in 0..%lld",
                 (long long)TS_MAX);
    if (r == SCAN_OK && (jt_int64(data, &t[at[4]], &ver) < 0 || (ver != 1 && ver != 2)))
        r = fail(detail, SCAN_DATA_VERSION, "data_version: expected 1 or 2");
    if (r == SCAN_OK) {
        out->port = (int)port;
        out->ts = ts;
        r = parse_response(data, t, at[5], (int)ver, out, detail);
    }
    if (r != SCAN_OK)
        scan_msg_release(out);
    return r;
}
