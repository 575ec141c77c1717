/* Host validation and normalisation (docs/hosts.md, Messages and
 * validation): one table row per key of a host object, then the rules
 * across fields; the ingress message around it. */
#include "hosts/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jsonload.h"
#include "core/util.h"

#define EXCERPT_MAX  36 /* bytes of a value quoted in a reason */
#define EXCERPT_SIZE (EXCERPT_MAX + 8)
#define TAG_PART_MAX 255
#define US_PER_DAY   86400000000LL

static const char *const reason_names[HOST_NREASONS] = {
    "ok",           "bad_json",     "oversized",      "bad_operation",      "missing_field",
    "bad_identity", "org_mismatch", "owner_mismatch", "bad_canonical_fact", "no_id_fact",
    "bad_provider", "bad_field",
};

static const char *const provider_types[] = {"alibaba", "aws", "azure", "gcp", "ibm"};

const char *host_invalid_name(enum host_invalid r)
{
    return r < HOST_NREASONS ? reason_names[r] : "unknown";
}

void host_in_release(struct host_in *h)
{
    free(h->display_name);
    free(h->ansible_host);
    free(h->reporter);
    free(h->fqdn);
    free(h->provider_id);
    for (size_t i = 0; i < h->n_ip_addresses; i++)
        free(h->ip_addresses[i]);
    free(h->ip_addresses);
    for (size_t i = 0; i < h->n_mac_addresses; i++)
        free(h->mac_addresses[i]);
    free(h->mac_addresses);
    json_decref(h->facts);
    json_decref(h->tags);
    json_decref(h->system_profile);
    memset(h, 0, sizeof(*h));
}

void host_in_forget_json(struct host_in *h)
{
    h->facts = h->tags = h->system_profile = NULL;
}

void host_msg_release(struct host_msg *m)
{
    host_in_release(&m->host);
    memset(m, 0, sizeof(*m));
}

/* ---- small checks ---- */

static enum host_invalid fail(struct buf *err, enum host_invalid r, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static enum host_invalid fail(struct buf *err, enum host_invalid r, const char *fmt, ...)
{
    if (err) {
        char text[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        buf_setf(err, "%s", text);
    }
    return r;
}

/* A quoted printable excerpt of untrusted text for err: other bytes as
 * '?', so the reason is safe to log and to put in JSON. */
static const char *excerpt(const char *s, char out[EXCERPT_SIZE])
{
    size_t i = 0;
    out[0] = '"';
    for (; i < EXCERPT_MAX && s[i]; i++)
        out[i + 1] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    snprintf(out + i + 1, EXCERPT_SIZE - i - 1, "%s\"", s[i] ? "..." : "");
    return out;
}

/* What v is, for err: an excerpt of a string, else its JSON type. */
static const char *shown(const json_t *v, char out[EXCERPT_SIZE])
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return excerpt(json_string_value(v), out);
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Characters (code points) of valid UTF-8, as HBI's limits count them. */
static size_t chars(const char *s)
{
    size_t count = 0;
    for (; *s; s++)
        count += ((unsigned char)*s & 0xc0) != 0x80;
    return count;
}

/* A string without NUL bytes of min..max characters. */
static bool is_string_of(const json_t *v, size_t min, size_t max)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v))
        return false;
    size_t n = chars(s);
    return n >= min && n <= max;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f')
            return false;
    return true;
}

/* 8-4-4-4-12 hexadecimal digits, either case. */
static bool is_uuid(const char *s)
{
    if (!s || strlen(s) != HOST_UUID_LEN)
        return false;
    for (int i = 0; i < HOST_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_digit(s[i]) < 0)
            return false;
    }
    return true;
}

