/* AWS API client: named credentials from the configuration, resolved to
 * accounts; signed calls to EC2 / ELB / ELBv2 / STS (Query API) and S3
 * (REST) over libcurl, with retries on throttling and 5xx, cancellation, and
 * AWS error documents turned into struct aws_error.
 *
 * Thread safety: one struct aws is shared by all handler threads of a
 * worker; calls may run concurrently (credentials refresh under a lock). */
#ifndef INV_AWS_CLIENT_H
#define INV_AWS_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "core/buf.h"
#include "core/config.h"
#include "sources/aws/sigv4.h"

#define AWS_ACCOUNT_ID_MAX 16           /* 12 digits + NUL, with room */
#define AWS_FIELD_MAX      (64 * 1024)  /* longest text of one element */
#define AWS_RESPONSE_MAX   (256u << 20) /* largest response body accepted */

/* The services of aws.services.<name> in the configuration. */
enum aws_service { AWS_EC2 = 0, AWS_ELB, AWS_ELBV2, AWS_S3, AWS_SERVICE_COUNT };

/* One named credential (aws.credentials.<name>), resolved to its account. */
struct aws_account {
    const char *name;                    /* credential name in the config */
    char account_id[AWS_ACCOUNT_ID_MAX]; /* from STS GetCallerIdentity */
    struct aws_cred_provider *provider;  /* private to client.c / creds.c */
};

struct aws; /* the client context */

/* Builds the client from cfg->aws (no network yet; what it needs of cfg is
 * copied). Fails with "aws: disabled (set aws.is_enabled: true)" when
 * aws.is_enabled is false. */
int aws_new(const struct config *cfg, struct aws **out, struct buf *err) MUSTCHECK;
void aws_free(struct aws *a);

/* Accounts used by a service (aws.services.<svc>.use_credentials), each
 * resolved once with GetCallerIdentity (retried on later calls if that
 * failed, at most every 30 s per credential). *out points into a and stays
 * valid until aws_free; n accounts, in resolution order, without duplicate
 * account ids (a warning names a credential that failed to resolve while
 * others did). -1 with err when none resolved or the service uses no
 * credentials. */
int aws_accounts(struct aws *a, enum aws_service svc, const struct aws_account *const **out,
                 size_t *n, const atomic_bool *cancel, struct buf *err) MUSTCHECK;
/* The account with this id among those of svc resolved so far, or NULL:
 * call aws_accounts first (cheap once resolved), e.g. in a task whose
 * payload names the account, as a fresh worker has resolved nothing. */
const struct aws_account *aws_account_find(struct aws *a, enum aws_service svc,
                                           const char *account_id);

/* Is region excluded by aws.excluded_regions? */
bool aws_region_excluded(const struct aws *a, const char *region);
/* aws.region: the region used for global calls (regions list, STS, S3). */
const char *aws_default_region(const struct aws *a);

enum aws_err_kind {
    AWS_ERR_NONE = 0,
    AWS_ERR_CLIENT,    /* 4xx other than throttling: permanent (bad request, denied) */
    AWS_ERR_RETRYABLE, /* throttling, 5xx, I/O, timeouts after the retries ran out */
    AWS_ERR_CANCELLED, /* *cancel became true */
    AWS_ERR_RESPONSE,  /* malformed / truncated / oversized / wrong content type */
};

struct aws_error {
    enum aws_err_kind kind;
    long status;       /* HTTP status, 0 when none */
    char code[128];    /* AWS error code, e.g. "UnauthorizedOperation" */
    char message[512]; /* AWS message or our description; never secrets */
    char request_id[128];
};

/* API versions of the Query services (aws_query adds the one of svc). */
#define AWS_EC2_VERSION   "2016-11-15"
#define AWS_ELB_VERSION   "2012-06-01"
#define AWS_ELBV2_VERSION "2015-12-01"
#define AWS_STS_VERSION   "2011-06-15"

/* One Query API call (POST, form body `application/x-www-form-urlencoded;
 * charset=utf-8`) to svc (EC2, ELB or ELBv2; signed as "ec2" /
 * "elasticloadbalancing") in region. params are the action's parameters
 * (decoded); Action and Version (AWS_*_VERSION of svc) are added. On
 * success *doc is the parsed response (caller xmlFreeDoc), whose root is
 * <{action}Response>. Retries throttling, 5xx, I/O errors and truncated
 * bodies with exponential backoff and full jitter (aws.retry settings);
 * cancel is checked between attempts and aborts a transfer in flight
 * (within about a second). On failure e says what happened (e->kind). */
