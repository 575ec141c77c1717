/* A strict, allocation-free JSON tokenizer (RFC 8259) for hot paths that
 * read small messages field by field: the whole text is checked (UTF-8,
 * grammar, escapes, surrogate pairs, nesting depth) and cut into a flat
 * array of tokens, values in document order, each with the index of the
 * token after its subtree. Strings are decoded on demand.
 *
 *   struct jt t[64];
 *   int n = jt_parse(text, len, t, 64, &why);
 *   if (n < 0) ... why ...
 *   for (int k = 1; k < t[0].next; k = t[k + 1].next)   // members of t[0]
 *       if (jt_eq(text, &t[k], "port")) jt_int64(text, &t[k + 1], &port);
 */
#ifndef INV_JSONTOK_H
#define INV_JSONTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xalloc.h"

#define JT_MAX_DEPTH 32

enum jt_type { JT_OBJECT, JT_ARRAY, JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL };

struct jt {
    enum jt_type type;
    uint32_t start, end; /* bytes; a string's are inside its quotes */
    uint32_t next;       /* index of the first token after this value (and its members) */
    bool escaped;        /* a string holding backslash escapes */
    bool integer;        /* a number without fraction or exponent */
};

/* Tokenizes the n bytes of s (one JSON value, surrounding whitespace
 * allowed); the number of tokens, or -1 with a static reason in *why. An
 * object's members are key and value tokens in turn. */
int jt_parse(const char *s, size_t n, struct jt *t, size_t max, const char **why) MUSTCHECK;

/* True if string token t equals the NUL-terminated key (escapes decoded). */
bool jt_eq(const char *s, const struct jt *t, const char *key);

/* Decodes string token t into out (cap bytes, NUL-terminated); its length,
 * or -1 when it does not fit. \u0000 decodes to a NUL byte. */
long jt_string(const char *s, const struct jt *t, char *out, size_t cap);

/* An integer token's value; -1 when t is not an integer or overflows. */
int jt_int64(const char *s, const struct jt *t, int64_t *v) MUSTCHECK;

#endif