static bool is_ten_digits(const char *s)
{
    for (int i = 0; i < 10; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return s[10] == '\0';
}

/* The MAC forms HBI accepts: 6 bytes as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff,
 * aabb.ccdd.eeff or aabbccddeeff; 20 bytes (InfiniBand) as 20 pairs joined
 * by ':' or '-', or 40 digits. One separator per address. *zero: all bytes
 * zero (a placeholder, dropped as HBI drops 00:00:00:00:00:00). */
static bool is_mac(const char *s, bool *zero)
{
    size_t n = strlen(s), group;
    switch (n) {
    case 12:
    case 40:
        group = 0;
        break;
    case 17:
    case 59:
        group = 2;
        break;
    case 14:
        group = 4;
        break;
    default:
        return false;
    }
    char sep = group ? s[group] : 0;
    if (group && sep != (group == 4 ? '.' : ':') && !(group == 2 && sep == '-'))
        return false;
    *zero = true;
    for (size_t i = 0; i < n; i++) {
        if (group && i % (group + 1) == group) {
            if (s[i] != sep)
                return false;
        } else if (hex_digit(s[i]) < 0) {
            return false;
        } else if (s[i] != '0') {
            *zero = false;
        }
    }
    return true;
}

/* inet_pton's address as inet_ntop writes it back (one text per address). */
static bool ip_canonical(const char *in, char out[INET6_ADDRSTRLEN])
{
    unsigned char addr[sizeof(struct in6_addr)];
    int af = strchr(in, ':') ? AF_INET6 : AF_INET;
    return strlen(in) < INET6_ADDRSTRLEN && inet_pton(af, in, addr) == 1 &&
           inet_ntop(af, addr, out, INET6_ADDRSTRLEN);
}

static bool no_empty_keys(const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if (!*k || !no_empty_keys(x))
                return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (!no_empty_keys(x))
                return false;
        }
    }
    return true;
}

/* ---- RFC 3339 ---- */

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_since_epoch(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t p = y - 1; /* whole years since 0001-01-01 */
    int64_t days = p * 365 + p / 4 - p / 100 + p / 400 + before[m - 1] + (m > 2 && leap(y)) + d - 1;
    return days - 719162; /* 0001-01-01 .. 1970-01-01 */
}

/* The whole rest of the text as a time zone, "Z" or +HH:MM / -HH:MM, in
 * minutes east of UTC. */
static bool parse_zone(const char *s, int *minutes)
{
    if ((s[0] == 'Z' || s[0] == 'z') && !s[1]) {
        *minutes = 0;
        return true;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return false;
    int h = num(s + 1, 2), m = num(s + 4, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return false;
    *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return true;
}

/* RFC 3339 date-time with its time zone (HBI's AwareDateTime): "T" or "t",
 * an optional fraction (digits past microseconds ignored), "Z" or an
 * offset; 0001..9999 in UTC. */
static bool rfc3339_us(const char *s, int64_t *us)
{
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return false;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    int hh = num(s + 11, 2), mi = num(s + 14, 2), ss = num(s + 17, 2);
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || hh < 0 ||
        hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int k = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 6)
                frac = frac * 10 + (*p - '0');
        if (k == 0)
            return false;
        for (; k < 6; k++)
            frac *= 10;
    }
    int zone;
    if (!parse_zone(p, &zone))
        return false;
    int64_t secs = days_since_epoch(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - zone * 60;
    *us = secs * 1000000 + frac;
    return *us >= days_since_epoch(1, 1, 1) * US_PER_DAY &&
           *us < (days_since_epoch(9999, 12, 31) + 1) * US_PER_DAY;
}

static void format_us(int64_t us, char *out, size_t n)
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* In range by construction; the modulos only tell the compiler so. */
    snprintf(out, n, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)frac % 1000000u);
}

/* ---- one row per key ---- */

struct parse {
    struct host_in *h;
    const char *org_id;
    struct buf *err;
    bool provider_id, provider_type; /* sent, for the pair rule */
};

struct field;
typedef enum host_invalid field_fn(struct parse *p, const struct field *f, json_t *v);

struct field {
    const char *name;
    field_fn *fn;    /* NULL: a key HBI knows that we accept and do not keep */
    size_t off;      /* the member of struct host_in the shared handlers fill */
    unsigned sent;   /* HOST_SENT_* */
    size_t min, max; /* string limits in characters */
};

#define AT(h, off)  ((char *)(h) + (off))
#define OFF(member) offsetof(struct host_in, member)

