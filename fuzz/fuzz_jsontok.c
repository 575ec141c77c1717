/* libFuzzer target: the JSON tokenizer (src/core/jsontok.c) against
 * jansson, and scan_parse (src/ingest/scans.c) on the same bytes.
 * - jt_parse and jansson agree on what is JSON, but for the limits each
 *   has (our depth and token limits; jansson's number ranges, NUL in keys
 *   and stopping at a raw NUL byte);
 * - a top-level string decodes to jansson's bytes;
 * - an accepted scan message has a canonical ip, a response that is UTF-8
 *   without NUL, and fields in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jsontok.h"
#include "core/util.h"
#include "ingest/scans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tokens(const char *s, size_t n)
{
    struct jt t[256];
    const char *why = NULL;
    int count = jt_parse(s, n, t, 256, &why);
    json_error_t jerr;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    /* jansson's own limits: number ranges, no NUL in object keys. */
    if (count >= 0 && !j && !strstr(jerr.text, "too big") && !strstr(jerr.text, "overflow") &&
        !strstr(jerr.text, "NUL"))
        abort();
    /* jansson stops at a raw NUL byte, which JSON never allows. */
    if (count < 0 && j && strcmp(why, "nested too deeply") != 0 &&
        strcmp(why, "too many values") != 0 && !memchr(s, 0, n))
        abort();
    if (count > 0 && j && t[0].type == JT_STRING) {
        char *out = malloc(n + 1);
        long len = jt_string(s, &t[0], out, n + 1);
        if (len < 0 || (size_t)len != json_string_length(j) ||
            memcmp(out, json_string_value(j), (size_t)len) != 0)
            abort();
        free(out);
    }
    for (int i = 0; i < count; i++)
        if (t[i].next <= (uint32_t)i || t[i].next > (uint32_t)count || t[i].end > n)
            abort();
    json_decref(j);
}

static void check_scan(const char *s, size_t n)
{
    struct scan_msg m;
    struct buf detail;
    buf_init(&detail, 512);
    enum scan_invalid r = scan_parse(s, n, 1 << 16, &m, &detail);
    if (r != SCAN_OK) {
        if (detail.len == 0 || m.response)
            abort();
    } else {
        char again[64];
        if (scan_ip_canonical(m.ip, again, sizeof(again)) < 0 || strcmp(again, m.ip) != 0 ||
            m.port < 1 || m.port > 65535 || m.ts < 0 || !m.service[0] ||
            !utf8_valid((const unsigned char *)m.response, m.response_len) ||
            memchr(m.response, 0, m.response_len) || m.response[m.response_len] != '\0')
            abort();
        scan_msg_release(&m);
    }
    buf_release(&detail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_tokens((const char *)data, size);
    check_scan((const char *)data, size);
    return 0;
}
