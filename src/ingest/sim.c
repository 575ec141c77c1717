/* Scan-message generator for `inventory ingest simulate scans` (sim.h,
 * docs/ingest.md "Simulator"). Everything derives from the seed: keys from
 * their index, timestamps from a per-key clock starting at SIM_BASE_TS,
 * responses from the key, the timestamp and a variant. */
#include "ingest/sim.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ingest/scans.h"

enum banner { B_SSH, B_HTTP, B_HTTPS, B_FTP, B_SMTP, B_MYSQL, B_REDIS };

/* Key k runs service svcs[k % NSVC] on host k / NSVC. */
static const struct svc {
    int port;
    const char *name;
    enum banner banner;
} svcs[] = {
    {22, "SSH", B_SSH},       {80, "HTTP", B_HTTP},     {443, "HTTPS", B_HTTPS},
    {8080, "HTTP", B_HTTP},   {21, "FTP", B_FTP},       {25, "SMTP", B_SMTP},
    {3306, "MYSQL", B_MYSQL}, {6379, "REDIS", B_REDIS}, {8443, "HTTPS", B_HTTPS},
    {2222, "SSH", B_SSH},     {443, "HTTP", B_HTTP},    {587, "SMTP", B_SMTP},
};
#define NSVC ((int64_t)ARRAY_SIZE(svcs))

/* splitmix64: small, fast, and every seed gives a full-quality stream. */
static uint64_t rnd(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the modulo bias is below 2^-40 for our n). */
static int64_t below(struct sim *s, int64_t n)
{
    return (int64_t)(rnd(s) % (uint64_t)n);
}

/* Uniform in [0, 1). */
static double unit(struct sim *s)
{
    return (double)(rnd(s) >> 11) * 0x1.0p-53;
}

static int64_t gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void sim_init(struct sim *s, const struct sim_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->o = *o;
    s->rng = o->seed;
    s->newest = xcalloc((size_t)o->keys, sizeof(*s->newest));
    /* Fresh messages visit the keys in a scrambled order that covers every
     * key once per round: i -> (i * stride + offset) mod keys, stride
     * coprime with keys. */
    s->stride = o->keys > 1 ? 1 + below(s, o->keys - 1) : 1;
    while (gcd(s->stride, o->keys) != 1)
        s->stride = s->stride % o->keys + 1;
    s->offset = below(s, o->keys);
    buf_init(&s->out, BUF_NOLIMIT);
    buf_init(&s->resp, BUF_NOLIMIT);
    buf_init(&s->val, BUF_NOLIMIT);
}

void sim_release(struct sim *s)
{
    for (size_t i = 0; i < s->ring_n; i++)
        free(s->ring[i]);
    free(s->newest);
    free(s->b64);
    buf_release(&s->out);
    buf_release(&s->resp);
    buf_release(&s->val);
    memset(s, 0, sizeof(*s));
}

const char *sim_kind_name(enum sim_kind k)
{
    static const char *const names[SIM_NKINDS] = {"valid", "duplicates", "out_of_order", "invalid"};
    return (unsigned)k < SIM_NKINDS ? names[k] : "?";
}

static int64_t key_at(const struct sim *s, int64_t i)
{
    return (int64_t)(((uint64_t)i * (uint64_t)s->stride + (uint64_t)s->offset) %
                     (uint64_t)s->o.keys);
}

/* --- keys and responses ------------------------------------------------------ */

struct key {
    char ip[48]; /* as written in the message */
    const struct svc *svc;
    int64_t host;
};

/* Host a = k / NSVC + 1 is 10.a.b.c, or 2001:db8::a for every eighth
 * host; an IPv6 address is sometimes spelled out in full (upper case,
 * leading zeros), which the consumer stores in canonical form. */