static enum host_invalid f_org_id(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_string(v))
        return fail(p->err, HOST_BAD_FIELD, "%s: expected a string, got %s", f->name, shown(v, ex));
    if (json_string_length(v) != strlen(p->org_id) || strcmp(json_string_value(v), p->org_id) != 0)
        return fail(p->err, HOST_ORG_MISMATCH, "%s %s differs from the identity's", f->name,
                    shown(v, ex));
    return HOST_OK;
}

/* display_name, ansible_host, reporter. */
static enum host_invalid f_text(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!is_string_of(v, f->min, f->max))
        return fail(p->err, HOST_BAD_FIELD, "%s: expected a string of %zu..%zu characters, got %s",
                    f->name, f->min, f->max, shown(v, ex));
    *(char **)AT(p->h, f->off) = xstrdup(json_string_value(v));
    p->h->sent |= f->sent;
    return HOST_OK;
}

/* fqdn, provider_id: lower-cased, not blank. */
static enum host_invalid f_fact_text(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (json_is_null(v))
        return HOST_OK;
    if (!is_string_of(v, f->min, f->max) || blank(json_string_value(v)))
        return fail(p->err, HOST_BAD_CANONICAL_FACT,
                    "%s: expected a non-blank string of %zu..%zu characters, got %s", f->name,
                    f->min, f->max, shown(v, ex));
    char *s = xstrdup(json_string_value(v));
    lower(s);
    *(char **)AT(p->h, f->off) = s;
    p->h->sent |= f->sent;
    p->provider_id |= f->off == OFF(provider_id);
    return HOST_OK;
}

/* insights_id, subscription_manager_id, bios_uuid; satellite_id also takes
 * ten digits (older Satellites). */
static enum host_invalid f_fact_id(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (json_is_null(v))
        return HOST_OK;
    const char *s = json_string_value(v);
    bool satellite = f->sent == HOST_SENT_SATELLITE_ID;
    if (!is_uuid(s) && !(satellite && s && is_ten_digits(s)))
        return fail(p->err, HOST_BAD_CANONICAL_FACT,
                    "%s: expected a UUID (8-4-4-4-12 hex digits)%s, got %s", f->name,
                    satellite ? " or 10 digits" : "", shown(v, ex));
    char *dst = AT(p->h, f->off);
    memcpy(dst, s, strlen(s) + 1);
    lower(dst);
    p->h->sent |= f->sent;
    return HOST_OK;
}

static enum host_invalid f_provider_type(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (json_is_null(v))
        return HOST_OK;
    if (!json_is_string(v))
        return fail(p->err, HOST_BAD_CANONICAL_FACT, "%s: expected a string, got %s", f->name,
                    shown(v, ex));
    char t[HOST_PROVIDER_TYPE_MAX + 1];
    snprintf(t, sizeof(t), "%s", json_string_value(v));
    lower(t);
    for (size_t i = 0; i < ARRAY_SIZE(provider_types); i++)
        if (json_string_length(v) == strlen(provider_types[i]) &&
            strcmp(t, provider_types[i]) == 0) {
            memcpy(p->h->provider_type, t, sizeof(t));
            p->provider_type = true;
            return HOST_OK;
        }
    return fail(p->err, HOST_BAD_PROVIDER,
                "%s: expected one of alibaba, aws, azure, gcp, ibm, got %s", f->name, shown(v, ex));
}

static enum host_invalid list_of_strings(struct parse *p, const struct field *f, json_t *v,
                                         const char *what)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(p->err, HOST_BAD_CANONICAL_FACT, "%s: expected a non-empty list of %s, got %s",
                    f->name, what, shown(v, ex));
    return HOST_OK;
}

