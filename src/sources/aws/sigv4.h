/* AWS Signature Version 4 on libcrypto: signing requests (the client) and
 * verifying them (the fake AWS used by tests). The canonical request is
 * built the way botocore builds it, which the tests check over thousands of
 * generated requests:
 *   - path: as sent on the wire (percent-encoded); for every service but S3
 *     dot segments and empty segments are removed and the result is encoded
 *     once more (so "%20" signs as "%2520"); S3 signs the wire path as is.
 *   - query: the wire query split at '&', pairs sorted by key then value,
 *     not re-encoded (sigv4_query_add produces the AWS encoding).
 *   - headers: names lower-cased, sorted; values trimmed with inner runs of
 *     blanks (spaces, tabs, newlines) folded to one space; repeated headers
 *     joined with ','.
 * Secrets never leave this module except as the signature. */
#ifndef INV_AWS_SIGV4_H
#define INV_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SIGV4_ALGORITHM    "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED     "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct aws_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" when not temporary */
};

struct sigv4_kv {
    const char *name;
    const char *value;
};

/* Appends s (len bytes) percent-encoded: every byte but A-Z a-z 0-9 - _ . ~
 * (and '/' when keep_slash) becomes %XX, upper-case hex. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash) MUSTCHECK;
/* Appends "key=value" (both encoded), preceded by '&' when out is not empty. */
int sigv4_query_add(struct buf *out, const char *key, const char *value) MUSTCHECK;

/* Hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);
/* "20150830T123600Z" for Unix seconds t. */
void sigv4_amz_date(int64_t t, char out[17]);

struct sigv4_request {
    const char *method;             /* "GET", "POST" */
    const char *path;               /* wire path, percent-encoded; "" means "/" */
    const char *query;              /* wire query without '?', or "" */
    const struct sigv4_kv *headers; /* the headers to sign, host included */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or SIGV4_UNSIGNED */
    const char *service;      /* "ec2", "s3", "sts" ... */
    const char *region;
    const char *amz_date; /* X-Amz-Date value */
};

/* Builds the canonical request (appended to out). */
int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out,
                            struct buf *signed_headers) MUSTCHECK;

/* Signs r: appends the Authorization header value to auth. The caller sends
 * r->headers (which must include host and x-amz-date, and
 * x-amz-security-token for temporary credentials) exactly as signed. */
int sigv4_authorization(const struct sigv4_request *r, const struct aws_creds *c, struct buf *auth,
                        struct buf *err) MUSTCHECK;

/* Parsed Authorization header of a received request. */
struct sigv4_auth {
    char access_key_id[129];
    char date[9]; /* YYYYMMDD of the credential scope */
    char region[64];
    char service[64];
    char signed_headers[1024]; /* "host;x-amz-date" */
    char signature[65];
};

int sigv4_parse_authorization(const char *value, struct sigv4_auth *a, struct buf *err) MUSTCHECK;

/* Verifies a received request: r->headers are all headers received (only
 * those named in SignedHeaders are used; each must be present), r->service
 * and r->region come from the credential scope. 0 when the signature
 * matches, -1 with the reason in err. */
int sigv4_verify(const struct sigv4_request *r, const struct sigv4_auth *a, const char *secret,
                 struct buf *err) MUSTCHECK;

#endif
