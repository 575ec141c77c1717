#include "api/openapi.h"

#include "core/util.h"

json_t *api_openapi(const struct config *cfg)
{
    (void)cfg;
    return json_pack("{s:s,s:{s:s,s:s},s:{}}", "openapi", "3.1.0", "info", "title", "Inventory API",
                     "version", INV_VERSION, "paths");
}