static enum host_invalid f_ip_addresses(struct parse *p, const struct field *f, json_t *v)
{
    if (json_is_null(v))
        return HOST_OK;
    enum host_invalid r = list_of_strings(p, f, v, "IP addresses");
    if (r != HOST_OK)
        return r;
    struct host_in *h = p->h;
    h->ip_addresses = xcalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        char ip[INET6_ADDRSTRLEN], ex[EXCERPT_SIZE];
        if (!json_is_string(x) || !ip_canonical(json_string_value(x), ip))
            return fail(p->err, HOST_BAD_CANONICAL_FACT,
                        "%s[%zu]: expected an IPv4 or IPv6 address, got %s", f->name, i,
                        shown(x, ex));
        h->ip_addresses[h->n_ip_addresses++] = xstrdup(ip);
    }
    h->sent |= f->sent;
    return HOST_OK;
}

static enum host_invalid f_mac_addresses(struct parse *p, const struct field *f, json_t *v)
{
    if (json_is_null(v))
        return HOST_OK;
    enum host_invalid r = list_of_strings(p, f, v, "MAC addresses");
    if (r != HOST_OK)
        return r;
    struct host_in *h = p->h;
    h->mac_addresses = xcalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        char ex[EXCERPT_SIZE];
        bool zero;
        if (!json_is_string(x) || !is_mac(json_string_value(x), &zero))
            return fail(p->err, HOST_BAD_CANONICAL_FACT, "%s[%zu]: expected a MAC address, got %s",
                        f->name, i, shown(x, ex));
        if (zero)
            continue;
        char *mac = xstrdup(json_string_value(x));
        lower(mac);
        h->mac_addresses[h->n_mac_addresses++] = mac;
    }
    /* Only placeholders: as if not sent (HBI). */
    if (h->n_mac_addresses)
        h->sent |= f->sent;
    return HOST_OK;
}

static enum host_invalid f_facts(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_array(v))
        return fail(p->err, HOST_BAD_FIELD, "%s: expected a list of {namespace, facts}, got %s",
                    f->name, shown(v, ex));
    json_t *seen = json_object();
    enum host_invalid r = HOST_OK;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        json_t *ns = json_object_get(x, "namespace"), *facts = json_object_get(x, "facts");
        if (!json_is_object(x) || json_object_size(x) != 2 || !is_string_of(ns, 1, TAG_PART_MAX) ||
            !json_is_object(facts))
            r = fail(p->err, HOST_BAD_FIELD,
                     "%s[%zu]: expected exactly {\"namespace\": 1..255 characters, \"facts\": "
                     "an object}",
                     f->name, i);
        else if (!no_empty_keys(facts))
            r = fail(p->err, HOST_BAD_FIELD, "%s[%zu].facts: an empty key", f->name, i);
        else if (json_object_get(seen, json_string_value(ns)))
            r = fail(p->err, HOST_BAD_FIELD, "%s[%zu]: namespace %s given twice", f->name, i,
                     shown(ns, ex));
        if (r != HOST_OK)
            break;
        json_object_set(seen, json_string_value(ns), json_true());
    }
    json_decref(seen);
    if (r != HOST_OK)
        return r;
    p->h->facts = json_incref(v);
    p->h->sent |= f->sent;
    return HOST_OK;
}

/* ---- tags ---- */

#define TAGS_SCANNED 32 /* repeats found by comparison up to this many tags */

struct tagset {
    json_t *list; /* the normalised tags */
    json_t *seen; /* past TAGS_SCANNED: their compact JSON texts, to drop repeats */
};

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether the list holds the tag (ns, key, value), normalised. */
static bool tag_listed(const json_t *list, const char *ns, const char *key, const char *value)
{
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        if (same_text(json_string_value(json_object_get(x, "key")), key) &&
            same_text(json_string_value(json_object_get(x, "namespace")), ns) &&
            same_text(json_string_value(json_object_get(x, "value")), value))
            return true;
    }
    return false;
}

static int dump_to_buf(const char *s, size_t n, void *b)
{
    buf_put(b, s, n);
    return 0;
}

/* Records a tag's compact JSON text in seen; false when it was there.
 * (json_dump_callback, not json_dumps: its text would be jansson's to
 * free, from a message's arena.) */
