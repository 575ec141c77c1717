/* HTTP transport of the AWS client on libcurl: a small pool of easy handles
 * (each keeps its connections alive, so a thread that takes the handle it
 * just returned reuses the connection), a shared DNS and TLS session cache,
 * timeouts, a response body cap, and cancellation of a transfer in flight
 * through libcurl's progress callback.
 *
 * Nothing here signs, retries or parses: see client.c. */
#ifndef INV_AWS_HTTP_H
#define INV_AWS_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sources/aws/sigv4.h"

struct aws_http_opts {
    int64_t timeout_ms;         /* whole attempt */
    int64_t connect_timeout_ms; /* TCP + TLS connect */
    size_t max_body;            /* larger bodies fail with AWS_HTTP_TOO_LARGE */
    size_t max_idle;            /* idle handles kept in the pool (0: 64) */
};

enum aws_http_result {
    AWS_HTTP_OK = 0,    /* a complete response arrived (any status) */
    AWS_HTTP_FAILED,    /* connect / send / receive / timeout / truncated body */
    AWS_HTTP_CANCELLED, /* *cancel became true */
    AWS_HTTP_TOO_LARGE, /* body longer than opts.max_body */
};

struct aws_http_request {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const struct sigv4_kv *headers; /* sent as given (Host included) */
    size_t nheaders;
    const char *body; /* POST body, or NULL */
    size_t body_len;
};

struct aws_http_response {
    long status;            /* HTTP status, 0 when none arrived */
    struct buf body;        /* owned; capped at opts.max_body */
    char content_type[128]; /* "" when absent */
    char request_id[128];   /* x-amzn-RequestId / x-amz-request-id, or "" */
};

struct aws_http;

/* Initialises libcurl once per process (thread-safe). *out is the caller's
 * (aws_http_free). */
int aws_http_new(const struct aws_http_opts *o, struct aws_http **out, struct buf *err) MUSTCHECK;
void aws_http_free(struct aws_http *h);

/* Performs one request on a pooled handle. resp is initialised here (release
 * it with aws_http_response_release whatever the result). On a result other
 * than AWS_HTTP_OK, err holds "METHOD URL: what happened" (URLs and bodies
 * carry no secrets: credentials travel in headers, which are never shown). */
enum aws_http_result aws_http_perform(struct aws_http *h, const struct aws_http_request *r,
                                      const atomic_bool *cancel, struct aws_http_response *resp,
                                      struct buf *err) MUSTCHECK;
void aws_http_response_release(struct aws_http_response *resp);

#endif
