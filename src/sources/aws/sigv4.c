/* AWS Signature Version 4 (see sigv4.h for the canonical form). */
#include "sources/aws/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define MAX_HEADERS 128

static const char hexdig[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (buf_addc(out, (char)c) < 0)
                return -1;
        } else {
            char e[3] = {'%', hexdig[c >> 4], hexdig[c & 15]};
            if (buf_add(out, e, 3) < 0)
                return -1;
        }
    }
    if (len == 0 && !out->ptr && buf_add(out, "", 0) < 0) /* "" is a value, not NULL */
        return -1;
    return 0;
}

int sigv4_query_add(struct buf *out, const char *key, const char *value)
{
    if ((out->len && buf_addc(out, '&') < 0) ||
        sigv4_uri_encode(out, key, strlen(key), false) < 0 || buf_addc(out, '=') < 0 ||
        sigv4_uri_encode(out, value, strlen(value), false) < 0)
        return -1;
    return 0;
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char lower[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = lower[d[i] >> 4];
        hex[2 * i + 1] = lower[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, d);
    to_hex(d, sizeof(d), hex);
}

void sigv4_amz_date(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* botocore's remove_dot_segments: drops "", "." and ".." segments (".."
 * removing its parent), keeps a leading and a trailing '/'. */
static int normalize_path(const char *p, struct buf *out)
{
    size_t n = strlen(p);
    if (n == 0)
        return buf_addc(out, '/');
    const char *seg[512];
    size_t seglen[512], k = 0;
    for (const char *s = p; s <= p + n;) {
        const char *e = strchr(s, '/');
        if (!e)
            e = p + n;
        size_t l = (size_t)(e - s);
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            if (k)
                k--;
        } else if (l && !(l == 1 && s[0] == '.')) {
            if (k == 512)
                return -1;
            seg[k] = s;
            seglen[k++] = l;
        }
        s = e + 1;
    }
    if (p[0] == '/' && buf_addc(out, '/') < 0)
        return -1;
    for (size_t i = 0; i < k; i++)
        if ((i && buf_addc(out, '/') < 0) || buf_add(out, seg[i], seglen[i]) < 0)
            return -1;
    if (p[n - 1] == '/' && k && buf_addc(out, '/') < 0)
        return -1;
    if (!out->ptr && buf_add(out, "", 0) < 0)
        return -1;
    return 0;
}

struct qpair {
    const char *k, *v;
    size_t kl, vl;
};

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_qpair(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = cmp_bytes(x->k, x->kl, y->k, y->kl);
    return c ? c : cmp_bytes(x->v, x->vl, y->v, y->vl);
}

static int canonical_query(const char *q, struct buf *out)
{
    if (!q || !*q)
        return 0;
    size_t n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    struct qpair *pairs = xcalloc(n, sizeof(*pairs));
    size_t i = 0;
    for (const char *s = q;; i++) {
        const char *e = strchr(s, '&');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        const char *eq = memchr(s, '=', l);
        pairs[i].k = s;
        pairs[i].kl = eq ? (size_t)(eq - s) : l;
        pairs[i].v = eq ? eq + 1 : s + l;
        pairs[i].vl = eq ? l - pairs[i].kl - 1 : 0;
        if (!e)
            break;
        s = e + 1;
    }
    qsort(pairs, n, sizeof(*pairs), cmp_qpair);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++)
        if ((i && buf_addc(out, '&') < 0) || buf_add(out, pairs[i].k, pairs[i].kl) < 0 ||
            buf_addc(out, '=') < 0 || buf_add(out, pairs[i].v, pairs[i].vl) < 0)
            rc = -1;
    free(pairs);
    return rc;
}

struct hdr {
    char *name; /* lower-cased copy */
    const char *value;
    size_t idx;
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Python's str.split() whitespace, restricted to ASCII. */
static bool blank(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Appends value trimmed, inner blank runs folded to one space. */
static int add_trimmed(struct buf *out, const char *v)
{
    bool pending = false, any = false;
    for (; *v; v++) {
        if (blank((unsigned char)*v)) {
            pending = any;
            continue;
        }
        if (pending && buf_addc(out, ' ') < 0)
            return -1;
        if (buf_addc(out, *v) < 0)
            return -1;
        pending = false;
        any = true;
    }
    return 0;
}

/* Is lname one of the ';'-separated names in list? */
static bool in_list(const char *list, const char *lname)
{
    size_t n = strlen(lname);
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ';');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == n && strncmp(s, lname, n) == 0)
            return true;
        if (!e)
            break;
        s = e + 1;
    }
    return false;
}