static void key_of(int64_t k, bool spelled_out, struct key *out)
{
    int64_t a = k / NSVC + 1;
    out->svc = &svcs[k % NSVC];
    out->host = a;
    if (a % 8 != 0) {
        snprintf(out->ip, sizeof(out->ip), "10.%d.%d.%d", (int)(a >> 16 & 255), (int)(a >> 8 & 255),
                 (int)(a & 255));
        return;
    }
    unsigned char b[16] = {0x20, 0x01, 0x0d, 0xb8};
    for (int i = 0; i < 4; i++)
        b[12 + i] = (unsigned char)(a >> (24 - 8 * i));
    if (spelled_out) {
        snprintf(out->ip, sizeof(out->ip),
                 "%02X%02X:%02X%02X:%02X%02X:%02X%02X:%02X%02X:%02X%02X:"
                 "%02X%02X:%02X%02X",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                 b[13], b[14], b[15]);
        return;
    }
    if (!inet_ntop(AF_INET6, b, out->ip, sizeof(out->ip)))
        abort();
}

/* A realistic banner of the key's service at ts; variant 0..3 picks one
 * of several shapes (3 holds non-ASCII text). The text changes with ts, so
 * which message was kept is visible in the table. */
static void banner(struct buf *r, const struct key *k, int64_t ts, int v)
{
    char date[64];
    time_t t = (time_t)ts;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
        snprintf(date, sizeof(date), "@%lld", (long long)ts);
    long long up = (long long)(ts - SIM_BASE_TS + 86400 * (1 + k->host % 30));
    int minor = (int)(ts / 3600 % 10);
    buf_reset(r);
    switch (k->svc->banner) {
    case B_SSH: {
        static const char *const tail[] = {"p1 Debian-2+deb12u3", "p1 Ubuntu-3ubuntu13.5", "",
                                           "p1 Raspbian-5 — ключ принят"};
        buf_putf(r, "SSH-2.0-OpenSSH_9.%d%s host-time=%lld", minor, tail[v], (long long)ts);
        break;
    }
    case B_HTTP: {
        static const char *const status[] = {"200 OK", "200 OK", "404 Not Found", "200 OK"};
        static const char *const body[] = {
            "<html><head><title>Welcome to nginx!</title></head></html>",
            "<html><head><title>Grafana</title></head></html>",
            "<html><body><h1>404 Not Found</h1></body></html>",
            "<html><head><title>Willkommen – Übersicht</title></head></html>"};
        buf_putf(r,
                 "HTTP/1.1 %s\r\nServer: nginx/1.25.%d\r\nDate: %s\r\nContent-Type: text/html; "
                 "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 status[v], minor, date, strlen(body[v]), body[v]);
        break;
    }
    case B_HTTPS: {
        static const char *const host[] = {"www.example.com", "portal.example.org",
                                           "intranet.example.net", "bücher.例え.jp"};
        buf_putf(r,
                 "HTTP/1.1 301 Moved Permanently\r\nServer: Apache/2.4.%d (Debian)\r\nDate: %s\r\n"
                 "Location: https://%s/\r\nStrict-Transport-Security: max-age=63072000\r\n"
                 "Content-Length: 0\r\n\r\n",
                 50 + minor, date, host[v]);
        break;
    }
    case B_FTP: {
        static const char *const fmt[] = {"220 (vsFTPd 3.0.%d) uptime %lld\r\n",
                                          "220 ProFTPD 1.3.%d Server ready, uptime %lld\r\n",
                                          "220 FileZilla Server 1.%d.0 up %lld s\r\n",
                                          ("220-Bienvenue — accès réservé 🚀\r\n220 Pure-FTPd "
                                           "1.0.%d, en service depuis %lld s\r\n")};
        buf_putf(r, fmt[v], minor, up);
        break;
    }
    case B_SMTP: {
        static const char *const fmt[] = {"220 mx%d.example.org ESMTP Postfix (Debian/GNU) %s\r\n",
                                          ("220 mail%d.example.com Microsoft ESMTP MAIL Service "
                                           "ready at %s\r\n"),
                                          "220 smtp%d.example.net ESMTP Exim 4.96 %s\r\n",
                                          "220 メール%d.例え.jp ESMTP 準備完了 %s\r\n"};
        buf_putf(r, fmt[v], (int)(k->host % 9) + 1, date);
        break;
    }
    case B_MYSQL: {
        static const char *const fmt[] = {"5.7.%d-log mysql_native_password uptime=%lld",
                                          "8.0.3%d MySQL Community Server - GPL uptime=%lld",
                                          "10.11.%d-MariaDB-0+deb12u1 uptime=%lld",
                                          "8.0.3%d Percona Server — café uptime=%lld"};
        buf_putf(r, fmt[v], minor, up);
        break;
    }
    case B_REDIS: {
        static const char *const fmt[] = {
            "-NOAUTH Authentication required. (uptime %lld, 7.2.%d)\r\n",
            "$120\r\n# Server\r\nuptime_in_seconds:%lld\r\nredis_version:7.2.%d\r\n",
            "-DENIED Redis is running in protected mode (up %lld s, 6.2.%d)\r\n",
            "$64\r\n# Server\r\nuptime_in_seconds:%lld\r\nredis_version:7.%d — ok\r\n"};
        buf_putf(r, fmt[v], up, minor);
        break;
    }
    }
}

/* --- messages -------------------------------------------------------------- */

enum {
    OM_IP = 1,
    OM_PORT = 2,
    OM_SERVICE = 4,
    OM_TS = 8,
    OM_VERSION = 16,
    OM_DATA = 32,
    OM_RESP = 64,
};

/* A message as JSON value texts; invalid messages replace one of them. */
struct parts {
    char ip[96], port[32], service[96], ts[32], version[16];
    const char *rkey; /* response_str or response_bytes_utf8 */
    unsigned omit;    /* OM_* fields left out */
};

static void add_base64(struct sim *s, struct buf *b, const void *p, size_t n)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    s->b64 = xgrow(s->b64, &s->b64_cap, need, 1);
    int m = EVP_EncodeBlock((unsigned char *)s->b64, p, (int)n);
    buf_put(b, s->b64, (size_t)m);
}

