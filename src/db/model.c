/* Model registry and set-based upserts (see model.h). */
#include "db/model.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db/pg.h"

static const struct model_def *const sources[] = {
    aws_models,
    scan_models,
};

/* The longest array literal a column may reach before a flush is needed:
 * PostgreSQL takes up to 1 GB per parameter; batches stay far below. */
#define ARRAY_MAX (256u << 20)

const struct model_def *model_find(const char *name)
{
    for (size_t s = 0; s < ARRAY_SIZE(sources); s++)
        for (const struct model_def *m = sources[s]; m->name; m++)
            if (strcmp(m->name, name) == 0)
                return m;
    return NULL;
}

void models_each(void (*fn)(const struct model_def *m, void *arg), void *arg)
{
    for (size_t s = 0; s < ARRAY_SIZE(sources); s++)
        for (const struct model_def *m = sources[s]; m->name; m++)
            fn(m, arg);
}

size_t model_ncols(const struct model_def *m)
{
    size_t n = 0;
    while (m->cols[n].name)
        n++;
    return n;
}

int model_col_index(const struct model_def *m, const char *name)
{
    if (strcmp(name, "id") == 0 || strcmp(name, "created_at") == 0 ||
        strcmp(name, "updated_at") == 0)
        return -2;
    for (int i = 0; m->cols[i].name; i++)
        if (strcmp(m->cols[i].name, name) == 0)
            return i;
    return -1;
}

/* The value of column i as the statement selects it from the text arrays. */
static int add_value(struct buf *s, const struct model_col *col)
{
    switch (col->type) {
    case COL_TEXT:
        return buf_addf(s, "COALESCE(u.%s, '')", col->name);
    case COL_INT:
        return buf_addf(s, "COALESCE(u.%s::bigint, 0)", col->name);
    case COL_BOOL:
        return buf_addf(s, "COALESCE(u.%s::boolean, false)", col->name);
    case COL_TIME:
        return buf_addf(s, "u.%s::timestamptz", col->name);
    }
    return -1;
}

/* "(p.a, p.b COLLATE "C")": the newer tuple of m with prefix p (text in
 * byte order, whatever the database's collation). */
static int add_newer_tuple(struct buf *s, const struct model_def *m, const char *p)
{
    int rc = buf_addc(s, '(');
    for (size_t k = 0; m->newer[k]; k++) {
        int i = model_col_index(m, m->newer[k]);
        bool text = i >= 0 && m->cols[i].type == COL_TEXT;
        rc |= buf_addf(s, "%s%s.%s%s", k ? ", " : "", p, m->newer[k], text ? " COLLATE \"C\"" : "");
    }
    return rc | buf_addc(s, ')');
}

/* "INSERT INTO t AS t (cols) SELECT DISTINCT ON (u.key...) ": the head of
 * both upserts. */
static int add_insert_head(struct buf *s, const struct model_def *m, size_t ncols)
{
    int rc = buf_addf(s, "INSERT INTO %s AS t (", m->table);
    for (size_t i = 0; i < ncols; i++)
        rc |= buf_addf(s, "%s%s", i ? ", " : "", m->cols[i].name);
    rc |= buf_adds(s, ") SELECT DISTINCT ON (");
    for (size_t k = 0; m->key[k]; k++)
        rc |= buf_addf(s, "%su.%s", k ? ", " : "", m->key[k]);
    return rc | buf_adds(s, ") ");
}

/* " ON CONFLICT (key) DO UPDATE SET col = EXCLUDED.col, ..., updated_at =
 * now() [WHERE (newer) > (stored newer)]": the tail of both upserts. */
static int add_conflict_tail(struct buf *s, const struct model_def *m, size_t ncols)
{
    int rc = buf_adds(s, " ON CONFLICT (");
    for (size_t k = 0; m->key[k]; k++)
        rc |= buf_addf(s, "%s%s", k ? ", " : "", m->key[k]);
    rc |= buf_adds(s, ") DO UPDATE SET ");
    for (size_t i = 0; i < ncols; i++)
        rc |= buf_addf(s, "%s = EXCLUDED.%s, ", m->cols[i].name, m->cols[i].name);
    rc |= buf_adds(s, "updated_at = now()");
    if (m->newer) {
        rc |= buf_adds(s, " WHERE ");
        rc |= add_newer_tuple(s, m, "EXCLUDED");
        rc |= buf_adds(s, " > ");
        rc |= add_newer_tuple(s, m, "t");
    }
    return rc;
}

/* The upsert statement of m, built once per batch from the static model
 * description (identifiers only; every value is a parameter). */
