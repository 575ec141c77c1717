/* Models: the tables of collected data, described once in static tables per
 * data source (src/sources/<name>/models.c) and used by the set-based
 * upserts, the housekeeper, `inventory model ...` and the API. Every model
 * table has id (bigserial), its columns, created_at and updated_at; a
 * natural unique key; link tables join two models by id. */
#ifndef INV_MODEL_H
#define INV_MODEL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum col_type { COL_TEXT = 0, COL_INT, COL_BOOL, COL_TIME };

struct model_col {
    const char *name;
    enum col_type type;
    bool nullable; /* the column may hold NULL (the API and OpenAPI say so) */
};

struct model_def {
    const char *name;  /* "aws:model:instance" */
    const char *table; /* "aws_instance" */
    const char *desc;
    const struct model_col *cols; /* data columns in insert order, {NULL} terminated */
    const char *const *key;       /* natural key columns, NULL terminated */
    /* Link tables only: the two models joined ("<a>_id", "<b>_id"). */
    const char *link_a, *link_b; /* model names, or NULL for entities */
    /* The REST API path below /api/v1/: "<source>/<plural>" for entities
     * ("aws/instances"), "<source>/link_<a>_to_<b>" for link tables. */
    const char *route;
    /* Latest-wins models only (NULL otherwise): the columns, in order, whose
     * tuple decides which of two rows with one key is newer (text compared
     * in byte order). The upsert keeps the newest row of a batch and
     * replaces a stored row only with a strictly newer one. */
    const char *const *newer;
};

/* Every model of every source, in registration order; NULL when unknown. */
const struct model_def *model_find(const char *name);
void models_each(void (*fn)(const struct model_def *m, void *arg), void *arg);
/* Index of column name in m->cols, or -1 (id, created_at, updated_at: -2). */
int model_col_index(const struct model_def *m, const char *name);
size_t model_ncols(const struct model_def *m);

/* Per-source tables, terminated by a row with name NULL. */
extern const struct model_def aws_models[];
extern const struct model_def scan_models[];

/* A batch of rows for one set-based upsert:
 *   INSERT INTO t (cols) SELECT DISTINCT ON (key) ... FROM unnest($1::text[], ...)
 *   ON CONFLICT (key) DO UPDATE SET col = EXCLUDED.col, ..., updated_at = now()
 * The last row of a key in the batch wins, or with m->newer the newest,
 * and then only when newer than the stored row (... WHERE (newer) > (...)).
 * Values are text (NULL = SQL NULL) cast to the column types by the
 * statement; the arrays travel as parameters, never as SQL text. */
struct model_batch {
    const struct model_def *m;
    size_t ncols, nrows;
    struct buf *arrays; /* one array literal per column, being built */
    struct buf sql;
};

void model_batch_init(struct model_batch *b, const struct model_def *m);
void model_batch_release(struct model_batch *b);
/* Adds one row: values[i] for m->cols[i] (NULL = SQL NULL). -1 when a value
 * holds a NUL byte or the batch is too large (flush first). */
int model_batch_add(struct model_batch *b, const char *const *values) MUSTCHECK;
/* Upserts the rows (nothing when empty) and empties the batch; *affected
 * (optional) counts them. -1 with err on a database error. */
int model_batch_flush(struct model_batch *b, PGconn *c, long long *affected,
                      struct buf *err) MUSTCHECK;

#define MODEL_BATCH_ROWS 1000 /* rows per statement the collectors aim for */

/* The same upsert for latest-wins models (m->newer) through COPY: rows as
 * COPY text into a temporary staging table of the session, merged by one
 *   INSERT INTO t SELECT DISTINCT ON (key) ... FROM stage ORDER BY key, newer DESC
 *   ON CONFLICT (key) DO UPDATE ... WHERE (newer) > (stored newer)
 * in one transaction. bench/ingest_method measured it 40-50% faster than
 * the UNNEST statement for batches of 5,000 (docs/ingest.md). */
struct model_copy {
    const struct model_def *m;
    size_t ncols, nrows;
    struct buf rows;         /* COPY text format, one line per row */
    struct buf stage, merge; /* SQL, built on first use */
};

void model_copy_init(struct model_copy *b, const struct model_def *m);
void model_copy_release(struct model_copy *b);
/* Adds one row (values as for model_batch_add); -1 when the batch is full. */
int model_copy_add(struct model_copy *b, const char *const *values) MUSTCHECK;
/* Upserts the rows in one transaction and empties the batch; -1 with err
 * (rolled back), the rows kept for a retry. */
int model_copy_flush(struct model_copy *b, PGconn *c, long long *affected,
                     struct buf *err) MUSTCHECK;

#endif
