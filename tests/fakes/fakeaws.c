/* fakeaws — a fake AWS for tests, benchmarks and the demo (docs/fakeaws.md).
 *
 * A loopback HTTP server on libmicrohttpd (one thread per connection) that
 * speaks the wire formats of the calls the AWS collectors make: the EC2 and
 * ELB/ELBv2 Query APIs, STS (GetCallerIdentity, AssumeRoleWithWebIdentity)
 * and S3 (ListBuckets, GetBucketLocation), with AWS's XML namespaces,
 * pagination tokens and error documents. Every request but
 * AssumeRoleWithWebIdentity must carry a valid SigV4 signature made with one
 * of the fake's keys (static per account, or temporary ones it issued).
 *
 * The data is a pure function of the sizing flags: nothing is stored, every
 * page is generated from its offset, so 100,000 instances cost no memory and
 * a page of 1,000 a few milliseconds. Faults (throttling, 5xx, delays,
 * truncated or malformed bodies, ...) are injected by flag or through the
 * unsigned control endpoints under /_fake/ (loopback clients only), which
 * also report request counts per action and status.
 *
 * This is a dev/test program, not part of bin/inventory. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "core/xalloc.h"
#include "sources/aws/sigv4.h"

/* ---------------------------------------------------------------------- */
/* Constants of the fake world                                             */

#define ACCOUNT_BASE  100000000000ULL /* account n (1-based) is ACCOUNT_BASE + n */
#define AKID_PREFIX   "AKIAFAKE"      /* + 12-digit account id */
#define SECRET_PREFIX "fakesecret"    /* + 12-digit account id */
#define TEMP_PREFIX   "ASIAFAKE"      /* + 12 upper-case hex digits */
#define EPOCH_BASE    1704067200      /* 2024-01-01T00:00:00Z: all dates count from here */

#define MAX_BODY        (1u << 20) /* request bodies */
#define MAX_PARAMS      512
#define MAX_HEADERS     128
#define MAX_FAULTS      256
#define MAX_TEMP_CREDS  100000
#define MAX_DELAY_MS    600000
#define MAX_OVERSIZE    (256u << 20)
#define RESP_MAX        (1u << 30) /* cap of a generated response */
#define DEFAULT_MAXSKEW 900        /* seconds, as AWS */

#define NS_EC2   "http://ec2.amazonaws.com/doc/2016-11-15/"
#define NS_ELB   "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"
#define NS_ELBV2 "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
#define NS_STS   "https://sts.amazonaws.com/doc/2011-06-15/"
#define NS_S3    "http://s3.amazonaws.com/doc/2006-03-01/"

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/* Real region names; --regions N enables the first N. */
static const struct region {
    const char *name, *code; /* code: the AZ id prefix ("euc1-az1") */
} REGIONS[] = {
    {"eu-central-1", "euc1"},    {"eu-west-1", "euw1"},       {"us-east-1", "use1"},
    {"us-east-2", "use2"},       {"us-west-1", "usw1"},       {"us-west-2", "usw2"},
    {"eu-west-2", "euw2"},       {"eu-west-3", "euw3"},       {"eu-north-1", "eun1"},
    {"eu-south-1", "eus1"},      {"ap-south-1", "aps1"},      {"ap-northeast-1", "apne1"},
    {"ap-northeast-2", "apne2"}, {"ap-northeast-3", "apne3"}, {"ap-southeast-1", "apse1"},
    {"ap-southeast-2", "apse2"}, {"ca-central-1", "cac1"},    {"sa-east-1", "sae1"},
    {"af-south-1", "afs1"},      {"ap-east-1", "ape1"},       {"me-south-1", "mes1"},
    {"eu-central-2", "euc2"},    {"eu-south-2", "eus2"},      {"ap-south-2", "aps2"},
    {"ap-southeast-3", "apse3"}, {"me-central-1", "mec1"},    {"il-central-1", "ilc1"},
    {"ca-west-1", "caw1"},
};
#define NREGIONS ((unsigned)ARRAY_SIZE(REGIONS))

enum svc { SVC_NONE = 0, SVC_EC2, SVC_ELB, SVC_ELBV2, SVC_STS, SVC_S3 };
static const char *const SVC_NAME[] = {"other", "ec2", "elb", "elbv2", "sts", "s3"};

/* ---------------------------------------------------------------------- */
/* Sizing and the derived counts                                           */

struct sizing {
    unsigned accounts, regions, azs, vpcs, subnets, instances, images, clbs, albs, buckets, dhcp;
};

/* Counts within one account and region (all accounts and enabled regions
 * are alike). */
struct counts {
    uint64_t subnets, instances, inst_per_vpc, lb_enis_per_lb, enis_per_vpc, enis, clbs, albs;
};

static struct counts counts_of(const struct sizing *z)
{
    struct counts c;
    c.subnets = (uint64_t)z->vpcs * z->subnets;
    c.inst_per_vpc = (uint64_t)z->subnets * z->instances;
    c.instances = (uint64_t)z->vpcs * c.inst_per_vpc;
    c.lb_enis_per_lb = z->subnets < z->azs ? z->subnets : z->azs;
    c.enis_per_vpc = c.inst_per_vpc + (uint64_t)(z->clbs + z->albs) * c.lb_enis_per_lb;
    c.enis = (uint64_t)z->vpcs * c.enis_per_vpc;
    c.clbs = (uint64_t)z->vpcs * z->clbs;
    c.albs = (uint64_t)z->vpcs * z->albs;
    return c;
}

/* ---------------------------------------------------------------------- */
/* Faults                                                                  */

enum fault_kind {
    F_THROTTLE = 0, /* the service's throttling error */
    F_ERROR,        /* an error status (500 InternalError by default) */
    F_DELAY,        /* sleep ms, then answer normally (or apply another fault) */
    F_TRUNCATE,     /* announce the full Content-Length, send half, close */
    F_CUT,          /* a complete HTTP response whose XML stops half-way */
    F_MALFORMED,    /* full length, not well-formed XML */
    F_BADTYPE,      /* an HTML page with Content-Type text/html */
    F_OVERSIZED,    /* a huge field (size bytes) */
    F_UNEXPECTED,   /* well-formed XML with unknown elements */
    F_CLOSE,        /* close the connection without an answer */
    F_NKINDS
};
static const char *const FAULT_NAME[] = {"throttle",   "error",     "delay",   "truncate",
                                         "cut",        "malformed", "badtype", "oversized",
                                         "unexpected", "close"};

struct fault {
    enum fault_kind kind;
    enum svc svc;      /* SVC_NONE: any */
    char action[64];   /* "": any */
    char account[13];  /* "": any */
    int64_t remaining; /* -1: unlimited */
    int64_t after;     /* matching requests to let through first */
    double fraction;   /* probability of applying to a matching request */
    unsigned ms;       /* F_DELAY */
    unsigned status;   /* F_ERROR, F_BADTYPE: 0 = the default */
    char code[64];     /* F_ERROR: "" = the default */
    char message[256]; /* F_ERROR */
    size_t size;       /* F_OVERSIZED */
    char field[64];    /* F_OVERSIZED: element whose text is replaced; "" = a new element */
    uint64_t hits;
};

/* ---------------------------------------------------------------------- */
/* Temporary credentials issued by AssumeRoleWithWebIdentity               */

struct tempcred {
    char akid[21];
    char secret[41];
    char token[257];
    unsigned acct;    /* 1-based */
    char role[65];    /* role name (last path element) */
    char session[65]; /* RoleSessionName */
    int64_t expires;  /* Unix seconds */
};

/* ---------------------------------------------------------------------- */
/* The server                                                              */

struct fake {
    struct sizing sz;
    struct counts cnt;
    int64_t sts_max_duration; /* 0: as requested */
    int64_t max_skew;
    const char *web_token; /* NULL: any non-empty token */
    bool log_requests;
    atomic_bool stopping;
    atomic_uint_fast64_t seq; /* request ids */
    uint64_t rid_salt;

    pthread_mutex_t lock; /* everything below */
    struct fault faults[MAX_FAULTS];
    size_t nfaults;
    json_t *stats; /* {"svc.Action": {"200": n, ...}} */
    uint64_t requests;
    uint64_t injected[F_NKINDS];
    struct tempcred *temps;
    size_t ntemps, captemps;
    uint64_t prng;
};

/* Per connection (libmicrohttpd socket context), reused by its requests. */
struct conn {
    char *uri; /* raw request target of the current request */
    struct buf body;
    bool started;
    bool too_big;
};

struct param {
    char *k, *v;
};

/* One request being answered. */
struct req {
    struct fake *f;
    struct MHD_Connection *mc;
    struct conn *c;
    const char *method;
    char *path, *query; /* raw (percent-encoded) */
    struct param params[MAX_PARAMS];
    size_t nparams;
    struct sigv4_kv hdrs[MAX_HEADERS];
    size_t nhdrs;
    bool hdrs_overflow;

    enum svc svc;
    int act;          /* index into ACTIONS, -1 unknown */
    const char *name; /* the action name as asked ("" none) */
    char region[64];
    int ri; /* region index in REGIONS, -1 unknown */
    bool enabled;
    unsigned acct; /* 1-based; 0 before authentication */
    bool temp;
    struct tempcred tc; /* when temp */
    char rid[40];

    /* the answer */
    unsigned status;
    const char *ctype;
    struct buf body;
    bool oom;
};

/* ---------------------------------------------------------------------- */
/* Output helpers: memcpy appends with a sticky error flag                 */

static void put(struct req *r, const char *s, size_t n)
{
    if (!r->oom && buf_add(&r->body, s, n) < 0)
        r->oom = true;
}

#define PUT(r, lit) put((r), "" lit, sizeof(lit) - 1)

static void put_s(struct req *r, const char *s)
{
    put(r, s, strlen(s));
}

static void put_esc(struct req *r, const char *s)
{
    const char *p = s;
    for (; *s; s++) {
        const char *e;
        switch (*s) {
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '&':
            e = "&amp;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&apos;";
            break;
        default:
            continue;
        }
        put(r, p, (size_t)(s - p));
        put_s(r, e);
        p = s + 1;
    }
    put(r, p, (size_t)(s - p));
}

static void put_u(struct req *r, uint64_t v)
{
    char t[24];
    size_t i = sizeof(t);
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(r, t + i, sizeof(t) - i);
}

static void put_f(struct req *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void put_f(struct req *r, const char *fmt, ...)
{
    char t[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(r, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

/* <tag>escaped value</tag>; the tag is a literal. */
static void el(struct req *r, const char *open, size_t olen, const char *close, size_t clen,
               const char *v)
{
    put(r, open, olen);
    put_esc(r, v);
    put(r, close, clen);
}
static void el_u(struct req *r, const char *open, size_t olen, const char *close, size_t clen,
                 uint64_t v)
{
    put(r, open, olen);
    put_u(r, v);
    put(r, close, clen);
}
#define EL(r, tag, v)  el((r), "<" tag ">", sizeof(tag) + 1, "</" tag ">", sizeof(tag) + 2, (v))
#define ELU(r, tag, v) el_u((r), "<" tag ">", sizeof(tag) + 1, "</" tag ">", sizeof(tag) + 2, (v))
#define ELB(r, tag, b) EL(r, tag, (b) ? "true" : "false")

/* ---------------------------------------------------------------------- */
/* Identifiers, addresses and times                                        */

static const char HEX[] = "0123456789abcdef";

/* prefix-AAAARRNNNNNNNNNNN: 17 hex digits (account, region, counter), as
 * long as AWS's own ids. */
static void put_id(struct req *r, const char *prefix, unsigned a, unsigned ri, uint64_t n)
{
    char t[64];
    size_t pl = strlen(prefix);
    memcpy(t, prefix, pl);
    char *p = t + pl;
    *p++ = '-';
    for (int i = 3; i >= 0; i--)
        *p++ = HEX[(a >> (4 * i)) & 15];
    for (int i = 1; i >= 0; i--)
        *p++ = HEX[(ri >> (4 * i)) & 15];
    for (int i = 10; i >= 0; i--)
        *p++ = HEX[(n >> (4 * i)) & 15];
    put(r, t, (size_t)(p - t));
}

/* Parses an id made by put_id; -1 when it is not one of ours. */
static int parse_id(const char *s, const char *prefix, unsigned *a, unsigned *ri, uint64_t *k)
{
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || s[pl] != '-' || strlen(s + pl + 1) != 17)
        return -1;
    uint64_t v[3] = {0, 0, 0};
    const int width[3] = {4, 2, 11};
    const char *p = s + pl + 1;
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < width[f]; i++, p++) {
            const char *h = strchr(HEX, *p);
            if (!*p || !h)
                return -1;
            v[f] = v[f] * 16 + (uint64_t)(h - HEX);
        }
    *a = (unsigned)v[0];
    *ri = (unsigned)v[1];
    *k = v[2];
    return 0;
}

static void put_ip(struct req *r, uint32_t ip, char sep)
{
    for (int i = 3; i >= 0; i--) {
        put_u(r, (ip >> (8 * i)) & 255);
        if (i)
            put(r, &sep, 1);
    }
}

/* "2024-01-01T00:00:00.000Z" */
static void put_time(struct req *r, int64_t t, bool millis)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[32];
    gmtime_r(&tt, &tm);
    size_t n =
        strftime(s, sizeof(s), millis ? "%Y-%m-%dT%H:%M:%S.000Z" : "%Y-%m-%dT%H:%M:%SZ", &tm);
    put(r, s, n);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void put_mac(struct req *r, unsigned a, unsigned ri, uint64_t e)
{
    uint64_t h = mix64(((uint64_t)a << 48) ^ ((uint64_t)ri << 40) ^ e);
    char t[18] = "02:";
    size_t p = 3;
    for (int i = 0; i < 5; i++) {
        unsigned b = (unsigned)(h >> (8 * i)) & 255;
        t[p++] = HEX[b >> 4];
        t[p++] = HEX[b & 15];
        if (i < 4)
            t[p++] = ':';
    }
    put(r, t, p);
}

static void acct_id(unsigned a, char out[13])
{
    snprintf(out, 13, "%012llu", (unsigned long long)(ACCOUNT_BASE + a));
}

/* The subnet s of VPC v: VPC v is 10.(v%256).0.0/16, split into equal
 * power-of-two blocks (at most 4096 of /28). */
struct net {
    uint32_t base, size;
    unsigned prefix;
};

static struct net subnet_net(const struct sizing *z, uint64_t v, uint64_t s)
{
    unsigned bits = 0;
    while ((1u << bits) < z->subnets && bits < 12)
        bits++;
    struct net n;
    n.prefix = 16 + bits;
    n.size = 1u << (32 - n.prefix);
    n.base = (10u << 24) | ((uint32_t)(v % 256) << 16);
    n.base += (uint32_t)(s % (1u << bits)) * n.size;
    return n;
}

/* Address number `slot` of a subnet (AWS keeps the first four and the
 * last); wraps when a subnet holds more than it can. */
static uint32_t subnet_ip(const struct net *n, uint64_t slot)
{
    return n->base + 4 + (uint32_t)(slot % (n->size - 5));
}

static bool is_us_east_1(const struct req *r)
{
    return strcmp(r->region, "us-east-1") == 0;
}

static void put_private_dns(struct req *r, uint32_t ip)
{
    PUT(r, "ip-");
    put_ip(r, ip, '-');
    if (is_us_east_1(r)) {
        PUT(r, ".ec2.internal");
    } else {
        PUT(r, ".");
        put_s(r, r->region);
        PUT(r, ".compute.internal");
    }
}

static void put_public_dns(struct req *r, uint32_t ip)
{
    PUT(r, "ec2-");
    put_ip(r, ip, '-');
    if (is_us_east_1(r)) {
        PUT(r, ".compute-1.amazonaws.com");
    } else {
        PUT(r, ".");
        put_s(r, r->region);
        PUT(r, ".compute.amazonaws.com");
    }
}

/* ---------------------------------------------------------------------- */
/* Request ids and errors as AWS sends them                                */

static void make_request_id(struct fake *f, char out[40])
{
    uint64_t n = atomic_fetch_add(&f->seq, 1);
    uint64_t h1 = mix64(n ^ f->rid_salt), h2 = mix64(h1 ^ 0x9e3779b97f4a7c15ULL);
    snprintf(out, 40, "%08x-%04x-4%03x-a%03x-%012" PRIx64, (unsigned)(h1 >> 32),
             (unsigned)(h1 >> 16) & 0xffff, (unsigned)h1 & 0xfff, (unsigned)(h2 >> 52) & 0xfff,
             (uint64_t)(h2 & 0xffffffffffffULL));
}

static const char *svc_namespace(enum svc s)
{
    switch (s) {
    case SVC_EC2:
        return NS_EC2;
    case SVC_ELB:
        return NS_ELB;
    case SVC_ELBV2:
        return NS_ELBV2;
    case SVC_STS:
        return NS_STS;
    case SVC_S3:
        return NS_S3;
    default:
        return NULL;
    }
}

/* Replaces the answer with the service's error document. */
static void reply_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static void reply_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_reset(&r->body);
    r->oom = false;
    r->status = status;
    PUT(r, XML_DECL);
    if (r->svc == SVC_EC2) {
        r->ctype = "text/xml;charset=UTF-8";
        PUT(r, "<Response><Errors><Error>");
        EL(r, "Code", code);
        EL(r, "Message", msg);
        PUT(r, "</Error></Errors>");
        EL(r, "RequestID", r->rid);
        PUT(r, "</Response>");
    } else if (r->svc == SVC_S3) {
        r->ctype = "application/xml";
        PUT(r, "<Error>");
        EL(r, "Code", code);
        EL(r, "Message", msg);
        EL(r, "RequestId", r->rid);
        PUT(r, "<HostId>fakeaws/");
        put_esc(r, r->rid);
        PUT(r, "</HostId></Error>");
    } else {
        const char *ns = svc_namespace(r->svc);
        r->ctype = "text/xml";
        PUT(r, "<ErrorResponse");
        if (ns) {
            PUT(r, " xmlns=\"");
            put_s(r, ns);
            PUT(r, "\"");
        }
        PUT(r, "><Error>");
        EL(r, "Type", status >= 500 ? "Receiver" : "Sender");
        EL(r, "Code", code);
        EL(r, "Message", msg);
        PUT(r, "</Error>");
        EL(r, "RequestId", r->rid);
        PUT(r, "</ErrorResponse>");
    }
}

/* ---------------------------------------------------------------------- */
/* Parameters and headers                                                  */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX (and '+' as a space, as forms do). Caller frees. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Adds the pairs of an x-www-form-urlencoded string; -1 when too many. */
static int add_params(struct req *r, const char *s, size_t n)
{
    const char *end = s + n;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        if (e > s) {
            if (r->nparams == MAX_PARAMS)
                return -1;
            const char *eq = memchr(s, '=', (size_t)(e - s));
            struct param *p = &r->params[r->nparams++];
            p->k = pct_decode(s, (size_t)((eq ? eq : e) - s));
            p->v = eq ? pct_decode(eq + 1, (size_t)(e - eq - 1)) : xstrdup("");
        }
        s = e + 1;
    }
    return 0;
}

