/* The host-based inventory REST API under /api/inventory/v1, after the
 * public HBI v1 API (RedHatInsights/insights-host-inventory): hosts,
 * their system profiles and tags, check-in, per-org staleness and POST
 * /hosts for producers without a stream (docs/api.md, Host-based
 * inventory API). Every route but openapi.json runs for the caller of an
 * x-rh-identity header and sees only its org's (and, for a System, its
 * own) hosts; culled hosts are invisible.
 *
 * The handlers are rows of server.c's route table (access IDENTITY):
 * server.c calls hbi_authorize first and hands the caller in r->who. */
#ifndef INV_API_HBI_H
#define INV_API_HBI_H

#include <jansson.h>

#include "api/internal.h"
#include "core/config.h"
#include "hosts/identity.h"

#define HBI_IDENTITY_HEADER   "x-rh-identity"
#define HBI_REQUEST_ID_HEADER "x-rh-insights-request-id"
#define HBI_MAX_IDS           500 /* host ids in one {host_id_list} (the URL must fit 32 KiB) */
#define HBI_MAX_PER_PAGE      100
#define HBI_MAX_PAGE          21474837 /* HBI's bound */
#define HBI_MAX_HOSTS_IN      1000     /* hosts in one POST /hosts body */

/* Checks the x-rh-identity header value (NULL when absent): 0 fills *who;
 * -1 sets a 401 whose reason says what was wrong. */
int hbi_authorize(const char *header, struct identity *who, struct resp *r) MUSTCHECK;

/* GET /api/inventory/v1/openapi.json: the OpenAPI 3.1 document of these
 * routes (hbi_openapi.c). A new reference; NULL only when out of memory. */
json_t *hbi_openapi(const struct config *cfg);

void hbi_openapi_doc(struct api_server *s, const struct slice *caps, const char *qs,
                     struct resp *r);
void hbi_hosts_list(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r);
void hbi_hosts_add(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r);
void hbi_hosts_checkin(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r);
void hbi_hosts_get(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r);
void hbi_hosts_patch(struct api_server *s, const struct slice *caps, const char *qs,
                     struct resp *r);
void hbi_hosts_delete(struct api_server *s, const struct slice *caps, const char *qs,
                      struct resp *r);
void hbi_system_profile(struct api_server *s, const struct slice *caps, const char *qs,
                        struct resp *r);
void hbi_host_tags(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r);
void hbi_host_tag_count(struct api_server *s, const struct slice *caps, const char *qs,
                        struct resp *r);
void hbi_tags(struct api_server *s, const struct slice *caps, const char *qs, struct resp *r);
void hbi_host_exists(struct api_server *s, const struct slice *caps, const char *qs,
                     struct resp *r);
void hbi_staleness_get(struct api_server *s, const struct slice *caps, const char *qs,
                       struct resp *r);
void hbi_staleness_create(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r);
void hbi_staleness_update(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r);
void hbi_staleness_delete(struct api_server *s, const struct slice *caps, const char *qs,
                          struct resp *r);

#endif
