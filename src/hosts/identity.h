/* The x-rh-identity header of host-based inventory: base64 of
 * {"identity":{"org_id":...,"type":...,...}} (docs/hosts.md, Messages and
 * validation).
 *
 *   struct identity id;
 *   if (identity_parse(header, strlen(header), &id, &reason) < 0)
 *       ... 401 with buf_str(&reason) ...
 *   ... id.org_id scopes every query; id.cn owns hosts for a System ...
 */
#ifndef INV_HOSTS_IDENTITY_H
#define INV_HOSTS_IDENTITY_H

#include <stddef.h>

#include "core/buf.h"

#define IDENTITY_B64_MAX     8192 /* longer header values are refused undecoded */
#define IDENTITY_ORG_ID_MAX  36
#define IDENTITY_CN_MAX      255
#define IDENTITY_ACCOUNT_MAX 36

enum identity_type {
    IDENTITY_USER = 1,
    IDENTITY_SYSTEM,
    IDENTITY_SERVICE_ACCOUNT,
};

/* Strings are NUL-terminated, without control characters; limits are in
 * bytes. */
struct identity {
    char org_id[IDENTITY_ORG_ID_MAX + 1]; /* never empty */
    enum identity_type type;
    char cn[IDENTITY_CN_MAX + 1];                  /* identity.system.cn; "" unless System */
    char account_number[IDENTITY_ACCOUNT_MAX + 1]; /* "" when absent or null */
};

/* "User", "System", "ServiceAccount" (as in the header), or "unknown". */
const char *identity_type_name(enum identity_type t);

/* Decodes and checks one header value of len bytes (standard base64,
 * '=' padding optional). 0 fills out; -1 leaves out zeroed and sets err
 * (may be NULL) to a reason fit for a 401 body, quoting no input. */
int identity_parse(const char *b64, size_t len, struct identity *out, struct buf *err) MUSTCHECK;

#endif