/* s->val = the JSON value of s->resp for data_version v. */
static void response_value(struct sim *s, int version)
{
    buf_reset(&s->val);
    if (version == 2) {
        if (buf_add_json_string(&s->val, s->resp.ptr, s->resp.len) < 0)
            abort();
        return;
    }
    buf_puts(&s->val, "\"");
    add_base64(s, &s->val, s->resp.ptr, s->resp.len);
    buf_puts(&s->val, "\"");
}

static void field(struct buf *b, const char **sep, const char *name, const char *val)
{
    buf_putf(b, "%s\"%s\":%s", *sep, name, val);
    *sep = ",";
}

/* s->out = the message of p with s->val as the response value. */
static void emit(struct sim *s, const struct parts *p)
{
    struct buf *b = &s->out;
    const char *sep = "";
    buf_reset(b);
    buf_puts(b, "{");
    if (!(p->omit & OM_IP))
        field(b, &sep, "ip", p->ip);
    if (!(p->omit & OM_PORT))
        field(b, &sep, "port", p->port);
    if (!(p->omit & OM_SERVICE))
        field(b, &sep, "service", p->service);
    if (!(p->omit & OM_TS))
        field(b, &sep, "timestamp", p->ts);
    if (!(p->omit & OM_VERSION))
        field(b, &sep, "data_version", p->version);
    if (!(p->omit & OM_DATA)) {
        buf_putf(b, "%s\"data\":{", sep);
        if (!(p->omit & OM_RESP)) {
            buf_putf(b, "\"%s\":", p->rkey);
            buf_put(b, s->val.ptr, s->val.len);
        }
        buf_puts(b, "}");
    }
    buf_puts(b, "}");
}

/* A valid message of key k at ts into p, s->resp and s->val; the draws
 * (spelling, version, variant) come from the stream. */
static void valid_parts(struct sim *s, int64_t k, int64_t ts, struct parts *p, int *version)
{
    struct key key;
    bool spelled = below(s, 4) == 0;
    *version = below(s, 2) ? 2 : 1;
    int variant = (int)below(s, 4);
    key_of(k, spelled, &key);
    memset(p, 0, sizeof(*p));
    snprintf(p->ip, sizeof(p->ip), "\"%s\"", key.ip);
    snprintf(p->port, sizeof(p->port), "%d", key.svc->port);
    snprintf(p->service, sizeof(p->service), "\"%s\"", key.svc->name);
    snprintf(p->ts, sizeof(p->ts), "%lld", (long long)ts);
    snprintf(p->version, sizeof(p->version), "%d", *version);
    p->rkey = *version == 2 ? "response_str" : "response_bytes_utf8";
    banner(&s->resp, &key, ts, variant);
    response_value(s, *version);
}

