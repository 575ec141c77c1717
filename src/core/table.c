/* Table rendering. The text form copies the guide's layout: two leading
 * spaces, columns separated by two spaces, a rule two dashes wider than
 * the widest line under the header. */
#include "core/table.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/xalloc.h"

#define NA "N/A"

int out_format_parse(const char *s, enum out_format *out)
{
    if (strcasecmp(s, "table") == 0 || strcasecmp(s, "text") == 0)
        *out = OUT_TABLE;
    else if (strcasecmp(s, "json") == 0)
        *out = OUT_JSON;
    else if (strcasecmp(s, "csv") == 0)
        *out = OUT_CSV;
    else
        return -1;
    return 0;
}

void table_init(struct table *t, const struct tcol *cols, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->cols = cols;
    t->ncols = ncols;
}

void table_add_row(struct table *t, const char *const *cells)
{
    size_t need = (t->nrows + 1) * t->ncols;
    t->cells = xgrow(t->cells, &t->cap, need, sizeof(*t->cells));
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = cells[i] ? xstrdup(cells[i]) : NULL;
    t->nrows++;
}

void table_release(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

static const char *cell(const struct table *t, size_t r, size_t c)
{
    return t->cells[r * t->ncols + c];
}

static void print_text(const struct table *t, FILE *out)
{
    if (t->nrows == 0)
        return;
    size_t *w = xcalloc(t->ncols, sizeof(*w));
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = strlen(t->cols[c].header);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *v = cell(t, r, c);
            size_t l = strlen(v ? v : NA);
            if (l > w[c])
                w[c] = l;
        }
    }
    size_t total = 0;
    for (size_t c = 0; c < t->ncols; c++)
        total += 2 + w[c];
    for (size_t c = 0; c < t->ncols; c++) {
        if (c + 1 < t->ncols)
            fprintf(out, "  %-*s", (int)w[c], t->cols[c].header);
        else
            fprintf(out, "  %s\n", t->cols[c].header);
    }
    for (size_t i = 0; i < total + 2; i++)
        fputc('-', out);
    fputc('\n', out);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *v = cell(t, r, c);
            if (c + 1 < t->ncols)
                fprintf(out, "  %-*s", (int)w[c], v ? v : NA);
            else
                fprintf(out, "  %s\n", v ? v : NA);
        }
    }
    free(w);
}

static json_t *json_cell(const struct tcol *col, const char *v)
{
    if (!v)
        return json_null();
    switch (col->type) {
    case TCOL_INT: {
        char *end;
        long long n = strtoll(v, &end, 10);
        return *end ? json_string(v) : json_integer(n);
    }
    case TCOL_BOOL:
        return json_boolean(strcmp(v, "true") == 0);
    case TCOL_RAW: {
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(v);
    }
    case TCOL_STR:
        break;
    }
    return json_string(v);
}

static void print_json(const struct table *t, FILE *out)
{
    json_t *arr = json_array();
    for (size_t r = 0; r < t->nrows; r++) {
        json_t *obj = json_object();
        for (size_t c = 0; c < t->ncols; c++)
            json_object_set_new(obj, t->cols[c].json_key, json_cell(&t->cols[c], cell(t, r, c)));
        json_array_append_new(arr, obj);
    }
    json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(arr);
}

/* RFC 4180: quote fields holding a comma, quote or line break. */
static void csv_field(FILE *out, const char *v)
{
    if (!v)
        return;
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

static void print_csv(const struct table *t, FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        csv_field(out, t->cols[c].json_key);
        fputs(c + 1 < t->ncols ? "," : "\r\n", out);
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            csv_field(out, cell(t, r, c));
            fputs(c + 1 < t->ncols ? "," : "\r\n", out);
        }
}

void table_print(const struct table *t, enum out_format fmt, FILE *out)
{
    switch (fmt) {
    case OUT_TABLE:
        print_text(t, out);
        break;
    case OUT_JSON:
        print_json(t, out);
        break;
    case OUT_CSV:
        print_csv(t, out);
        break;
    }
}