/* The canonical request; with `only`, just the headers it names. */
static int canonical(const struct sigv4_request *r, const char *only, struct buf *out,
                     struct buf *sh)
{
    struct hdr h[MAX_HEADERS];
    size_t nh = 0;
    int rc = -1;
    if (r->nheaders > MAX_HEADERS)
        return -1;
    for (size_t i = 0; i < r->nheaders; i++) {
        char *l = xstrdup(r->headers[i].name);
        for (char *p = l; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        if (only && !in_list(only, l)) {
            free(l);
            continue;
        }
        h[nh++] = (struct hdr){l, r->headers[i].value ? r->headers[i].value : "", i};
    }
    qsort(h, nh, sizeof(*h), cmp_hdr);
    const char *path = r->path && *r->path ? r->path : "/";
    if (buf_adds(out, r->method) < 0 || buf_addc(out, '\n') < 0)
        goto out;
    if (strcmp(r->service, "s3") == 0) {
        if (buf_adds(out, path) < 0)
            goto out;
    } else {
        struct buf norm;
        buf_init(&norm, 64 * 1024);
        int nrc = normalize_path(path, &norm);
        nrc = nrc < 0 ? -1 : sigv4_uri_encode(out, norm.ptr, norm.len, true);
        buf_release(&norm);
        if (nrc < 0)
            goto out;
    }
    if (buf_addc(out, '\n') < 0 || canonical_query(r->query, out) < 0 || buf_addc(out, '\n') < 0)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
        if (first) {
            if ((i && buf_addc(out, '\n') < 0) || buf_adds(out, h[i].name) < 0 ||
                buf_addc(out, ':') < 0)
                goto out;
            if ((sh->len && buf_addc(sh, ';') < 0) || buf_adds(sh, h[i].name) < 0)
                goto out;
        } else if (buf_addc(out, ',') < 0) {
            goto out;
        }
        if (add_trimmed(out, h[i].value) < 0)
            goto out;
    }
    if (buf_adds(out, "\n\n") < 0 || buf_adds(out, buf_str(sh)) < 0 || buf_addc(out, '\n') < 0 ||
        buf_adds(out, r->payload_hash) < 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < nh; i++)
        free(h[i].name);
    return rc;
}