static bool tag_seen(json_t *seen, const json_t *tag)
{
    struct buf text;
    buf_init(&text, BUF_NOLIMIT);
    if (json_dump_callback(tag, dump_to_buf, &text, JSON_COMPACT) < 0)
        abort(); /* out of memory */
    bool was = json_object_get(seen, buf_str(&text)) != NULL;
    if (!was)
        json_object_set_new(seen, buf_str(&text), json_true());
    buf_release(&text);
    return was;
}

/* Appends one tag unless it is there already; "" namespace or value is
 * null (the same tag in HBI's ns/key=value text form). A few tags are
 * compared, more are looked up by their JSON text. */
static void tag_add(struct tagset *t, const char *ns, const char *key, const char *value)
{
    ns = ns && *ns ? ns : NULL;
    value = value && *value ? value : NULL;
    size_t n = json_array_size(t->list);
    if (n < TAGS_SCANNED && tag_listed(t->list, ns, key, value))
        return;
    json_t *tag = json_object();
    json_object_set_new(tag, "namespace", ns ? json_string_nocheck(ns) : json_null());
    json_object_set_new(tag, "key", json_string_nocheck(key));
    json_object_set_new(tag, "value", value ? json_string_nocheck(value) : json_null());
    if (n == TAGS_SCANNED) { /* from now on by text: record the ones so far */
        size_t i;
        const json_t *x;
        json_array_foreach(t->list, i, x)
        {
            tag_seen(t->seen, x);
        }
    }
    if (n >= TAGS_SCANNED && tag_seen(t->seen, tag)) {
        json_decref(tag);
        return;
    }
    json_array_append_new(t->list, tag);
}

/* A namespace or value: a string of 0..255 characters or null. */
static bool tag_optional(const json_t *v)
{
    return !v || json_is_null(v) || is_string_of(v, 0, TAG_PART_MAX);
}

static enum host_invalid tags_list(struct parse *p, json_t *v, struct tagset *t)
{
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        json_t *ns = json_object_get(x, "namespace"), *key = json_object_get(x, "key"),
               *value = json_object_get(x, "value");
        size_t known = (ns != NULL) + (key != NULL) + (value != NULL);
        if (!json_is_object(x) || json_object_size(x) != known || !tag_optional(ns) ||
            !is_string_of(key, 1, TAG_PART_MAX) || !tag_optional(value))
            return fail(p->err, HOST_BAD_FIELD,
                        "tags[%zu]: expected {\"namespace\": 0..255 characters or null, \"key\": "
                        "1..255, \"value\": 0..255 or null}",
                        i);
        tag_add(t, json_string_value(ns), json_string_value(key), json_string_value(value));
    }
    return HOST_OK;
}

static enum host_invalid tags_nested(struct parse *p, json_t *v, struct tagset *t)
{
    const char *ns, *key;
    json_t *keys, *values, *x;
    size_t i;
    json_object_foreach(v, ns, keys)
    {
        if (chars(ns) > TAG_PART_MAX || (!json_is_null(keys) && !json_is_object(keys)))
            return fail(p->err, HOST_BAD_FIELD,
                        "tags: a namespace is 0..255 characters mapping to an object or null");
        json_object_foreach(keys, key, values)
        {
            bool list = json_is_array(values);
            if (!*key || chars(key) > TAG_PART_MAX || (!list && !json_is_null(values)))
                return fail(p->err, HOST_BAD_FIELD,
                            "tags: a key is 1..255 characters mapping to a list or null");
            if (!list || json_array_size(values) == 0)
                tag_add(t, ns, key, NULL);
            json_array_foreach(values, i, x)
            {
                if (!tag_optional(x))
                    return fail(p->err, HOST_BAD_FIELD,
                                "tags: a value is a string of 0..255 characters or null");
                tag_add(t, ns, key, json_string_value(x));
            }
        }
    }
    return HOST_OK;
}

/* Both HBI forms, [{namespace, key, value}] and {ns: {key: [values]}}, into
 * the first. */
