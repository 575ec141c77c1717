/* Path routing for the REST API: patterns of literal segments and ":name"
 * captures ("/api/v1/:source/:model/:id/links"), matched segment by segment
 * against a request path (no query string). */
#ifndef INV_API_ROUTER_H
#define INV_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define API_ROUTE_MAX_CAPS 4

/* True when path matches pattern; caps[0..*ncaps) then point into path at
 * the captured (non-empty) segments. A trailing slash does not match. */
bool api_route_match(const char *pattern, const char *path, struct slice *caps, size_t *ncaps);

#endif
