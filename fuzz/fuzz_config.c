/* libFuzzer target: config_load_string on arbitrary bytes. Besides crashes
 * and leaks (ASan/LSan), checks the error contract: exactly one line that
 * starts with the input's name, and a result that can be finished again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    struct buf err;

    config_init(&cfg);
    buf_init(&err, 4096);
    if (config_load_string(&cfg, "fuzz.yaml", (const char *)data, size, &err) < 0) {
        const char *msg = buf_str(&err);
        /* The environment is not touched here, so every error is the
         * file's. */
        if (strncmp(msg, "fuzz.yaml", 9) != 0 || strchr(msg, '\n'))
            abort();
    } else if (config_finish(&cfg, &err) < 0) {
        /* Finishing is idempotent: an accepted config stays accepted. */
        abort();
    }
    config_release(&cfg);
    buf_release(&err);
    return 0;
}