static enum host_invalid f_tags(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_array(v) && !json_is_object(v))
        return fail(p->err, HOST_BAD_FIELD,
                    "%s: expected a list of {namespace, key, value} or an object "
                    "{namespace: {key: [values]}}, got %s",
                    f->name, shown(v, ex));
    struct tagset t = {json_array(), json_object()};
    enum host_invalid r = json_is_array(v) ? tags_list(p, v, &t) : tags_nested(p, v, &t);
    json_decref(t.seen);
    if (r != HOST_OK) {
        json_decref(t.list);
        return r;
    }
    p->h->tags = t.list;
    p->h->sent |= f->sent;
    return HOST_OK;
}

static enum host_invalid f_system_profile(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_object(v))
        return fail(p->err, HOST_BAD_FIELD, "%s: expected an object, got %s", f->name,
                    shown(v, ex));
    json_t *owner = json_object_get(v, "owner_id");
    const char *s = json_string_value(owner);
    if (owner && !is_uuid(s))
        return fail(p->err, HOST_BAD_FIELD, "%s.owner_id: expected a UUID, got %s", f->name,
                    shown(owner, ex));
    json_t *sp = json_incref(v);
    if (s && strcspn(s, "ABCDEF") < HOST_UUID_LEN) {
        /* A shallow copy: the caller's tree stays as it was. */
        char id[HOST_UUID_LEN + 1];
        memcpy(id, s, sizeof(id));
        lower(id);
        json_decref(sp);
        sp = json_copy(v);
        json_object_set_new(sp, "owner_id", json_string(id));
    }
    p->h->system_profile = sp;
    p->h->sent |= f->sent;
    return HOST_OK;
}

static enum host_invalid f_stale_timestamp(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    int64_t us;
    const char *s = json_string_value(v);
    if (!s || !rfc3339_us(s, &us))
        return fail(p->err, HOST_BAD_FIELD,
                    "%s: expected an RFC 3339 date-time with a time zone, got %s", f->name,
                    shown(v, ex));
    p->h->stale_timestamp_us = us;
    format_us(us, p->h->stale_timestamp, sizeof(p->h->stale_timestamp));
    p->h->sent |= f->sent;
    return HOST_OK;
}

/* HBI's account number: checked as HBI does, not kept (tenancy is org_id). */
static enum host_invalid f_account(struct parse *p, const struct field *f, json_t *v)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_null(v) && !is_string_of(v, 0, 10))
        return fail(p->err, HOST_BAD_FIELD, "%s: expected a string of 0..10 characters, got %s",
                    f->name, shown(v, ex));
    return HOST_OK;
}

/* Every key a host object may have, in the order they are checked. */
static const struct field fields[] = {
    {"org_id", f_org_id, 0, 0, 0, 0},
    {"insights_id", f_fact_id, OFF(insights_id), HOST_SENT_INSIGHTS_ID, 0, 0},
    {"subscription_manager_id", f_fact_id, OFF(subscription_manager_id),
     HOST_SENT_SUBSCRIPTION_MANAGER_ID, 0, 0},
    {"satellite_id", f_fact_id, OFF(satellite_id), HOST_SENT_SATELLITE_ID, 0, 0},
    {"bios_uuid", f_fact_id, OFF(bios_uuid), HOST_SENT_BIOS_UUID, 0, 0},
    {"fqdn", f_fact_text, OFF(fqdn), HOST_SENT_FQDN, 1, 255},
    {"provider_id", f_fact_text, OFF(provider_id), 0, 1, 500}, /* sent: across_fields */
    {"provider_type", f_provider_type, 0, 0, 0, 0},
    {"ip_addresses", f_ip_addresses, 0, HOST_SENT_IP_ADDRESSES, 0, 0},
    {"mac_addresses", f_mac_addresses, 0, HOST_SENT_MAC_ADDRESSES, 0, 0},
    {"display_name", f_text, OFF(display_name), HOST_SENT_DISPLAY_NAME, 1, 200},
    {"ansible_host", f_text, OFF(ansible_host), HOST_SENT_ANSIBLE_HOST, 0, 255},
    {"reporter", f_text, OFF(reporter), HOST_SENT_REPORTER, 1, 255},
    {"facts", f_facts, 0, HOST_SENT_FACTS, 0, 0},
    {"tags", f_tags, 0, HOST_SENT_TAGS, 0, 0},
    {"system_profile", f_system_profile, 0, HOST_SENT_SYSTEM_PROFILE, 0, 0},
    {"stale_timestamp", f_stale_timestamp, 0, HOST_SENT_STALE_TIMESTAMP, 0, 0},
    {"account", f_account, 0, 0, 0, 0},
    /* Known to HBI's schema, not kept here: accepted unchecked. */
    {"canonical_facts_version", NULL, 0, 0, 0, 0},
    {"is_virtual", NULL, 0, 0, 0, 0},
    {"openshift_cluster_id", NULL, 0, 0, 0, 0},
    {"groups", NULL, 0, 0, 0, 0},
    {"tags_alt", NULL, 0, 0, 0, 0},
};

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static enum host_invalid unknown_keys(json_t *data, struct buf *err)
{
    const char *k;
    json_t *v;
    char ex[EXCERPT_SIZE];
    json_object_foreach(data, k, v)
    {
        if (!find_field(k))
            return fail(err, HOST_BAD_FIELD, "unknown key %s%s", excerpt(k, ex),
                        strcmp(k, "id") == 0 ? " (hosts are matched by their canonical facts)"
                                             : "");
    }
    return HOST_OK;
}

