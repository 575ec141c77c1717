/* x-rh-identity decoding and its rules (docs/hosts.md, Messages and
 * validation). */
#include "hosts/identity.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonload.h"
#include "core/util.h"

static const char *const type_names[] = {
    [IDENTITY_USER] = "User",
    [IDENTITY_SYSTEM] = "System",
    [IDENTITY_SERVICE_ACCOUNT] = "ServiceAccount",
};

const char *identity_type_name(enum identity_type t)
{
    return t >= IDENTITY_USER && t <= IDENTITY_SERVICE_ACCOUNT ? type_names[t] : "unknown";
}

static int fail(struct buf *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int fail(struct buf *err, const char *fmt, ...)
{
    if (err) {
        char text[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        buf_setf(err, "identity: %s", text);
    }
    return -1;
}

/* Standard base64, padded or not, into *out (owned by the caller, one
 * spare byte); the decoded length or -1. Unpadded text is padded here so
 * base64_decode's strict checks (alphabet, zero pad bits) apply to both. */
static long decode(const char *b64, size_t len, unsigned char **out)
{
    size_t rem = len % 4;
    if (rem == 1 || (rem && memchr(b64, '=', len)))
        return -1; /* no quantum has one digit; padding is whole or absent */
    size_t full = len + (rem ? 4 - rem : 0);
    char *text = xmalloc(full);
    memcpy(text, b64, len);
    memset(text + len, '=', full - len);
    *out = xmalloc(full / 4 * 3 + 1);
    long n = base64_decode(text, full, *out);
    free(text);
    return n;
}

/* Copies a string member of 1..max bytes without control characters. */
static int copy_text(const json_t *v, const char *name, char *dst, size_t max, struct buf *err)
{
    if (!json_is_string(v))
        return fail(err, "%s: expected a string", name);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > max)
        return fail(err, "%s: expected 1..%zu bytes, got %zu", name, max, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(err, "%s: control character at byte %zu", name, i);
    memcpy(dst, s, n + 1);
    return 0;
}

/* identity.org_id, or identity.internal.org_id when the first is absent or
 * null (older producers put it only there). */
static int parse_org_id(const json_t *id, struct identity *out, struct buf *err)
{
    const json_t *v = json_object_get(id, "org_id");
    const char *name = "org_id";
    if (!v || json_is_null(v)) {
        v = json_object_get(json_object_get(id, "internal"), "org_id");
        name = "internal.org_id";
    }
    if (!v || json_is_null(v))
        return fail(err, "org_id is required");
    return copy_text(v, name, out->org_id, IDENTITY_ORG_ID_MAX, err);
}

static int parse_type(const json_t *id, struct identity *out, struct buf *err)
{
    const char *t = json_string_value(json_object_get(id, "type"));
    if (!t)
        return fail(err, "type is required (User, System or ServiceAccount)");
    for (int i = IDENTITY_USER; i <= IDENTITY_SERVICE_ACCOUNT; i++)
        if (strcmp(t, type_names[i]) == 0) {
            out->type = (enum identity_type)i;
            return 0;
        }
    return fail(err, "type: expected User, System or ServiceAccount");
}

static int parse_account(const json_t *id, struct identity *out, struct buf *err)
{
    const json_t *v = json_object_get(id, "account_number");
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return 0;
    return copy_text(v, "account_number", out->account_number, IDENTITY_ACCOUNT_MAX, err);
}

static int parse_cn(const json_t *id, struct identity *out, struct buf *err)
{
    const json_t *cn = json_object_get(json_object_get(id, "system"), "cn");
    if (!cn)
        return fail(err, "type System requires system.cn");
    return copy_text(cn, "system.cn", out->cn, IDENTITY_CN_MAX, err);
}

static int check(const json_t *root, struct identity *out, struct buf *err)
{
    const json_t *id = json_object_get(root, "identity");
    if (!json_is_object(id))
        return fail(err, "expected an \"identity\" object");
    if (parse_org_id(id, out, err) < 0 || parse_type(id, out, err) < 0 ||
        parse_account(id, out, err) < 0)
        return -1;
    return out->type == IDENTITY_SYSTEM ? parse_cn(id, out, err) : 0;
}

/* The headers this thread parsed last, valid ones only: one identity
 * comes with message after message (per org or reporter), and decoding it
 * anew was 4% of a host consumer's CPU. Compared byte for byte. */
enum { MEMO_SLOTS = 16, MEMO_MAX = 1024 };
struct memo {
    size_t len;
    char b64[MEMO_MAX];
    struct identity id;
};
static _Thread_local struct memo memo[MEMO_SLOTS];

static struct memo *memo_slot(const char *b64, size_t len)
{
    return &memo[fnv1a(FNV1A_OFFSET, b64, len) % MEMO_SLOTS];
}

int identity_parse(const char *b64, size_t len, struct identity *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!b64 || len == 0)
        return fail(err, "empty");
    if (len > IDENTITY_B64_MAX)
        return fail(err, "%zu bytes, over the limit of %d", len, IDENTITY_B64_MAX);
    struct memo *m = len <= MEMO_MAX ? memo_slot(b64, len) : NULL;
    if (m && m->len == len && memcmp(m->b64, b64, len) == 0) {
        *out = m->id;
        return 0;
    }
    unsigned char *raw = NULL;
    json_t *root = NULL;
    int rc = -1;
    long n = decode(b64, len, &raw);
    if (n < 0) {
        fail(err, "not base64 (standard alphabet)");
        goto out;
    }
    if (!utf8_valid(raw, (size_t)n)) {
        fail(err, "decoded bytes are not UTF-8");
        goto out;
    }
    json_error_t jerr;
    root = jsonload((const char *)raw, (size_t)n, &jerr);
    if (!root) {
        /* jansson's text, without its quote of the input ("near '...'") */
        char *near = strstr(jerr.text, " near ");
        if (near)
            *near = '\0';
        fail(err, "not JSON: %s at byte %d", jerr.text, jerr.position);
        goto out;
    }
    rc = check(root, out, err);
    if (rc == 0 && m) {
        m->len = len;
        memcpy(m->b64, b64, len);
        m->id = *out;
    }
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    json_decref(root);
    free(raw);
    return rc;
}
