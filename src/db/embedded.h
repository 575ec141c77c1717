/* Files compiled into the binary by tools/embed (migrations). */
#ifndef INV_EMBEDDED_H
#define INV_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* base name, e.g. "20240522121536_add_aws_region.up.sql" */
    const char *data; /* NUL-terminated contents */
    size_t len;
};

extern const struct embedded_file embedded_migrations[];
extern const size_t embedded_migrations_count;

#endif