static void ring_put(struct sim *s, const struct buf *b)
{
    size_t i = s->ring_next;
    if (s->ring_n < SIM_RING)
        s->ring_n++;
    else
        free(s->ring[i]);
    s->ring[i] = xstrndup(b->ptr, b->len);
    s->ring_len[i] = b->len;
    s->ring_next = (i + 1) % SIM_RING;
}

/* Bytes that are not valid UTF-8 (or hold a NUL) after a valid prefix. */
static const struct {
    const char *p;
    size_t n;
} bad_utf8[] = {
    {"\xff\xfe", 2},         /* never valid */
    {"\0 after NUL", 11},    /* NUL */
    {"\xc0\xaf", 2},         /* overlong '/' */
    {"\xed\xa0\x80", 3},     /* UTF-16 surrogate */
    {"caf\xc3", 4},          /* truncated sequence at the end */
    {"\xf4\x90\x80\x80", 4}, /* above U+10FFFF */
};

/* Breaks exactly one rule of a valid message: reason r (enum
 * scan_invalid), its sub-variant n. */
static void invalid(struct sim *s, int r, int64_t n, struct parts *p, int version)
{
    static const char *const ips[] = {"\"999.1.1.1\"",   "\"not-an-ip\"", "1234",
                                      "\"10.0.0.1/24\"", "\"\"",          "\"2001:db8::g\""};
    static const char *const ports[] = {"0", "70000", "\"443\"", "-1", "80.5"};
    static const char *const services[] = {
        "\"\"",
        ("\"SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"
         "SSSSSSSSSSS\""),
        "\"HT\\u0001TP\"", "\"SSH\\nX\"", "22"};
    static const char *const stamps[] = {"-1", "253402300800", "\"1732000000\"", "1732000000.5",
                                         "true"};
    static const char *const versions[] = {"3", "0", "\"2\"", "-1"};
    static const unsigned omits[] = {OM_IP,      OM_PORT, OM_SERVICE, OM_TS,
                                     OM_VERSION, OM_DATA, OM_RESP};
    struct buf *b = &s->out;
    switch (r) {
    case SCAN_JSON:
        switch (n % 6) {
        case 0: /* truncated */
            emit(s, p);
            b->len -= 2;
            b->ptr[b->len] = '\0';
            break;
        case 1: /* an array, not an object */
            emit(s, p);
            buf_reset(&s->val);
            buf_put(&s->val, b->ptr, b->len);
            buf_reset(b);
            buf_putf(b, "[%s]", s->val.ptr);
            break;
        case 2: /* plain text */
            buf_reset(b);
            buf_putf(b, "ip=%.*s port=%s service=%.*s", (int)strlen(p->ip) - 2, p->ip + 1, p->port,
                     (int)strlen(p->service) - 2, p->service + 1);
            break;
        case 3:
            buf_reset(b);
            break;
        case 4: /* no data field in the entry */
            emit(s, p);
            s->msg.field = "payload";
            break;
        default:
            buf_reset(b);
            buf_puts(b, "null");
        }
        return;
    case SCAN_MISSING_FIELD:
        if (n % 8 == 7) /* the other version's field */
            p->rkey = version == 2 ? "response_bytes_utf8" : "response_str";
        else
            p->omit = omits[n % 8];
        break;
    case SCAN_IP:
        snprintf(p->ip, sizeof(p->ip), "%s", ips[n % ARRAY_SIZE(ips)]);
        break;
    case SCAN_PORT:
        snprintf(p->port, sizeof(p->port), "%s", ports[n % ARRAY_SIZE(ports)]);
        break;
    case SCAN_SERVICE:
        snprintf(p->service, sizeof(p->service), "%s", services[n % ARRAY_SIZE(services)]);
        break;
    case SCAN_TIMESTAMP:
        snprintf(p->ts, sizeof(p->ts), "%s", stamps[n % ARRAY_SIZE(stamps)]);
        break;
    case SCAN_DATA_VERSION:
        snprintf(p->version, sizeof(p->version), "%s", versions[n % ARRAY_SIZE(versions)]);
        break;
    case SCAN_BASE64: {
        static const char *const b64[] = {"\"U1NILTIu*C1PcGVuU1NI\"", "\"SGVsbG8\"", "\"Pz8_\"",
                                          "\"SGVsbG8===\""};
        snprintf(p->version, sizeof(p->version), "1");
        p->rkey = "response_bytes_utf8";
        buf_reset(&s->val);
        buf_puts(&s->val, b64[n % ARRAY_SIZE(b64)]);
        break;
    }
    case SCAN_ENCODING: {
        size_t i = (size_t)(n % (ARRAY_SIZE(bad_utf8) + 1));
        if (i == ARRAY_SIZE(bad_utf8)) { /* a NUL in response_str */
            snprintf(p->version, sizeof(p->version), "2");
            p->rkey = "response_str";
            buf_reset(&s->val);
            buf_puts(&s->val, "\"SSH-2.0-OpenSSH_9.6\\u0000\"");
            break;
        }
        buf_put(&s->resp, bad_utf8[i].p, bad_utf8[i].n);
        snprintf(p->version, sizeof(p->version), "1");
        p->rkey = "response_bytes_utf8";
        response_value(s, 1);
        break;
    }
    default: /* SCAN_OVERSIZED: a valid message with a huge response */
        while (s->resp.len <= s->o.max_message_size)
            buf_puts(&s->resp, "<p>0123456789 abcdefghijklmnopqrstuvwxyz</p>\n");
        response_value(s, version);
        break;
    }
    emit(s, p);
}

