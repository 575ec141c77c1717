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

/* Builds the client from cfg->aws (no network yet). */
int aws_new(const struct config *cfg, struct aws **out, struct buf *err) MUSTCHECK;
void aws_free(struct aws *a);

/* Accounts used by a service (aws.services.<svc>.use_credentials), each
 * resolved once with GetCallerIdentity (retried on later calls if that
 * failed). *out points into a; n accounts. -1 with err when none resolved. */
int aws_accounts(struct aws *a, enum aws_service svc, const struct aws_account *const **out,
                 size_t *n, const atomic_bool *cancel, struct buf *err) MUSTCHECK;
/* The account with this id among those of svc, or NULL. */
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

/* One Query API call (POST, form body): service is the SigV4 service name
 * ("ec2", "elasticloadbalancing", "sts"), version the API version
 * ("2016-11-15", "2012-06-01", "2015-12-01", "2011-06-15"). params are the
 * action's parameters (decoded); Action and Version are added. On success
 * *doc is the parsed response (caller xmlFreeDoc). Retries throttling and
 * 5xx with exponential backoff and jitter (aws.retry settings); cancel is
 * checked between attempts and aborts a transfer in flight. */
int aws_query(struct aws *a, const struct aws_account *acct, enum aws_service svc,
              const char *region, const char *action, const struct sigv4_kv *params, size_t nparams,
              const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;

/* S3 REST GET, path style: bucket NULL = ListBuckets ("/"); subresource
 * e.g. "location" ("/<bucket>?location"). Same contract as aws_query. */
int aws_s3_get(struct aws *a, const struct aws_account *acct, const char *region,
               const char *bucket, const char *subresource, const atomic_bool *cancel,
               xmlDocPtr *doc, struct aws_error *e) MUSTCHECK;

/* ---- XML helpers (namespace-agnostic: match local names) ---- */

/* First child element of n named name, or NULL. */
xmlNodePtr aws_xml_child(xmlNodePtr n, const char *name);
/* Follows a '/'-separated path of child element names ("instanceState/name"). */
xmlNodePtr aws_xml_path(xmlNodePtr n, const char *path);
/* Text of the element at path under n ("" when empty): a pointer into the
 * document, valid until xmlFreeDoc, or NULL when absent. Responses are
 * parsed so that an element's text is one node; fields larger than
 * AWS_FIELD_MAX make the response fail with AWS_ERR_RESPONSE. */
const char *aws_xml_text(xmlNodePtr n, const char *path);
/* Next sibling element with the same name as n (for <item> lists), or NULL. */
xmlNodePtr aws_xml_next(xmlNodePtr n);
/* The value of tag Key=key in a tagSet/Tags list under n (EC2: tagSet/item
 * key/value), or NULL. */
const char *aws_xml_tag(xmlNodePtr n, const char *key);

#endif
