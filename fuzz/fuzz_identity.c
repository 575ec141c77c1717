/* libFuzzer target: identity_parse (src/hosts/identity.c), the
 * x-rh-identity header of every API request. The input is tried twice: as
 * the header value itself, and as the JSON inside it (base64-encoded here,
 * so mutations reach the identity rules). Never a crash or a leak; an
 * accepted identity keeps the rules; a refused one leaves out zeroed and
 * gives a UTF-8 reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hosts/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *encode(const uint8_t *s, size_t n, bool pad)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 5);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < n || pad)
            out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        if (i + 2 < n || pad)
            out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static bool clean(const char *s, size_t max, bool may_be_empty)
{
    size_t n = strlen(s);
    if ((!may_be_empty && n == 0) || n > max || !utf8_valid((const unsigned char *)s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void check(const char *text, size_t n)
{
    struct identity id;
    struct buf err;
    buf_init(&err, 1024);
    if (identity_parse(text, n, &id, &err) == 0) {
        if (!clean(id.org_id, IDENTITY_ORG_ID_MAX, false) ||
            !clean(id.account_number, IDENTITY_ACCOUNT_MAX, true) ||
            !clean(id.cn, IDENTITY_CN_MAX, id.type != IDENTITY_SYSTEM) ||
            (id.type != IDENTITY_SYSTEM && id.cn[0]) ||
            strcmp(identity_type_name(id.type), "unknown") == 0 || n > IDENTITY_B64_MAX)
            abort();
    } else {
        static const struct identity zero;
        if (memcmp(&id, &zero, sizeof(id)) != 0 || err.len == 0 ||
            !utf8_valid((const unsigned char *)err.ptr, err.len))
            abort();
    }
    buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size);
    char *text = encode(data, size, size & 1);
    check(text, strlen(text));
    free(text);
    return 0;
}
