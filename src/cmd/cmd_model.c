/* `inventory model ...`: list the registered models, query one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "db/model.h"
#include "db/pg.h"

static const struct tcol list_cols[] = {
    {"NAME", "name", TCOL_STR},
    {"TABLE", "table", TCOL_STR},
    {"DESCRIPTION", "description", TCOL_STR},
};

static void add_model(const struct model_def *m, void *arg)
{
    const char *row[] = {m->name, m->table, m->desc};
    table_add_row(arg, row);
}

static int model_ls(struct cli_ctx *ctx)
{
    struct table t;
    table_init(&t, list_cols, ARRAY_SIZE(list_cols));
    models_each(add_model, &t);
    table_print(&t, cmd_out(ctx), stdout);
    table_release(&t);
    return EXIT_OK;
}

static enum tcol_type tcol_of(enum col_type c)
{
    return c == COL_INT ? TCOL_INT : c == COL_BOOL ? TCOL_BOOL : TCOL_STR;
}

/* Header text: the column name upper-cased ("instance_id" -> "INSTANCE_ID"). */
static char *upper(const char *s)
{
    char *u = xstrdup(s);
    for (char *p = u; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static int model_query(struct cli_ctx *ctx)
{
    const struct model_def *m = model_find(cli_str(ctx, "model"));
    if (!m)
        return cli_fail(EXIT_USAGE, "unknown model \"%s\" (see 'inventory model list')",
                        cli_str(ctx, "model"));
    const char *const *filters = NULL;
    size_t nf = cli_list(ctx, "filter", &filters), ncols = model_ncols(m);
    struct buf sql, err;
    buf_init(&sql, 64 * 1024);
    buf_init(&err, 4096);
    const char **params = xcalloc(nf + 1, sizeof(*params));
    char **names = xcalloc(nf + 1, sizeof(*names));
    int rc = EXIT_FAIL;
    /* Columns: id, the model's, created_at, updated_at; all as text. */
    int ok = buf_adds(&sql, "SELECT id::text");
    for (size_t i = 0; i < ncols; i++)
        ok |= buf_addf(&sql, ", %s::text", m->cols[i].name);
    ok |= buf_addf(&sql, ", created_at::text, updated_at::text FROM %s AS m", m->table);
    for (size_t i = 0; i < nf; i++) {
        const char *eq = strchr(filters[i], '=');
        if (!eq || eq == filters[i]) {
            rc = cli_fail(EXIT_USAGE, "--filter \"%s\": expected column=value", filters[i]);
            goto out;
        }
        names[i] = xstrndup(filters[i], (size_t)(eq - filters[i]));
        if (model_col_index(m, names[i]) == -1) {
            rc = cli_fail(EXIT_USAGE, "--filter: model %s has no column \"%s\"", m->name, names[i]);
            goto out;
        }
        params[i] = eq + 1;
        /* The column name comes from the model table (checked above);
         * the value is a parameter. */
        ok |= buf_addf(&sql, "%s %s::text = $%zu", i ? " AND" : " WHERE", names[i], i + 1);
    }
    char limit[24];
    snprintf(limit, sizeof(limit), "%lld", (long long)cli_int(ctx, "limit"));
    params[nf] = limit;
    ok |= buf_addf(&sql, " ORDER BY m.id LIMIT $%zu", nf + 1);
    if (ok) {
        buf_setf(&err, "query too long");
        rc = cmd_fail_err(&err);
        goto out;
    }
    PGresult *r = pg_exec(ctx->db, buf_str(&sql), (int)nf + 1, params, &err);
    if (!r) {
        rc = cmd_fail_err(&err);
        goto out;
    }
    size_t nc = ncols + 3;
    struct tcol *cols = xcalloc(nc, sizeof(*cols));
    char **heads = xcalloc(nc, sizeof(*heads));
    for (size_t i = 0; i < nc; i++) {
        const char *name = i == 0           ? "id"
                           : i <= ncols     ? m->cols[i - 1].name
                           : i == ncols + 1 ? "created_at"
                                            : "updated_at";
        heads[i] = upper(name);
        cols[i] = (struct tcol){heads[i], name,
                                i == 0       ? TCOL_INT
                                : i <= ncols ? tcol_of(m->cols[i - 1].type)
                                             : TCOL_STR};
    }
    struct table t;
    table_init(&t, cols, nc);
    const char **row = xcalloc(nc, sizeof(*row));
    for (int k = 0; k < PQntuples(r); k++) {
        for (size_t i = 0; i < nc; i++)
            row[i] = PQgetisnull(r, k, (int)i) ? NULL : PQgetvalue(r, k, (int)i);
        /* PostgreSQL prints booleans as t/f. */
        for (size_t i = 1; i <= ncols; i++)
            if (m->cols[i - 1].type == COL_BOOL && row[i])
                row[i] = row[i][0] == 't' ? "true" : "false";
        table_add_row(&t, row);
    }
    table_print(&t, cmd_out(ctx), stdout);
    table_release(&t);
    free(row);
    for (size_t i = 0; i < nc; i++)
        free(heads[i]);
    free(heads);
    free(cols);
    PQclear(r);
    rc = EXIT_OK;
out:
    for (size_t i = 0; i < nf; i++)
        free(names[i]);
    free(names);
    free(params);
    buf_release(&sql);
    buf_release(&err);
    return rc;
}

static const struct cli_opt query_opts[] = {
    {"model", NULL, 'm', OPT_STRING, "NAME", "model to query, e.g. aws:model:instance", NULL, 0, 0,
     OPT_REQUIRED},
    {"filter", NULL, 'f', OPT_LIST, "COL=VALUE", "only rows whose column equals the value (repeat)",
     NULL, 0, 0, 0},
    {"limit", NULL, 'l', OPT_INT, "N", "at most N rows, by id", "100", 1, 1000000, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

const struct cli_cmd cmd_model_subs[] = {
    {"list", {"ls"}, "list registered models", NULL, NULL, model_ls, NULL, 0, NULL},
    {"query",
     {"q"},
     "query the rows of a model",
     NULL,
     query_opts,
     model_query,
     NULL,
     CMD_DB,
     "Prints id, the model's columns, created_at and updated_at. Filters compare the\n"
     "column's text form: --filter state=running --filter region_name=eu-west-1."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
