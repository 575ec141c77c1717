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

#include "core/jsontok.h"
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

/* ---- loading ---- */

/* The tree of tokens t[*k] (moving *k past it) as jansson builds it with
 * JSON_REJECT_DUPLICATES; NULL with *odd set where jansson's answer could
 * differ: a key given twice, a NUL character, a number out of jansson's
 * ranges. */
static json_t *tree(const char *s, const struct jt *t, int *k, bool *odd);

/* A string token's bytes into small (or an allocation, *heap), NUL-terminated;
 * its length or -1 when it holds a NUL character. */
static long token_text(const char *s, const struct jt *t, char *small, size_t cap, char **heap)
{
    size_t n = t->end - t->start;
    char *out = n < cap ? small : (*heap = xmalloc(n + 1));
    if (!t->escaped) { /* no control character: the tokenizer checked */
        memcpy(out, s + t->start, n);
        out[n] = '\0';
        return (long)n;
    }
    long len = jt_string(s, t, out, n + 1);
    return len < 0 || memchr(out, 0, (size_t)len) ? -1 : len;
}

static json_t *number(const char *s, const struct jt *t, bool *odd)
{
    if (t->integer) {
        int64_t v;
        if (jt_int64(s, t, &v) < 0) {
            *odd = true; /* jansson: "too big integer" */
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    char text[64];
    size_t n = t->end - t->start;
    if (n >= sizeof(text)) {
        *odd = true;
        return NULL;
    }
    memcpy(text, s + t->start, n);
    text[n] = '\0';
    errno = 0;
    double v = strtod(text, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE) {
        *odd = true; /* jansson: "real number overflow" */
        return NULL;
    }
    return json_real(v);
}

static json_t *tree(const char *s, const struct jt *t, int *k, bool *odd)
{
    const struct jt *v = &t[*k];
    int end = (int)v->next;
    char small[256], *heap = NULL;
    long len;
    json_t *r = NULL;
    switch (v->type) {
    case JT_OBJECT:
        r = json_object();
        for (int i = *k + 1; i < end && !*odd; free(heap), heap = NULL) {
            len = token_text(s, &t[i++], small, sizeof(small), &heap);
            if (len < 0 || json_object_get(r, heap ? heap : small)) {
                *odd = true;
            } else {
                json_t *x = tree(s, t, &i, odd);
                if (x)
                    json_object_set_new_nocheck(r, heap ? heap : small, x);
            }
        }
        break;
    case JT_ARRAY:
        r = json_array();
        for (int i = *k + 1; i < end && !*odd;) {
            json_t *x = tree(s, t, &i, odd);
            if (x)
                json_array_append_new(r, x);
        }
        break;
    case JT_STRING:
        len = token_text(s, v, small, sizeof(small), &heap);
        if (len < 0)
            *odd = true;
        else
            r = json_stringn_nocheck(heap ? heap : small, (size_t)len);
        free(heap);
        break;
    case JT_NUMBER:
        r = number(s, v, odd);
        break;
    case JT_TRUE:
        r = json_true();
        break;
    case JT_FALSE:
        r = json_false();
        break;
    case JT_NULL:
        r = json_null();
        break;
    }
    if (*odd) {
        json_decref(r);
        r = NULL;
    }
    *k = end;
    return r;
}

/* json_loadb(msg, len, JSON_REJECT_DUPLICATES, err), faster: the strict
 * tokenizer (which accepts what jansson accepts, fuzz/fuzz_jsontok.c) and
 * the tree built from its tokens, as host_message_parse loads messages
 * (src/hosts/host.c has the same code). Whatever it does not take as it is
 * (not JSON, too deep or too many values for it, or a case above) goes to
 * jansson, so the tree and the errors are jansson's. */
static json_t *load(const char *msg, size_t len, json_error_t *jerr)
{
    struct jt t[128]; /* an identity of a few hundred bytes; longer ones go to jansson */
    const char *why = NULL;
    int n = len < UINT32_MAX ? jt_parse(msg, len, t, ARRAY_SIZE(t), &why) : -1;
    json_t *root = NULL;
    bool odd = n <= 0 || (t[0].type != JT_OBJECT && t[0].type != JT_ARRAY);
    if (!odd) {
        int k = 0;
        root = tree(msg, t, &k, &odd);
    }
    return odd ? json_loadb(msg, len, JSON_REJECT_DUPLICATES, jerr) : root;
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

int identity_parse(const char *b64, size_t len, struct identity *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!b64 || len == 0)
        return fail(err, "empty");
    if (len > IDENTITY_B64_MAX)
        return fail(err, "%zu bytes, over the limit of %d", len, IDENTITY_B64_MAX);
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
    root = load((const char *)raw, (size_t)n, &jerr);
    if (!root) {
        /* jansson's text, without its quote of the input ("near '...'") */
        char *near = strstr(jerr.text, " near ");
        if (near)
            *near = '\0';
        fail(err, "not JSON: %s at byte %d", jerr.text, jerr.position);
        goto out;
    }
    rc = check(root, out, err);
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    json_decref(root);
    free(raw);
    return rc;
}
