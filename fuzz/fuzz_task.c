/* libFuzzer target: task bodies read back from Redis are outside input
 * (another version, a bad actor, a corrupted store). Decoding must never
 * crash or leak, and what decodes must encode back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct task t;
    struct buf err, enc;
    task_init(&t);
    buf_init(&err, 256);
    buf_init(&enc, TASK_PAYLOAD_MAX + 4096);
    if (task_decode_msg(&t, (const char *)data, size, &err) == 0) {
        if (task_encode_msg(&t, &enc) != 0 || enc.len != size || memcmp(enc.ptr, data, size) != 0)
            abort();
    }
    (void)task_decode_info(&t, (const char *)data, size);
    (void)task_decode_state(&t, (const char *)data, size);
    task_release(&t);
    buf_release(&err);
    buf_release(&enc);
    return 0;
}
