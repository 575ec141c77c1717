/* AWS API client: endpoints, SigV4-signed Query API and S3 calls over
 * http.c, retries with backoff and full jitter, AWS error documents,
 * response parsing with libxml2, accounts resolved with STS, XML helpers
 * (see client.h). */
#include "sources/aws/client.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "sources/aws/creds.h"
#include "sources/aws/http.h"

#define STS_INDEX         AWS_SERVICE_COUNT /* row of STS in services[] */
#define RESOLVE_RETRY_MS  30000             /* a failed GetCallerIdentity is retried after */
#define SLEEP_SLICE_MS    50                /* backoff sleeps check cancel this often */
#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define XML_OPTIONS                                                                                \
    (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA | XML_PARSE_COMPACT |                \
     XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

_Static_assert(AWS_SERVICE_COUNT == CONFIG_AWS_SERVICES, "config and client disagree on services");

static const struct service {
    const char *label;   /* metrics, messages, config name */
    const char *signing; /* SigV4 service name */
    const char *host;    /* <host>.<region>.amazonaws.com */
    const char *version; /* Query API version; NULL for S3 */
} services[AWS_SERVICE_COUNT + 1] = {
    [AWS_EC2] = {"ec2", "ec2", "ec2", AWS_EC2_VERSION},
    [AWS_ELB] = {"elb", "elasticloadbalancing", "elasticloadbalancing", AWS_ELB_VERSION},
    [AWS_ELBV2] = {"elbv2", "elasticloadbalancing", "elasticloadbalancing", AWS_ELBV2_VERSION},
    [AWS_S3] = {"s3", "s3", "s3", NULL},
    [STS_INDEX] = {"sts", "sts", "sts", AWS_STS_VERSION},
};

/* An account and its resolution state; pub first (the public view). */
struct slot {
    struct aws_account pub;
    bool resolved;          /* pub.account_id is final (under a->lock) */
    int64_t retry_after_ms; /* monotonic: no new GetCallerIdentity before */
    struct aws_error last;  /* why the last resolution failed */
};

struct svc_accounts {
    size_t *creds; /* indices into a->slots, from use_credentials */
    size_t ncreds;
    const struct aws_account **list; /* resolved, published; capacity ncreds */
    size_t n;
};

struct aws {
    char *region;
    char *endpoint;                        /* global, or NULL */
    char *svc_endpoint[AWS_SERVICE_COUNT]; /* or NULL */
    char **excluded;
    size_t nexcluded;
    int max_attempts;
    int64_t base_delay_ms, max_delay_ms;

    struct aws_http *http;
    struct slot *slots; /* one per credential */
    size_t nslots;
    const struct aws_account **all; /* &slots[i].pub */
    struct svc_accounts svc[AWS_SERVICE_COUNT];

    pthread_mutex_t lock;         /* slots' resolution state, svc lists */
    pthread_mutex_t resolve_lock; /* one GetCallerIdentity round at a time */

    struct metric *m_requests, *m_duration; /* NULL until aws_metrics_register */
};

/* ---- small helpers ------------------------------------------------------- */

static void set_err(struct aws_error *e, enum aws_err_kind kind, long status, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static void set_err(struct aws_error *e, enum aws_err_kind kind, long status, const char *fmt, ...)
{
    va_list ap;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->status = status;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* Copies s into out (cap bytes), control characters as '?', so an AWS
 * message can never break a log line. */
static void copy_clean(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; s && *s && o + 1 < cap; s++)
        out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
    out[o] = '\0';
}

const char *aws_err_kind_name(enum aws_err_kind k)
{
    switch (k) {
    case AWS_ERR_NONE:
        return "none";
    case AWS_ERR_CLIENT:
        return "client";
    case AWS_ERR_RETRYABLE:
        return "retryable";
    case AWS_ERR_CANCELLED:
        return "cancelled";
    case AWS_ERR_RESPONSE:
        return "response";
    }
    return "?";
}

void aws_error_format(const struct aws_error *e, struct buf *out)
{
    int rc = 0;
    if (e->code[0])
        rc |= buf_addf(out, "%s: ", e->code);
    rc |= buf_adds(out, e->message[0] ? e->message : "unknown error");
    if (e->status && e->request_id[0])
        rc |= buf_addf(out, " (HTTP %ld, request id %s)", e->status, e->request_id);
    else if (e->status)
        rc |= buf_addf(out, " (HTTP %ld)", e->status);
    else if (e->request_id[0])
        rc |= buf_addf(out, " (request id %s)", e->request_id);
    (void)rc; /* a capped buffer keeps what fitted */
}

/* Thread-local xorshift64*, seeded from the kernel: backoff jitter only. */
static uint64_t rnd(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
            s = (uint64_t)mono_ms() ^ (uint64_t)(uintptr_t)&s;
        s |= 1;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
}

/* Sleeps ms, waking early when *cancel turns true: 0, or -1 if cancelled. */
static int sleep_cancellable(int64_t ms, const atomic_bool *cancel)
{
    int64_t end = mono_ms() + ms;
    for (;;) {
        if (cancel && atomic_load(cancel))
            return -1;
        int64_t left = end - mono_ms();
        if (left <= 0)
            return 0;
        if (left > SLEEP_SLICE_MS)
            left = SLEEP_SLICE_MS;
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- construction -------------------------------------------------------- */

static int sts_call(void *arg, const char *action, const struct sigv4_kv *params, size_t nparams,
                    const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e);

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

int aws_new(const struct config *cfg, struct aws **out, struct buf *err)
{
    struct aws *a;

    *out = NULL;
    if (!cfg->aws.is_enabled) {
        buf_setf(err, "aws: disabled (set aws.is_enabled: true)");
        return -1;
    }
    pthread_once(&xml_once, xml_init);
    a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->resolve_lock, NULL);
    a->region = xstrdup(cfg->aws.region ? cfg->aws.region : "us-east-1");
    a->endpoint = cfg->aws.endpoint_url ? xstrdup(cfg->aws.endpoint_url) : NULL;
    for (size_t i = 0; i < AWS_SERVICE_COUNT; i++)
        if (cfg->aws.services[i].endpoint_url)
            a->svc_endpoint[i] = xstrdup(cfg->aws.services[i].endpoint_url);
    a->nexcluded = cfg->aws.excluded_regions.n;
    a->excluded = xcalloc(a->nexcluded + 1, sizeof(*a->excluded));
    for (size_t i = 0; i < a->nexcluded; i++)
        a->excluded[i] = xstrdup(cfg->aws.excluded_regions.items[i]);
    a->max_attempts = cfg->aws.retry.max_attempts > 0 ? cfg->aws.retry.max_attempts : 1;
    a->base_delay_ms = cfg->aws.retry.base_delay_ms;
    a->max_delay_ms = cfg->aws.retry.max_delay_ms;

    a->nslots = cfg->aws.ncredentials;
    a->slots = xcalloc(a->nslots + 1, sizeof(*a->slots));
    a->all = xcalloc(a->nslots + 1, sizeof(*a->all));
    for (size_t i = 0; i < a->nslots; i++) {
        const struct config_aws_cred *c = &cfg->aws.credentials[i];
        a->slots[i].pub.name = xstrdup(c->name);
        a->slots[i].pub.provider = aws_creds_new(c, sts_call, a);
        a->all[i] = &a->slots[i].pub;
    }
    for (size_t s = 0; s < AWS_SERVICE_COUNT; s++) {
        const struct config_strlist *l = &cfg->aws.services[s].use_credentials;
        struct svc_accounts *sa = &a->svc[s];
        sa->creds = xcalloc(l->n + 1, sizeof(*sa->creds));
        sa->list = xcalloc(l->n + 1, sizeof(*sa->list));
        for (size_t i = 0; i < l->n; i++) {
            size_t j = 0;
            while (j < a->nslots && strcmp(a->slots[j].pub.name, l->items[i]) != 0)
                j++;
            if (j == a->nslots) { /* config_finish prevents this */
                buf_setf(err, "aws.services.%s.use_credentials: unknown credential \"%s\"",
                         services[s].label, l->items[i]);
                aws_free(a);
                return -1;
            }
            sa->creds[sa->ncreds++] = j;
        }
    }
    struct aws_http_opts ho = {cfg->aws.http.timeout_ms, cfg->aws.http.connect_timeout_ms,
                               AWS_RESPONSE_MAX, 0};
    if (aws_http_new(&ho, &a->http, err) < 0) {
        aws_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void aws_free(struct aws *a)
{
    if (!a)
        return;
    aws_http_free(a->http);
    for (size_t i = 0; i < a->nslots; i++) {
        free((char *)a->slots[i].pub.name);
        aws_creds_free(a->slots[i].pub.provider);
    }
    free(a->slots);
    free(a->all);
    for (size_t s = 0; s < AWS_SERVICE_COUNT; s++) {
        free(a->svc[s].creds);
        free(a->svc[s].list);
        free(a->svc_endpoint[s]);
    }
    for (size_t i = 0; i < a->nexcluded; i++)
        free(a->excluded[i]);
    free(a->excluded);
    free(a->region);
    free(a->endpoint);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->resolve_lock);
    free(a);
}

bool aws_region_excluded(const struct aws *a, const char *region)
{
    for (size_t i = 0; i < a->nexcluded; i++)
        if (strcmp(a->excluded[i], region) == 0)
            return true;
    return false;
}

const char *aws_default_region(const struct aws *a)
{
    return a->region;
}

void aws_metrics_register(struct aws *a, struct metrics_registry *reg)
{
    static const char *const req_labels[] = {"service", "action", "status"};
    static const char *const dur_labels[] = {"service", "action"};
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

    a->m_requests =
        metrics_counter(reg, "inventory_aws_api_requests_total",
                        "AWS API HTTP attempts by service, action and status.", 3, req_labels);
    a->m_duration = metrics_histogram(reg, "inventory_aws_api_request_duration_seconds",
                                      "Duration of AWS API HTTP attempts.", 2, dur_labels,
                                      ARRAY_SIZE(bounds), bounds);
}

/* ---- endpoints ----------------------------------------------------------- */

int aws_endpoint(const struct aws *a, enum aws_service svc, const char *region, struct buf *out)
{
    const char *url =
        svc < AWS_SERVICE_COUNT && a->svc_endpoint[svc] ? a->svc_endpoint[svc] : a->endpoint;
    if (url) {
        size_t n = strlen(url);
        while (n && url[n - 1] == '/')
            n--;
        return buf_add(out, url, n);
    }
    /* China regions live under their own domain. */
    const char *domain = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    return buf_addf(out, "https://%s.%s.%s", services[svc].host, region, domain);
}

/* Splits an endpoint URL into the Host header value (lower-cased, default
 * port dropped) and the path ("" or "/base" without trailing '/'). */
static int split_url(const char *url, struct buf *host, const char **path)
{
    bool https = strncmp(url, "https://", 8) == 0;
    const char *h = url + (https ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0);
    const char *slash = strchr(h, '/');
    size_t n = slash ? (size_t)(slash - h) : strlen(h);

    if (h == url || !n)
        return -1;
    /* "host:443" for https and "host:80" for http are sent as "host". */
    const char *def = https ? ":443" : ":80";
    size_t dl = strlen(def);
    if (n > dl && memcmp(h + n - dl, def, dl) == 0 && h[0] != '[')
        n -= dl;
    else if (n > dl && h[0] == '[' && memcmp(h + n - dl, def, dl) == 0 && h[n - dl - 1] == ']')
        n -= dl;
    for (size_t i = 0; i < n; i++)
        if (buf_addc(host, (char)tolower((unsigned char)h[i])) < 0)
            return -1;
    *path = slash ? slash : "";
    return 0;
}

/* ---- XML ----------------------------------------------------------------- */

static bool is_elem(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr aws_xml_child(xmlNodePtr n, const char *name)
{
    if (!n || !name)
        return NULL;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (is_elem(c, name))
            return c;
    return NULL;
}

xmlNodePtr aws_xml_path(xmlNodePtr n, const char *path)
{
    char step[256];

    if (!path)
        return n;
    while (n && *path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (len && len < sizeof(step)) {
            memcpy(step, path, len);
            step[len] = '\0';
            n = aws_xml_child(n, step);
        } else if (len) {
            return NULL;
        }
        path += len + (slash ? 1 : 0);
    }
    return n;
}

const char *aws_xml_text(xmlNodePtr n, const char *path)
{
    n = aws_xml_path(n, path);
    if (!n || n->type != XML_ELEMENT_NODE)
        return NULL;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            return (const char *)c->content;
    return "";
}

xmlNodePtr aws_xml_next(xmlNodePtr n)
{
    if (!n)
        return NULL;
    for (xmlNodePtr c = n->next; c; c = c->next)
        if (is_elem(c, (const char *)n->name))
            return c;
    return NULL;
}

static const char *tag_in(xmlNodePtr list, const char *key)
{
    for (xmlNodePtr it = list ? list->children : NULL; it; it = it->next) {
        if (it->type != XML_ELEMENT_NODE)
            continue;
        const char *k = aws_xml_text(it, "key");
        if (!k)
            k = aws_xml_text(it, "Key");
        if (k && strcmp(k, key) == 0) {
            const char *v = aws_xml_text(it, "value");
            if (!v)
                v = aws_xml_text(it, "Value");
            return v ? v : "";
        }
    }
    return NULL;
}

static const char *const tag_lists[] = {"tagSet", "TagSet", "Tags", "TagList", NULL};

const char *aws_xml_tag(xmlNodePtr n, const char *key)
{
    if (!n || !key)
        return NULL;
    for (size_t i = 0; tag_lists[i]; i++)
        if (is_elem(n, tag_lists[i]))
            return tag_in(n, key);
    for (size_t i = 0; tag_lists[i]; i++) {
        xmlNodePtr l = aws_xml_child(n, tag_lists[i]);
        const char *v = l ? tag_in(l, key) : NULL;
        if (v)
            return v;
    }
    return NULL;
}

/* After parsing: drops comments and processing instructions, merges
 * adjacent text, and refuses texts longer than AWS_FIELD_MAX, so that
 * aws_xml_text sees one text node per element, in the subtree of top.
 * Iterative (no recursion on hostile depth). */
static int normalize_tree(xmlNodePtr top, struct buf *why)
{
    xmlNodePtr n = top;

    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            /* First drop what is not content, so text around it meets. */
            for (xmlNodePtr c = n->children, next; c; c = next) {
                next = c->next;
                if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE) {
                    xmlUnlinkNode(c);
                    xmlFreeNode(c);
                } else if (c->type != XML_ELEMENT_NODE && c->type != XML_TEXT_NODE) {
                    buf_setf(why, "unexpected entity or DTD node in <%s>", n->name);
                    return -1;
                }
            }
            /* Then join each run of text nodes into its first, in one copy. */
            for (xmlNodePtr c = n->children; c; c = c->next) {
                if (c->type != XML_TEXT_NODE)
                    continue;
                size_t total = 0, parts = 0;
                for (xmlNodePtr r = c; r && r->type == XML_TEXT_NODE; r = r->next, parts++)
                    if ((total += r->content ? strlen((char *)r->content) : 0) > AWS_FIELD_MAX) {
                        buf_setf(why, "<%s> holds more than %d bytes", n->name, AWS_FIELD_MAX);
                        return -1;
                    }
                if (parts < 2)
                    continue;
                xmlChar *joined = xmlMalloc(total + 1);
                size_t o = 0;
                if (!joined) {
                    buf_setf(why, "out of memory");
                    return -1;
                }
                for (xmlNodePtr r = c; r && r->type == XML_TEXT_NODE; r = r->next) {
                    size_t l = r->content ? strlen((char *)r->content) : 0;
                    if (l)
                        memcpy(joined + o, r->content, l);
                    o += l;
                }
                joined[o] = '\0';
                while (c->next && c->next->type == XML_TEXT_NODE) {
                    xmlNodePtr r = c->next;
                    xmlUnlinkNode(r);
                    xmlFreeNode(r);
                }
                xmlNodeSetContentLen(c, joined, (int)o);
                xmlFree(joined);
            }
        }
        /* Depth-first: child, else next sibling, else an ancestor's
         * sibling, never leaving top's subtree. */
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n != top && !n->next)
            n = n->parent;
        n = n == top ? NULL : n->next;
    }
    return 0;
}

/* Streaming (aws_query_items): items at a path below the root are handed
 * to fn as soon as their end tag is parsed, then unlinked and freed, so a
 * page never needs more than one item in memory. The hook runs after
 * libxml2's own tree builder closed the element. */
#define STREAM_STEPS_MAX 8

struct stream {
    const char *want_root; /* or NULL */
    char path[256];
    const char *steps[STREAM_STEPS_MAX];
    size_t nsteps;
    aws_item_fn fn;
    void *arg;
    struct buf *why;
    int state; /* 0 ok, STREAM_BAD (why set), STREAM_STOPPED (fn said so) */
};
enum { STREAM_BAD = 1, STREAM_STOPPED = 2 };

static int stream_init(struct stream *s, const char *items, const char *want_root, aws_item_fn fn,
                       void *arg, struct buf *why)
{
    memset(s, 0, sizeof(*s));
    if (!items || !*items || strlen(items) >= sizeof(s->path) || !fn)
        return -1;
    snprintf(s->path, sizeof(s->path), "%s", items);
    for (char *p = s->path, *save = NULL, *t; (t = strtok_r(p, "/", &save)); p = NULL) {
        if (s->nsteps == STREAM_STEPS_MAX)
            return -1;
        s->steps[s->nsteps++] = t;
    }
    s->want_root = want_root;
    s->fn = fn;
    s->arg = arg;
    s->why = why;
    return s->nsteps ? 0 : -1;
}

/* Is n at the stream's path below the root element? */
static bool at_items(const struct stream *s, xmlNodePtr n)
{
    for (size_t i = s->nsteps; i-- > 0; n = n->parent)
        if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, s->steps[i]) != 0)
            return false;
    return n && n->type == XML_ELEMENT_NODE && n->parent && n->parent->type == XML_DOCUMENT_NODE &&
           (!s->want_root || strcmp((const char *)n->name, s->want_root) == 0);
}

