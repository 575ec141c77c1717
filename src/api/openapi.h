/* The OpenAPI 3.1 description of the REST API, served at
 * GET /api/v1/openapi.json. Built from the route list and the model
 * registry, so every model route and its filter parameters are described
 * as the server implements them. See docs/api.md. */
#ifndef INV_API_OPENAPI_H
#define INV_API_OPENAPI_H

#include <jansson.h>

#include "core/config.h"

/* The document for a server running with cfg (api.auth decides whether read
 * routes need a token, api.max_page_size bounds limit= and size=). A new
 * reference (caller decrefs); NULL only when out of memory. */
json_t *api_openapi(const struct config *cfg);

#endif