static enum host_invalid across_fields(struct parse *p)
{
    struct host_in *h = p->h;
    if (p->provider_id != p->provider_type)
        return fail(p->err, HOST_BAD_PROVIDER,
                    "provider_id and provider_type go together: %s without %s",
                    p->provider_id ? "provider_id" : "provider_type",
                    p->provider_id ? "provider_type" : "provider_id");
    if (p->provider_id)
        h->sent |= HOST_SENT_PROVIDER;
    if (!(h->sent &
          (HOST_SENT_PROVIDER | HOST_SENT_SUBSCRIPTION_MANAGER_ID | HOST_SENT_INSIGHTS_ID)))
        return fail(p->err, HOST_NO_ID_FACT,
                    "one of provider_id, subscription_manager_id or insights_id is required");
    return HOST_OK;
}

enum host_invalid host_parse(json_t *data, const char *org_id, struct host_in *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(data))
        return fail(err, HOST_BAD_JSON, "the host is not a JSON object");
    if (!org_id || !*org_id || strlen(org_id) > IDENTITY_ORG_ID_MAX)
        return fail(err, HOST_BAD_IDENTITY, "no valid org_id to check the host against");
    memcpy(out->org_id, org_id, strlen(org_id) + 1);
    struct parse p = {.h = out, .org_id = org_id, .err = err};
    enum host_invalid r = unknown_keys(data, err);
    for (size_t i = 0; i < ARRAY_SIZE(fields) && r == HOST_OK; i++) {
        json_t *v = json_object_get(data, fields[i].name);
        if (v && fields[i].fn)
            r = fields[i].fn(&p, &fields[i], v);
    }
    if (r == HOST_OK)
        r = across_fields(&p);
    if (r != HOST_OK)
        host_in_release(out);
    return r;
}

/* ---- owner ---- */

enum host_invalid host_check_owner(struct host_in *h, const struct identity *id, struct buf *err)
{
    if (id->type != IDENTITY_SYSTEM)
        return HOST_OK;
    char cn[HOST_UUID_LEN + 1] = "";
    bool cn_uuid = is_uuid(id->cn);
    if (cn_uuid) {
        memcpy(cn, id->cn, sizeof(cn));
        lower(cn);
    }
    const char *owner = json_string_value(json_object_get(h->system_profile, "owner_id"));
    if (owner) {
        if (!cn_uuid || strcmp(owner, cn) != 0)
            return fail(err, HOST_OWNER_MISMATCH,
                        "system_profile.owner_id is not the identity's system.cn");
        return HOST_OK;
    }
    if (!cn_uuid)
        return fail(err, HOST_OWNER_MISMATCH,
                    "the identity's system.cn is not a UUID, so it cannot be the owner_id");
    json_t *sp = h->system_profile ? json_copy(h->system_profile) : json_object();
    json_object_set_new(sp, "owner_id", json_string(cn));
    json_decref(h->system_profile);
    h->system_profile = sp;
    h->sent |= HOST_SENT_SYSTEM_PROFILE;
    return HOST_OK;
}

