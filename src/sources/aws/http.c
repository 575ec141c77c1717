/* HTTP transport of the AWS client on libcurl easy handles (see http.h). */
#include "sources/aws/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define DEFAULT_MAX_IDLE 64
#define MAX_HEADERS      16

struct aws_http {
    struct aws_http_opts o;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t lock; /* idle */
    CURL **idle;
    size_t nidle;
};

/* One transfer's state, seen by the callbacks. */
struct xfer {
    CURL *curl;
    struct aws_http_response *resp;
    const atomic_bool *cancel;
    bool too_large;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct aws_http *h = arg;
    (void)c;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
    struct aws_http *h = arg;
    (void)c;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->share_locks[data]);
}

int aws_http_new(const struct aws_http_opts *o, struct aws_http **out, struct buf *err)
{
    struct aws_http *h;

    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        buf_setf(err, "libcurl: cannot initialise: %s", curl_easy_strerror(global_rc));
        return -1;
    }
    h = xcalloc(1, sizeof(*h));
    h->o = *o;
    if (!h->o.max_idle)
        h->o.max_idle = DEFAULT_MAX_IDLE;
    h->idle = xcalloc(h->o.max_idle, sizeof(*h->idle));
    pthread_mutex_init(&h->lock, NULL);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_locks[i], NULL);
    h->share = curl_share_init();
    if (!h->share) {
        buf_setf(err, "libcurl: cannot create a share handle");
        aws_http_free(h);
        return -1;
    }
    /* Connections stay with their easy handle (the pool keeps handles, so
     * they are reused); DNS answers and TLS sessions are shared. */
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = h;
    return 0;
}

void aws_http_free(struct aws_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nidle; i++)
        curl_easy_cleanup(h->idle[i]);
    free(h->idle);
    if (h->share)
        curl_share_cleanup(h->share);
    pthread_mutex_destroy(&h->lock);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_locks[i]);
    free(h);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;

    if (buf_add(&x->resp->body, p, len) < 0) {
        x->too_large = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return len;
}

/* Copies the value of header line p (len bytes) named name into out. */
static bool header_value(const char *p, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);

    if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
        return false;
    p += nl + 1;
    len -= nl + 1;
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++)
        out[o++] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
    out[o] = '\0';
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;

    /* A new status line (after a 100 Continue, say) starts a new header set. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        x->resp->request_id[0] = '\0';
        return len;
    }
    /* End of the headers: room for the announced body at once, so a large
     * page is neither copied by doublings nor given twice its size. */
    if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
        curl_off_t cl = -1;
        struct buf *b = &x->resp->body;
        if (curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (uint64_t)cl < b->max && (size_t)cl + 1 > b->alloc && !b->len) {
            b->ptr = xrealloc(b->ptr, (size_t)cl + 1);
            b->alloc = (size_t)cl + 1;
            b->ptr[0] = '\0';
        }
        return len;
    }
    if (!header_value(p, len, "x-amzn-requestid", x->resp->request_id, sizeof(x->resp->request_id)))
        (void)header_value(p, len, "x-amz-request-id", x->resp->request_id,
                           sizeof(x->resp->request_id));
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return x->cancel && atomic_load(x->cancel) ? 1 : 0;
}

/* Options that never change for a handle. */
static CURL *new_handle(struct aws_http *h)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    /* gzip/deflate/br/zstd as libcurl supports them; the cap applies to
     * the decoded body. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "inventory/" INV_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (h->o.max_body && h->o.max_body < (size_t)INT64_MAX)
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->o.max_body);
    return c;
}

static CURL *take(struct aws_http *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->nidle)
        c = h->idle[--h->nidle];
    pthread_mutex_unlock(&h->lock);
    return c ? c : new_handle(h);
}

static void give_back(struct aws_http *h, CURL *c)
{
    pthread_mutex_lock(&h->lock);
    if (h->nidle < h->o.max_idle) {
        h->idle[h->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (c)
        curl_easy_cleanup(c);
}

void aws_http_response_release(struct aws_http_response *resp)
{
    buf_release(&resp->body);
}

enum aws_http_result aws_http_perform(struct aws_http *h, const struct aws_http_request *r,
                                      const atomic_bool *cancel, struct aws_http_response *resp,
                                      struct buf *err)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct xfer x = {NULL, resp, cancel, false};
    enum aws_http_result rc = AWS_HTTP_FAILED;
    CURLcode cc;
    CURL *c;

    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, h->o.max_body ? h->o.max_body : BUF_NOLIMIT);
    if (cancel && atomic_load(cancel)) {
        buf_setf(err, "%s %s: cancelled", r->method, r->url);
        return AWS_HTTP_CANCELLED;
    }
    c = take(h);
    if (!c) {
        buf_setf(err, "%s %s: libcurl: cannot create a handle", r->method, r->url);
        return AWS_HTTP_FAILED;
    }
    x.curl = c;
    for (size_t i = 0; i < r->nheaders; i++) {
        char line[8192];
        int n = snprintf(line, sizeof(line), "%s: %s", r->headers[i].name, r->headers[i].value);
        struct curl_slist *t;
        if (n < 0 || (size_t)n >= sizeof(line) || !(t = curl_slist_append(hdrs, line))) {
            buf_setf(err, "%s %s: header %s too long", r->method, r->url, r->headers[i].name);
            goto out;
        }
        hdrs = t;
    }
    /* No "Expect: 100-continue" round trip for larger POST bodies, and no
     * Accept header beyond libcurl's. */
    struct curl_slist *t = curl_slist_append(hdrs, "Expect:");
    if (!t) {
        buf_setf(err, "%s %s: out of memory", r->method, r->url);
        goto out;
    }
    hdrs = t;

    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }

    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc == CURLE_OK) {
        const char *ct = NULL;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
        rc = AWS_HTTP_OK;
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        buf_setf(err, "%s %s: cancelled", r->method, r->url);
        rc = AWS_HTTP_CANCELLED;
    } else if ((cc == CURLE_WRITE_ERROR && x.too_large) || cc == CURLE_FILESIZE_EXCEEDED) {
        buf_setf(err, "%s %s: response body larger than %zu bytes", r->method, r->url,
                 h->o.max_body);
        rc = AWS_HTTP_TOO_LARGE;
    } else {
        buf_setf(err, "%s %s: %s%s%s", r->method, r->url, curl_easy_strerror(cc),
                 errbuf[0] ? ": " : "", errbuf);
        rc = AWS_HTTP_FAILED;
    }
out:
    /* The handle keeps no pointer into this frame past the transfer. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    give_back(h, c);
    curl_slist_free_all(hdrs);
    if (rc != AWS_HTTP_OK)
        buf_release(&resp->body);
    return rc;
}
