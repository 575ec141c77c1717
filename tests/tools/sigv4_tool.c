/* Test helper: signs requests read as JSON lines on stdin with the project's
 * SigV4 code and prints one JSON line per request:
 *   in:  {"method","path","query","headers":[[name,value],...],
 *         "payload_hash","service","region","amz_date",
 *         "access_key_id","secret_access_key","session_token"?}
 *   out: {"authorization","canonical","verified":true|false}
 * tests/integration/test_sigv4.py compares the output with botocore's signer
 * and feeds botocore-signed requests back for verification. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sources/aws/sigv4.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t je;
        json_t *in = json_loadb(line, (size_t)n, 0, &je);
        if (!in) {
            fprintf(stderr, "bad input: %s\n", je.text);
            return 2;
        }
        json_t *hs = json_object_get(in, "headers");
        size_t nh = json_array_size(hs);
        struct sigv4_kv *h = calloc(nh ? nh : 1, sizeof(*h));
        for (size_t i = 0; i < nh; i++) {
            h[i].name = json_string_value(json_array_get(json_array_get(hs, i), 0));
            h[i].value = json_string_value(json_array_get(json_array_get(hs, i), 1));
        }
        struct sigv4_request r = {str(in, "method"),
                                  str(in, "path"),
                                  str(in, "query"),
                                  h,
                                  nh,
                                  str(in, "payload_hash"),
                                  str(in, "service"),
                                  str(in, "region"),
                                  str(in, "amz_date")};
        struct aws_creds c = {str(in, "access_key_id"), str(in, "secret_access_key"),
                              str(in, "session_token")};
        struct buf auth, canon, sh, err;
        buf_init(&auth, 1 << 16);
        buf_init(&canon, 1 << 20);
        buf_init(&sh, 1 << 16);
        buf_init(&err, 1024);
        json_t *out = json_object();
        if (sigv4_authorization(&r, &c, &auth, &err) < 0 ||
            sigv4_canonical_request(&r, &canon, &sh) < 0) {
            json_object_set_new(out, "error", json_string(buf_str(&err)));
        } else {
            json_object_set_new(out, "authorization", json_string(buf_str(&auth)));
            json_object_set_new(out, "canonical", json_string(buf_str(&canon)));
        }
        /* Encode "params" ([[k, v], ...]) as a wire query, in the given order. */
        json_t *ps = json_object_get(in, "params");
        if (ps) {
            struct buf q;
            buf_init(&q, 1 << 20);
            for (size_t i = 0; i < json_array_size(ps); i++)
                if (sigv4_query_add(&q, json_string_value(json_array_get(json_array_get(ps, i), 0)),
                                    json_string_value(json_array_get(json_array_get(ps, i), 1))) <
                    0)
                    break;
            json_object_set_new(out, "query_encoded", json_string(buf_str(&q)));
            buf_release(&q);
        }
        /* Verify the request's own Authorization header if it has one. */
        const char *given = NULL;
        for (size_t i = 0; i < nh; i++)
            if (h[i].name && strcasecmp(h[i].name, "authorization") == 0)
                given = h[i].value;
        if (given) {
            struct sigv4_auth a;
            buf_reset(&err);
            bool ok = sigv4_parse_authorization(given, &a, &err) == 0;
            if (ok) {
                r.service = a.service;
                r.region = a.region;
                ok = sigv4_verify(&r, &a, c.secret_access_key, &err) == 0;
            }
            json_object_set_new(out, "verified", json_boolean(ok));
            if (!ok)
                json_object_set_new(out, "verify_error", json_string(buf_str(&err)));
        }
        char *text = json_dumps(out, JSON_COMPACT);
        puts(text);
        fflush(stdout);
        free(text);
        json_decref(out);
        json_decref(in);
        free(h);
        buf_release(&auth);
        buf_release(&canon);
        buf_release(&sh);
        buf_release(&err);
    }
    free(line);
    return 0;
}