const struct sim_msg *sim_next(struct sim *s)
{
    const struct sim_opts *o = &s->o;
    struct sim_msg *m = &s->msg;
    struct parts p;
    int version;
    double u = unit(s);
    enum sim_kind kind = u < o->invalid                                     ? SIM_INVALID
                         : u < o->invalid + o->duplicates                   ? SIM_DUPLICATE
                         : u < o->invalid + o->duplicates + o->out_of_order ? SIM_OUT_OF_ORDER
                                                                            : SIM_FRESH;
    /* Nothing to repeat or to precede yet: the first message is fresh. */
    if ((kind == SIM_DUPLICATE && s->ring_n == 0) || (kind == SIM_OUT_OF_ORDER && !s->fresh))
        kind = SIM_FRESH;
    m->kind = kind;
    m->reason = 0;
    m->field = "data";
    switch (kind) {
    case SIM_DUPLICATE: {
        size_t i = (size_t)below(s, (int64_t)s->ring_n);
        m->data = (struct slice){s->ring[i], s->ring_len[i]};
        return m;
    }
    case SIM_OUT_OF_ORDER: {
        /* A key already sent: one of the first min(fresh, keys) visited. */
        int64_t seen = s->fresh < (uint64_t)o->keys ? (int64_t)s->fresh : o->keys;
        int64_t k = key_at(s, below(s, seen));
        int64_t ts = s->newest[k] - 1 - below(s, 86400);
        valid_parts(s, k, ts < 0 ? 0 : ts, &p, &version);
        emit(s, &p);
        ring_put(s, &s->out);
        break;
    }
    case SIM_INVALID: {
        int64_t k = below(s, o->keys);
        int64_t n = (int64_t)s->invalid++;
        valid_parts(s, k, s->newest[k] ? s->newest[k] : SIM_BASE_TS, &p, &version);
        m->reason = SCAN_JSON + (int)(n % (SCAN_NREASONS - 1));
        invalid(s, m->reason, n / (SCAN_NREASONS - 1), &p, version);
        break;
    }
    default: {
        int64_t k = key_at(s, (int64_t)(s->fresh % (uint64_t)o->keys));
        int64_t ts = s->newest[k] ? s->newest[k] + 1 + below(s, 60) : SIM_BASE_TS + below(s, 3600);
        s->fresh++;
        s->newest[k] = ts;
        valid_parts(s, k, ts, &p, &version);
        emit(s, &p);
        ring_put(s, &s->out);
    }
    }
    m->data = (struct slice){s->out.ptr ? s->out.ptr : "", s->out.len};
    return m;
}