/* ---- the message ---- */

static bool printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static enum host_invalid request_id(json_t *meta, struct host_msg *out, struct buf *err)
{
    json_t *v = json_object_get(meta, "request_id");
    if (!v || json_is_null(v))
        return HOST_OK;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char ex[EXCERPT_SIZE];
    if (!s || n > HOST_REQUEST_ID_MAX || !printable_ascii(s, n))
        return fail(err, HOST_BAD_FIELD,
                    "platform_metadata.request_id: expected up to %d printable ASCII characters, "
                    "got %s",
                    HOST_REQUEST_ID_MAX, shown(v, ex));
    memcpy(out->request_id, s, n + 1);
    return HOST_OK;
}

static enum host_invalid parse_identity(json_t *meta, struct host_msg *out, struct buf *err)
{
    json_t *v = json_object_get(meta, "b64_identity");
    if (!v || json_is_null(v))
        return fail(err, HOST_MISSING_FIELD, "missing platform_metadata.b64_identity");
    if (!json_is_string(v))
        return fail(err, HOST_BAD_IDENTITY, "platform_metadata.b64_identity: expected a string");
    if (identity_parse(json_string_value(v), json_string_length(v), &out->id, err) < 0)
        return HOST_BAD_IDENTITY;
    return HOST_OK;
}

static enum host_invalid message(json_t *root, struct host_msg *out, struct buf *err)
{
    char ex[EXCERPT_SIZE];
    if (!json_is_object(root))
        return fail(err, HOST_BAD_JSON, "the message is not a JSON object");
    json_t *op = json_object_get(root, "operation"),
           *meta = json_object_get(root, "platform_metadata"),
           *data = json_object_get(root, "data");
    if (!op)
        return fail(err, HOST_MISSING_FIELD, "missing operation");
    if (!json_is_string(op) || strcmp(json_string_value(op), "add_host") != 0)
        return fail(err, HOST_BAD_OPERATION, "operation: expected \"add_host\", got %s",
                    shown(op, ex));
    if (!meta)
        return fail(err, HOST_MISSING_FIELD, "missing platform_metadata");
    if (!json_is_object(meta))
        return fail(err, HOST_BAD_JSON, "platform_metadata: expected an object, got %s",
                    shown(meta, ex));
    enum host_invalid r = request_id(meta, out, err);
    if (r == HOST_OK)
        r = parse_identity(meta, out, err);
    if (r == HOST_OK && !data)
        r = fail(err, HOST_MISSING_FIELD, "missing data");
    if (r == HOST_OK)
        r = host_parse(data, out->id.org_id, &out->host, err);
    if (r == HOST_OK)
        r = host_check_owner(&out->host, &out->id, err);
    return r;
}

enum host_invalid host_message_parse(const char *msg, size_t len, size_t max_len,
                                     struct host_msg *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!msg)
        return fail(err, HOST_BAD_JSON, "no message");
    if (len > max_len)
        return fail(err, HOST_OVERSIZED, "%zu bytes, over the limit of %zu", len, max_len);
    json_error_t jerr;
    json_t *root = jsonload(msg, len, &jerr);
    if (!root) {
        /* jansson's text without its quote of the input ("near '...'") */
        char *near = strstr(jerr.text, " near ");
        if (near)
            *near = '\0';
        return fail(err, HOST_BAD_JSON, "not JSON: %s at byte %d", jerr.text, jerr.position);
    }
    enum host_invalid r = message(root, out, err);
    json_decref(root);
    if (r != HOST_OK) {
        /* Keep the request id: the payload tracker reports the error under it. */
        char rid[sizeof(out->request_id)];
        memcpy(rid, out->request_id, sizeof(rid));
        host_msg_release(out);
        memcpy(out->request_id, rid, sizeof(rid));
    }
    return r;
}
