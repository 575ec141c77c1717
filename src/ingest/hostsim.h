/* The host-message generator behind `inventory ingest simulate hosts`
 * (docs/ingest.md, "Host simulator"): a deterministic stream of HBI
 * `add_host` ingress messages for a seed, from a pool of real hosts spread
 * over orgs, with chosen fractions of re-reports (a host already sent,
 * matched again through a different subset of its ID facts) and of invalid
 * messages. Pure: no I/O, no clock. It keeps the ground truth a consumer
 * must end with: how many hosts each org has.
 *
 *   struct hostsim s;
 *   hostsim_init(&s, &(struct hostsim_opts){.seed = 1, .orgs = 10, ...});
 *   for (;;) {
 *       const struct hostsim_msg *m = hostsim_next(&s);
 *       XADD stream * data m->data ...
 *   }
 *   ... s.truth.kinds[HOSTSIM_NEW], s.truth.hosts_per_org[i] ...
 *   hostsim_release(&s);
 */
#ifndef INV_INGEST_HOSTSIM_H
#define INV_INGEST_HOSTSIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define HOSTSIM_ORGS_MAX    10000      /* --orgs upper bound */
#define HOSTSIM_HOSTS_MAX   10000000   /* --hosts upper bound (1 byte of state per host) */
#define HOSTSIM_BASE_TS     1732000000 /* timestamps in facts start here (2024-11-19) */
#define HOSTSIM_ORG_ID_SIZE 16         /* an org_id with its NUL */
#define HOSTSIM_NPARTS      19         /* JSON values of one message (hostsim.c enum part) */
#define HOSTSIM_MIN_MAX_SIZE                                                                       \
    4096 /* max_message_size must be at least this: valid                                          \
          * messages stay below it */

/* What a message is, as counted in the summary; the three add up to all. */
enum hostsim_kind {
    HOSTSIM_NEW = 0,  /* a pool host sent for the first time: matches no earlier host */
    HOSTSIM_REREPORT, /* a host sent before, through ID facts that match it alone */
    HOSTSIM_INVALID,  /* breaks exactly one rule (enum hostsim_invalid, in turn) */
    HOSTSIM_NKINDS
};

/* The rule an invalid message breaks, in the order they come. */
enum hostsim_invalid {
    HI_JSON = 0,                /* not JSON */
    HI_NOT_OBJECT,              /* JSON, not an object */
    HI_OPERATION,               /* operation missing or not "add_host" */
    HI_IDENTITY_MISSING,        /* no platform_metadata.b64_identity */
    HI_IDENTITY_BASE64,         /* b64_identity is not base64 */
    HI_IDENTITY_ORG_ID,         /* the identity has no org_id */
    HI_IDENTITY_ORG_ID_LENGTH,  /* the identity's org_id is over 36 characters */
    HI_IDENTITY_TYPE,           /* identity type missing or unknown */
    HI_IDENTITY_CN,             /* a System identity without system.cn */
    HI_ORG_ID_MISMATCH,         /* data.org_id is not the identity's */
    HI_INSIGHTS_ID,             /* not a UUID */
    HI_SUBSCRIPTION_MANAGER_ID, /* not a UUID */
    HI_BIOS_UUID,               /* not a UUID */
    HI_SATELLITE_ID,            /* neither a UUID nor 10 digits */
    HI_IP_ADDRESSES,            /* one address is not an IP address */
    HI_MAC_ADDRESSES,           /* one address is not a MAC address */
    HI_FQDN,                    /* empty or over 255 characters */
    HI_PROVIDER_PAIR,           /* provider_id without provider_type, or back */
    HI_PROVIDER_TYPE,           /* not alibaba, aws, azure, gcp or ibm */
    HI_NO_ID_FACT,              /* none of provider_id, subscription_manager_id, insights_id */
    HI_OVERSIZED,               /* well-formed, over max_message_size */
    HOSTSIM_NINVALID
};

struct hostsim_opts {
    uint64_t seed;
    int64_t orgs;     /* 1..HOSTSIM_ORGS_MAX distinct org ids */
    int64_t hosts;    /* 1..HOSTSIM_HOSTS_MAX real hosts in the pool */
    double rereports; /* fractions 0..1, summing to at most 1 */
    double invalid;
    size_t max_message_size; /* an oversized message exceeds this; others stay below */
};

struct hostsim_msg {
    enum hostsim_kind kind;
    enum hostsim_invalid invalid; /* HOSTSIM_INVALID: the rule it breaks */
    int64_t org;                  /* index of the identity's org, 0..orgs-1 */
    int64_t host;                 /* pool index of a valid message's host, else -1 */
    struct slice data;            /* valid until the next hostsim_next */
};

/* The ground truth of the messages generated so far. */
struct hostsim_truth {
    uint64_t kinds[HOSTSIM_NKINDS];
    uint64_t invalid[HOSTSIM_NINVALID];
    uint64_t *hosts_per_org; /* [orgs]: new-host messages = hosts created per org */
};

struct hostsim {
    struct hostsim_opts o;
    uint64_t rng;
    uint64_t n;                           /* messages so far */
    uint8_t *known;                       /* per pool host: ID facts sent so far (0: not yet) */
    int64_t created;                      /* pool hosts 0..created-1 have been sent */
    char (*org_ids)[HOSTSIM_ORG_ID_SIZE]; /* [orgs] */
    struct hostsim_truth truth;
    struct buf parts[HOSTSIM_NPARTS]; /* scratch, reused: one JSON value per message field */
    struct buf out, ident;
    char *b64; /* scratch for base64 */
    size_t b64_cap;
    struct hostsim_msg msg;
};

/* Fills s for o (validated by the caller). Release with hostsim_release. */
void hostsim_init(struct hostsim *s, const struct hostsim_opts *o);
/* The next message; owned by s, valid until the next call. */
const struct hostsim_msg *hostsim_next(struct hostsim *s);
void hostsim_release(struct hostsim *s);
/* "new_hosts", "rereports", "invalid". */
const char *hostsim_kind_name(enum hostsim_kind k);
/* "json", "not_object", ... "oversized": the enum's name, lower case. */
const char *hostsim_invalid_name(enum hostsim_invalid r);
/* The org_id of org i (0..orgs-1): decimal digits, as HBI's are. */
const char *hostsim_org_id(const struct hostsim *s, int64_t i);

#endif