static void stream_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                       const xmlChar *uri)
{
    xmlParserCtxtPtr c = ctx;
    struct stream *s = c->_private;
    xmlNodePtr cur = c->node;

    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
    if (!s || s->state || !cur || !at_items(s, cur))
        return;
    if (normalize_tree(cur, s->why) < 0) {
        s->state = STREAM_BAD;
        xmlStopParser(c);
        return;
    }
    if (s->fn(s->arg, cur) < 0) {
        s->state = STREAM_STOPPED;
        xmlStopParser(c);
        return;
    }
    xmlUnlinkNode(cur);
    xmlFreeNode(cur);
    /* The builder appends text to the parent's last child through a length
     * it keeps for the text node it made last (nodelen/nodemem); that node
     * may have been in the item just freed. 0 makes it take the slow, safe
     * path (xmlTextConcat) should the parent's last child now be text. */
    c->nodemem = 0;
    c->nodelen = 0;
}

struct mem_reader {
    const char *p;
    size_t left;
};

static int mem_read(void *arg, char *out, int n)
{
    struct mem_reader *r = arg;
    size_t k = n > 0 && (size_t)n < r->left ? (size_t)n : r->left;
    memcpy(out, r->p, k);
    r->p += k;
    r->left -= k;
    return (int)k;
}

