/* Path routing for the REST API (see router.h). */
#include "api/router.h"

#include <string.h>

bool api_route_match(const char *pattern, const char *path, struct slice *caps, size_t *ncaps)
{
    const char *p = pattern, *u = path;
    size_t n = 0;
    if (*p != '/' || *u != '/')
        return false;
    while (*p == '/' && *u == '/') {
        p++;
        u++;
        size_t pl = strcspn(p, "/"), ul = strcspn(u, "/");
        if (ul == 0)
            return false;
        if (*p == ':') {
            if (n == API_ROUTE_MAX_CAPS)
                return false;
            caps[n++] = (struct slice){u, ul};
        } else if (pl != ul || memcmp(p, u, pl) != 0) {
            return false;
        }
        p += pl;
        u += ul;
    }
    if (*p || *u)
        return false;
    *ncaps = n;
    return true;
}
