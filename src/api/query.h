/* The REST API's request language, free of I/O: query-string parsing
 * (percent-decoding, limits), list parameters of a model (filters, sort,
 * fields, limit, cursor, total) checked against the model registry, the
 * parameterised SQL they become, and the opaque keyset cursor codec.
 * Identifiers in the SQL come from the registry only; every value travels
 * as a $n parameter. See docs/api.md. */
#ifndef INV_API_QUERY_H
#define INV_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "db/model.h"

#define API_MAX_ARGS       64   /* query-string parameters per request */
#define API_MAX_IN         1000 /* values of one col__in= */
#define API_MAX_CURSOR     1024 /* characters of a next= cursor */
#define API_DEFAULT_LIMIT  100
#define API_MAX_SQL_PARAMS (API_MAX_ARGS + 4)

/* One decoded key=value of a query string (both owned). */
struct api_arg {
    char *key, *val;
};

/* Parses the query string qs (without '?'; NULL or "" is none) into *out
 * (caller api_args_free). '+' is a space; %XX must be two hex digits; NUL
 * bytes, empty keys, repeated keys and more than API_MAX_ARGS parameters are
 * refused. -1 with a reason for the client in reason. */
int api_args_parse(const char *qs, struct api_arg **out, size_t *n, struct buf *reason) MUSTCHECK;
void api_args_free(struct api_arg *a, size_t n);

/* A column as the API sees it: a model column or id/created_at/updated_at. */
struct api_col {
    const char *name; /* borrowed from the registry */
    enum col_type type;
};

/* Finds name among m's columns (and id, created_at, updated_at); -1 if none. */
int api_col_find(const struct model_def *m, const char *name, struct api_col *out) MUSTCHECK;

enum api_op { API_EQ = 0, API_IN, API_PREFIX, API_GT, API_GTE, API_LT, API_LTE };

struct api_filter {
    struct api_col col;
    enum api_op op;
    char *value; /* owned; normalised text, an array literal for API_IN */
};

/* The parameters of GET /api/v1/<source>/<model>. */
struct api_list {
    const struct model_def *m;
    struct api_filter *filters; /* owned */
    size_t nfilters;
    struct api_col sort; /* default id */
    bool desc;
    char *sortspec;         /* owned: "id", "-launch_time" (bound into cursors) */
    struct api_col *fields; /* owned; every column when fields= is absent */
    size_t nfields;
    int64_t limit;
    bool total;
    bool has_cursor;
    char *cur_val; /* owned; NULL = SQL NULL (time columns) */
    int64_t cur_id;
};

/* Checks args against m: known parameters and columns, operators that fit
 * the column type, well-formed values, limit in 1..max_page, a cursor made
 * for the same sort. -1 with a client-facing reason (naming the culprit);
 * l is then released. */
int api_list_parse(const struct model_def *m, const struct api_arg *args, size_t nargs,
                   int64_t max_page, struct api_list *l, struct buf *reason) MUSTCHECK;
void api_list_release(struct api_list *l);

/* A statement and its text parameters (owned). */
struct api_sql {
    struct buf sql;
    char *params[API_MAX_SQL_PARAMS];
    int nparams;
};

void api_sql_init(struct api_sql *q);
void api_sql_release(struct api_sql *q);

/* The page query: columns id, the sort key (cursor form), then l->fields
 * (timestamps as RFC 3339 text); limit + 1 rows to learn whether a next page
 * exists. With count, the count(*) of the filtered rows instead. -1 when the
 * statement would exceed its cap. */
int api_list_sql(const struct api_list *l, bool count, struct api_sql *q) MUSTCHECK;

/* The SELECT list item for one column (timestamps as RFC 3339 text). */
int api_col_select(struct buf *b, const struct api_col *c) MUSTCHECK;

/* Cursor: base64url (no padding) of {"s": sortspec, "v": key, "i": id}.
 * key is the sort key's text from the page query (NULL for SQL NULL).
 * Returns a malloc'd string. */
char *api_cursor_encode(const char *sortspec, enum col_type t, const char *key, int64_t id);
/* Decodes and validates a cursor for sortspec/type t: *key (malloc'd, NULL
 * for null) and *id. -1 with a reason on anything forged or garbled. */
int api_cursor_decode(const char *s, const char *sortspec, enum col_type t, char **key, int64_t *id,
                      struct buf *reason) MUSTCHECK;

/* RFC 3339 date-time ("2024-06-03T09:41:03Z", fraction and +HH:MM offset
 * optional) or a full date ("2024-06-03"); calendar-checked. */
bool api_valid_time(const char *s);

/* Base64url without padding; decode is strict (alphabet, length, zero
 * trailing bits). decode returns the byte count or -1; out must hold
 * len * 3 / 4 + 1 bytes. */
char *api_b64url_encode(const unsigned char *p, size_t n);
long api_b64url_decode(const char *s, size_t len, unsigned char *out);

#endif