int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out,
                            struct buf *signed_headers)
{
    return canonical(r, NULL, out, signed_headers);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* Signature over the canonical request for the scope date/region/service. */
static void signature(const char *canon, const char *amz_date, const char *date, const char *region,
                      const char *service, const char *secret, char sig[65])
{
    char scope[256], hash[65], key0[256];
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
    sigv4_sha256_hex(canon, strlen(canon), hash);
    struct buf sts;
    buf_init(&sts, 4096);
    if (buf_addf(&sts, SIGV4_ALGORITHM "\n%s\n%s\n%s", amz_date, scope, hash) < 0)
        abort(); /* bounded inputs */
    snprintf(key0, sizeof(key0), "AWS4%s", secret);
    unsigned char k[32], m[32];
    hmac(key0, strlen(key0), date, k);
    hmac(k, 32, region, k);
    hmac(k, 32, service, k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, buf_str(&sts), m);
    to_hex(m, 32, sig);
    OPENSSL_cleanse(key0, sizeof(key0));
    OPENSSL_cleanse(k, sizeof(k));
    buf_release(&sts);
}

static bool valid_scope_part(const char *s)
{
    if (!*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!(unreserved((unsigned char)*s)))
            return false;
    return true;
}

int sigv4_authorization(const struct sigv4_request *r, const struct aws_creds *c, struct buf *auth,
                        struct buf *err)
{
    if (!r->amz_date || strlen(r->amz_date) != 16) {
        buf_setf(err, "sigv4: bad X-Amz-Date \"%s\"", r->amz_date ? r->amz_date : "");
        return -1;
    }
    if (!valid_scope_part(r->region) || !valid_scope_part(r->service)) {
        buf_setf(err, "sigv4: bad region or service name");
        return -1;
    }
    if (!c->access_key_id || !*c->access_key_id || !c->secret_access_key) {
        buf_setf(err, "sigv4: no credentials");
        return -1;
    }
    struct buf canon, sh;
    buf_init(&canon, 1 << 20);
    buf_init(&sh, 4096);
    int rc = -1;
    if (canonical(r, NULL, &canon, &sh) < 0) {
        buf_setf(err, "sigv4: request too large to sign");
        goto out;
    }
    char date[9], sig[65];
    memcpy(date, r->amz_date, 8);
    date[8] = '\0';
    signature(buf_str(&canon), r->amz_date, date, r->region, r->service, c->secret_access_key, sig);
    if (buf_addf(auth,
                 SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                                 "Signature=%s",
                 c->access_key_id, date, r->region, r->service, buf_str(&sh), sig) < 0) {
        buf_setf(err, "sigv4: authorization header too long");
        goto out;
    }
    rc = 0;
out:
    buf_release(&canon);
    buf_release(&sh);
    return rc;
}

/* Copies [s, s+n) into dst (size cap) if it fits. */
static bool take(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

int sigv4_parse_authorization(const char *v, struct sigv4_auth *a, struct buf *err)
{
    memset(a, 0, sizeof(*a));
    size_t alg = strlen(SIGV4_ALGORITHM);
    if (!v || strncmp(v, SIGV4_ALGORITHM, alg) != 0 || v[alg] != ' ') {
        buf_setf(err, "unsupported authorization type");
        return -1;
    }
    bool cred = false, sh = false, sig = false;
    for (const char *s = v + alg; *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t l = (size_t)(e - s);
        while (l && s[l - 1] == ' ')
            l--;
        if (l > 11 && strncmp(s, "Credential=", 11) == 0) {
            /* AKID/date/region/service/aws4_request */
            const char *p = s + 11, *end = s + l;
            const char *parts[5];
            size_t plen[5], k = 0;
            while (k < 5 && p <= end) {
                const char *slash = memchr(p, '/', (size_t)(end - p));
                const char *q = slash ? slash : end;
                parts[k] = p;
                plen[k++] = (size_t)(q - p);
                p = q + 1;
                if (!slash)
                    break;
            }
            if (k != 5 || p <= end || plen[4] != 12 || strncmp(parts[4], "aws4_request", 12) ||
                !take(a->access_key_id, sizeof(a->access_key_id), parts[0], plen[0]) ||
                plen[0] == 0 || plen[1] != 8 ||
                !take(a->date, sizeof(a->date), parts[1], plen[1]) ||
                !take(a->region, sizeof(a->region), parts[2], plen[2]) ||
                !take(a->service, sizeof(a->service), parts[3], plen[3])) {
                buf_setf(err, "malformed Credential in the authorization header");
                return -1;
            }
            cred = true;
        } else if (l > 14 && strncmp(s, "SignedHeaders=", 14) == 0) {
            if (!take(a->signed_headers, sizeof(a->signed_headers), s + 14, l - 14)) {
                buf_setf(err, "SignedHeaders too long");
                return -1;
            }
            sh = true;
        } else if (l == 10 + 64 && strncmp(s, "Signature=", 10) == 0) {
            if (!take(a->signature, sizeof(a->signature), s + 10, 64))
                return -1;
            sig = true;
        } else {
            buf_setf(err, "unexpected element in the authorization header");
            return -1;
        }
        s = e;
    }
    if (!cred || !sh || !sig) {
        buf_setf(err, "authorization header is missing %s",
                 !cred ? "Credential"
                 : !sh ? "SignedHeaders"
                       : "Signature");
        return -1;
    }
    return 0;
}

int sigv4_verify(const struct sigv4_request *r, const struct sigv4_auth *a, const char *secret,
                 struct buf *err)
{
    /* Every header named must have been received, and host must be signed. */
    if (!in_list(a->signed_headers, "host")) {
        buf_setf(err, "'Host' must be a signed header");
        return -1;
    }
    for (const char *s = a->signed_headers; *s;) {
        const char *e = strchr(s, ';');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        bool found = false;
        for (size_t i = 0; i < r->nheaders && !found; i++)
            found = strlen(r->headers[i].name) == l && strncasecmp(r->headers[i].name, s, l) == 0;
        if (!found) {
            buf_setf(err, "signed header %.*s is missing", (int)(l > 64 ? 64 : l), s);
            return -1;
        }
        if (!e)
            break;
        s = e + 1;
    }
    struct buf canon, sh;
    buf_init(&canon, 1 << 20);
    buf_init(&sh, 4096);
    int rc = -1;
    if (canonical(r, a->signed_headers, &canon, &sh) < 0) {
        buf_setf(err, "request too large");
        goto out;
    }
    char sig[65];
    signature(buf_str(&canon), r->amz_date, a->date, a->region, a->service, secret, sig);
    if (strcmp(buf_str(&sh), a->signed_headers) != 0 || CRYPTO_memcmp(sig, a->signature, 64) != 0) {
        buf_setf(err, "The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method.");
        goto out;
    }
    rc = 0;
out:
    buf_release(&canon);
    buf_release(&sh);
    return rc;
}
