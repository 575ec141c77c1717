/* libFuzzer target: payload_to_json (scheduler.jobs[].payload) on arbitrary
 * bytes. Accepted input must yield JSON that jansson reads back and that
 * converts to itself (a fixed point); rejected input must give a reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err;
    char *out = NULL;
    buf_init(&err, 4096);
    if (payload_to_json((const char *)data, size, &out, &err) < 0) {
        if (out || err.len == 0)
            abort();
        buf_release(&err);
        return 0;
    }
    json_t *j = json_loads(out, JSON_DECODE_ANY, NULL);
    if (!j)
        abort();
    json_decref(j);
    char *again = NULL;
    if (payload_to_json(out, strlen(out), &again, &err) < 0 || strcmp(out, again) != 0)
        abort();
    free(again);
    free(out);
    buf_release(&err);
    return 0;
}