static int build_sql(struct model_batch *b)
{
    const struct model_def *m = b->m;
    struct buf *s = &b->sql;
    int rc = add_insert_head(s, m, b->ncols);
    for (size_t i = 0; i < b->ncols; i++) {
        rc |= i ? buf_adds(s, ", ") : 0;
        rc |= add_value(s, &m->cols[i]);
    }
    rc |= buf_adds(s, " FROM unnest(");
    for (size_t i = 0; i < b->ncols; i++)
        rc |= buf_addf(s, "%s$%zu::text[]", i ? ", " : "", i + 1);
    rc |= buf_adds(s, ") WITH ORDINALITY AS u(");
    for (size_t i = 0; i < b->ncols; i++)
        rc |= buf_addf(s, "%s, ", m->cols[i].name);
    rc |= buf_adds(s, "ord__) ORDER BY ");
    for (size_t k = 0; m->key[k]; k++)
        rc |= buf_addf(s, "u.%s, ", m->key[k]);
    /* Within the batch: the newest row of a key, else the last one. */
    for (size_t k = 0; m->newer && m->newer[k]; k++) {
        int i = model_col_index(m, m->newer[k]);
        rc |= i < 0 ? -1 : add_value(s, &m->cols[i]);
        rc |= buf_adds(s, m->cols[i < 0 ? 0 : i].type == COL_TEXT ? " COLLATE \"C\" DESC, "
                                                                  : " DESC, ");
    }
    rc |= buf_adds(s, "u.ord__ DESC");
    rc |= add_conflict_tail(s, m, b->ncols);
    return rc ? -1 : 0;
}

void model_batch_init(struct model_batch *b, const struct model_def *m)
{
    memset(b, 0, sizeof(*b));
    b->m = m;
    b->ncols = model_ncols(m);
    b->arrays = xcalloc(b->ncols, sizeof(*b->arrays));
    for (size_t i = 0; i < b->ncols; i++)
        buf_init(&b->arrays[i], ARRAY_MAX);
    buf_init(&b->sql, 64 * 1024);
}

void model_batch_release(struct model_batch *b)
{
    for (size_t i = 0; i < b->ncols; i++)
        buf_release(&b->arrays[i]);
    free(b->arrays);
    buf_release(&b->sql);
    memset(b, 0, sizeof(*b));
}

/* Appends one array element: NULL, or a double-quoted string with '"' and
 * '\' escaped (the array input syntax). */
static int add_elem(struct buf *a, const char *v)
{
    if (buf_addc(a, a->len ? ',' : '{') < 0)
        return -1;
    if (!v)
        return buf_adds(a, "NULL");
    if (buf_addc(a, '"') < 0)
        return -1;
    const char *run = v;
    for (const char *p = v;; p++) {
        if (*p == '"' || *p == '\\' || *p == '\0') {
            if (buf_add(a, run, (size_t)(p - run)) < 0)
                return -1;
            if (*p == '\0')
                break;
            if (buf_addc(a, '\\') < 0 || buf_addc(a, *p) < 0)
                return -1;
            run = p + 1;
        }
    }
    return buf_addc(a, '"');
}

int model_batch_add(struct model_batch *b, const char *const *values)
{
    for (size_t i = 0; i < b->ncols; i++)
        if (add_elem(&b->arrays[i], values[i]) < 0) {
            /* A failed append released that column: the batch is unusable
             * until flushed; drop it whole rather than misalign rows. */
            for (size_t j = 0; j < b->ncols; j++)
                buf_reset(&b->arrays[j]);
            b->nrows = 0;
            return -1;
        }
    b->nrows++;
    return 0;
}

int model_batch_flush(struct model_batch *b, PGconn *c, long long *affected, struct buf *err)
{
    if (affected)
        *affected = 0;
    if (b->nrows == 0)
        return 0;
    if (b->sql.len == 0 && build_sql(b) < 0) {
        buf_setf(err, "%s: cannot build the upsert statement", b->m->table);
        return -1;
    }
    const char **params = xcalloc(b->ncols, sizeof(*params));
    for (size_t i = 0; i < b->ncols; i++) {
        if (buf_addc(&b->arrays[i], '}') < 0) {
            free(params);
            buf_setf(err, "%s: batch too large", b->m->table);
            return -1;
        }
        params[i] = buf_str(&b->arrays[i]);
    }
    char what[128];
    snprintf(what, sizeof(what), "upsert %s", b->m->table);
    PGresult *r = pg_exec(c, buf_str(&b->sql), (int)b->ncols, params, err);
    free(params);
    int rc = -1;
    if (r) {
        if (affected)
            *affected = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        rc = 0;
    } else {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: %s", what, buf_str(err));
        buf_setf(err, "%s", msg);
    }
    for (size_t i = 0; i < b->ncols; i++)
        buf_reset(&b->arrays[i]);
    b->nrows = 0;
    return rc;
}

/* ---- COPY into a staging table (latest-wins models) ---- */

static const char *sql_type(enum col_type t)
{
    switch (t) {
    case COL_INT:
        return "bigint";
    case COL_BOOL:
        return "boolean";
    case COL_TIME:
        return "timestamptz";
    case COL_TEXT:
        break;
    }
    return "text";
}