static const char *param(const struct req *r, const char *k)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].k, k) == 0)
            return r->params[i].v;
    return NULL;
}

static const char *header(const struct req *r, const char *name)
{
    for (size_t i = 0; i < r->nhdrs; i++)
        if (strcasecmp(r->hdrs[i].name, name) == 0)
            return r->hdrs[i].value;
    return NULL;
}

/* Is every parameter one the action knows? The allowed list holds exact
 * names and prefixes ending in '.' (for Owner.1, Owner.2 ...). */
static const char *unknown_param(const struct req *r, const char *const *allowed)
{
    static const char *const common[] = {"Action", "Version", "DryRun", NULL};
    for (size_t i = 0; i < r->nparams; i++) {
        const char *k = r->params[i].k;
        bool ok = false;
        for (int pass = 0; pass < 2 && !ok; pass++) {
            const char *const *list = pass ? allowed : common;
            for (size_t j = 0; list && list[j] && !ok; j++) {
                size_t l = strlen(list[j]);
                ok = list[j][l - 1] == '.' ? strncmp(k, list[j], l) == 0 : strcmp(k, list[j]) == 0;
            }
        }
        if (!ok)
            return k;
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Pagination: opaque tokens binding action, account, region and offset    */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint32_t fnv1a32(const unsigned char *p, size_t n)
{
    uint32_t h = 0x811c9dc5u ^ 0x46414b45u; /* "FAKE" */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x01000193u;
    return h;
}

#define TOKEN_BYTES 15
#define TOKEN_CHARS 20

static void token_make(char out[TOKEN_CHARS + 1], int act, unsigned acct, int ri, uint64_t off)
{
    unsigned char b[TOKEN_BYTES] = {1, (unsigned char)act, (unsigned char)(acct >> 8),
                                    (unsigned char)acct, (unsigned char)ri};
    for (int i = 0; i < 6; i++)
        b[5 + i] = (unsigned char)(off >> (8 * (5 - i)));
    uint32_t h = fnv1a32(b, 11);
    for (int i = 0; i < 4; i++)
        b[11 + i] = (unsigned char)(h >> (8 * (3 - i)));
    for (int i = 0, o = 0; i < TOKEN_BYTES; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        out[o++] = B64URL[(v >> 6) & 63];
        out[o++] = B64URL[v & 63];
    }
    out[TOKEN_CHARS] = '\0';
}

static int token_parse(const char *s, int act, unsigned acct, int ri, uint64_t *off)
{
    unsigned char b[TOKEN_BYTES];
    if (strlen(s) != TOKEN_CHARS)
        return -1;
    for (int i = 0, o = 0; i < TOKEN_CHARS; i += 4) {
        uint32_t v = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = strchr(B64URL, s[i + j]);
            if (!p)
                return -1;
            v = v << 6 | (uint32_t)(p - B64URL);
        }
        b[o++] = (unsigned char)(v >> 16);
        b[o++] = (unsigned char)(v >> 8);
        b[o++] = (unsigned char)v;
    }
    uint32_t h = fnv1a32(b, 11);
    uint32_t got = (uint32_t)b[11] << 24 | (uint32_t)b[12] << 16 | (uint32_t)b[13] << 8 | b[14];
    if (h != got || b[0] != 1 || b[1] != (unsigned char)act || b[2] != (unsigned char)(acct >> 8) ||
        b[3] != (unsigned char)acct || b[4] != (unsigned char)ri)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | b[5 + i];
    *off = v;
    return 0;
}

struct page {
    uint64_t off, n;
    bool more;
    char next[TOKEN_CHARS + 1];
};

/* Reads the page size (def when absent, lo..hi) and the token of a
 * paginated call over `total` items; -1 after answering an error. */
static int paging(struct req *r, uint64_t total, unsigned def, unsigned lo, unsigned hi,
                  struct page *p)
{
    const char *lim_name, *tok_name;
    switch (r->svc) {
    case SVC_EC2:
        lim_name = "MaxResults";
        tok_name = "NextToken";
        break;
    case SVC_S3:
        lim_name = "max-buckets";
        tok_name = "continuation-token";
        break;
    default:
        lim_name = "PageSize";
        tok_name = "Marker";
        break;
    }
    const char *lim = param(r, lim_name), *tok = param(r, tok_name);
    int64_t n = def;
    memset(p, 0, sizeof(*p));
    if (lim) {
        if (parse_int64(lim, INT64_MIN, INT64_MAX, &n) < 0 || n < lo || n > hi) {
            if (r->svc == SVC_EC2) {
                if (parse_int64(lim, INT64_MIN, INT64_MAX, &n) < 0)
                    reply_error(r, 400, "InvalidParameterValue",
                                "Invalid value '%s' for maxResults", lim);
                else if (n < lo)
                    reply_error(r, 400, "InvalidParameterValue",
                                "Value ( %s ) for parameter maxResults is invalid. Expecting a "
                                "value greater than %u.",
                                lim, lo - 1);
                else
                    reply_error(r, 400, "InvalidParameterValue",
                                "Value ( %s ) for parameter maxResults is invalid. Expecting a "
                                "value less than or equal to %u.",
                                lim, hi);
            } else if (r->svc == SVC_S3) {
                reply_error(r, 400, "InvalidArgument",
                            "Argument max-buckets must be an integer between %u and %u", lo, hi);
            } else {
                reply_error(r, 400, "ValidationError",
                            "1 validation error detected: Value '%s' at 'pageSize' failed to "
                            "satisfy constraint: Member must have value between %u and %u",
                            lim, lo, hi);
            }
            return -1;
        }
    }
    if (tok && *tok) {
        if (token_parse(tok, r->act, r->acct, r->ri, &p->off) < 0 || p->off >= total) {
            if (r->svc == SVC_S3)
                reply_error(r, 400, "InvalidArgument",
                            "The continuation token provided is incorrect");
            else
                reply_error(r, 400, "InvalidNextToken", "The token '%.200s' is invalid", tok);
            return -1;
        }
    }
    p->n = total - p->off < (uint64_t)n ? total - p->off : (uint64_t)n;
    p->more = p->off + p->n < total;
    if (p->more)
        token_make(p->next, r->act, r->acct, r->ri, p->off + p->n);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* EC2                                                                     */

static void ec2_begin(struct req *r, const char *action)
{
    r->ctype = "text/xml;charset=UTF-8";
    PUT(r, XML_DECL "<");
    put_s(r, action);
    PUT(r, "Response xmlns=\"" NS_EC2 "\">");
    EL(r, "requestId", r->rid);
}

static void ec2_end(struct req *r, const char *action, const struct page *p)
{
    if (p && p->more)
        EL(r, "nextToken", p->next);
    PUT(r, "</");
    put_s(r, action);
    PUT(r, "Response>");
}

static void put_name_tag(struct req *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void put_name_tag(struct req *r, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    PUT(r, "<tagSet><item><key>Name</key>");
    EL(r, "value", v);
    PUT(r, "</item></tagSet>");
}

static const char *rcode(const struct req *r)
{
    return REGIONS[r->ri].code;
}

static void put_az(struct req *r, unsigned z)
{
    put_s(r, r->region);
    char c = (char)('a' + z);
    put(r, &c, 1);
}

static void put_az_id(struct req *r, unsigned z)
{
    put_s(r, rcode(r));
    PUT(r, "-az");
    put_u(r, z + 1);
}

static void put_acct(struct req *r)
{
    char a[13];
    acct_id(r->acct, a);
    put(r, a, 12);
}

/* Items of a per-region collection: none in a region not enabled. */
static uint64_t regional(const struct req *r, uint64_t n)
{
    return r->enabled ? n : 0;
}

/* DryRun=true: the answer AWS gives when the call would have succeeded. */
static bool dry_run(struct req *r)
{
    const char *d = param(r, "DryRun");
    if (d && strcasecmp(d, "true") == 0) {
        reply_error(r, 412, "DryRunOperation",
                    "Request would have succeeded, but DryRun flag is set.");
        return true;
    }
    return false;
}

static bool bad_params(struct req *r, const char *const *allowed)
{
    const char *k = unknown_param(r, allowed);
    if (!k)
        return false;
    if (r->svc == SVC_EC2)
        reply_error(r, 400, "UnknownParameter",
                    "The parameter %.100s is not recognized (fakeaws implements no filters)", k);
    else
        reply_error(r, 400, "ValidationError", "The parameter %.100s is not supported by fakeaws",
                    k);
    return true;
}

static void ec2_describe_regions(struct req *r)
{
    static const char *const ok[] = {"RegionName.", "AllRegions", NULL};
    if (bad_params(r, ok) || dry_run(r))
        return;
    const char *all = param(r, "AllRegions");
    bool every = all && strcasecmp(all, "true") == 0;
    bool named = false;
    for (size_t i = 0; i < r->nparams; i++)
        named |= strncmp(r->params[i].k, "RegionName.", 11) == 0;
    ec2_begin(r, "DescribeRegions");
    PUT(r, "<regionInfo>");
    for (unsigned i = 0; i < NREGIONS; i++) {
        bool enabled = i < r->f->sz.regions;
        if (!enabled && !every)
            continue;
        if (named) {
            bool hit = false;
            for (size_t j = 0; j < r->nparams && !hit; j++)
                hit = strncmp(r->params[j].k, "RegionName.", 11) == 0 &&
                      strcmp(r->params[j].v, REGIONS[i].name) == 0;
            if (!hit)
                continue;
        }
        PUT(r, "<item>");
        EL(r, "regionName", REGIONS[i].name);
        PUT(r, "<regionEndpoint>ec2.");
        put_s(r, REGIONS[i].name);
        PUT(r, ".amazonaws.com</regionEndpoint>");
        EL(r, "optInStatus", enabled ? "opt-in-not-required" : "not-opted-in");
        PUT(r, "</item>");
    }
    PUT(r, "</regionInfo>");
    ec2_end(r, "DescribeRegions", NULL);
}

static void ec2_describe_azs(struct req *r)
{
    static const char *const ok[] = {"AllAvailabilityZones", NULL};
    if (bad_params(r, ok) || dry_run(r))
        return;
    ec2_begin(r, "DescribeAvailabilityZones");
    PUT(r, "<availabilityZoneInfo>");
    for (unsigned z = 0; z < regional(r, r->f->sz.azs); z++) {
        PUT(r, "<item><zoneName>");
        put_az(r, z);
        PUT(r, "</zoneName><zoneState>available</zoneState>"
               "<optInStatus>opt-in-not-required</optInStatus><messageSet/>");
        EL(r, "regionName", r->region);
        PUT(r, "<zoneId>");
        put_az_id(r, z);
        PUT(r, "</zoneId>");
        EL(r, "groupName", r->region);
        EL(r, "networkBorderGroup", r->region);
        PUT(r, "<zoneType>availability-zone</zoneType></item>");
    }
    PUT(r, "</availabilityZoneInfo>");
    ec2_end(r, "DescribeAvailabilityZones", NULL);
}

static const char *const PAGED[] = {"MaxResults", "NextToken", NULL};

static void ec2_describe_vpcs(struct req *r)
{
    const struct sizing *z = &r->f->sz;
    struct page p;
    if (bad_params(r, PAGED) || dry_run(r) || paging(r, regional(r, z->vpcs), 1000, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeVpcs");
    PUT(r, "<vpcSet>");
    for (uint64_t v = p.off; v < p.off + p.n; v++) {
        PUT(r, "<item><vpcId>");
        put_id(r, "vpc", r->acct, (unsigned)r->ri, v);
        PUT(r, "</vpcId><ownerId>");
        put_acct(r);
        PUT(r, "</ownerId><state>available</state><cidrBlock>10.");
        put_u(r, v % 256);
        PUT(r, ".0.0/16</cidrBlock><cidrBlockAssociationSet><item><cidrBlock>10.");
        put_u(r, v % 256);
        PUT(r, ".0.0/16</cidrBlock><associationId>");
        put_id(r, "vpc-cidr-assoc", r->acct, (unsigned)r->ri, v);
        PUT(r, "</associationId><cidrBlockState><state>associated</state></cidrBlockState>"
               "</item></cidrBlockAssociationSet><dhcpOptionsId>");
        put_id(r, "dopt", r->acct, (unsigned)r->ri, v % z->dhcp);
        PUT(r, "</dhcpOptionsId>");
        put_name_tag(r, "fake-vpc-%s-%" PRIu64, rcode(r), v);
        PUT(r, "<instanceTenancy>default</instanceTenancy><isDefault>false</isDefault></item>");
    }
    PUT(r, "</vpcSet>");
    ec2_end(r, "DescribeVpcs", &p);
}

static void ec2_describe_subnets(struct req *r)
{
    const struct sizing *z = &r->f->sz;
    const struct counts *c = &r->f->cnt;
    struct page p;
    if (bad_params(r, PAGED) || dry_run(r) || paging(r, regional(r, c->subnets), 1000, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeSubnets");
    PUT(r, "<subnetSet>");
    for (uint64_t n = p.off; n < p.off + p.n; n++) {
        uint64_t v = n / z->subnets, s = n % z->subnets;
        unsigned az = (unsigned)(s % z->azs);
        struct net net = subnet_net(z, v, s);
        uint64_t used = z->instances + (s < c->lb_enis_per_lb ? z->clbs + z->albs : 0);
        uint64_t avail = net.size - 5 > used ? net.size - 5 - used : 0;
        PUT(r, "<item><subnetId>");
        put_id(r, "subnet", r->acct, (unsigned)r->ri, n);
        PUT(r, "</subnetId><subnetArn>arn:aws:ec2:");
        put_s(r, r->region);
        PUT(r, ":");
        put_acct(r);
        PUT(r, ":subnet/");
        put_id(r, "subnet", r->acct, (unsigned)r->ri, n);
        PUT(r, "</subnetArn><state>available</state><ownerId>");
        put_acct(r);
        PUT(r, "</ownerId><vpcId>");
        put_id(r, "vpc", r->acct, (unsigned)r->ri, v);
        PUT(r, "</vpcId><cidrBlock>");
        put_ip(r, net.base, '.');
        PUT(r, "/");
        put_u(r, net.prefix);
        PUT(r, "</cidrBlock><ipv6CidrBlockAssociationSet/>");
        ELU(r, "availableIpAddressCount", avail);
        PUT(r, "<availabilityZone>");
        put_az(r, az);
        PUT(r, "</availabilityZone><availabilityZoneId>");
        put_az_id(r, az);
        PUT(r, "</availabilityZoneId><defaultForAz>false</defaultForAz>"
               "<mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>"
               "<mapCustomerOwnedIpOnLaunch>false</mapCustomerOwnedIpOnLaunch>"
               "<assignIpv6AddressOnCreation>false</assignIpv6AddressOnCreation>");
        put_name_tag(r, "fake-subnet-%s-%" PRIu64 "-%" PRIu64, rcode(r), v, s);
        PUT(r, "<enableDns64>false</enableDns64><ipv6Native>false</ipv6Native>"
               "<privateDnsNameOptionsOnLaunch><hostnameType>ip-name</hostnameType>"
               "<enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>"
               "<enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord>"
               "</privateDnsNameOptionsOnLaunch></item>");
    }
    PUT(r, "</subnetSet>");
    ec2_end(r, "DescribeSubnets", &p);
}

/* Image j of a region: every 4th arm64, every 5th x86 one Windows. */
struct image_traits {
    bool arm, windows;
};

static struct image_traits image_of(uint64_t j)
{
    struct image_traits t = {j % 4 == 3, false};
    t.windows = !t.arm && j % 5 == 4;
    return t;
}

static void put_image_name(struct req *r, uint64_t j)
{
    struct image_traits t = image_of(j);
    put_f(r, "fake-%s-%s-%04" PRIu64, t.windows ? "windows" : "linux", t.arm ? "arm64" : "x86_64",
          j);
}

static void put_image(struct req *r, uint64_t j)
{
    struct image_traits t = image_of(j);
    PUT(r, "<item><imageId>");
    put_id(r, "ami", r->acct, (unsigned)r->ri, j);
    PUT(r, "</imageId><imageLocation>");
    put_acct(r);
    PUT(r, "/");
    put_image_name(r, j);
    PUT(r, "</imageLocation><imageState>available</imageState><imageOwnerId>");
    put_acct(r);
    PUT(r, "</imageOwnerId><creationDate>");
    put_time(r, EPOCH_BASE - 180 * 86400 + (int64_t)j * 3600, true);
    PUT(r, "</creationDate><isPublic>false</isPublic>");
    EL(r, "architecture", t.arm ? "arm64" : "x86_64");
    PUT(r, "<imageType>machine</imageType>");
    if (t.windows)
        PUT(r, "<platform>windows</platform><platformDetails>Windows</platformDetails>"
               "<usageOperation>RunInstances:0002</usageOperation>");
    else
        PUT(r, "<platformDetails>Linux/UNIX</platformDetails>"
               "<usageOperation>RunInstances</usageOperation>");
    PUT(r, "<name>");
    put_image_name(r, j);
    PUT(r, "</name><description>Fake ");
    put_s(r, t.windows ? "Windows Server" : "Linux");
    PUT(r, " image ");
    put_u(r, j);
    PUT(r, "</description><rootDeviceType>ebs</rootDeviceType>");
    const char *root = t.windows ? "/dev/sda1" : "/dev/xvda";
    EL(r, "rootDeviceName", root);
    PUT(r, "<blockDeviceMapping><item>");
    EL(r, "deviceName", root);
    PUT(r, "<ebs><snapshotId>");
    put_id(r, "snap", r->acct, (unsigned)r->ri, j);
    PUT(r, "</snapshotId><volumeSize>");
    put_u(r, t.windows ? 30 : 8);
    PUT(r, "</volumeSize><deleteOnTermination>true</deleteOnTermination>"
           "<volumeType>gp3</volumeType><encrypted>false</encrypted></ebs></item>"
           "</blockDeviceMapping><virtualizationType>hvm</virtualizationType>"
           "<tagSet><item><key>Name</key><value>");
    put_image_name(r, j);
    PUT(r, "</value></item></tagSet><hypervisor>xen</hypervisor><enaSupport>true</enaSupport>"
           "<sriovNetSupport>simple</sriovNetSupport>");
    EL(r, "bootMode", t.arm ? "uefi" : "legacy-bios");
    PUT(r, "</item>");
}

static void ec2_describe_images(struct req *r)
{
    static const char *const ok[] = {
        "Owner.",          "ImageId.",   "ExecutableBy.", "IncludeDeprecated",
        "IncludeDisabled", "MaxResults", "NextToken",     NULL};
    const struct sizing *z = &r->f->sz;
    if (bad_params(r, ok) || dry_run(r))
        return;
    char me[13];
    acct_id(r->acct, me);
    bool owners = false, mine = false;
    size_t nids = 0;
    for (size_t i = 0; i < r->nparams; i++) {
        if (strncmp(r->params[i].k, "Owner.", 6) == 0) {
            owners = true;
            mine |= strcmp(r->params[i].v, "self") == 0 || strcmp(r->params[i].v, me) == 0;
        }
        nids += strncmp(r->params[i].k, "ImageId.", 8) == 0;
    }
    if (!owners)
        mine = true; /* AWS would add every public image; we have none */
    uint64_t total = regional(r, z->images);
    if (nids) {
        /* Check every id first, then list the ones asked for. */
        for (size_t i = 0; i < r->nparams; i++) {
            if (strncmp(r->params[i].k, "ImageId.", 8) != 0)
                continue;
            const char *id = r->params[i].v;
            unsigned a, ri;
            uint64_t j;
            if (strncmp(id, "ami-", 4) != 0) {
                reply_error(r, 400, "InvalidAMIID.Malformed",
                            "Invalid id: \"%.100s\" (expecting \"ami-...\")", id);
                return;
            }
            if (parse_id(id, "ami", &a, &ri, &j) < 0 || a != r->acct || (int)ri != r->ri ||
                j >= total) {
                reply_error(r, 400, "InvalidAMIID.NotFound",
                            "The image id '[%.100s]' does not exist", id);
                return;
            }
        }
        ec2_begin(r, "DescribeImages");
        PUT(r, "<imagesSet>");
        for (size_t i = 0; i < r->nparams && mine; i++) {
            unsigned a, ri;
            uint64_t j;
            if (strncmp(r->params[i].k, "ImageId.", 8) == 0 &&
                parse_id(r->params[i].v, "ami", &a, &ri, &j) == 0)
                put_image(r, j);
        }
        PUT(r, "</imagesSet>");
        ec2_end(r, "DescribeImages", NULL);
        return;
    }
    struct page p;
    if (!mine)
        total = 0;
    if (paging(r, total, total ? (unsigned)(total < 1000000 ? total : 1000000) : 1, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeImages");
    PUT(r, "<imagesSet>");
    for (uint64_t j = p.off; j < p.off + p.n; j++)
        put_image(r, j);
    PUT(r, "</imagesSet>");
    ec2_end(r, "DescribeImages", &p);
}

/* Instance k of an account and region: VPC v, subnet s of that VPC, i-th
 * instance of that subnet; ENI e (see eni_of_instance). */
struct inst {
    uint64_t k, v, s, i, subnet, eni, image;
    unsigned az;
    struct net net;
    uint32_t ip, pub; /* pub 0: no public address */
    bool stopped;
    struct image_traits t;
};

static struct inst inst_of(const struct req *r, uint64_t k)
{
    const struct sizing *z = &r->f->sz;
    const struct counts *c = &r->f->cnt;
    struct inst x;
    x.k = k;
    x.v = k / c->inst_per_vpc;
    x.s = (k / z->instances) % z->subnets;
    x.i = k % z->instances;
    x.subnet = x.v * z->subnets + x.s;
    x.eni = x.v * c->enis_per_vpc + (k - x.v * c->inst_per_vpc);
    x.image = k % z->images;
    x.az = (unsigned)(x.s % z->azs);
    x.net = subnet_net(z, x.v, x.s);
    x.ip = subnet_ip(&x.net, x.i);
    x.stopped = k % 20 == 19;
    x.pub = 0;
    if (!x.stopped && k % 3 == 0) {
        uint64_t g = ((uint64_t)(r->acct - 1) * NREGIONS + (uint64_t)r->ri) * c->instances + k;
        x.pub = (54u << 24) + 1 + (uint32_t)(mix64(g) % 0xfffffd);
    }
    x.t = image_of(x.image);
    return x;
}

static const char *instance_type(const struct inst *x)
{
    static const char *const x86[] = {"t3.medium", "m5.large", "c5.xlarge", "r5.large",
                                      "m5.xlarge"};
    static const char *const arm[] = {"t4g.medium", "m6g.large", "c6g.xlarge"};
    return x->t.arm ? arm[x->k % ARRAY_SIZE(arm)] : x86[x->k % ARRAY_SIZE(x86)];
}

static void put_sg(struct req *r, uint64_t v)
{
    PUT(r, "<groupSet><item><groupId>");
    put_id(r, "sg", r->acct, (unsigned)r->ri, v);
    PUT(r, "</groupId><groupName>default</groupName></item></groupSet>");
}

static void put_instance(struct req *r, uint64_t k)
{
    struct inst x = inst_of(r, k);
    int64_t launch = EPOCH_BASE + (int64_t)k * 60;
    PUT(r, "<item><reservationId>");
    put_id(r, "r", r->acct, (unsigned)r->ri, k);
    PUT(r, "</reservationId><ownerId>");
    put_acct(r);
    PUT(r, "</ownerId><groupSet/><instancesSet><item><instanceId>");
    put_id(r, "i", r->acct, (unsigned)r->ri, k);
    PUT(r, "</instanceId><imageId>");
    put_id(r, "ami", r->acct, (unsigned)r->ri, x.image);
    PUT(r, "</imageId>");
    if (x.stopped)
        PUT(r, "<instanceState><code>80</code><name>stopped</name></instanceState>");
    else
        PUT(r, "<instanceState><code>16</code><name>running</name></instanceState>");
    PUT(r, "<privateDnsName>");
    put_private_dns(r, x.ip);
    PUT(r, "</privateDnsName>");
    if (x.pub) {
        PUT(r, "<dnsName>");
        put_public_dns(r, x.pub);
        PUT(r, "</dnsName>");
    } else {
        PUT(r, "<dnsName/>");
    }
    if (x.stopped) {
        PUT(r, "<reason>User initiated (");
        time_t tt = (time_t)(launch + 86400);
        struct tm tm;
        char s[32];
        gmtime_r(&tt, &tm);
        put(r, s, strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S GMT", &tm));
        PUT(r, ")</reason>");
    } else {
        PUT(r, "<reason/>");
    }
    PUT(r, "<keyName>fake-key</keyName><amiLaunchIndex>0</amiLaunchIndex><productCodes/>");
    EL(r, "instanceType", instance_type(&x));
    PUT(r, "<launchTime>");
    put_time(r, launch, true);
    PUT(r, "</launchTime><placement><availabilityZone>");
    put_az(r, x.az);
    PUT(r, "</availabilityZone><groupName/><tenancy>default</tenancy></placement>");
    if (x.t.windows)
        PUT(r, "<platform>windows</platform>");
    PUT(r, "<monitoring><state>disabled</state></monitoring><subnetId>");
    put_id(r, "subnet", r->acct, (unsigned)r->ri, x.subnet);
    PUT(r, "</subnetId><vpcId>");
    put_id(r, "vpc", r->acct, (unsigned)r->ri, x.v);
    PUT(r, "</vpcId><privateIpAddress>");
    put_ip(r, x.ip, '.');
    PUT(r, "</privateIpAddress>");
    if (x.pub) {
        PUT(r, "<ipAddress>");
        put_ip(r, x.pub, '.');
        PUT(r, "</ipAddress>");
    }
    PUT(r, "<sourceDestCheck>true</sourceDestCheck>");
    put_sg(r, x.v);
    if (x.stopped)
        PUT(r, "<stateReason><code>Client.UserInitiatedShutdown</code>"
               "<message>Client.UserInitiatedShutdown: User initiated shutdown</message>"
               "</stateReason>");
    EL(r, "architecture", x.t.arm ? "arm64" : "x86_64");
    const char *root = x.t.windows ? "/dev/sda1" : "/dev/xvda";
    PUT(r, "<rootDeviceType>ebs</rootDeviceType>");
    EL(r, "rootDeviceName", root);
    PUT(r, "<blockDeviceMapping><item>");
    EL(r, "deviceName", root);
    PUT(r, "<ebs><volumeId>");
    put_id(r, "vol", r->acct, (unsigned)r->ri, k);
    PUT(r, "</volumeId><status>attached</status><attachTime>");
    put_time(r, launch, true);
    PUT(r, "</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item>"
           "</blockDeviceMapping><virtualizationType>hvm</virtualizationType><clientToken/>");
    PUT(r, "<tagSet><item><key>Name</key><value>fake-");
    put_s(r, rcode(r));
    PUT(r, "-");
    put_u(r, k);
    PUT(r, "</value></item><item><key>env</key><value>");
    put_s(r, x.v % 2 ? "dev" : "prod");
    PUT(r, "</value></item></tagSet><hypervisor>");
    put_s(r, x.t.arm ? "nitro" : "xen");
    PUT(r, "</hypervisor><networkInterfaceSet><item><networkInterfaceId>");
    put_id(r, "eni", r->acct, (unsigned)r->ri, x.eni);
    PUT(r, "</networkInterfaceId><subnetId>");
    put_id(r, "subnet", r->acct, (unsigned)r->ri, x.subnet);
    PUT(r, "</subnetId><vpcId>");
    put_id(r, "vpc", r->acct, (unsigned)r->ri, x.v);
    PUT(r, "</vpcId><description/><ownerId>");
    put_acct(r);
    PUT(r, "</ownerId><status>in-use</status><macAddress>");
    put_mac(r, r->acct, (unsigned)r->ri, x.eni);
    PUT(r, "</macAddress><privateIpAddress>");
    put_ip(r, x.ip, '.');
    PUT(r, "</privateIpAddress><privateDnsName>");
    put_private_dns(r, x.ip);
    PUT(r, "</privateDnsName><sourceDestCheck>true</sourceDestCheck>");
    put_sg(r, x.v);
    PUT(r, "<attachment><attachmentId>");
    put_id(r, "eni-attach", r->acct, (unsigned)r->ri, x.eni);
    PUT(r, "</attachmentId><deviceIndex>0</deviceIndex><status>attached</status><attachTime>");
    put_time(r, launch, true);
    PUT(r, "</attachTime><deleteOnTermination>true</deleteOnTermination>"
           "<networkCardIndex>0</networkCardIndex></attachment>");
    if (x.pub) {
        PUT(r, "<association><publicIp>");
        put_ip(r, x.pub, '.');
        PUT(r, "</publicIp><publicDnsName>");
        put_public_dns(r, x.pub);
        PUT(r, "</publicDnsName><ipOwnerId>amazon</ipOwnerId></association>");
    }
    PUT(r, "<privateIpAddressesSet><item><privateIpAddress>");
    put_ip(r, x.ip, '.');
    PUT(r, "</privateIpAddress><privateDnsName>");
    put_private_dns(r, x.ip);
    PUT(r,
        "</privateDnsName><primary>true</primary></item></privateIpAddressesSet>"
        "<ipv6AddressesSet/><interfaceType>interface</interfaceType></item>"
        "</networkInterfaceSet><ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport>"
        "<cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions>"
        "<metadataOptions><state>applied</state><httpTokens>required</httpTokens>"
        "<httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint>"
        "</metadataOptions>");
    if (x.t.windows)
        PUT(r, "<platformDetails>Windows</platformDetails>"
               "<usageOperation>RunInstances:0002</usageOperation>");
    else
        PUT(r, "<platformDetails>Linux/UNIX</platformDetails>"
               "<usageOperation>RunInstances</usageOperation>");
    EL(r, "bootMode", x.t.arm ? "uefi" : "legacy-bios");
    PUT(r, "</item></instancesSet></item>");
}

static void ec2_describe_instances(struct req *r)
{
    struct page p;
    if (bad_params(r, PAGED) || dry_run(r) ||
        paging(r, regional(r, r->f->cnt.instances), 1000, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeInstances");
    PUT(r, "<reservationSet>");
    for (uint64_t k = p.off; k < p.off + p.n; k++)
        put_instance(r, k);
    PUT(r, "</reservationSet>");
    ec2_end(r, "DescribeInstances", &p);
}

/* Load balancers: classic LB c = v * clbs + l, v2 LB b = v * albs + l
 * (application for even l, network for odd l). */
static void lb_name(const struct req *r, bool v2, uint64_t idx, char *out, size_t n)
{
    const struct sizing *z = &r->f->sz;
    if (!v2) {
        snprintf(out, n, "fake-clb-v%" PRIu64 "-%" PRIu64, idx / z->clbs, idx % z->clbs);
    } else {
        uint64_t l = idx % z->albs;
        snprintf(out, n, "fake-%s-v%" PRIu64 "-%" PRIu64, l % 2 ? "nlb" : "alb", idx / z->albs, l);
    }
}

static void lb_hexid(const struct req *r, uint64_t b, char out[17])
{
    snprintf(out, 17, "%04x%02x%010" PRIx64, r->acct & 0xffff, (unsigned)r->ri & 0xff,
             (uint64_t)(b & 0xffffffffffULL));
}

static bool lb_internal(const struct req *r, bool v2, uint64_t idx)
{
    const struct sizing *z = &r->f->sz;
    unsigned per = v2 ? z->albs : z->clbs;
    return (idx / per + idx % per) % 2 == 1;
}

/* ENI e of an account and region: per VPC first one per instance, then one
 * per load balancer and subnet it spans (subnets 0..m-1 of its VPC). */
static void put_eni(struct req *r, uint64_t e)
{
    const struct sizing *z = &r->f->sz;
    const struct counts *c = &r->f->cnt;
    uint64_t v = e / c->enis_per_vpc, w = e % c->enis_per_vpc;
    uint64_t s, slot, k = 0;
    bool lb = w >= c->inst_per_vpc;
    bool v2 = false;
    uint64_t lbidx = 0, lbi = 0;
    struct inst x;
    if (!lb) {
        k = v * c->inst_per_vpc + w;
        x = inst_of(r, k);
        s = x.s;
        slot = x.i;
    } else {
        uint64_t q = w - c->inst_per_vpc;
        lbi = q / c->lb_enis_per_lb;
        s = q % c->lb_enis_per_lb;
        slot = z->instances + lbi;
        v2 = lbi >= z->clbs;
        lbidx = v2 ? v * z->albs + (lbi - z->clbs) : v * z->clbs + lbi;
        memset(&x, 0, sizeof(x));
    }
    struct net net = subnet_net(z, v, s);
    uint32_t ip = subnet_ip(&net, slot);
    unsigned az = (unsigned)(s % z->azs);
    uint64_t subnet = v * z->subnets + s;
    int64_t t0 = lb ? EPOCH_BASE + (int64_t)lbidx * 3600 : EPOCH_BASE + (int64_t)k * 60;

    PUT(r, "<item><networkInterfaceId>");
    put_id(r, "eni", r->acct, (unsigned)r->ri, e);
    PUT(r, "</networkInterfaceId><subnetId>");
    put_id(r, "subnet", r->acct, (unsigned)r->ri, subnet);
    PUT(r, "</subnetId><vpcId>");
    put_id(r, "vpc", r->acct, (unsigned)r->ri, v);
    PUT(r, "</vpcId><availabilityZone>");
    put_az(r, az);
    PUT(r, "</availabilityZone>");
    if (lb) {
        char name[64], hex[17];
        lb_name(r, v2, lbidx, name, sizeof(name));
        PUT(r, "<description>ELB ");
        if (v2) {
            lb_hexid(r, lbidx, hex);
            put_s(r, (lbidx % z->albs) % 2 ? "net/" : "app/");
            put_s(r, name);
            PUT(r, "/");
            put_s(r, hex);
        } else {
            put_s(r, name);
        }
        PUT(r, "</description><ownerId>");
        put_acct(r);
        PUT(r, "</ownerId><requesterId>amazon-elb</requesterId>"
               "<requesterManaged>true</requesterManaged>");
    } else {
        PUT(r, "<description/><ownerId>");
        put_acct(r);
        PUT(r, "</ownerId><requesterManaged>false</requesterManaged>");
    }
    PUT(r, "<status>in-use</status><macAddress>");
    put_mac(r, r->acct, (unsigned)r->ri, e);
    PUT(r, "</macAddress><privateIpAddress>");
    put_ip(r, ip, '.');
    PUT(r, "</privateIpAddress><privateDnsName>");
    put_private_dns(r, ip);
    PUT(r, "</privateDnsName><sourceDestCheck>true</sourceDestCheck>");
    put_sg(r, v);
    PUT(r, "<attachment><attachmentId>");
    put_id(r, "eni-attach", r->acct, (unsigned)r->ri, e);
    PUT(r, "</attachmentId>");
    if (lb) {
        PUT(r, "<instanceOwnerId>amazon-elb</instanceOwnerId><deviceIndex>1</deviceIndex>");
    } else {
        PUT(r, "<instanceId>");
        put_id(r, "i", r->acct, (unsigned)r->ri, k);
        PUT(r, "</instanceId><instanceOwnerId>");
        put_acct(r);
        PUT(r, "</instanceOwnerId><deviceIndex>0</deviceIndex>");
    }
    PUT(r, "<status>attached</status><attachTime>");
    put_time(r, t0, true);
    PUT(r, "</attachTime><deleteOnTermination>");
    put_s(r, lb ? "false" : "true");
    PUT(r, "</deleteOnTermination><networkCardIndex>0</networkCardIndex></attachment>");
    if (x.pub) {
        PUT(r, "<association><publicIp>");
        put_ip(r, x.pub, '.');
        PUT(r, "</publicIp><publicDnsName>");
        put_public_dns(r, x.pub);
        PUT(r, "</publicDnsName><ipOwnerId>amazon</ipOwnerId></association>");
    }
    PUT(r, "<tagSet/><privateIpAddressesSet><item><privateIpAddress>");
    put_ip(r, ip, '.');
    PUT(r, "</privateIpAddress><privateDnsName>");
    put_private_dns(r, ip);
    PUT(r, "</privateDnsName><primary>true</primary></item></privateIpAddressesSet>"
           "<ipv6AddressesSet/><interfaceType>");
    put_s(r, lb && v2 && (lbidx % z->albs) % 2 ? "network_load_balancer" : "interface");
    PUT(r, "</interfaceType></item>");
}

static void ec2_describe_enis(struct req *r)
{
    struct page p;
    if (bad_params(r, PAGED) || dry_run(r) ||
        paging(r, regional(r, r->f->cnt.enis), 1000, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeNetworkInterfaces");
    PUT(r, "<networkInterfaceSet>");
    for (uint64_t e = p.off; e < p.off + p.n; e++)
        put_eni(r, e);
    PUT(r, "</networkInterfaceSet>");
    ec2_end(r, "DescribeNetworkInterfaces", &p);
}

static void ec2_describe_dhcp(struct req *r)
{
    struct page p;
    if (bad_params(r, PAGED) || dry_run(r) ||
        paging(r, regional(r, r->f->sz.dhcp), 1000, 5, 1000, &p))
        return;
    ec2_begin(r, "DescribeDhcpOptions");
    PUT(r, "<dhcpOptionsSet>");
    for (uint64_t d = p.off; d < p.off + p.n; d++) {
        PUT(r, "<item><dhcpOptionsId>");
        put_id(r, "dopt", r->acct, (unsigned)r->ri, d);
        PUT(r, "</dhcpOptionsId><ownerId>");
        put_acct(r);
        PUT(r, "</ownerId><dhcpConfigurationSet><item><key>domain-name</key><valueSet><item>"
               "<value>");
        if (is_us_east_1(r))
            PUT(r, "ec2.internal");
        else {
            put_s(r, r->region);
            PUT(r, ".compute.internal");
        }
        PUT(r, "</value></item></valueSet></item><item><key>domain-name-servers</key><valueSet>"
               "<item><value>AmazonProvidedDNS</value></item></valueSet></item>"
               "</dhcpConfigurationSet>");
        put_name_tag(r, "fake-dopt-%s-%" PRIu64, rcode(r), d);
        PUT(r, "</item>");
    }
    PUT(r, "</dhcpOptionsSet>");
    ec2_end(r, "DescribeDhcpOptions", &p);
}

/* ---------------------------------------------------------------------- */
/* ELB (classic, 2012-06-01) and ELBv2 (2015-12-01)                        */

static void query_begin(struct req *r, const char *ns, const char *action)
{
    r->ctype = "text/xml";
    PUT(r, XML_DECL "<");
    put_s(r, action);
    PUT(r, "Response xmlns=\"");
    put_s(r, ns);
    PUT(r, "\"><");
    put_s(r, action);
    PUT(r, "Result>");
}

static void query_end(struct req *r, const char *action)
{
    PUT(r, "</");
    put_s(r, action);
    PUT(r, "Result><ResponseMetadata>");
    EL(r, "RequestId", r->rid);
    PUT(r, "</ResponseMetadata></");
    put_s(r, action);
    PUT(r, "Response>");
}

static void put_lb_dns(struct req *r, bool v2, uint64_t idx, const char *name, bool network)
{
    uint64_t h = mix64(((uint64_t)r->acct << 40) ^ ((uint64_t)r->ri << 32) ^ (idx << 1) ^ v2);
    if (lb_internal(r, v2, idx))
        PUT(r, "internal-");
    put_s(r, name);
    if (network) {
        put_f(r, "-%016" PRIx64 ".elb.%s.amazonaws.com", h, r->region);
    } else {
        put_f(r, "-%010" PRIu64 ".%s.elb.amazonaws.com", (uint64_t)(h % 10000000000ULL), r->region);
    }
}

static void elb_describe(struct req *r)
{
    static const char *const ok[] = {"PageSize", "Marker", NULL};
    const struct sizing *z = &r->f->sz;
    const struct counts *c = &r->f->cnt;
    struct page p;
    if (bad_params(r, ok) || paging(r, regional(r, c->clbs), 400, 1, 400, &p))
        return;
    query_begin(r, NS_ELB, "DescribeLoadBalancers");
    PUT(r, "<LoadBalancerDescriptions>");
    for (uint64_t idx = p.off; idx < p.off + p.n; idx++) {
        uint64_t v = idx / z->clbs;
        char name[64];
        lb_name(r, false, idx, name, sizeof(name));
        PUT(r, "<member>");
        EL(r, "LoadBalancerName", name);
        PUT(r, "<DNSName>");
        put_lb_dns(r, false, idx, name, false);
        PUT(r, "</DNSName><CanonicalHostedZoneName>");
        put_lb_dns(r, false, idx, name, false);
        PUT(r, "</CanonicalHostedZoneName>"
               "<CanonicalHostedZoneNameID>Z215JYRZR1TBD5</CanonicalHostedZoneNameID>"
               "<ListenerDescriptions><member><Listener><Protocol>HTTP</Protocol>"
               "<LoadBalancerPort>80</LoadBalancerPort><InstanceProtocol>HTTP</InstanceProtocol>"
               "<InstancePort>8080</InstancePort></Listener><PolicyNames/></member>"
               "</ListenerDescriptions><Policies><AppCookieStickinessPolicies/>"
               "<LBCookieStickinessPolicies/><OtherPolicies/></Policies>"
               "<BackendServerDescriptions/><AvailabilityZones>");
        for (uint64_t s = 0; s < c->lb_enis_per_lb; s++) {
            PUT(r, "<member>");
            put_az(r, (unsigned)(s % z->azs));
            PUT(r, "</member>");
        }
        PUT(r, "</AvailabilityZones><Subnets>");
        for (uint64_t s = 0; s < c->lb_enis_per_lb; s++) {
            PUT(r, "<member>");
            put_id(r, "subnet", r->acct, (unsigned)r->ri, v * z->subnets + s);
            PUT(r, "</member>");
        }
        PUT(r, "</Subnets><VPCId>");
        put_id(r, "vpc", r->acct, (unsigned)r->ri, v);
        PUT(r, "</VPCId><Instances>");
        /* the first two instances of the VPC's first subnet */
        for (uint64_t i = 0; i < 2 && i < z->instances && z->subnets; i++) {
            PUT(r, "<member><InstanceId>");
            put_id(r, "i", r->acct, (unsigned)r->ri, v * c->inst_per_vpc + i);
            PUT(r, "</InstanceId></member>");
        }
        PUT(r, "</Instances><HealthCheck><Target>HTTP:8080/healthz</Target><Interval>30</Interval>"
               "<Timeout>5</Timeout><UnhealthyThreshold>2</UnhealthyThreshold>"
               "<HealthyThreshold>10</HealthyThreshold></HealthCheck><SourceSecurityGroup>"
               "<OwnerAlias>");
        put_acct(r);
        PUT(r, "</OwnerAlias><GroupName>default</GroupName></SourceSecurityGroup>"
               "<SecurityGroups><member>");
        put_id(r, "sg", r->acct, (unsigned)r->ri, v);
        PUT(r, "</member></SecurityGroups><CreatedTime>");
        put_time(r, EPOCH_BASE + (int64_t)idx * 3600, true);
        PUT(r, "</CreatedTime>");
        EL(r, "Scheme", lb_internal(r, false, idx) ? "internal" : "internet-facing");
        PUT(r, "</member>");
    }
    PUT(r, "</LoadBalancerDescriptions>");
    if (p.more)
        EL(r, "NextMarker", p.next);
    query_end(r, "DescribeLoadBalancers");
}

static void elbv2_describe(struct req *r)
{
    static const char *const ok[] = {"PageSize", "Marker", NULL};
    const struct sizing *z = &r->f->sz;
    const struct counts *c = &r->f->cnt;
    struct page p;
    if (bad_params(r, ok) || paging(r, regional(r, c->albs), 400, 1, 400, &p))
        return;
    query_begin(r, NS_ELBV2, "DescribeLoadBalancers");
    PUT(r, "<LoadBalancers>");
    for (uint64_t idx = p.off; idx < p.off + p.n; idx++) {
        uint64_t v = idx / z->albs;
        bool network = (idx % z->albs) % 2 == 1;
        char name[64], hex[17];
        lb_name(r, true, idx, name, sizeof(name));
        lb_hexid(r, idx, hex);
        PUT(r, "<member><LoadBalancerArn>arn:aws:elasticloadbalancing:");
        put_s(r, r->region);
        PUT(r, ":");
        put_acct(r);
        PUT(r, ":loadbalancer/");
        put_s(r, network ? "net/" : "app/");
        put_s(r, name);
        PUT(r, "/");
        put_s(r, hex);
        PUT(r, "</LoadBalancerArn><DNSName>");
        put_lb_dns(r, true, idx, name, network);
        PUT(r, "</DNSName>");
        EL(r, "CanonicalHostedZoneId", network ? "Z3F0SRJ5LGBH90" : "Z215JYRZR1TBD5");
        PUT(r, "<CreatedTime>");
        put_time(r, EPOCH_BASE + (int64_t)idx * 3600, true);
        PUT(r, "</CreatedTime>");
        EL(r, "LoadBalancerName", name);
        EL(r, "Scheme", lb_internal(r, true, idx) ? "internal" : "internet-facing");
        PUT(r, "<VpcId>");
        put_id(r, "vpc", r->acct, (unsigned)r->ri, v);
        PUT(r, "</VpcId><State><Code>active</Code></State>");
        EL(r, "Type", network ? "network" : "application");
        PUT(r, "<AvailabilityZones>");
        for (uint64_t s = 0; s < c->lb_enis_per_lb; s++) {
            PUT(r, "<member><ZoneName>");
            put_az(r, (unsigned)(s % z->azs));
            PUT(r, "</ZoneName><SubnetId>");
            put_id(r, "subnet", r->acct, (unsigned)r->ri, v * z->subnets + s);
            PUT(r, "</SubnetId><LoadBalancerAddresses/></member>");
        }
        PUT(r, "</AvailabilityZones>");
        if (!network) {
            PUT(r, "<SecurityGroups><member>");
            put_id(r, "sg", r->acct, (unsigned)r->ri, v);
            PUT(r, "</member></SecurityGroups>");
        }
        PUT(r, "<IpAddressType>ipv4</IpAddressType></member>");
    }
    PUT(r, "</LoadBalancers>");
    if (p.more)
        EL(r, "NextMarker", p.next);
    query_end(r, "DescribeLoadBalancers");
}

/* ---------------------------------------------------------------------- */
/* STS                                                                     */

static void sts_get_caller_identity(struct req *r)
{
    static const char *const ok[] = {NULL};
    if (bad_params(r, ok))
        return;
    char a[13];
    acct_id(r->acct, a);
    query_begin(r, NS_STS, "GetCallerIdentity");
    if (r->temp) {
        put_f(r, "<Arn>arn:aws:sts::%s:assumed-role/", a);
        put_esc(r, r->tc.role);
        PUT(r, "/");
        put_esc(r, r->tc.session);
        put_f(r, "</Arn><UserId>AROAFAKE%s:", a);
        put_esc(r, r->tc.session);
        PUT(r, "</UserId>");
    } else {
        put_f(r, "<Arn>arn:aws:iam::%s:user/fakeaws</Arn><UserId>AIDAFAKE%s</UserId>", a, a);
    }
    EL(r, "Account", a);
    query_end(r, "GetCallerIdentity");
}

static void random_chars(char *out, size_t n, const char *alphabet)
{
    unsigned char b[256];
    size_t al = strlen(alphabet);
    while (n) {
        size_t k = n < sizeof(b) ? n : sizeof(b);
        if (getrandom(b, k, 0) != (ssize_t)k) {
            for (size_t i = 0; i < k; i++)
                b[i] = (unsigned char)rand();
        }
        for (size_t i = 0; i < k; i++)
            *out++ = alphabet[b[i] % al];
        n -= k;
    }
    *out = '\0';
}

/* Decodes the claims of a JWT (header.claims.signature); NULL if it is not one. */
static json_t *jwt_claims(const char *tok)
{
    const char *d1 = strchr(tok, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || d2 - d1 - 1 > 16384)
        return NULL;
    size_t n = (size_t)(d2 - d1 - 1), o = 0;
    unsigned char *out = xmalloc(n + 4);
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = d1 + 1; p < d2; p++) {
        const char *q = strchr(B64URL, *p == '+' ? '-' : *p == '/' ? '_' : *p);
        if (*p == '=')
            break;
        if (!*p || !q) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(q - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    json_t *j = json_loadb((const char *)out, o, 0, NULL);
    free(out);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static bool valid_session_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_+=,.@-", *s)))
            return false;
    return true;
}

static void sts_assume_web(struct req *r)
{
    static const char *const ok[] = {
        "RoleArn",    "RoleSessionName", "WebIdentityToken", "DurationSeconds",
        "ProviderId", "Policy",          "PolicyArns.",      NULL};
    if (bad_params(r, ok))
        return;
    struct fake *f = r->f;
    const char *arn = param(r, "RoleArn"), *session = param(r, "RoleSessionName");
    const char *token = param(r, "WebIdentityToken"), *dur = param(r, "DurationSeconds");
    const char *missing = !arn       ? "roleArn"
                          : !session ? "roleSessionName"
                          : !token   ? "webIdentityToken"
                                     : NULL;
    if (missing) {
        reply_error(r, 400, "ValidationError",
                    "1 validation error detected: Value null at '%s' failed to satisfy "
                    "constraint: Member must not be null",
                    missing);
        return;
    }
    /* arn:aws:iam::<12 digits>:role/<path/>name */
    char acct[13] = "";
    const char *role = NULL;
    if (strncmp(arn, "arn:aws:iam::", 13) == 0 && strlen(arn) > 13 + 12 + 6 &&
        strncmp(arn + 25, ":role/", 6) == 0) {
        memcpy(acct, arn + 13, 12);
        bool digits = true;
        for (int i = 0; i < 12; i++)
            digits &= acct[i] >= '0' && acct[i] <= '9';
        role = strrchr(arn, '/') + 1;
        if (!digits || !*role || strlen(role) > 64)
            role = NULL;
    }
    if (!role) {
        reply_error(r, 400, "ValidationError", "Request ARN is invalid");
        return;
    }
    if (!valid_session_name(session)) {
        reply_error(r, 400, "ValidationError",
                    "1 validation error detected: Value '%.64s' at 'roleSessionName' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "[\\w+=,.@-]*",
                    session);
        return;
    }
    int64_t secs = 3600;
    if (dur && (parse_int64(dur, 900, 43200, &secs) < 0)) {
        reply_error(r, 400, "ValidationError",
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                    "role or is below 900: %.32s",
                    dur);
        return;
    }
    if (strlen(token) < 4) {
        reply_error(r, 400, "ValidationError",
                    "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 4");
        return;
    }
    if (f->web_token && strcmp(token, f->web_token) != 0) {
        reply_error(r, 400, "InvalidIdentityToken",
                    "Couldn't verify the web identity token (fakeaws accepts one token only)");
        return;
    }
    int64_t now = (int64_t)time(NULL);
    json_t *claims = jwt_claims(token);
    json_t *exp = claims ? json_object_get(claims, "exp") : NULL;
    if (exp && json_is_number(exp) && (int64_t)json_number_value(exp) <= now) {
        reply_error(r, 400, "ExpiredTokenException",
                    "Token expired: current date/time %" PRId64
                    " must be before the expiration date/time %" PRId64,
                    now, (int64_t)json_number_value(exp));
        json_decref(claims);
        return;
    }
    unsigned long long id = strtoull(acct, NULL, 10);
    if (id <= ACCOUNT_BASE || id > ACCOUNT_BASE + f->sz.accounts) {
        json_decref(claims);
        reply_error(r, 403, "AccessDenied",
                    "Not authorized to perform sts:AssumeRoleWithWebIdentity (account %s is not "
                    "one of fakeaws's)",
                    acct);
        return;
    }
    const char *sub = claims ? json_string_value(json_object_get(claims, "sub")) : NULL;
    const char *aud = claims ? json_string_value(json_object_get(claims, "aud")) : NULL;
    const char *iss = claims ? json_string_value(json_object_get(claims, "iss")) : NULL;
    if (!aud && claims && json_is_array(json_object_get(claims, "aud")))
        aud = json_string_value(json_array_get(json_object_get(claims, "aud"), 0));

    struct tempcred tc;
    memset(&tc, 0, sizeof(tc));
    memcpy(tc.akid, TEMP_PREFIX, 8);
    random_chars(tc.akid + 8, 12, "0123456789ABCDEF");
    random_chars(tc.secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    memcpy(tc.token, "FQoGZXIvYXdzEFAKE", 17);
    random_chars(tc.token + 17, 200,
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    tc.acct = (unsigned)(id - ACCOUNT_BASE);
    snprintf(tc.role, sizeof(tc.role), "%s", role);
    snprintf(tc.session, sizeof(tc.session), "%s", session);
    int64_t life =
        f->sts_max_duration > 0 && f->sts_max_duration < secs ? f->sts_max_duration : secs;
    tc.expires = now + life;

    pthread_mutex_lock(&f->lock);
    /* Drop credentials expired for an hour; when full, the oldest. */
    size_t w = 0;
    for (size_t i = 0; i < f->ntemps; i++)
        if (f->temps[i].expires + 3600 > now)
            f->temps[w++] = f->temps[i];
    f->ntemps = w;
    if (f->ntemps == MAX_TEMP_CREDS) {
        memmove(f->temps, f->temps + 1, (f->ntemps - 1) * sizeof(*f->temps));
        f->ntemps--;
    }
    f->temps = xgrow(f->temps, &f->captemps, f->ntemps + 1, sizeof(*f->temps));
    f->temps[f->ntemps++] = tc;
    pthread_mutex_unlock(&f->lock);

    query_begin(r, NS_STS, "AssumeRoleWithWebIdentity");
    PUT(r, "<SubjectFromWebIdentityToken>");
    put_esc(r, sub ? sub : "fakeaws-subject");
    PUT(r, "</SubjectFromWebIdentityToken><Audience>");
    put_esc(r, aud ? aud : "sts.amazonaws.com");
    PUT(r, "</Audience><AssumedRoleUser>");
    put_f(r, "<Arn>arn:aws:sts::%s:assumed-role/", acct);
    put_esc(r, tc.role);
    PUT(r, "/");
    put_esc(r, tc.session);
    put_f(r, "</Arn><AssumedRoleId>AROAFAKE%s:", acct);
    put_esc(r, tc.session);
    PUT(r, "</AssumedRoleId></AssumedRoleUser><Credentials>");
    EL(r, "SessionToken", tc.token);
    EL(r, "SecretAccessKey", tc.secret);
    PUT(r, "<Expiration>");
    put_time(r, tc.expires, false);
    PUT(r, "</Expiration>");
    EL(r, "AccessKeyId", tc.akid);
    PUT(r, "</Credentials><Provider>");
    put_esc(r, iss ? iss : "fakeaws-oidc");
    PUT(r, "</Provider>");
    query_end(r, "AssumeRoleWithWebIdentity");
    json_decref(claims);
}

/* ---------------------------------------------------------------------- */
/* S3 (path style)                                                         */

static void bucket_name(unsigned a, uint64_t b, char *out, size_t n)
{
    char id[13];
    acct_id(a, id);
    snprintf(out, n, "fake-%s-bucket-%04" PRIu64, id, b);
}

/* -1 unless name is one of the fake's buckets. */
static int parse_bucket(const char *name, unsigned *a, uint64_t *b)
{
    unsigned long long id;
    int used = 0;
    if (strncmp(name, "fake-", 5) != 0 || strlen(name) > 63 ||
        sscanf(name, "fake-%12llu-bucket-%" SCNu64 "%n", &id, b, &used) != 2 ||
        (size_t)used != strlen(name) || id <= ACCOUNT_BASE || id - ACCOUNT_BASE > 0xffff)
        return -1;
    *a = (unsigned)(id - ACCOUNT_BASE);
    char again[80];
    bucket_name(*a, *b, again, sizeof(again));
    return strcmp(again, name) == 0 ? 0 : -1;
}

static void s3_begin(struct req *r)
{
    r->ctype = "application/xml";
    PUT(r, XML_DECL);
}

static void put_owner_id(struct req *r, unsigned a)
{
    put_f(r, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, mix64(a), mix64(a + 1),
          mix64(a + 2), mix64(a + 3));
}

static void s3_list_buckets(struct req *r)
{
    const struct sizing *z = &r->f->sz;
    struct page p;
    uint64_t total = z->buckets;
    bool paged = param(r, "max-buckets") != NULL;
    if (paging(r, total, total ? (unsigned)total : 1, 1, 10000, &p))
        return;
    s3_begin(r);
    PUT(r, "<ListAllMyBucketsResult xmlns=\"" NS_S3 "\"><Owner><ID>");
    put_owner_id(r, r->acct);
    PUT(r, "</ID><DisplayName>fake-");
    put_acct(r);
    PUT(r, "</DisplayName></Owner><Buckets>");
    for (uint64_t b = p.off; b < p.off + p.n; b++) {
        char name[80];
        bucket_name(r->acct, b, name, sizeof(name));
        PUT(r, "<Bucket>");
        EL(r, "Name", name);
        PUT(r, "<CreationDate>");
        put_time(r, EPOCH_BASE - 365 * 86400 + (int64_t)b * 86400, true);
        PUT(r, "</CreationDate></Bucket>");
    }
    PUT(r, "</Buckets>");
    if (paged && p.more)
        EL(r, "ContinuationToken", p.next);
    PUT(r, "</ListAllMyBucketsResult>");
}

/* The bucket named by the path "/<bucket>" or "/<bucket>/". */
static bool path_bucket(const struct req *r, char *out, size_t n)
{
    const char *p = r->path + 1;
    size_t l = strcspn(p, "/");
    if (l == 0 || l >= n || (p[l] == '/' && p[l + 1]))
        return false;
    memcpy(out, p, l);
    out[l] = '\0';
    return true;
}

static void s3_get_bucket_location(struct req *r)
{
    char name[256];
    unsigned a;
    uint64_t b;
    if (!path_bucket(r, name, sizeof(name))) {
        reply_error(r, 400, "InvalidRequest", "fakeaws: bad bucket path");
        return;
    }
    if (parse_bucket(name, &a, &b) < 0 || a > r->f->sz.accounts || b >= r->f->sz.buckets) {
        reply_error(r, 404, "NoSuchBucket", "The specified bucket does not exist");
        return;
    }
    if (a != r->acct) {
        reply_error(r, 403, "AccessDenied", "Access Denied");
        return;
    }
    const char *region = REGIONS[b % r->f->sz.regions].name;
    s3_begin(r);
    if (strcmp(region, "us-east-1") == 0) {
        PUT(r, "<LocationConstraint xmlns=\"" NS_S3 "\"/>");
    } else {
        PUT(r, "<LocationConstraint xmlns=\"" NS_S3 "\">");
        put_s(r, region);
        PUT(r, "</LocationConstraint>");
    }
}

/* ---------------------------------------------------------------------- */
/* The action table                                                        */

static const struct action {
    enum svc svc;
    const char *name;
    void (*fn)(struct req *r);
} ACTIONS[] = {
    {SVC_EC2, "DescribeRegions", ec2_describe_regions},
    {SVC_EC2, "DescribeAvailabilityZones", ec2_describe_azs},
    {SVC_EC2, "DescribeVpcs", ec2_describe_vpcs},
    {SVC_EC2, "DescribeSubnets", ec2_describe_subnets},
    {SVC_EC2, "DescribeInstances", ec2_describe_instances},
    {SVC_EC2, "DescribeImages", ec2_describe_images},
    {SVC_EC2, "DescribeNetworkInterfaces", ec2_describe_enis},
    {SVC_EC2, "DescribeDhcpOptions", ec2_describe_dhcp},
    {SVC_ELB, "DescribeLoadBalancers", elb_describe},
    {SVC_ELBV2, "DescribeLoadBalancers", elbv2_describe},
    {SVC_STS, "GetCallerIdentity", sts_get_caller_identity},
    {SVC_STS, "AssumeRoleWithWebIdentity", sts_assume_web},
    {SVC_S3, "ListBuckets", s3_list_buckets},
    {SVC_S3, "GetBucketLocation", s3_get_bucket_location},
};

static int find_action(enum svc s, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(ACTIONS); i++)
        if (ACTIONS[i].svc == s && strcmp(ACTIONS[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Authentication                                                          */

/* 0 and the time for "YYYYMMDDTHHMMSSZ". */
static int parse_amz_date(const char *s, int64_t *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return -1;
    const char *e = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!e || *e)
        return -1;
    *t = (int64_t)timegm(&tm);
    return 0;
}

/* An authentication failure in the service's words. */
enum auth_fail {
    AF_MISSING,   /* no Authorization */
    AF_MALFORMED, /* unparsable Authorization or X-Amz-Date */
    AF_REGION,    /* credential scope region unknown */
    AF_UNKNOWN,   /* access key not ours */
    AF_TOKEN,     /* temporary key without (or with another) session token */
    AF_EXPIRED,   /* temporary credentials expired */
    AF_SKEW,      /* X-Amz-Date too far from now */
    AF_SIGNATURE, /* signature mismatch */
};

static void auth_error(struct req *r, enum auth_fail why, const char *detail)
{
    if (r->svc == SVC_EC2) {
        switch (why) {
        case AF_MISSING:
            reply_error(r, 401, "MissingAuthenticationToken",
                        "Request must contain either a valid (registered) AWS access key ID or "
                        "X.509 certificate.");
            return;
        case AF_SKEW:
            reply_error(r, 400, "RequestExpired", "Request has expired. %s", detail);
            return;
        case AF_EXPIRED:
            reply_error(r, 400, "RequestExpired", "Request has expired.");
            return;
        case AF_MALFORMED:
            reply_error(r, 400, "IncompleteSignature", "%s", detail);
            return;
        default:
            reply_error(r, 401, "AuthFailure",
                        "AWS was not able to validate the provided access credentials");
            return;
        }
    }
    if (r->svc == SVC_S3) {
        switch (why) {
        case AF_MISSING:
            reply_error(r, 403, "AccessDenied", "Access Denied");
            return;
        case AF_MALFORMED:
        case AF_REGION:
            reply_error(r, 400, "AuthorizationHeaderMalformed",
                        "The authorization header is malformed; %s", detail);
            return;
        case AF_UNKNOWN:
            reply_error(r, 403, "InvalidAccessKeyId",
                        "The AWS Access Key Id you provided does not exist in our records.");
            return;
        case AF_TOKEN:
            reply_error(r, 400, "InvalidToken",
                        "The provided token is malformed or otherwise invalid.");
            return;
        case AF_EXPIRED:
            reply_error(r, 400, "ExpiredToken", "The provided token has expired.");
            return;
        case AF_SKEW:
            reply_error(r, 403, "RequestTimeTooSkewed",
                        "The difference between the request time and the current time is too "
                        "large.");
            return;
        case AF_SIGNATURE:
            reply_error(r, 403, "SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you "
                        "provided. Check your key and signing method.");
            return;
        }
    }
    switch (why) {
    case AF_MISSING:
        reply_error(r, 403, "MissingAuthenticationToken",
                    "Request is missing Authentication Token");
        return;
    case AF_MALFORMED:
        reply_error(r, 400, "IncompleteSignature", "%s", detail);
        return;
    case AF_REGION:
        reply_error(r, 403, "SignatureDoesNotMatch",
                    "Credential should be scoped to a valid region. %s", detail);
        return;
    case AF_UNKNOWN:
    case AF_TOKEN:
        reply_error(r, 403, "InvalidClientTokenId",
                    "The security token included in the request is invalid.");
        return;
    case AF_EXPIRED:
        reply_error(r, 403, "ExpiredToken",
                    "The security token included in the request is expired");
        return;
    case AF_SKEW:
        reply_error(r, 403, "SignatureDoesNotMatch", "Signature expired: %s", detail);
        return;
    case AF_SIGNATURE:
        reply_error(r, 403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult the "
                    "service documentation for details.");
        return;
    }
}

/* Checks the SigV4 signature of r (parsed Authorization a); sets r->acct.
 * -1 after answering the error. */
static int authenticate(struct req *r, const struct sigv4_auth *a)
{
    struct fake *f = r->f;
    char detail[256];
    const char *date = header(r, "x-amz-date");
    int64_t t, now = (int64_t)time(NULL);
    if (!date || parse_amz_date(date, &t) < 0) {
        auth_error(r, AF_MALFORMED,
                   date ? "X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z'"
                        : "Authorization header requires existence of either a 'X-Amz-Date' or "
                          "a 'Date' header.");
        return -1;
    }
    if (strncmp(date, a->date, 8) != 0) {
        snprintf(detail, sizeof(detail),
                 "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                 "from HTTP: '%s' != '%.8s', from '%s'.",
                 a->date, date, date);
        auth_error(r, r->svc == SVC_EC2 ? AF_SIGNATURE : AF_MALFORMED, detail);
        return -1;
    }
    if (r->ri < 0) {
        snprintf(detail, sizeof(detail), "the region '%.63s' is wrong", a->region);
        auth_error(r, AF_REGION, detail);
        return -1;
    }
    if (t < now - f->max_skew || t > now + f->max_skew) {
        char nows[17];
        sigv4_amz_date(now, nows);
        snprintf(detail, sizeof(detail), "%s is now %s than %s (%s %c %" PRId64 " s.)", date,
                 t < now ? "earlier" : "later", nows, nows, t < now ? '-' : '+', f->max_skew);
        auth_error(r, AF_SKEW, detail);
        return -1;
    }

    char secret[64] = "";
    unsigned long long id = 0;
    bool digits = strncmp(a->access_key_id, AKID_PREFIX, 8) == 0 && strlen(a->access_key_id) == 20;
    for (int i = 8; i < 20 && digits; i++) {
        digits = a->access_key_id[i] >= '0' && a->access_key_id[i] <= '9';
        id = id * 10 + (unsigned)(a->access_key_id[i] - '0');
    }
    if (digits && id > ACCOUNT_BASE && id <= ACCOUNT_BASE + f->sz.accounts) {
        r->acct = (unsigned)(id - ACCOUNT_BASE);
        snprintf(secret, sizeof(secret), SECRET_PREFIX "%012llu", id);
    } else if (strncmp(a->access_key_id, TEMP_PREFIX, 8) == 0) {
        pthread_mutex_lock(&f->lock);
        for (size_t i = 0; i < f->ntemps && !r->temp; i++)
            if (strcmp(f->temps[i].akid, a->access_key_id) == 0) {
                r->tc = f->temps[i];
                r->temp = true;
            }
        pthread_mutex_unlock(&f->lock);
        if (r->temp) {
            r->acct = r->tc.acct;
            snprintf(secret, sizeof(secret), "%s", r->tc.secret);
        }
    }
    if (!r->acct) {
        auth_error(r, AF_UNKNOWN, "");
        return -1;
    }
    if (r->temp) {
        const char *tok = header(r, "x-amz-security-token");
        if (!tok || strcmp(tok, r->tc.token) != 0) {
            auth_error(r, AF_TOKEN, "");
            return -1;
        }
        if (now >= r->tc.expires) {
            auth_error(r, AF_EXPIRED, "");
            return -1;
        }
    }

    char hash[65];
    const struct buf *body = &r->c->body;
    sigv4_sha256_hex(buf_str(body), body->len, hash);
    const char *payload = hash;
    if (r->svc == SVC_S3) {
        payload = header(r, "x-amz-content-sha256");
        if (!payload) {
            reply_error(r, 400, "InvalidRequest",
                        "Missing required header for this request: x-amz-content-sha256");
            return -1;
        }
        if (strcmp(payload, SIGV4_UNSIGNED) != 0 && strcmp(payload, hash) != 0) {
            reply_error(r, 400, "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was "
                        "computed.");
            return -1;
        }
    }
    struct sigv4_request sr = {r->method, r->path,    r->query,  r->hdrs, r->nhdrs,
                               payload,   a->service, a->region, date};
    struct buf err;
    buf_init(&err, 1024);
    int rc = sigv4_verify(&sr, a, secret, &err);
    if (rc < 0) {
        if (f->log_requests)
            log_info("signature rejected", LF_STR("key", a->access_key_id),
                     LF_STR("reason", buf_str(&err)));
        auth_error(r, AF_SIGNATURE, buf_str(&err));
    }
    buf_release(&err);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Faults                                                                  */

static enum svc svc_parse(const char *s)
{
    for (size_t i = 1; i < ARRAY_SIZE(SVC_NAME); i++)
        if (strcmp(s, SVC_NAME[i]) == 0)
            return (enum svc)i;
    return SVC_NONE;
}

/* Parses one rule; -1 with a reason in err. */
static int fault_parse(json_t *o, struct fault *fl, struct buf *err)
{
    memset(fl, 0, sizeof(*fl));
    fl->remaining = -1;
    fl->fraction = 1.0;
    if (!json_is_object(o)) {
        buf_setf(err, "a fault must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    bool kind = false;
    json_object_foreach(o, key, v)
    {
        const char *s = json_string_value(v);
        bool isint = json_is_integer(v);
        json_int_t i = json_integer_value(v);
        if (strcmp(key, "kind") == 0 && s) {
            for (int k = 0; k < F_NKINDS; k++)
                if (strcmp(s, FAULT_NAME[k]) == 0) {
                    fl->kind = (enum fault_kind)k;
                    kind = true;
                }
            if (!kind) {
                buf_setf(err, "unknown fault kind \"%.40s\"", s);
                return -1;
            }
        } else if (strcmp(key, "service") == 0 && s) {
            if (*s && (fl->svc = svc_parse(s)) == SVC_NONE) {
                buf_setf(err, "unknown service \"%.40s\" (ec2, elb, elbv2, sts, s3)", s);
                return -1;
            }
        } else if (strcmp(key, "action") == 0 && s && strlen(s) < sizeof(fl->action)) {
            snprintf(fl->action, sizeof(fl->action), "%s", s);
        } else if (strcmp(key, "account") == 0 && s && strlen(s) < sizeof(fl->account)) {
            snprintf(fl->account, sizeof(fl->account), "%s", s);
        } else if (strcmp(key, "count") == 0 && isint && i >= -1) {
            fl->remaining = i;
        } else if (strcmp(key, "after") == 0 && isint && i >= 0) {
            fl->after = i;
        } else if (strcmp(key, "fraction") == 0 && json_is_number(v) && json_number_value(v) >= 0 &&
                   json_number_value(v) <= 1) {
            fl->fraction = json_number_value(v);
        } else if (strcmp(key, "ms") == 0 && isint && i >= 0 && i <= MAX_DELAY_MS) {
            fl->ms = (unsigned)i;
        } else if (strcmp(key, "status") == 0 && isint && i >= 100 && i <= 599) {
            fl->status = (unsigned)i;
        } else if (strcmp(key, "code") == 0 && s && strlen(s) < sizeof(fl->code)) {
            snprintf(fl->code, sizeof(fl->code), "%s", s);
        } else if (strcmp(key, "message") == 0 && s && strlen(s) < sizeof(fl->message)) {
            snprintf(fl->message, sizeof(fl->message), "%s", s);
        } else if (strcmp(key, "size") == 0 && isint && i > 0 && i <= MAX_OVERSIZE) {
            fl->size = (size_t)i;
        } else if (strcmp(key, "field") == 0 && s && strlen(s) < sizeof(fl->field)) {
            snprintf(fl->field, sizeof(fl->field), "%s", s);
        } else {
            buf_setf(err, "bad fault attribute \"%.40s\"", key);
            return -1;
        }
    }
    if (!kind) {
        buf_setf(err, "a fault needs a \"kind\"");
        return -1;
    }
    if (fl->kind == F_OVERSIZED && !fl->size)
        fl->size = 4u << 20;
    return 0;
}

static json_t *fault_json(const struct fault *fl)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:I}", "kind", FAULT_NAME[fl->kind], "count",
                          (json_int_t)fl->remaining, "after", (json_int_t)fl->after, "fraction",
                          fl->fraction, "hits", (json_int_t)fl->hits);
    if (fl->svc)
        json_object_set_new(o, "service", json_string(SVC_NAME[fl->svc]));
    if (*fl->action)
        json_object_set_new(o, "action", json_string(fl->action));
    if (*fl->account)
        json_object_set_new(o, "account", json_string(fl->account));
    if (fl->kind == F_DELAY)
        json_object_set_new(o, "ms", json_integer(fl->ms));
    if (fl->status)
        json_object_set_new(o, "status", json_integer(fl->status));
    if (*fl->code)
        json_object_set_new(o, "code", json_string(fl->code));
    if (*fl->message)
        json_object_set_new(o, "message", json_string(fl->message));
    if (fl->kind == F_OVERSIZED)
        json_object_set_new(o, "size", json_integer((json_int_t)fl->size));
    if (*fl->field)
        json_object_set_new(o, "field", json_string(fl->field));
    return o;
}

/* Adds rules from a JSON document: one rule, an array, or {"faults": [...]}. */
static int faults_add(struct fake *f, json_t *doc, struct buf *err)
{
    json_t *list = json_is_object(doc) && json_object_get(doc, "faults")
                       ? json_object_get(doc, "faults")
                       : doc;
    struct fault parsed[MAX_FAULTS];
    size_t n = 0;
    if (json_is_array(list)) {
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            if (n == MAX_FAULTS) {
                buf_setf(err, "too many faults (at most %d)", MAX_FAULTS);
                return -1;
            }
            if (fault_parse(v, &parsed[n++], err) < 0)
                return -1;
        }
    } else if (fault_parse(list, &parsed[n++], err) < 0) {
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    if (f->nfaults + n > MAX_FAULTS) {
        buf_setf(err, "too many faults (at most %d)", MAX_FAULTS);
        rc = -1;
    } else {
        memcpy(f->faults + f->nfaults, parsed, n * sizeof(*parsed));
        f->nfaults += n;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static double prng_next(struct fake *f)
{
    f->prng ^= f->prng << 13;
    f->prng ^= f->prng >> 7;
    f->prng ^= f->prng << 17;
    return (double)(f->prng >> 11) / 9007199254740992.0;
}

/* Chooses the fault for r: delays add up, the first other matching rule
 * wins. Returns its kind (F_NKINDS: none) and copies it to *out. */
static enum fault_kind fault_pick(struct req *r, struct fault *out, unsigned *delay)
{
    struct fake *f = r->f;
    enum fault_kind kind = F_NKINDS;
    char acct[13] = "";
    if (r->acct)
        acct_id(r->acct, acct);
    const char *name = r->act >= 0 ? ACTIONS[r->act].name : r->name;
    *delay = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nfaults && kind == F_NKINDS; i++) {
        struct fault *fl = &f->faults[i];
        if ((fl->svc && fl->svc != r->svc) || (*fl->action && strcmp(fl->action, name) != 0) ||
            (*fl->account && strcmp(fl->account, acct) != 0) || fl->remaining == 0)
            continue;
        if (fl->after > 0) {
            fl->after--;
            continue;
        }
        if (fl->fraction < 1.0 && prng_next(f) >= fl->fraction)
            continue;
        if (fl->remaining > 0)
            fl->remaining--;
        fl->hits++;
        f->injected[fl->kind]++;
        if (fl->kind == F_DELAY) {
            *delay += fl->ms;
            continue;
        }
        kind = fl->kind;
        *out = *fl;
    }
    pthread_mutex_unlock(&f->lock);
    return kind;
}

static void fault_error(struct req *r, const struct fault *fl)
{
    if (fl->kind == F_THROTTLE) {
        if (r->svc == SVC_EC2)
            reply_error(r, fl->status ? fl->status : 503, "RequestLimitExceeded",
                        "Request limit exceeded.");
        else if (r->svc == SVC_S3)
            reply_error(r, fl->status ? fl->status : 503, "SlowDown",
                        "Please reduce your request rate.");
        else
            reply_error(r, fl->status ? fl->status : 400, "Throttling", "Rate exceeded");
        return;
    }
    unsigned st = fl->status ? fl->status : 500;
    const char *code, *msg;
    if (st == 503) {
        code = r->svc == SVC_EC2 ? "Unavailable" : "ServiceUnavailable";
        msg = "The server is overloaded and can't handle the request.";
    } else if (r->svc == SVC_EC2 || r->svc == SVC_S3) {
        code = "InternalError";
        msg = r->svc == SVC_S3 ? "We encountered an internal error. Please try again."
                               : "An internal error has occurred";
    } else {
        code = "InternalFailure";
        msg = "The request processing has failed because of an unknown error, exception or "
              "failure.";
    }
    reply_error(r, st, *fl->code ? fl->code : code, "%s", *fl->message ? fl->message : msg);
}

/* Where to insert an element: after the first <item>, <member> or <Bucket>,
 * else after the root element's start tag. */
static size_t insert_point(const struct buf *b)
{
    const char *s = buf_str(b);
    const char *best = NULL;
    static const char *const tags[] = {"<item>", "<member>", "<Bucket>"};
    for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
        const char *p = strstr(s, tags[i]);
        if (p && (!best || p < best))
            best = p + strlen(tags[i]);
    }
    if (best)
        return (size_t)(best - s);
    const char *decl = strstr(s, "?>");
    const char *gt = strchr(decl ? decl + 2 : s, '>');
    return gt ? (size_t)(gt + 1 - s) : b->len;
}

/* Applies a body-changing fault to r's answer. */
static void fault_transform(struct req *r, const struct fault *fl)
{
    struct buf *b = &r->body;
    struct buf nb;
    buf_init(&nb, RESP_MAX);
    bool fail = false;
    switch (fl->kind) {
    case F_CUT:
        if (b->len > 1)
            b->len /= 2, b->ptr[b->len] = '\0';
        return;
    case F_MALFORMED: {
        const char *gt = b->len ? strchr(b->ptr + b->len / 2, '>') : NULL;
        size_t at = gt ? (size_t)(gt + 1 - b->ptr) : b->len;
        fail = buf_add(&nb, b->ptr, at) < 0 || buf_adds(&nb, "</fakeMismatched>") < 0 ||
               buf_add(&nb, b->ptr + at, b->len - at) < 0;
        break;
    }
    case F_BADTYPE:
        r->status = fl->status ? fl->status : 200;
        r->ctype = "text/html; charset=utf-8";
        fail = buf_adds(&nb, "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title>"
                             "<meta charset=\"utf-8\"></head><body><h1>Service Unavailable</h1>"
                             "<p>The proxy could not reach the upstream server.<br></p></body>"
                             "</html>\n") < 0;
        break;
    case F_OVERSIZED:
    case F_UNEXPECTED: {
        size_t from, to;
        const char *s = buf_str(b);
        char open[80], close[80];
        const char *o = NULL, *c = NULL;
        if (fl->kind == F_OVERSIZED && *fl->field) {
            snprintf(open, sizeof(open), "<%s>", fl->field);
            snprintf(close, sizeof(close), "</%s>", fl->field);
            o = strstr(s, open);
            c = o ? strstr(o, close) : NULL;
        }
        if (o && c) {
            from = (size_t)(o - s) + strlen(open);
            to = (size_t)(c - s);
        } else {
            from = to = insert_point(b);
        }
        fail = buf_add(&nb, s, from) < 0;
        if (fl->kind == F_UNEXPECTED) {
            fail = fail || buf_adds(&nb, "<fakeUnexpectedElement kind=\"test\"><nested><item>1"
                                         "</item><item>2</item></nested><empty/>"
                                         "</fakeUnexpectedElement>") < 0;
        } else {
            bool wrap = !(o && c);
            fail = fail || (wrap && buf_adds(&nb, "<fakeOversizedField>") < 0);
            char chunk[4096];
            memset(chunk, 'x', sizeof(chunk));
            for (size_t left = fl->size; left && !fail;) {
                size_t k = left < sizeof(chunk) ? left : sizeof(chunk);
                fail = buf_add(&nb, chunk, k) < 0;
                left -= k;
            }
            fail = fail || (wrap && buf_adds(&nb, "</fakeOversizedField>") < 0);
        }
        fail = fail || buf_add(&nb, s + to, b->len - to) < 0;
        break;
    }
    default:
        return;
    }
    if (fail) {
        buf_release(&nb);
        r->oom = true;
        return;
    }
    buf_release(b);
    *b = nb;
}

/* ---------------------------------------------------------------------- */
/* Statistics                                                              */

static void stats_record(struct req *r)
{
    struct fake *f = r->f;
    char key[96], st[8];
    const char *name = r->act >= 0 ? ACTIONS[r->act].name : r->name;
    char clean[48];
    size_t n = 0;
    for (const char *p = name; *p && n < sizeof(clean) - 1; p++)
        clean[n++] =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p
                                                                                             : '_';
    clean[n] = '\0';
    snprintf(key, sizeof(key), "%s.%s", SVC_NAME[r->svc], n ? clean : "-");
    snprintf(st, sizeof(st), "%u", r->status);
    pthread_mutex_lock(&f->lock);
    f->requests++;
    json_t *row = json_object_get(f->stats, key);
    if (!row && json_object_size(f->stats) >= 256)
        row = json_object_get(f->stats, "other.-");
    if (!row) {
        row = json_object();
        json_object_set_new(f->stats, json_object_size(f->stats) >= 256 ? "other.-" : key, row);
    }
    json_t *c = json_object_get(row, st);
    json_object_set_new(row, st, json_integer(c ? json_integer_value(c) + 1 : 1));
    pthread_mutex_unlock(&f->lock);
}

/* ---------------------------------------------------------------------- */
/* Control endpoints (/_fake/...): unsigned, JSON, loopback clients only   */

static bool loopback_client(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const unsigned char *a = in6->sin6_addr.s6_addr;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (memcmp(a, v4mapped, 12) == 0 && a[12] == 127);
    }
    return false;
}

static json_t *config_json(struct fake *f)
{
    const struct sizing *z = &f->sz;
    const struct counts *c = &f->cnt;
    json_t *regions = json_array(), *accounts = json_array();
    for (unsigned i = 0; i < z->regions; i++)
        json_array_append_new(regions, json_string(REGIONS[i].name));
    for (unsigned a = 1; a <= z->accounts; a++) {
        char id[13];
        acct_id(a, id);
        json_array_append_new(accounts,
                              json_pack("{s:s, s:s+, s:s+}", "id", id, "access_key_id", AKID_PREFIX,
                                        id, "secret_access_key", SECRET_PREFIX, id));
    }
    json_t *per =
        json_pack("{s:i, s:i, s:I, s:I, s:i, s:I, s:I, s:I, s:i}", "azs", z->azs, "vpcs", z->vpcs,
                  "subnets", (json_int_t)c->subnets, "instances", (json_int_t)c->instances,
                  "images", z->images, "network_interfaces", (json_int_t)c->enis, "classic_lbs",
                  (json_int_t)c->clbs, "v2_lbs", (json_int_t)c->albs, "dhcp_option_sets", z->dhcp);
    json_int_t units = (json_int_t)z->accounts * z->regions;
    json_t *tot = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(per, key, v)
    {
        json_object_set_new(tot, key, json_integer(json_integer_value(v) * units));
    }
    json_object_set_new(tot, "regions", json_integer((json_int_t)z->regions * z->accounts));
    json_object_set_new(tot, "buckets", json_integer((json_int_t)z->buckets * z->accounts));
    json_t *sizing =
        json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "accounts",
                  z->accounts, "regions", z->regions, "azs_per_region", z->azs, "vpcs_per_region",
                  z->vpcs, "subnets_per_vpc", z->subnets, "instances_per_subnet", z->instances,
                  "images_per_region", z->images, "classic_lbs_per_vpc", z->clbs, "v2_lbs_per_vpc",
                  z->albs, "buckets_per_account", z->buckets, "dhcp_options_per_region", z->dhcp);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "sizing", sizing, "regions", regions,
                     "accounts", accounts, "per_account_region", per, "totals", tot,
                     "sts_max_duration", (json_int_t)f->sts_max_duration, "max_skew",
                     (json_int_t)f->max_skew);
}

static void reply_json(struct req *r, unsigned status, json_t *j)
{
    r->status = status;
    r->ctype = "application/json";
    buf_reset(&r->body);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (s) {
        put_s(r, s);
        PUT(r, "\n");
    }
    free(s);
    json_decref(j);
}

static void control(struct req *r)
{
    struct fake *f = r->f;
    const char *m = r->method, *p = r->path;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;
    if (!loopback_client(r->mc)) {
        reply_json(r, 403, json_pack("{s:s}", "error", "control endpoints are loopback-only"));
        return;
    }
    if (strcmp(p, "/_fake/health") == 0 && get) {
        reply_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(p, "/_fake/config") == 0 && get) {
        reply_json(r, 200, config_json(f));
    } else if (strcmp(p, "/_fake/stats") == 0 && (get || del)) {
        pthread_mutex_lock(&f->lock);
        json_t *inj = json_object();
        for (int k = 0; k < F_NKINDS; k++)
            json_object_set_new(inj, FAULT_NAME[k], json_integer((json_int_t)f->injected[k]));
        json_t *j = json_pack("{s:I, s:o, s:o}", "requests", (json_int_t)f->requests, "actions",
                              json_deep_copy(f->stats), "faults", inj);
        if (del) {
            json_object_clear(f->stats);
            f->requests = 0;
            memset(f->injected, 0, sizeof(f->injected));
        }
        pthread_mutex_unlock(&f->lock);
        reply_json(r, 200, j);
    } else if (strcmp(p, "/_fake/faults") == 0 && (get || post || del)) {
        if (post) {
            json_error_t je;
            struct buf err;
            buf_init(&err, 256);
            json_t *doc = json_loadb(buf_str(&r->c->body), r->c->body.len, 0, &je);
            int rc = doc ? faults_add(f, doc, &err) : -1;
            if (!doc)
                buf_setf(&err, "bad JSON: %s", je.text);
            json_decref(doc);
            if (rc < 0) {
                reply_json(r, 400, json_pack("{s:s}", "error", buf_str(&err)));
                buf_release(&err);
                return;
            }
            buf_release(&err);
        }
        pthread_mutex_lock(&f->lock);
        json_t *list = json_array();
        for (size_t i = 0; i < f->nfaults; i++)
            json_array_append_new(list, fault_json(&f->faults[i]));
        if (del)
            f->nfaults = 0;
        pthread_mutex_unlock(&f->lock);
        reply_json(r, 200, json_pack("{s:o}", "faults", list));
    } else if (strcmp(p, "/_fake/credentials") == 0 && del) {
        /* Expires every temporary credential issued so far (refresh tests). */
        int64_t now = (int64_t)time(NULL);
        pthread_mutex_lock(&f->lock);
        size_t n = f->ntemps;
        for (size_t i = 0; i < n; i++)
            if (f->temps[i].expires > now)
                f->temps[i].expires = now;
        pthread_mutex_unlock(&f->lock);
        reply_json(r, 200, json_pack("{s:I}", "expired", (json_int_t)n));
    } else if (strcmp(p, "/_fake/reset") == 0 && post) {
        pthread_mutex_lock(&f->lock);
        f->nfaults = 0;
        json_object_clear(f->stats);
        f->requests = 0;
        memset(f->injected, 0, sizeof(f->injected));
        pthread_mutex_unlock(&f->lock);
        reply_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else {
        reply_json(r, 404,
                   json_pack("{s:s}", "error",
                             "unknown control endpoint (GET health|config|stats|faults, POST "
                             "faults|reset, DELETE stats|faults|credentials under /_fake/)"));
    }
}

/* ---------------------------------------------------------------------- */
/* One request                                                             */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct req *r = cls;
    (void)kind;
    if (r->nhdrs == MAX_HEADERS) {
        r->hdrs_overflow = true;
        return MHD_NO;
    }
    r->hdrs[r->nhdrs++] = (struct sigv4_kv){key, value ? value : ""};
    return MHD_YES;
}

/* The service of a request without (or with an unparsable) signature. */
static enum svc guess_svc(const struct req *r)
{
    const char *action = param(r, "Action"), *version = param(r, "Version");
    if (!action)
        return SVC_S3;
    if (strcmp(action, "AssumeRoleWithWebIdentity") == 0)
        return SVC_STS;
    if (version && strcmp(version, "2016-11-15") == 0)
        return SVC_EC2;
    if (version && strcmp(version, "2012-06-01") == 0)
        return SVC_ELB;
    if (version && strcmp(version, "2015-12-01") == 0)
        return SVC_ELBV2;
    if (version && strcmp(version, "2011-06-15") == 0)
        return SVC_STS;
    return SVC_NONE;
}

static const char *s3_operation(const struct req *r)
{
    bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    char b[256];
    if (get && strcmp(r->path, "/") == 0)
        return "ListBuckets";
    if (get && path_bucket(r, b, sizeof(b)) && param(r, "location"))
        return "GetBucketLocation";
    return "";
}

static void sleep_ms(struct fake *f, unsigned ms)
{
    while (ms && !atomic_load(&f->stopping)) {
        unsigned k = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)k * 1000000L};
        nanosleep(&ts, NULL);
        ms -= k;
    }
}

/* Routes, authenticates and answers r; returns the fault to apply while
 * sending (F_NKINDS: none). */
static enum fault_kind serve(struct req *r)
{
    struct fake *f = r->f;
    struct conn *c = r->c;
    bool form = false;
    const char *ct = header(r, "content-type");
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        form = true;
    bool params_ok = add_params(r, r->query, strlen(r->query)) == 0 &&
                     (!form || strcmp(r->method, "POST") != 0 ||
                      add_params(r, buf_str(&c->body), c->body.len) == 0);

    const char *auth = header(r, "authorization");
    struct sigv4_auth a;
    struct buf err;
    buf_init(&err, 512);
    bool parsed = auth && sigv4_parse_authorization(auth, &a, &err) == 0;
    if (parsed) {
        if (strcmp(a.service, "ec2") == 0)
            r->svc = SVC_EC2;
        else if (strcmp(a.service, "elasticloadbalancing") == 0)
            r->svc = param(r, "Version") && strcmp(param(r, "Version"), "2015-12-01") == 0
                         ? SVC_ELBV2
                         : SVC_ELB;
        else if (strcmp(a.service, "sts") == 0)
            r->svc = SVC_STS;
        else if (strcmp(a.service, "s3") == 0)
            r->svc = SVC_S3;
        else
            r->svc = SVC_NONE;
        snprintf(r->region, sizeof(r->region), "%s", a.region);
        for (unsigned i = 0; i < NREGIONS; i++)
            if (strcmp(REGIONS[i].name, a.region) == 0)
                r->ri = (int)i;
        r->enabled = r->ri >= 0 && (unsigned)r->ri < f->sz.regions;
    } else {
        r->svc = guess_svc(r);
    }
    r->name = r->svc == SVC_S3 ? s3_operation(r) : param(r, "Action") ? param(r, "Action") : "";
    if (r->svc != SVC_NONE)
        r->act = find_action(r->svc, r->name);

    enum fault_kind fk = F_NKINDS;
    if (c->too_big || r->hdrs_overflow || !params_ok) {
        reply_error(r, 400, "InvalidRequest",
                    "fakeaws: request too large (body, headers or %d parameters)", MAX_PARAMS);
        goto out;
    }
    if (r->svc == SVC_NONE) {
        reply_error(r, 400, "InvalidAction", "fakeaws does not implement service '%.63s'",
                    parsed ? a.service : "?");
        goto out;
    }
    bool anonymous = r->act >= 0 && strcmp(ACTIONS[r->act].name, "AssumeRoleWithWebIdentity") == 0;
    if (!anonymous) {
        if (!auth) {
            auth_error(r, AF_MISSING, "");
            goto out;
        }
        if (!parsed) {
            auth_error(r, AF_MALFORMED, buf_str(&err));
            goto out;
        }
        if (authenticate(r, &a) < 0)
            goto out;
    }
    if (r->svc == SVC_EC2 && !param(r, "Version")) {
        reply_error(r, 400, "MissingParameter", "The request must contain the parameter Version");
        goto out;
    }
    if (r->act < 0) {
        if (r->svc == SVC_EC2)
            reply_error(r, 400, "InvalidAction",
                        "The action %.100s is not valid for this web service.", r->name);
        else if (r->svc == SVC_S3)
            reply_error(r, 501, "NotImplemented",
                        "fakeaws implements ListBuckets (GET /) and GetBucketLocation "
                        "(GET /<bucket>?location) only");
        else
            reply_error(r, 400, "InvalidAction",
                        "Could not find operation %.100s for version %.20s", r->name,
                        param(r, "Version") ? param(r, "Version") : "NO_VERSION_SPECIFIED");
        goto out;
    }

    struct fault fl;
    unsigned delay = 0;
    fk = fault_pick(r, &fl, &delay);
    sleep_ms(f, delay);
    if (fk == F_THROTTLE || fk == F_ERROR) {
        fault_error(r, &fl);
        fk = F_NKINDS;
        goto out;
    }
    if (fk == F_CLOSE)
        goto out;
    ACTIONS[r->act].fn(r);
    if (r->oom) {
        reply_error(r, 500,
                    r->svc == SVC_EC2 || r->svc == SVC_S3 ? "InternalError" : "InternalFailure",
                    "fakeaws: response larger than %u bytes", RESP_MAX);
        fk = F_NKINDS;
    }
    if (fk != F_NKINDS && fk != F_TRUNCATE)
        fault_transform(r, &fl);
out:
    buf_release(&err);
    return fk;
}

struct trunc {
    char *data;
    size_t cut;
};

static ssize_t trunc_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct trunc *t = cls;
    if (pos >= t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->cut - (size_t)pos < max ? t->cut - (size_t)pos : max;
    memcpy(out, t->data + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls)
{
    struct trunc *t = cls;
    free(t->data);
    free(t);
}

static enum MHD_Result handle(struct fake *f, struct conn *c, struct MHD_Connection *mc,
                              const char *method)
{
    struct req *r = xcalloc(1, sizeof(*r));
    r->f = f;
    r->mc = mc;
    r->c = c;
    r->method = method;
    r->act = -1;
    r->name = "";
    r->ri = -1;
    r->status = 200;
    r->ctype = "text/xml";
    buf_init(&r->body, RESP_MAX);
    make_request_id(f, r->rid);
    const char *uri = c->uri ? c->uri : "/";
    const char *q = strchr(uri, '?');
    r->path = q ? xstrndup(uri, (size_t)(q - uri)) : xstrdup(uri);
    r->query = xstrdup(q ? q + 1 : "");
    if (!*r->path) {
        free(r->path);
        r->path = xstrdup("/");
    }
    MHD_get_connection_values(mc, MHD_HEADER_KIND, collect_header, r);
    int64_t t0 = mono_ms();
    bool ctl = strncmp(r->path, "/_fake/", 7) == 0;
    enum fault_kind fk = F_NKINDS;
    if (ctl)
        control(r);
    else
        fk = serve(r);

    enum MHD_Result ret = MHD_NO;
    if (!ctl) {
        if (fk == F_CLOSE)
            r->status = 0; /* recorded as status 0: no answer */
        stats_record(r);
        if (f->log_requests)
            log_info("request", LF_STR("svc", SVC_NAME[r->svc]), LF_STR("action", r->name),
                     LF_INT("status", r->status), LF_INT("bytes", r->body.len),
                     LF_STR("fault", fk == F_NKINDS ? "" : FAULT_NAME[fk]),
                     LF_INT("ms", mono_ms() - t0));
    }
    if (fk == F_CLOSE)
        goto out;

    size_t len = r->body.len;
    struct MHD_Response *resp;
    if (fk == F_TRUNCATE && len > 1) {
        struct trunc *t = xmalloc(sizeof(*t));
        t->cut = len / 2;
        t->data = buf_detach(&r->body);
        resp = MHD_create_response_from_callback(len, 64 * 1024, trunc_read, t, trunc_free);
        if (!resp) {
            trunc_free(t);
            goto out;
        }
    } else if (len) {
        char *body = buf_detach(&r->body);
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(body);
            goto out;
        }
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            goto out;
    }
    bool hdr_ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype) == MHD_YES;
    if (!ctl && r->svc == SVC_S3) {
        char id2[64];
        snprintf(id2, sizeof(id2), "fakeaws/%s", r->rid);
        hdr_ok = hdr_ok && MHD_add_response_header(resp, "x-amz-request-id", r->rid) == MHD_YES &&
                 MHD_add_response_header(resp, "x-amz-id-2", id2) == MHD_YES &&
                 MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, "AmazonS3") == MHD_YES;
    } else if (!ctl) {
        hdr_ok = hdr_ok && MHD_add_response_header(resp, "x-amzn-RequestId", r->rid) == MHD_YES;
    }
    if (hdr_ok)
        ret = MHD_queue_response(mc, r->status, resp);
    MHD_destroy_response(resp);
out:
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].k);
        free(r->params[i].v);
    }
    free(r->path);
    free(r->query);
    buf_release(&r->body);
    free(r);
    return ret;
}

/* ---------------------------------------------------------------------- */
/* libmicrohttpd callbacks                                                 */

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)mc;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = xcalloc(1, sizeof(*c));
        buf_init(&c->body, MAX_BODY);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct conn *c = *socket_context;
        free(c->uri);
        buf_release(&c->body);
        free(c);
        *socket_context = NULL;
    }
}

/* Called with the raw request target before libmicrohttpd decodes it:
 * SigV4 needs the path and query exactly as sent. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = ci ? ci->socket_context : NULL;
    if (!c)
        return NULL;
    free(c->uri);
    c->uri = xstrdup(uri ? uri : "/");
    buf_release(&c->body);
    buf_init(&c->body, MAX_BODY);
    c->started = false;
    c->too_big = false;
    return c;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct fake *f = cls;
    struct conn *c = *con_cls;
    (void)url;
    (void)version;
    if (!c)
        return MHD_NO;
    if (!c->started) {
        c->started = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!c->too_big && buf_add(&c->body, upload, *upload_size) < 0)
            c->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(f, c, mc, method);
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fakeaws [--listen HOST:PORT] [--port-file PATH] [sizing] [options]\n"
            "\n"
            "A fake AWS (EC2, ELB, ELBv2, STS, S3) for tests, benchmarks and the demo;\n"
            "see docs/fakeaws.md.\n"
            "\n"
            "  --listen HOST:PORT           address (default 127.0.0.1:0, a free port)\n"
            "  --port-file PATH             write the bound port to PATH\n"
            "sizing (same flags, same data):\n"
            "  --accounts N                 accounts 100000000001.. (default 1)\n"
            "  --regions N                  first N of eu-central-1, eu-west-1, us-east-1, ... "
            "(default 2, max %u)\n"
            "  --azs-per-region N           (default 3)\n"
            "  --vpcs-per-region N          per account and region (default 2)\n"
            "  --subnets-per-vpc N          (default 2)\n"
            "  --instances-per-subnet N     (default 5)\n"
            "  --images-per-region N        own images per account and region (default 3)\n"
            "  --classic-lbs-per-vpc N      (default 1)\n"
            "  --v2-lbs-per-vpc N           application and network alternately (default 1)\n"
            "  --lbs-per-vpc N              sets both of the above\n"
            "  --buckets-per-account N      (default 3)\n"
            "  --dhcp-options-per-region N  (default 1)\n"
            "options:\n"
            "  --sts-max-duration D         cap the lifetime of issued credentials (5s, 1m, or "
            "seconds)\n"
            "  --web-identity-token TOKEN   accept only this web identity token\n"
            "  --max-skew D                 tolerated X-Amz-Date skew (default 15m)\n"
            "  --fault KIND[:k=v,...]       inject a fault (repeatable), e.g.\n"
            "                               throttle:count=3,action=DescribeInstances\n"
            "  --seed N                     seed of fractional faults (default 1)\n"
            "  --log-requests               log every request on stderr\n"
            "  --help\n",
            NREGIONS);
}

/* "5s", "1m30s" or plain seconds. */
static int parse_seconds(const char *s, int64_t *out)
{
    int64_t ms;
    if (parse_int64(s, 0, INT64_MAX / 1000, out) == 0)
        return 0;
    if (duration_parse(s, &ms) < 0)
        return -1;
    *out = ms / 1000;
    return 0;
}

/* "kind:key=value,..." to the JSON form of a fault. */
static json_t *fault_spec(const char *spec)
{
    const char *colon = strchr(spec, ':');
    char *kind = colon ? xstrndup(spec, (size_t)(colon - spec)) : xstrdup(spec);
    json_t *o = json_pack("{s:s}", "kind", kind);
    free(kind);
    if (!colon)
        return o;
    char *rest = xstrdup(colon + 1), *save = NULL;
    for (char *kv = strtok_r(rest, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            json_decref(o);
            o = NULL;
            break;
        }
        *eq = '\0';
        const char *v = eq + 1;
        int64_t i;
        char *end;
        double d = strtod(v, &end);
        if (parse_int64(v, INT64_MIN, INT64_MAX, &i) == 0)
            json_object_set_new(o, kv, json_integer((json_int_t)i));
        else if (*v && !*end)
            json_object_set_new(o, kv, json_real(d));
        else
            json_object_set_new(o, kv, json_string(v));
    }
    free(rest);
    return o;
}

struct sizing_opt {
    const char *name;
    size_t off;
    int64_t min, max;
};

#define SZ(name, field, lo, hi)                                                                    \
    {                                                                                              \
        name, offsetof(struct sizing, field), lo, hi                                               \
    }
static const struct sizing_opt SIZING_OPTS[] = {
    SZ("accounts", accounts, 1, 9999),
    SZ("regions", regions, 1, NREGIONS),
    SZ("azs-per-region", azs, 1, 26),
    SZ("vpcs-per-region", vpcs, 0, 1000000),
    SZ("subnets-per-vpc", subnets, 0, 1000000),
    SZ("instances-per-subnet", instances, 0, 10000000),
    SZ("images-per-region", images, 0, 10000000),
    SZ("classic-lbs-per-vpc", clbs, 0, 10000),
    SZ("v2-lbs-per-vpc", albs, 0, 10000),
    SZ("buckets-per-account", buckets, 0, 1000000),
    SZ("dhcp-options-per-region", dhcp, 1, 100000),
};

enum {
    OPT_LISTEN = 1000,
    OPT_PORT_FILE,
    OPT_LBS,
    OPT_STS_MAX,
    OPT_WEB_TOKEN,
    OPT_MAX_SKEW,
    OPT_FAULT,
    OPT_SEED,
    OPT_LOG,
    OPT_HELP
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "fakeaws: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return -1;
    fprintf(fp, "%u\n", port);
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct fake *f = xcalloc(1, sizeof(*f));
    f->sz = (struct sizing){.accounts = 1,
                            .regions = 2,
                            .azs = 3,
                            .vpcs = 2,
                            .subnets = 2,
                            .instances = 5,
                            .images = 3,
                            .clbs = 1,
                            .albs = 1,
                            .buckets = 3,
                            .dhcp = 1};
    f->max_skew = DEFAULT_MAXSKEW;
    const char *listen = "127.0.0.1:0", *port_file = NULL;
    uint64_t seed = 1;
    int rc = 2;

    struct option opts[ARRAY_SIZE(SIZING_OPTS) + 11];
    size_t no = 0;
    for (size_t i = 0; i < ARRAY_SIZE(SIZING_OPTS); i++)
        opts[no++] = (struct option){SIZING_OPTS[i].name, required_argument, NULL, (int)i};
    opts[no++] = (struct option){"listen", required_argument, NULL, OPT_LISTEN};
    opts[no++] = (struct option){"port-file", required_argument, NULL, OPT_PORT_FILE};
    opts[no++] = (struct option){"lbs-per-vpc", required_argument, NULL, OPT_LBS};
    opts[no++] = (struct option){"sts-max-duration", required_argument, NULL, OPT_STS_MAX};
    opts[no++] = (struct option){"web-identity-token", required_argument, NULL, OPT_WEB_TOKEN};
    opts[no++] = (struct option){"max-skew", required_argument, NULL, OPT_MAX_SKEW};
    opts[no++] = (struct option){"fault", required_argument, NULL, OPT_FAULT};
    opts[no++] = (struct option){"seed", required_argument, NULL, OPT_SEED};
    opts[no++] = (struct option){"log-requests", no_argument, NULL, OPT_LOG};
    opts[no++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    opts[no] = (struct option){NULL, 0, NULL, 0};

    pthread_mutex_init(&f->lock, NULL);
    f->stats = json_object();
    json_t *pending_faults = json_array();
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int64_t v;
        if (c >= 0 && (size_t)c < ARRAY_SIZE(SIZING_OPTS)) {
            const struct sizing_opt *so = &SIZING_OPTS[c];
            if (parse_int64(optarg, so->min, so->max, &v) < 0) {
                fprintf(stderr,
                        "fakeaws: --%s: expected an integer in [%" PRId64 ", %" PRId64 "]\n",
                        so->name, so->min, so->max);
                usage(stderr);
                goto out;
            }
            *(unsigned *)(void *)((char *)&f->sz + so->off) = (unsigned)v;
            continue;
        }
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_PORT_FILE:
            port_file = optarg;
            break;
        case OPT_LBS:
            if (parse_int64(optarg, 0, 10000, &v) < 0) {
                rc = usage_error("--lbs-per-vpc: bad number \"%s\"", optarg);
                goto out;
            }
            f->sz.clbs = f->sz.albs = (unsigned)v;
            break;
        case OPT_STS_MAX:
            if (parse_seconds(optarg, &f->sts_max_duration) < 0 || f->sts_max_duration < 1) {
                rc = usage_error("--sts-max-duration: bad duration \"%s\"", optarg);
                goto out;
            }
            break;
        case OPT_WEB_TOKEN:
            f->web_token = optarg;
            break;
        case OPT_MAX_SKEW:
            if (parse_seconds(optarg, &f->max_skew) < 0) {
                rc = usage_error("--max-skew: bad duration \"%s\"", optarg);
                goto out;
            }
            break;
        case OPT_FAULT: {
            json_t *fj = fault_spec(optarg);
            if (!fj) {
                rc = usage_error("--fault: expected KIND[:key=value,...], got \"%s\"", optarg);
                goto out;
            }
            json_array_append_new(pending_faults, fj);
            break;
        }
        case OPT_SEED:
            if (parse_int64(optarg, 0, INT64_MAX, &v) < 0) {
                rc = usage_error("--seed: bad number \"%s\"", optarg);
                goto out;
            }
            seed = (uint64_t)v;
            break;
        case OPT_LOG:
            f->log_requests = true;
            break;
        case OPT_HELP:
            usage(stdout);
            rc = 0;
            goto out;
        case ':':
            rc = usage_error("option %s needs a value", argv[optind - 1]);
            goto out;
        default:
            rc = usage_error("unknown option %s", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc) {
        rc = usage_error("unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    f->cnt = counts_of(&f->sz);
    if (f->cnt.instances && !f->sz.images) {
        rc = usage_error("%s", "--images-per-region must be at least 1 when there are instances");
        goto out;
    }
    if (f->cnt.instances > (1ULL << 40) || f->cnt.enis > (1ULL << 40) ||
        f->cnt.subnets > (1ULL << 40)) {
        rc = usage_error("%s", "sizing too large (at most 2^40 items per account and region)");
        goto out;
    }
    {
        struct buf err;
        buf_init(&err, 256);
        int frc = json_array_size(pending_faults) ? faults_add(f, pending_faults, &err) : 0;
        if (frc < 0) {
            rc = usage_error("--fault: %s", buf_str(&err));
            buf_release(&err);
            goto out;
        }
        buf_release(&err);
    }
    f->prng = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
    if (!f->prng)
        f->prng = 1;
    if (getrandom(&f->rid_salt, sizeof(f->rid_salt), 0) != sizeof(f->rid_salt))
        f->rid_salt = (uint64_t)time(NULL);

    log_setup(LOG_INFO, LOG_FORMAT_TEXT, stderr);

    /* Address: "host:port", ":port" or "[v6]:port". */
    char host[256] = "", port[16] = "";
    const char *colon = listen[0] == '[' ? strstr(listen, "]:") : strrchr(listen, ':');
    int64_t pn;
    if (!colon) {
        rc = usage_error("--listen: expected HOST:PORT, got \"%s\"", listen);
        goto out;
    }
    size_t hl = (size_t)(colon - listen) - (listen[0] == '[');
    const char *pstr = colon + (listen[0] == '[' ? 2 : 1);
    if (hl >= sizeof(host) || parse_int64(pstr, 0, 65535, &pn) < 0) {
        rc = usage_error("--listen: expected HOST:PORT, got \"%s\"", listen);
        goto out;
    }
    memcpy(host, listen + (listen[0] == '['), hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%" PRId64, pn);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "fakeaws: --listen %s: %s\n", listen, gai_strerror(gai));
        rc = 2;
        goto out;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, f, MHD_OPTION_NOTIFY_CONNECTION, on_connection, f,
        MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_CONNECTION_TIMEOUT, 300u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "fakeaws: cannot listen on %s: %s\n", listen, strerror(errno));
        rc = 1;
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = di ? di->port : 0;
    if (port_file && write_port_file(port_file, bound) < 0) {
        fprintf(stderr, "fakeaws: cannot write %s: %s\n", port_file, strerror(errno));
        MHD_stop_daemon(d);
        rc = 1;
        goto out;
    }
    fprintf(stderr, "fakeaws listening port=%u\n", bound);
    log_info("fakeaws ready", LF_INT("port", bound), LF_INT("accounts", f->sz.accounts),
             LF_INT("regions", f->sz.regions), LF_INT("instances_per_region", f->cnt.instances),
             LF_INT("instances", f->cnt.instances * f->sz.accounts * f->sz.regions),
             LF_INT("faults", f->nfaults));
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("fakeaws stopping", LF_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    atomic_store(&f->stopping, true);
    MHD_stop_daemon(d);
    rc = 0;
out:
    json_decref(pending_faults);
    json_decref(f->stats);
    pthread_mutex_destroy(&f->lock);
    free(f->temps);
    free(f);
    return rc;
}
