/* libFuzzer target: the REST API's query-string and filter parser
 * (api_args_parse, api_list_parse, api_list_sql) on arbitrary bytes, for
 * every model of the registry picked by the first byte. Checks: a refusal
 * always carries a reason; the statement text of an accepted request does
 * not depend on the values (it is the same with every filter value and the
 * cursor replaced), so values only ever travel as parameters; a cursor made
 * for the parsed sort decodes back. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pick {
    size_t want, seen;
    const struct model_def *m;
};

static void pick_model(const struct model_def *m, void *arg)
{
    struct pick *p = arg;
    if (p->seen++ == p->want)
        p->m = m;
}

/* The statement text of l (count or page); malloc'd, NULL if too long. */
static char *sql_of(const struct api_list *l, bool count)
{
    struct api_sql q;
    api_sql_init(&q);
    char *out = api_list_sql(l, count, &q) == 0 ? buf_detach(&q.sql) : NULL;
    api_sql_release(&q);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    struct pick p = {data[0] % 32, 0, NULL};
    models_each(pick_model, &p);
    if (!p.m) {
        p.want = 0;
        p.seen = 0;
        models_each(pick_model, &p);
    }
    char *qs = malloc(size);
    memcpy(qs, data + 1, size - 1);
    qs[size - 1] = '\0';
    struct api_arg *args;
    size_t nargs;
    struct buf reason;
    buf_init(&reason, 1024);
    if (api_args_parse(qs, &args, &nargs, &reason) < 0) {
        if (!buf_str(&reason)[0])
            abort();
        goto out;
    }
    struct api_list l;
    if (api_list_parse(p.m, args, nargs, 1000, &l, &reason) < 0) {
        if (!buf_str(&reason)[0])
            abort();
        api_args_free(args, nargs);
        goto out;
    }
    for (int count = 0; count < 2; count++) {
        char *sql = sql_of(&l, count);
        /* The same request with other values must give the same text. */
        char **saved = calloc(l.nfilters + 1, sizeof(*saved));
        for (size_t i = 0; i < l.nfilters; i++) {
            saved[i] = l.filters[i].value;
            l.filters[i].value = (char *)"x";
        }
        char *cur_val = l.cur_val;
        int64_t cur_id = l.cur_id;
        l.cur_val = (char *)"1";
        l.cur_id = 1;
        char *other = sql_of(&l, count);
        for (size_t i = 0; i < l.nfilters; i++)
            l.filters[i].value = saved[i];
        l.cur_val = cur_val;
        l.cur_id = cur_id;
        free(saved);
        if ((sql == NULL) != (other == NULL) || (sql && strcmp(sql, other) != 0))
            abort();
        free(sql);
        free(other);
    }
    const char *key = l.sort.type == COL_TEXT ? "x\"y" : l.sort.type == COL_BOOL ? "t" : "12";
    char *cur = api_cursor_encode(l.sortspec, l.sort.type, key, 5);
    char *back = NULL;
    int64_t id;
    if (api_cursor_decode(cur, l.sortspec, l.sort.type, &back, &id, &reason) < 0 || id != 5 ||
        !back)
        abort();
    free(back);
    free(cur);
    api_list_release(&l);
    api_args_free(args, nargs);
out:
    buf_release(&reason);
    free(qs);
    return 0;
}
