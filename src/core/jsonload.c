/* jsonload: jansson trees from the strict tokenizer (see jsonload.h). */
#include "core/jsonload.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsontok.h"
#include "core/util.h"

/* The tree of tokens t[*k] (moving *k past it) as jansson builds it with
 * JSON_REJECT_DUPLICATES; NULL with *odd set where jansson's answer could
 * differ: a key given twice, a NUL character, a number out of jansson's
 * ranges. */
static json_t *tree(const char *s, const struct jt *t, int *k, bool *odd);

/* A string token's bytes into small (or an allocation, *heap), NUL-terminated;
 * its length or -1 when it holds a NUL character. */
static long token_text(const char *s, const struct jt *t, char *small, size_t cap, char **heap)
{
    size_t n = t->end - t->start;
    char *out = n < cap ? small : (*heap = xmalloc(n + 1));
    if (!t->escaped) { /* no control character: the tokenizer checked */
        memcpy(out, s + t->start, n);
        out[n] = '\0';
        return (long)n;
    }
    long len = jt_string(s, t, out, n + 1);
    return len < 0 || memchr(out, 0, (size_t)len) ? -1 : len;
}

static json_t *number(const char *s, const struct jt *t, bool *odd)
{
    if (t->integer) {
        int64_t v;
        if (jt_int64(s, t, &v) < 0) {
            *odd = true; /* jansson: "too big integer" */
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    char text[64];
    size_t n = t->end - t->start;
    if (n >= sizeof(text)) {
        *odd = true;
        return NULL;
    }
    memcpy(text, s + t->start, n);
    text[n] = '\0';
    errno = 0;
    double v = strtod(text, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE) {
        *odd = true; /* jansson: "real number overflow" */
        return NULL;
    }
    return json_real(v);
}

static json_t *tree(const char *s, const struct jt *t, int *k, bool *odd)
{
    const struct jt *v = &t[*k];
    int end = (int)v->next;
    char small[256], *heap = NULL;
    long len;
    json_t *r = NULL;
    switch (v->type) {
    case JT_OBJECT:
        r = json_object();
        for (int i = *k + 1; i < end && !*odd; free(heap), heap = NULL) {
            len = token_text(s, &t[i++], small, sizeof(small), &heap);
            if (len < 0) {
                *odd = true;
            } else {
                /* A repeated key replaces the value without growing the
                 * object: one hash lookup a member, not two. */
                size_t had = json_object_size(r);
                json_t *x = tree(s, t, &i, odd);
                if (x && (json_object_set_new_nocheck(r, heap ? heap : small, x) < 0 ||
                          json_object_size(r) == had))
                    *odd = true;
            }
        }
        break;
    case JT_ARRAY:
        r = json_array();
        for (int i = *k + 1; i < end && !*odd;) {
            json_t *x = tree(s, t, &i, odd);
            if (x)
                json_array_append_new(r, x);
        }
        break;
    case JT_STRING:
        len = token_text(s, v, small, sizeof(small), &heap);
        if (len < 0)
            *odd = true;
        else
            r = json_stringn_nocheck(heap ? heap : small, (size_t)len);
        free(heap);
        break;
    case JT_NUMBER:
        r = number(s, v, odd);
        break;
    case JT_TRUE:
        r = json_true();
        break;
    case JT_FALSE:
        r = json_false();
        break;
    case JT_NULL:
        r = json_null();
        break;
    }
    if (*odd) {
        json_decref(r);
        r = NULL;
    }
    *k = end;
    return r;
}

json_t *jsonload(const char *msg, size_t len, json_error_t *jerr)
{
    struct jt t[512]; /* a message of a few KiB; longer ones go to jansson */
    const char *why = NULL;
    int n = len < UINT32_MAX ? jt_parse(msg, len, t, ARRAY_SIZE(t), &why) : -1;
    json_t *root = NULL;
    bool odd = n <= 0 || (t[0].type != JT_OBJECT && t[0].type != JT_ARRAY);
    if (!odd) {
        int k = 0;
        root = tree(msg, t, &k, &odd);
    }
    return odd ? json_loadb(msg, len, JSON_REJECT_DUPLICATES, jerr) : root;
}
