/* Host-based inventory: validation and normalisation of one reported host
 * (the data of an ingress message, an element of a POST /hosts body) and of
 * a whole ingress message (docs/hosts.md, Messages and validation).
 *
 *   struct host_msg m;
 *   enum host_invalid why = host_message_parse(data, len, max, &m, &reason);
 *   if (why != HOST_OK) ... count host_invalid_name(why), dead-letter ...
 *   else ... m.id.org_id, m.host.sent & HOST_SENT_FQDN, m.host.fqdn ...
 *   host_msg_release(&m);
 */
#ifndef INV_HOSTS_HOST_H
#define INV_HOSTS_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "hosts/identity.h"

#define HOST_UUID_LEN          36
#define HOST_REQUEST_ID_MAX    64
#define HOST_PROVIDER_TYPE_MAX 7 /* "alibaba" */

/* Why a host or message is invalid: the `reason` label and dead-letter
 * field (names from host_invalid_name). */
enum host_invalid {
    HOST_OK = 0,
    HOST_BAD_JSON,           /* not JSON, duplicate keys, not an object */
    HOST_OVERSIZED,          /* message over max_len */
    HOST_BAD_OPERATION,      /* operation other than "add_host" */
    HOST_MISSING_FIELD,      /* operation, platform_metadata, b64_identity or data absent */
    HOST_BAD_IDENTITY,       /* b64_identity refused by identity_parse */
    HOST_ORG_MISMATCH,       /* data.org_id differs from the identity's */
    HOST_OWNER_MISMATCH,     /* System identity: system_profile.owner_id is not its cn */
    HOST_BAD_CANONICAL_FACT, /* a canonical fact's type or format (err names it) */
    HOST_NO_ID_FACT,         /* none of provider_id, subscription_manager_id, insights_id */
    HOST_BAD_PROVIDER,       /* provider_id without provider_type or back, unknown type */
    HOST_BAD_FIELD,          /* any other field: type, length, shape, unknown key */
    HOST_NREASONS
};

/* Bits of host_in.sent: which fields the producer sent. Fields not sent
 * keep their stored values on an update. */
enum {
    HOST_SENT_DISPLAY_NAME = 1u << 0,
    HOST_SENT_ANSIBLE_HOST = 1u << 1,
    HOST_SENT_REPORTER = 1u << 2,
    HOST_SENT_INSIGHTS_ID = 1u << 3,
    HOST_SENT_SUBSCRIPTION_MANAGER_ID = 1u << 4,
    HOST_SENT_SATELLITE_ID = 1u << 5,
    HOST_SENT_BIOS_UUID = 1u << 6,
    HOST_SENT_FQDN = 1u << 7,
    HOST_SENT_PROVIDER = 1u << 8, /* provider_id and provider_type, always together */
    HOST_SENT_IP_ADDRESSES = 1u << 9,
    HOST_SENT_MAC_ADDRESSES = 1u << 10,
    HOST_SENT_FACTS = 1u << 11,
    HOST_SENT_TAGS = 1u << 12,
    HOST_SENT_SYSTEM_PROFILE = 1u << 13,
    HOST_SENT_STALE_TIMESTAMP = 1u << 14,
};

/* One validated host. Every member is owned (host_in_release frees it);
 * a field not sent is NULL, "", 0 or an empty list. Canonical facts are
 * lower-cased (ASCII), so equal facts compare equal with strcmp. */
struct host_in {
    unsigned sent; /* HOST_SENT_* */
    char org_id[IDENTITY_ORG_ID_MAX + 1];
    char *display_name; /* 1..200 characters */
    char *ansible_host; /* 0..255 characters */
    char *reporter;     /* 1..255 characters */
    /* canonical facts */
    char insights_id[HOST_UUID_LEN + 1];             /* UUID */
    char subscription_manager_id[HOST_UUID_LEN + 1]; /* UUID */
    char satellite_id[HOST_UUID_LEN + 1];            /* UUID or 10 digits */
    char bios_uuid[HOST_UUID_LEN + 1];               /* UUID */
    char *fqdn;                                      /* 1..255 characters */
    char *provider_id;                               /* 1..500 characters */
    char provider_type[HOST_PROVIDER_TYPE_MAX + 1];  /* alibaba aws azure gcp ibm */
    char **ip_addresses;                             /* inet_ntop text */
    size_t n_ip_addresses;
    char **mac_addresses; /* as sent, lower-cased; all-zero MACs dropped */
    size_t n_mac_addresses;
    /* other facts */
    json_t *facts;              /* [{"namespace": s, "facts": {...}}], namespaces unique */
    json_t *tags;               /* [{"namespace": s|null, "key": s, "value": s|null}], unique */
    json_t *system_profile;     /* object; owner_id, when present, a lower-case UUID */
    int64_t stale_timestamp_us; /* Unix microseconds */
    char stale_timestamp[32];   /* the same as "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
};

/* Drops h's JSON members without releasing them: for trees that go with
 * their arena (core/jsonarena.h). */
void host_in_forget_json(struct host_in *h);

/* One ingress message. */
struct host_msg {
    char request_id[HOST_REQUEST_ID_MAX + 1]; /* "" when not sent */
    struct identity id;
    struct host_in host;
};

/* "ok", "bad_json", "oversized", ... (snake_case of the enum), or
 * "unknown". */
const char *host_invalid_name(enum host_invalid r);

/* Validates and normalises one host object. org_id is the identity's (not
 * NULL): data.org_id, when sent, must equal it; out->org_id is it. data is
 * not modified, but out may hold references to parts of it (facts,
 * system_profile): do not modify data while out lives. HOST_OK fills out
 * (release it); otherwise out is empty and err (may be NULL) says what was
 * wrong, quoting at most a short printable excerpt of the input. */
enum host_invalid host_parse(json_t *data, const char *org_id, struct host_in *out,
                             struct buf *err) MUSTCHECK;

/* The owner rule for a System identity (HBI's): system_profile.owner_id,
 * when sent, must equal its cn (case-insensitively); when not sent it is
 * set to the cn (lower-cased; the cn must then be a UUID), adding a
 * system_profile {"owner_id": cn} and HOST_SENT_SYSTEM_PROFILE if there was
 * none. No-op for other identity types. HOST_OK or HOST_OWNER_MISMATCH. */
enum host_invalid host_check_owner(struct host_in *h, const struct identity *id,
                                   struct buf *err) MUSTCHECK;

/* Validates one ingress message of len bytes (refused over max_len):
 * operation, platform_metadata.request_id and b64_identity (identity_parse),
 * then host_parse of data with the identity's org_id and host_check_owner.
 * HOST_OK fills out (release it); otherwise out is empty but for
 * request_id, kept when it was valid so the error can be reported under it,
 * and err says why. */
enum host_invalid host_message_parse(const char *msg, size_t len, size_t max_len,
                                     struct host_msg *out, struct buf *err) MUSTCHECK;

void host_in_release(struct host_in *h);
void host_msg_release(struct host_msg *m);

#endif