/* Parses body as an AWS XML document: 0 with *doc, or -1 with why (or
 * with st->state STREAM_STOPPED). st NULL: no streaming. */
static int parse_xml(const char *body, size_t len, struct stream *st, xmlDocPtr *doc,
                     struct buf *why)
{
    xmlParserCtxtPtr ctx;

    *doc = NULL;
    if (!len) {
        buf_setf(why, "empty body");
        return -1;
    }
    if (len > AWS_RESPONSE_MAX || len > (size_t)INT32_MAX) {
        buf_setf(why, "body larger than %u bytes", AWS_RESPONSE_MAX);
        return -1;
    }
    /* AWS never sends a DTD; refusing it up front rules out entity tricks. */
    if (memmem(body, len, "<!DOCTYPE", 9) || memmem(body, len, "<!ENTITY", 8)) {
        buf_setf(why, "document has a DTD");
        return -1;
    }
    ctx = xmlNewParserCtxt();
    if (!ctx) {
        buf_setf(why, "out of memory");
        return -1;
    }
    if (st) {
        ctx->_private = st;
        ctx->sax->endElementNs = stream_end;
    }
    /* Read through a callback rather than xmlCtxtReadMemory, which would
     * copy the whole body into the parser first: a page then costs its
     * body once, not twice. */
    struct mem_reader mr = {body, len};
    *doc = xmlCtxtReadIO(ctx, mem_read, NULL, &mr, "response.xml", NULL, XML_OPTIONS);
    if (st && st->state) /* why is set, or fn stopped the parse */
        goto fail;
    if (!*doc || !ctx->wellFormed) {
        const xmlError *xe = xmlCtxtGetLastError(ctx);
        char msg[256] = "";
        copy_clean(msg, sizeof(msg), xe && xe->message ? xe->message : "parse error");
        size_t ml = strlen(msg);
        while (ml && msg[ml - 1] == ' ')
            msg[--ml] = '\0';
        buf_setf(why, "not well-formed XML (line %d: %s)", xe ? xe->line : 0, msg);
        goto fail;
    }
    if ((*doc)->intSubset || (*doc)->extSubset) {
        buf_setf(why, "document has a DTD");
        goto fail;
    }
    if (!xmlDocGetRootElement(*doc)) {
        buf_setf(why, "no root element");
        goto fail;
    }
    if (normalize_tree(xmlDocGetRootElement(*doc), why) < 0)
        goto fail;
    xmlFreeParserCtxt(ctx);
    return 0;
fail:
    if (*doc)
        xmlFreeDoc(*doc);
    *doc = NULL;
    xmlFreeParserCtxt(ctx);
    return -1;
}

