/* Scan messages: validation (docs/ingest.md, Messages). The consumer that
 * runs it is scan_consumer.c. */
#include "ingest/scans.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"

#define TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

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

static enum scan_invalid parse_ip(json_t *v, struct scan_msg *m, struct buf *detail)
{
    const char *s = json_string_value(v);
    if (!s || memchr(s, 0, json_string_length(v)))
        return fail(detail, SCAN_IP, "ip: expected an IPv4 or IPv6 address");
    if (scan_ip_canonical(s, m->ip, sizeof(m->ip)) < 0)
        return fail(detail, SCAN_IP, "ip: \"%.45s\" is not an IPv4 or IPv6 address", s);
    return SCAN_OK;
}

static enum scan_invalid parse_service(json_t *v, struct scan_msg *m, struct buf *detail)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n > SCAN_SERVICE_MAX)
        return fail(detail, SCAN_SERVICE, "service: expected a string of 1..%d bytes",
                    SCAN_SERVICE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(detail, SCAN_SERVICE, "service: control character at byte %zu", i);
    memcpy(m->service, s, n + 1);
    return SCAN_OK;
}

/* The response of data_version 1 (base64 of UTF-8) or 2 (a JSON string). */
static enum scan_invalid parse_response(json_t *data, int version, struct scan_msg *m,
                                        struct buf *detail)
{
    const char *field = version == 1 ? "response_bytes_utf8" : "response_str";
    json_t *v = json_is_object(data) ? json_object_get(data, field) : NULL;
    if (!v)
        return fail(detail, SCAN_MISSING_FIELD, "missing data.%s (data_version %d)", field,
                    version);
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (version == 1) {
        if (!s)
            return fail(detail, SCAN_BASE64, "data.%s: expected a base64 string", field);
        unsigned char *out = xmalloc(n / 4 * 3 + 1);
        long len = base64_decode(s, n, out);
        if (len < 0) {
            free(out);
            return fail(detail, SCAN_BASE64, "data.%s: not canonical base64", field);
        }
        if (!utf8_valid(out, (size_t)len) || memchr(out, 0, (size_t)len)) {
            free(out);
            return fail(detail, SCAN_ENCODING, "data.%s: decoded bytes are not UTF-8 text", field);
        }
        out[len] = '\0';
        m->response = (char *)out;
        m->response_len = (size_t)len;
        return SCAN_OK;
    }
    /* jansson has checked the UTF-8; only NUL (\u0000) is left to refuse. */
    if (!s || memchr(s, 0, n))
        return fail(detail, SCAN_ENCODING, "data.%s: expected text without NUL", field);
    m->response = xstrdup(s);
    m->response_len = n;
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
    json_error_t jerr;
    /* NUL escapes are let through to be refused as "encoding", by field. */
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return fail(detail, SCAN_JSON, "%s", o ? "not a JSON object" : jerr.text);
    }
    static const char *const required[] = {"ip",        "port",         "service",
                                           "timestamp", "data_version", "data"};
    enum scan_invalid r = SCAN_OK;
    for (size_t i = 0; i < ARRAY_SIZE(required) && r == SCAN_OK; i++)
        if (!json_object_get(o, required[i]))
            r = fail(detail, SCAN_MISSING_FIELD, "missing field \"%s\"", required[i]);
    json_t *port = json_object_get(o, "port"), *ts = json_object_get(o, "timestamp");
    json_t *ver = json_object_get(o, "data_version");
    if (r == SCAN_OK)
        r = parse_ip(json_object_get(o, "ip"), out, detail);
    if (r == SCAN_OK && (!json_is_integer(port) || json_integer_value(port) < 1 ||
                         json_integer_value(port) > 65535))
        r = fail(detail, SCAN_PORT, "port: expected an integer in 1..65535");
    if (r == SCAN_OK)
        r = parse_service(json_object_get(o, "service"), out, detail);
    if (r == SCAN_OK &&
        (!json_is_integer(ts) || json_integer_value(ts) < 0 || json_integer_value(ts) > TS_MAX))
        r = fail(detail, SCAN_TIMESTAMP, "timestamp: expected Unix seconds in 0..%lld",
                 (long long)TS_MAX);
    if (r == SCAN_OK &&
        (!json_is_integer(ver) || (json_integer_value(ver) != 1 && json_integer_value(ver) != 2)))
        r = fail(detail, SCAN_DATA_VERSION, "data_version: expected 1 or 2");
    if (r == SCAN_OK) {
        out->port = (int)json_integer_value(port);
        out->ts = (int64_t)json_integer_value(ts);
        r = parse_response(json_object_get(o, "data"), (int)json_integer_value(ver), out, detail);
    }
    json_decref(o);
    if (r != SCAN_OK)
        scan_msg_release(out);
    return r;
}
