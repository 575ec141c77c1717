/* Aligned text tables as in the operations guide, plus JSON and CSV
 * renderings of the same rows (`-o table|json|csv`). */
#ifndef INV_TABLE_H
#define INV_TABLE_H

#include <stddef.h>
#include <stdio.h>

enum out_format { OUT_TABLE = 0, OUT_JSON, OUT_CSV };

enum tcol_type {
    TCOL_STR = 0, /* JSON string */
    TCOL_INT,     /* JSON number (the cell holds decimal digits) */
    TCOL_BOOL,    /* JSON true/false (cell "true"/"false") */
    TCOL_RAW,     /* JSON text inserted as is (cell must be valid JSON) */
};

struct tcol {
    const char *header;   /* "GROUP-ID" */
    const char *json_key; /* "group_id" */
    enum tcol_type type;
};

struct table {
    const struct tcol *cols;
    size_t ncols;
    char **cells; /* nrows * ncols, owned; NULL cell = N/A (null in JSON) */
    size_t nrows, cap;
};

int out_format_parse(const char *s, enum out_format *out);

void table_init(struct table *t, const struct tcol *cols, size_t ncols);
/* Appends a row of ncols cells (copied; NULL allowed). */
void table_add_row(struct table *t, const char *const *cells);
/* Prints the table; nothing at all in table form when there are no rows,
 * "[]" in JSON. */
void table_print(const struct table *t, enum out_format fmt, FILE *out);
void table_release(struct table *t);

#endif