static bool xml_content_type(const char *ct)
{
    size_t n = strcspn(ct, "; \t");
    return (n == 8 && strncasecmp(ct, "text/xml", 8) == 0) ||
           (n == 15 && strncasecmp(ct, "application/xml", 15) == 0);
}

/* Codes botocore treats as throttling or transient (standard retry mode). */
static const char *const retry_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "IDPCommunicationError",
};

bool aws_code_retryable(const char *code)
{
    for (size_t i = 0; code && i < ARRAY_SIZE(retry_codes); i++)
        if (strcmp(code, retry_codes[i]) == 0)
            return true;
    return false;
}

/* A short printable excerpt of a body that is not an AWS error document:
 * blanks and control characters folded to one space, "..." when cut. */
static void excerpt(const char *body, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool space = false, cut = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (isspace(c) || c < 0x20 || c == 0x7f) {
            space = o > 0;
            continue;
        }
        size_t need = space ? 2 : 1;
        if (o + need + 4 > cap) { /* room for "..." and the NUL */
            cut = true;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = (char)c;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Fills e from an error status and its body (error document if any). */
static void error_from_body(long status, const char *body, size_t len, struct aws_error *e)
{
    xmlDocPtr doc = NULL;
    struct buf why;
    bool retry = status >= 500 || status == 429;

    memset(e, 0, sizeof(*e));
    e->status = status;
    buf_init(&why, 512);
    if (len && parse_xml(body, len, NULL, &doc, &why) == 0) {
        xmlNodePtr root = xmlDocGetRootElement(doc);
        /* S3: <Error>; EC2: <Response><Errors><Error>; ELB/STS:
         * <ErrorResponse><Error>. */
        xmlNodePtr err = is_elem(root, "Error") ? root : aws_xml_path(root, "Errors/Error");
        if (!err)
            err = aws_xml_child(root, "Error");
        const char *code = aws_xml_text(err, "Code"), *msg = aws_xml_text(err, "Message");
        const char *rid = aws_xml_text(root, "RequestID");
        if (!rid)
            rid = aws_xml_text(root, "RequestId");
        if (!rid)
            rid = aws_xml_text(err, "RequestId");
        copy_clean(e->code, sizeof(e->code), code);
        copy_clean(e->message, sizeof(e->message), msg);
        copy_clean(e->request_id, sizeof(e->request_id), rid);
        xmlFreeDoc(doc);
    }
    if (!e->message[0]) {
        char ex[160] = "";
        if (len)
            excerpt(body, len, ex, sizeof(ex));
        if (!e->code[0])
            snprintf(e->message, sizeof(e->message), "HTTP %ld without an AWS error document%s%s",
                     status, ex[0] ? ": " : "", ex);
        else
            snprintf(e->message, sizeof(e->message), "HTTP %ld", status);
    }
    retry = retry || aws_code_retryable(e->code);
    e->kind = retry ? AWS_ERR_RETRYABLE : AWS_ERR_CLIENT;
    buf_release(&why);
}

int aws_parse_response_items(long status, const char *content_type, const char *body, size_t len,
                             const char *want_root, const char *items, aws_item_fn fn, void *arg,
                             xmlDocPtr *doc, struct aws_error *e)
{
    struct stream st;
    struct buf why;
    int rc = -1;

    *doc = NULL;
    memset(e, 0, sizeof(*e));
    if (status < 200 || status > 299) {
        error_from_body(status, body, len, e);
        return -1;
    }
    buf_init(&why, 512);
    if (items && stream_init(&st, items, want_root, fn, arg, &why) < 0) {
        set_err(e, AWS_ERR_CLIENT, status, "invalid item path or callback");
        goto out;
    }
    if (content_type && !xml_content_type(content_type)) {
        char ct[64];
        copy_clean(ct, sizeof(ct), content_type);
        set_err(e, AWS_ERR_RESPONSE, status, "unexpected content type \"%s\" (expected XML)",
                ct[0] ? ct : "(none)");
        goto out;
    }
    if (parse_xml(body, len, items ? &st : NULL, doc, &why) < 0) {
        if (items && st.state == STREAM_STOPPED)
            set_err(e, AWS_ERR_NONE, status, "stopped by the item callback");
        else
            set_err(e, AWS_ERR_RESPONSE, status, "malformed response: %s", buf_str(&why));
        goto out;
    }
    xmlNodePtr root = xmlDocGetRootElement(*doc);
    if (want_root && !is_elem(root, want_root)) {
        char got[64];
        copy_clean(got, sizeof(got), (const char *)root->name);
        set_err(e, AWS_ERR_RESPONSE, status, "unexpected response <%s> (expected <%s>)", got,
                want_root);
        xmlFreeDoc(*doc);
        *doc = NULL;
        goto out;
    }
    rc = 0;
out:
    buf_release(&why);
    return rc;
}

int aws_parse_response(long status, const char *content_type, const char *body, size_t len,
                       const char *want_root, xmlDocPtr *doc, struct aws_error *e)
{
    return aws_parse_response_items(status, content_type, body, len, want_root, NULL, NULL, NULL,
                                    doc, e);
}

/* ---- calls --------------------------------------------------------------- */

struct call {
    size_t svc;         /* services[] row */
    const char *action; /* metrics and messages */
    const char *region;
    const char *method;
    const char *endpoint; /* without trailing '/' */
    const char *path;     /* wire path, starting with '/' */
    const char *query;    /* wire query or "" */
    const char *body;     /* POST form body or NULL */
    size_t body_len;
    const char *want_root; /* checked on success, or NULL */
    const char *items;     /* streamed item path, or NULL */
    aws_item_fn fn;
    void *arg;
    struct aws_cred_provider *creds; /* NULL: unsigned */
};

static void record(struct aws *a, const struct call *c, const char *status, int64_t ms)
{
    if (!a->m_requests)
        return;
    const char *lv[3] = {services[c->svc].label, c->action, status};
    metrics_inc(a->m_requests, lv, 1);
    metrics_observe(a->m_duration, lv, (double)ms / 1000.0);
}

/* Signs and sends one attempt. Returns the http result; on AWS_HTTP_OK
 * resp holds the answer. snap is the credential snapshot used (or NULL). */
static enum aws_http_result attempt(struct aws *a, const struct call *c,
                                    const struct aws_creds_snap *snap, const atomic_bool *cancel,
                                    struct aws_http_response *resp, struct buf *err)
{
    struct buf url, host, auth, serr;
    char amz_date[17], payload_hash[65];
    struct sigv4_kv hdrs[8];
    size_t nh = 0;
    enum aws_http_result rc = AWS_HTTP_FAILED;
    const char *base_path;

    buf_init(&url, 16384);
    buf_init(&host, 1024);
    buf_init(&auth, 1024);
    buf_init(&serr, 512);
    memset(resp, 0, sizeof(*resp));
    if (split_url(c->endpoint, &host, &base_path) < 0 ||
        buf_addf(&url, "%s%s%s%s", c->endpoint, c->path, *c->query ? "?" : "", c->query) < 0) {
        buf_setf(err, "invalid endpoint %s", c->endpoint);
        goto out;
    }
    sigv4_amz_date((int64_t)time(NULL), amz_date);
    if (c->body)
        sigv4_sha256_hex(c->body, c->body_len, payload_hash);
    else
        memcpy(payload_hash, SIGV4_EMPTY_SHA256, sizeof(payload_hash));

    hdrs[nh++] = (struct sigv4_kv){"Host", buf_str(&host)};
    if (c->body)
        hdrs[nh++] = (struct sigv4_kv){"Content-Type", FORM_CONTENT_TYPE};
    if (c->creds) {
        hdrs[nh++] = (struct sigv4_kv){"X-Amz-Date", amz_date};
        if (c->svc == AWS_S3)
            hdrs[nh++] = (struct sigv4_kv){"X-Amz-Content-Sha256", payload_hash};
        if (snap->c.session_token && *snap->c.session_token)
            hdrs[nh++] = (struct sigv4_kv){"X-Amz-Security-Token", snap->c.session_token};
        /* The path as signed: the endpoint's own path plus ours. */
        struct buf spath;
        buf_init(&spath, 16384);
        int prc = buf_addf(&spath, "%s%s", base_path, c->path);
        struct sigv4_request sr = {
            c->method,    prc < 0 ? "/" : buf_str(&spath), c->query,  hdrs,    nh,
            payload_hash, services[c->svc].signing,        c->region, amz_date};
        int src = prc < 0 ? -1 : sigv4_authorization(&sr, &snap->c, &auth, &serr);
        buf_release(&spath);
        if (src < 0) {
            buf_setf(err, "cannot sign the request: %s", buf_str(&serr));
            goto out;
        }
        hdrs[nh++] = (struct sigv4_kv){"Authorization", buf_str(&auth)};
    }
    struct aws_http_request hr = {c->method, buf_str(&url), hdrs, nh, c->body, c->body_len};
    rc = aws_http_perform(a->http, &hr, cancel, resp, err);
out:
    buf_release(&url);
    buf_release(&host);
    if (auth.ptr)
        explicit_bzero(auth.ptr, auth.len);
    buf_release(&auth);
    buf_release(&serr);
    return rc;
}

/* Runs c with retries: 0 with *doc, or -1 with e. */
static int do_call(struct aws *a, const struct call *c, const atomic_bool *cancel, xmlDocPtr *doc,
                   struct aws_error *e)
{
    struct buf err;
    bool reauth_done = false;
    int rc = -1;

    *doc = NULL;
    memset(e, 0, sizeof(*e));
    buf_init(&err, 1024);
    for (int n = 1;; n++) {
        struct aws_creds_snap *snap = NULL;
        struct aws_http_response resp;
        char status[16];

        if (cancel && atomic_load(cancel)) {
            set_err(e, AWS_ERR_CANCELLED, 0, "%s %s: cancelled", services[c->svc].label, c->action);
            break;
        }
        if (c->creds && aws_creds_get(c->creds, cancel, &snap, e) < 0)
            break;
        buf_reset(&err);
        int64_t t0 = mono_ms();
        enum aws_http_result hr = attempt(a, c, snap, cancel, &resp, &err);
        int64_t took = mono_ms() - t0;
        switch (hr) {
        case AWS_HTTP_OK:
            snprintf(status, sizeof(status), "%ld", resp.status);
            record(a, c, status, took);
            rc = aws_parse_response_items(resp.status, resp.content_type, buf_str(&resp.body),
                                          resp.body.len, c->want_root, c->items, c->fn, c->arg, doc,
                                          e);
            if (rc < 0 && !e->request_id[0])
                copy_clean(e->request_id, sizeof(e->request_id), resp.request_id);
            break;
        case AWS_HTTP_CANCELLED:
            record(a, c, "cancelled", took);
            set_err(e, AWS_ERR_CANCELLED, 0, "%s", buf_str(&err));
            break;
        case AWS_HTTP_TOO_LARGE:
            record(a, c, "error", took);
            set_err(e, AWS_ERR_RESPONSE, resp.status, "%s", buf_str(&err));
            break;
        case AWS_HTTP_FAILED:
            record(a, c, "error", took);
            set_err(e, AWS_ERR_RETRYABLE, 0, "%s", buf_str(&err));
            break;
        }
        aws_http_response_release(&resp);
        if (rc == 0) {
            aws_creds_put(snap);
            break;
        }
        /* Temporary credentials that AWS says expired: refresh once. */
        bool expired = snap && !reauth_done && e->kind == AWS_ERR_CLIENT &&
                       (strcmp(e->code, "ExpiredToken") == 0 ||
                        strcmp(e->code, "ExpiredTokenException") == 0 ||
                        strcmp(e->code, "RequestExpired") == 0);
        if (expired) {
            aws_creds_invalidate(c->creds, snap);
            reauth_done = true;
        }
        aws_creds_put(snap);
        if (expired && n < a->max_attempts)
            continue;
        if (e->kind != AWS_ERR_RETRYABLE)
            break;
        if (n >= a->max_attempts) {
            size_t ml = strlen(e->message);
            snprintf(e->message + ml, sizeof(e->message) - ml, " (after %d attempt%s)", n,
                     n == 1 ? "" : "s");
            break;
        }
        /* Full jitter: uniform in [0, min(max, base * 2^(n-1))]. */
        int64_t cap = a->base_delay_ms;
        for (int i = 1; i < n && cap < a->max_delay_ms; i++)
            cap *= 2;
        if (cap > a->max_delay_ms)
            cap = a->max_delay_ms;
        int64_t delay = cap > 0 ? (int64_t)(rnd() % (uint64_t)(cap + 1)) : 0;
        log_debug("aws call retried", LF_STR("service", services[c->svc].label),
                  LF_STR("action", c->action), LF_STR("region", c->region), LF_INT("attempt", n),
                  LF_INT("status", e->status), LF_STR("code", e->code), LF_STR("error", e->message),
                  LF_INT("delay_ms", delay));
        if (sleep_cancellable(delay, cancel) < 0) {
            set_err(e, AWS_ERR_CANCELLED, 0, "%s %s: cancelled", services[c->svc].label, c->action);
            break;
        }
    }
    buf_release(&err);
    return rc;
}

/* Builds the form body "Action=..&Version=..&params" into body. */
static int form_body(struct buf *body, const char *action, const char *version,
                     const struct sigv4_kv *params, size_t n)
{
    if (sigv4_query_add(body, "Action", action) < 0 ||
        sigv4_query_add(body, "Version", version) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!params[i].name ||
            sigv4_query_add(body, params[i].name, params[i].value ? params[i].value : "") < 0)
            return -1;
    return 0;
}

static struct slot *slot_of(const struct aws_account *acct)
{
    return (struct slot *)acct; /* pub is the first member */
}

/* A Query API call to row svc of services[]; creds NULL: unsigned. */
static int query(struct aws *a, size_t svc, struct aws_cred_provider *creds, const char *region,
                 const char *action, const struct sigv4_kv *params, size_t nparams,
                 const char *items, aws_item_fn fn, void *arg, const atomic_bool *cancel,
                 xmlDocPtr *doc, struct aws_error *e)
{
    struct buf body, endpoint;
    char root[160];
    int rc = -1;

    *doc = NULL;
    buf_init(&body, 16u << 20);
    buf_init(&endpoint, 4096);
    snprintf(root, sizeof(root), "%sResponse", action);
    if (form_body(&body, action, services[svc].version, params, nparams) < 0) {
        set_err(e, AWS_ERR_CLIENT, 0, "%s %s: request parameters too large or unnamed",
                services[svc].label, action);
        goto out;
    }
    if (aws_endpoint(a, (enum aws_service)svc, region, &endpoint) < 0) {
        set_err(e, AWS_ERR_CLIENT, 0, "%s %s: endpoint too long", services[svc].label, action);
        goto out;
    }
    struct call c = {.svc = svc,
                     .action = action,
                     .region = region,
                     .method = "POST",
                     .endpoint = buf_str(&endpoint),
                     .path = "/",
                     .query = "",
                     .body = buf_str(&body),
                     .body_len = body.len,
                     .want_root = root,
                     .items = items,
                     .fn = fn,
                     .arg = arg,
                     .creds = creds};
    rc = do_call(a, &c, cancel, doc, e);
out:
    if (body.ptr)
        explicit_bzero(body.ptr, body.len); /* may hold a web identity token */
    buf_release(&body);
    buf_release(&endpoint);
    return rc;
}

int aws_query(struct aws *a, const struct aws_account *acct, enum aws_service svc,
              const char *region, const char *action, const struct sigv4_kv *params, size_t nparams,
              const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e)
{
    *doc = NULL;
    if (svc >= AWS_SERVICE_COUNT || !services[svc].version || !acct || !region || !action) {
        set_err(e, AWS_ERR_CLIENT, 0, "aws_query: not a Query API service or missing argument");
        return -1;
    }
    return query(a, svc, acct->provider, region, action, params, nparams, NULL, NULL, NULL, cancel,
                 doc, e);
}

int aws_query_items(struct aws *a, const struct aws_account *acct, enum aws_service svc,
                    const char *region, const char *action, const struct sigv4_kv *params,
                    size_t nparams, const char *items, aws_item_fn fn, void *arg,
                    const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e)
{
    *doc = NULL;
    if (svc >= AWS_SERVICE_COUNT || !services[svc].version || !acct || !region || !action ||
        !items || !*items || !fn) {
        set_err(e, AWS_ERR_CLIENT, 0,
                "aws_query_items: not a Query API service or missing argument");
        return -1;
    }
    return query(a, svc, acct->provider, region, action, params, nparams, items, fn, arg, cancel,
                 doc, e);
}

int aws_s3_get(struct aws *a, const struct aws_account *acct, const char *region,
               const char *bucket, const char *subresource, const atomic_bool *cancel,
               xmlDocPtr *doc, struct aws_error *e)
{
    struct buf endpoint, path;
    int rc = -1;

    *doc = NULL;
    if (!acct || !region) {
        set_err(e, AWS_ERR_CLIENT, 0, "aws_s3_get: missing argument");
        return -1;
    }
    buf_init(&endpoint, 4096);
    buf_init(&path, 4096);
    if (aws_endpoint(a, AWS_S3, region, &endpoint) < 0 || buf_addc(&path, '/') < 0 ||
        (bucket && sigv4_uri_encode(&path, bucket, strlen(bucket), false) < 0)) {
        set_err(e, AWS_ERR_CLIENT, 0, "s3: bucket name or endpoint too long");
        goto out;
    }
    const char *action = !bucket                                               ? "ListBuckets"
                         : subresource && strcmp(subresource, "location") == 0 ? "GetBucketLocation"
                                                                               : "GetBucket";
    struct call c = {.svc = AWS_S3,
                     .action = action,
                     .region = region,
                     .method = "GET",
                     .endpoint = buf_str(&endpoint),
                     .path = buf_str(&path),
                     .query = subresource ? subresource : "",
                     .creds = acct->provider};
    rc = do_call(a, &c, cancel, doc, e);
out:
    buf_release(&endpoint);
    buf_release(&path);
    return rc;
}

/* The creds module's STS call: unsigned (AssumeRoleWithWebIdentity). */
static int sts_call(void *arg, const char *action, const struct sigv4_kv *params, size_t nparams,
                    const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e)
{
    struct aws *a = arg;
    return query(a, STS_INDEX, NULL, a->region, action, params, nparams, NULL, NULL, NULL, cancel,
                 doc, e);
}

/* ---- accounts ------------------------------------------------------------ */

static bool valid_account_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= AWS_ACCOUNT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* GetCallerIdentity for slot s unless resolved or in its retry pause.
 * Called with a->resolve_lock held. */
static int resolve(struct aws *a, struct slot *s, const atomic_bool *cancel, struct aws_error *e)
{
    xmlDocPtr doc = NULL;
    int rc = -1;

    pthread_mutex_lock(&a->lock);
    bool done = s->resolved;
    bool paused = !done && mono_ms() < s->retry_after_ms;
    if (paused)
        *e = s->last;
    pthread_mutex_unlock(&a->lock);
    if (done)
        return 0;
    if (paused)
        return -1;

    if (query(a, STS_INDEX, s->pub.provider, a->region, "GetCallerIdentity", NULL, 0, NULL, NULL,
              NULL, cancel, &doc, e) == 0) {
        const char *id = aws_xml_text(xmlDocGetRootElement(doc), "GetCallerIdentityResult/Account");
        if (valid_account_id(id)) {
            pthread_mutex_lock(&a->lock);
            snprintf(s->pub.account_id, sizeof(s->pub.account_id), "%s", id);
            s->resolved = true;
            pthread_mutex_unlock(&a->lock);
            log_info("aws credential resolved", LF_STR("credential", s->pub.name),
                     LF_STR("account_id", id));
            rc = 0;
        } else {
            set_err(e, AWS_ERR_RESPONSE, 200,
                    "GetCallerIdentity: response without a valid Account");
        }
        xmlFreeDoc(doc);
    }
    if (rc < 0 && e->kind != AWS_ERR_CANCELLED) {
        pthread_mutex_lock(&a->lock);
        s->last = *e;
        s->retry_after_ms = mono_ms() + RESOLVE_RETRY_MS;
        pthread_mutex_unlock(&a->lock);
    }
    return rc;
}

int aws_account_resolve(struct aws *a, const struct aws_account *acct, const atomic_bool *cancel,
                        struct aws_error *e)
{
    memset(e, 0, sizeof(*e));
    pthread_mutex_lock(&a->resolve_lock);
    int rc = resolve(a, slot_of(acct), cancel, e);
    pthread_mutex_unlock(&a->resolve_lock);
    return rc;
}

int aws_accounts(struct aws *a, enum aws_service svc, const struct aws_account *const **out,
                 size_t *n, const atomic_bool *cancel, struct buf *err)
{
    struct svc_accounts *sa;
    bool all_done;

    *out = NULL;
    *n = 0;
    if (svc >= AWS_SERVICE_COUNT) {
        buf_setf(err, "aws: unknown service %d", (int)svc);
        return -1;
    }
    sa = &a->svc[svc];
    if (!sa->ncreds) {
        buf_setf(err, "aws.services.%s.use_credentials is empty: no accounts to collect",
                 services[svc].label);
        return -1;
    }
    pthread_mutex_lock(&a->lock);
    all_done = sa->n == sa->ncreds;
    for (size_t i = 0; all_done && i < sa->ncreds; i++)
        all_done = a->slots[sa->creds[i]].resolved;
    pthread_mutex_unlock(&a->lock);

    if (!all_done) {
        struct buf why;
        buf_init(&why, 2048);
        pthread_mutex_lock(&a->resolve_lock);
        for (size_t i = 0; i < sa->ncreds; i++) {
            struct slot *s = &a->slots[sa->creds[i]];
            struct aws_error e;
            memset(&e, 0, sizeof(e));
            if (resolve(a, s, cancel, &e) < 0) {
                struct buf m;
                buf_init(&m, 1024);
                aws_error_format(&e, &m);
                log_warn("aws credential not resolved", LF_STR("service", services[svc].label),
                         LF_STR("credential", s->pub.name), LF_STR("error", buf_str(&m)));
                if (buf_addf(&why, "%s%s: %s", why.len ? "; " : "", s->pub.name, buf_str(&m)) < 0)
                    buf_setf(&why, "several credentials failed");
                buf_release(&m);
                if (e.kind == AWS_ERR_CANCELLED)
                    break;
                continue;
            }
            /* Publish: entries [0, n) never change once written. */
            pthread_mutex_lock(&a->lock);
            bool dup = false;
            for (size_t j = 0; j < sa->n && !dup; j++)
                dup = sa->list[j] == &s->pub ||
                      strcmp(sa->list[j]->account_id, s->pub.account_id) == 0;
            if (!dup)
                sa->list[sa->n++] = &s->pub;
            pthread_mutex_unlock(&a->lock);
        }
        pthread_mutex_unlock(&a->resolve_lock);
        pthread_mutex_lock(&a->lock);
        size_t got = sa->n;
        pthread_mutex_unlock(&a->lock);
        if (!got) {
            buf_setf(err, "aws: no account resolved for %s: %s", services[svc].label,
                     buf_str(&why));
            buf_release(&why);
            return -1;
        }
        buf_release(&why);
    }
    pthread_mutex_lock(&a->lock);
    *out = sa->list;
    *n = sa->n;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

const struct aws_account *aws_account_find(struct aws *a, enum aws_service svc,
                                           const char *account_id)
{
    const struct aws_account *found = NULL;
    if (svc >= AWS_SERVICE_COUNT || !account_id)
        return NULL;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->svc[svc].n && !found; i++)
        if (strcmp(a->svc[svc].list[i]->account_id, account_id) == 0)
            found = a->svc[svc].list[i];
    pthread_mutex_unlock(&a->lock);
    return found;
}

size_t aws_credentials(struct aws *a, const struct aws_account *const **out)
{
    *out = a->all;
    return a->nslots;
}

const char *aws_account_provider_name(const struct aws_account *acct)
{
    return aws_creds_provider_name(acct->provider);
}