int aws_query(struct aws *a, const struct aws_account *acct, enum aws_service svc,
              const char *region, const char *action, const struct sigv4_kv *params, size_t nparams,
              const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;

/* Called by aws_query_items for each item, in document order. item is
 * normalised like the rest of the answer and still attached to its parent
 * (aws_xml_* work on it), and freed when fn returns: keep no pointer into
 * it. Return 0 to go on, -1 to stop the call. */
typedef int (*aws_item_fn)(void *arg, xmlNodePtr item);

/* aws_query for large pages, in constant memory: every element at items (a
 * '/'-separated path of names below the root, e.g. "reservationSet/item",
 * "DescribeLoadBalancersResult/LoadBalancerDescriptions/member") is handed
 * to fn as soon as it is parsed and then freed; *doc gets the rest of the
 * answer (request id, pagination token ...) without those items. Items are
 * delivered once, after the whole body arrived and retries are over; when
 * the body turns out malformed part-way, fn has seen the items before the
 * fault and the call fails with AWS_ERR_RESPONSE (discard them). When fn
 * stops the call: -1 with e->kind AWS_ERR_NONE (fn's own error is the
 * caller's to report). A 1,000-instance page costs about 3 MB (its body)
 * instead of 25 MB (body and tree). */
int aws_query_items(struct aws *a, const struct aws_account *acct, enum aws_service svc,
                    const char *region, const char *action, const struct sigv4_kv *params,
                    size_t nparams, const char *items, aws_item_fn fn, void *arg,
                    const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;

/* S3 REST GET, path style: bucket NULL = ListBuckets ("/"); subresource
 * e.g. "location" ("/<bucket>?location"; a wire query, already encoded),
 * or NULL. Signed with x-amz-content-sha256. Same contract as aws_query
 * (the root element is not checked). */
int aws_s3_get(struct aws *a, const struct aws_account *acct, const char *region,
               const char *bucket, const char *subresource, const atomic_bool *cancel,
               xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;

/* "Code: message (HTTP 403, request id X)", or the message alone when no
 * code; appended to out. Never holds secrets. */
void aws_error_format(const struct aws_error *e, struct buf *out);
const char *aws_err_kind_name(enum aws_err_kind k); /* "client", "retryable" ... */

/* ---- credentials (diagnostics: `inventory aws whoami`) ---- */

/* Every configured credential, in configuration order, resolved or not. */
size_t aws_credentials(struct aws *a, const struct aws_account *const **out);
/* Resolves acct to its account (GetCallerIdentity) unless done already:
 * 0, or -1 with e. acct->account_id is "" until resolved. */
int aws_account_resolve(struct aws *a, const struct aws_account *acct, const atomic_bool *cancel,
                        struct aws_error *e) MUSTCHECK;
/* "profile", "env" or "token_file". */
const char *aws_account_provider_name(const struct aws_account *acct);

/* ---- metrics ---- */

struct metrics_registry;
/* Registers the client's families on reg and records into them from now
 * on (call before the client is shared by threads; reg must outlive a):
 *   inventory_aws_api_requests_total{service,action,status}  one per HTTP
 *     attempt; status is the HTTP status, or "error" (no response) or
 *     "cancelled"
 *   inventory_aws_api_request_duration_seconds{service,action}  histogram */
void aws_metrics_register(struct aws *a, struct metrics_registry *reg);

/* ---- internals exposed for tests and fuzzing ---- */

/* The endpoint of svc in region: aws.services.<svc>.endpoint_url, else
 * aws.endpoint_url, else AWS (svc AWS_SERVICE_COUNT means STS). Appended to
 * out without a trailing '/'. */
int aws_endpoint(const struct aws *a, enum aws_service svc, const char *region,
                 struct buf *out) MUSTCHECK;

/* Parses a response body as the client does: on a 2xx status the body must
 * be XML (content_type text/xml or application/xml; NULL skips that check)
 * and well-formed, without DTD, with no text longer than AWS_FIELD_MAX, and
 * with root element want_root when not NULL: 0 with *doc (caller frees).
 * On another status, or a malformed body, -1 with e: kind
 * AWS_ERR_RETRYABLE for throttling / 5xx / transient codes,
 * AWS_ERR_CLIENT for other error statuses (code, message and request id
 * from the EC2, ELB/STS or S3 error document), AWS_ERR_RESPONSE for a
 * malformed 2xx body. */
int aws_parse_response(long status, const char *content_type, const char *body, size_t len,
                       const char *want_root, xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;
/* aws_parse_response with aws_query_items' streaming of items (NULL: none). */
int aws_parse_response_items(long status, const char *content_type, const char *body, size_t len,
                             const char *want_root, const char *items, aws_item_fn fn, void *arg,
                             xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;
/* Is code one AWS uses for throttling or a transient failure? */
bool aws_code_retryable(const char *code);

/* ---- XML helpers (namespace-agnostic: match local names) ---- */

/* First child element of n named name, or NULL (also when n is NULL). */
xmlNodePtr aws_xml_child(xmlNodePtr n, const char *name);
/* Follows a '/'-separated path of child element names ("instanceState/name");
 * NULL when a step is missing. */
xmlNodePtr aws_xml_path(xmlNodePtr n, const char *path);
/* Text of the element at path under n (path NULL or "": n itself; "" when
 * empty): a pointer into the document, valid until xmlFreeDoc, or NULL when
 * absent (or n is NULL). Responses are parsed so that an element's text is
 * one node (comments dropped, CDATA and entities merged); fields larger
 * than AWS_FIELD_MAX make the response fail with AWS_ERR_RESPONSE. */
const char *aws_xml_text(xmlNodePtr n, const char *path);
/* Next sibling element with the same name as n (for <item> lists), or NULL. */
xmlNodePtr aws_xml_next(xmlNodePtr n);
/* The value of tag Key=key in a tag list under n, or NULL: EC2
 * tagSet/item/{key,value}, ELB Tags/member/{Key,Value}, S3
 * TagSet/Tag/{Key,Value} (also when n is the list itself). */
const char *aws_xml_tag(xmlNodePtr n, const char *key);

#endif