void model_copy_init(struct model_copy *b, const struct model_def *m)
{
    memset(b, 0, sizeof(*b));
    b->m = m;
    b->ncols = model_ncols(m);
    buf_init(&b->rows, ARRAY_MAX);
    buf_init(&b->stage, 16 * 1024);
    buf_init(&b->merge, 64 * 1024);
}

void model_copy_release(struct model_copy *b)
{
    buf_release(&b->rows);
    buf_release(&b->stage);
    buf_release(&b->merge);
    memset(b, 0, sizeof(*b));
}

int model_copy_add(struct model_copy *b, const char *const *values)
{
    for (size_t i = 0; i < b->ncols; i++)
        if ((i && buf_addc(&b->rows, '\t') < 0) ||
            buf_add_copy_text(&b->rows, values[i], values[i] ? strlen(values[i]) : 0) < 0 ||
            (i + 1 == b->ncols && buf_addc(&b->rows, '\n') < 0)) {
            /* A failed append released the buffer: the batch is lost whole. */
            buf_reset(&b->rows);
            b->nrows = 0;
            return -1;
        }
    b->nrows++;
    return 0;
}

/* The staging table and the merge statement of m (identifiers only). */
static int build_copy_sql(struct model_copy *b)
{
    const struct model_def *m = b->m;
    struct buf *s = &b->stage, *q = &b->merge;
    int rc = buf_addf(s,
                      "SET LOCAL client_min_messages = warning; "
                      "CREATE TEMP TABLE IF NOT EXISTS stage_%s (",
                      m->table);
    for (size_t i = 0; i < b->ncols; i++)
        rc |= buf_addf(s, "%s%s %s", i ? ", " : "", m->cols[i].name, sql_type(m->cols[i].type));
    rc |= buf_adds(s, ") ON COMMIT DELETE ROWS");
    rc |= add_insert_head(q, m, b->ncols);
    for (size_t i = 0; i < b->ncols; i++)
        rc |= buf_addf(q, "%su.%s", i ? ", " : "", m->cols[i].name);
    rc |= buf_addf(q, " FROM stage_%s AS u ORDER BY ", m->table);
    for (size_t k = 0; m->key[k]; k++)
        rc |= buf_addf(q, "u.%s, ", m->key[k]);
    for (size_t k = 0; m->newer[k]; k++) {
        int i = model_col_index(m, m->newer[k]);
        bool text = i >= 0 && m->cols[i].type == COL_TEXT;
        rc |=
            buf_addf(q, "%su.%s%s DESC", k ? ", " : "", m->newer[k], text ? " COLLATE \"C\"" : "");
    }
    rc |= add_conflict_tail(q, m, b->ncols);
    return rc ? -1 : 0;
}

/* Runs sql expecting `want`; -1 with err otherwise. */
static int exec_expect(PGconn *c, const char *sql, ExecStatusType want, PGresult **out,
                       struct buf *err)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != want) {
        pg_seterr(err, NULL, c, r);
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

int model_copy_flush(struct model_copy *b, PGconn *c, long long *affected, struct buf *err)
{
    if (affected)
        *affected = 0;
    if (b->nrows == 0)
        return 0;
    if (!b->m->newer || (b->merge.len == 0 && build_copy_sql(b) < 0)) {
        buf_setf(err, "%s: cannot build the COPY statements", b->m->table);
        return -1;
    }
    char copy[256];
    snprintf(copy, sizeof(copy), "COPY stage_%s FROM STDIN", b->m->table);
    PGresult *merged = NULL;
    int rc = -1;
    if (exec_expect(c, "BEGIN", PGRES_COMMAND_OK, NULL, err) < 0)
        goto out;
    if (exec_expect(c, buf_str(&b->stage), PGRES_COMMAND_OK, NULL, err) < 0 ||
        exec_expect(c, copy, PGRES_COPY_IN, NULL, err) < 0)
        goto rollback;
    if (PQputCopyData(c, b->rows.ptr, (int)b->rows.len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        pg_seterr(err, "copy", c, NULL);
        goto rollback;
    }
    PGresult *r = PQgetResult(c);
    bool copied = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!copied)
        pg_seterr(err, "copy", c, r);
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    if (!copied || exec_expect(c, buf_str(&b->merge), PGRES_COMMAND_OK, &merged, err) < 0 ||
        exec_expect(c, "COMMIT", PGRES_COMMAND_OK, NULL, err) < 0)
        goto rollback;
    if (affected)
        *affected = strtoll(PQcmdTuples(merged), NULL, 10);
    rc = 0;
    buf_reset(&b->rows); /* committed: the batch is empty again */
    b->nrows = 0;
    goto out;
rollback:
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "ROLLBACK"));
out:
    PQclear(merged);
    return rc;
}
