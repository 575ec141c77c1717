/* Strict JSON tokenizer (see jsontok.h). */
#include "core/jsontok.h"

#include <string.h>

#include "core/util.h"

struct parser {
    const char *s;
    size_t n, pos;
    struct jt *t;
    size_t max, count;
    const char *why;
    int depth;
};

static int fail(struct parser *p, const char *why)
{
    if (!p->why)
        p->why = why;
    return -1;
}

static void ws(struct parser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static long add(struct parser *p, enum jt_type type)
{
    if (p->count == p->max)
        return fail(p, "too many values");
    struct jt *t = &p->t[p->count];
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->start = (uint32_t)p->pos;
    return (long)p->count++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* A \uXXXX escape at s[i] (the backslash), with its low surrogate when it
 * is a high one: the code point and the bytes taken, or -1. */
static int unicode_escape(const char *s, size_t i, size_t n, unsigned *cp)
{
    unsigned hi, lo;
    if (i + 6 > n || hex4(s + i + 2, &hi) < 0)
        return -1;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return -1;
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return 6;
    }
    if (i + 12 > n || s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s + i + 8, &lo) < 0 ||
        lo < 0xdc00 || lo > 0xdfff)
        return -1;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return 12;
}

static int string(struct parser *p, long idx)
{
    p->pos++; /* the opening quote */
    p->t[idx].start = (uint32_t)p->pos;
    while (p->pos < p->n) {
        p->pos += plain_run(p->s + p->pos, p->n - p->pos, '"');
        if (p->pos == p->n)
            break;
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->t[idx].end = (uint32_t)p->pos++;
            return 0;
        }
        if (c < 0x20)
            return fail(p, "control character in a string");
        if (c != '\\') {
            p->pos++;
            continue;
        }
        p->t[idx].escaped = true;
        if (p->pos + 1 >= p->n)
            break;
        char e = p->s[p->pos + 1];
        if (e == 'u') {
            unsigned cp;
            int used = unicode_escape(p->s, p->pos, p->n, &cp);
            if (used < 0)
                return fail(p, "bad \\u escape");
            p->pos += (size_t)used;
        } else if (strchr("\"\\/bfnrt", e) && e) {
            p->pos += 2;
        } else {
            return fail(p, "bad escape");
        }
    }
    return fail(p, "unterminated string");
}

static void digits(struct parser *p)
{
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
}

static int number(struct parser *p, long idx)
{
    const char *s = p->s;
    bool integer = true;
    if (s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->n && s[p->pos] == '0')
        p->pos++;
    else if (p->pos < p->n && s[p->pos] >= '1' && s[p->pos] <= '9')
        digits(p);
    else
        return fail(p, "bad number");
    if (p->pos < p->n && s[p->pos] == '.') {
        integer = false;
        size_t at = ++p->pos;
        digits(p);
        if (p->pos == at)
            return fail(p, "bad number");
    }
    if (p->pos < p->n && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        integer = false;
        p->pos++;
        if (p->pos < p->n && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        size_t at = p->pos;
        digits(p);
        if (p->pos == at)
            return fail(p, "bad number");
    }
    p->t[idx].end = (uint32_t)p->pos;
    p->t[idx].integer = integer;
    return 0;
}

static int literal(struct parser *p, long idx, const char *word)
{
    size_t len = strlen(word);
    if (p->n - p->pos < len || memcmp(p->s + p->pos, word, len) != 0)
        return fail(p, "unexpected character");
    p->pos += len;
    p->t[idx].end = (uint32_t)p->pos;
    return 0;
}

static int value(struct parser *p);

/* The members or elements of an object or array; p->pos at the opener. */
static int container(struct parser *p, long idx, bool object)
{
    char close = object ? '}' : ']';
    if (++p->depth > JT_MAX_DEPTH)
        return fail(p, "nested too deeply");
    p->pos++;
    ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (object) {
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return fail(p, "expected a string key");
            long k = add(p, JT_STRING);
            if (k < 0 || string(p, k) < 0)
                return -1;
            p->t[k].next = (uint32_t)p->count;
            ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':')
                return fail(p, "expected ':'");
            p->pos++;
            ws(p);
        }
        if (value(p) < 0)
            return -1;
        ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            ws(p);
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            p->t[idx].end = (uint32_t)p->pos;
            p->depth--;
            return 0;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int value(struct parser *p)
{
    if (p->pos >= p->n)
        return fail(p, "unexpected end");
    char c = p->s[p->pos];
    long idx;
    int rc;
    switch (c) {
    case '{':
    case '[':
        idx = add(p, c == '{' ? JT_OBJECT : JT_ARRAY);
        rc = idx < 0 ? -1 : container(p, idx, c == '{');
        break;
    case '"':
        idx = add(p, JT_STRING);
        rc = idx < 0 ? -1 : string(p, idx);
        break;
    case 't':
        idx = add(p, JT_TRUE);
        rc = idx < 0 ? -1 : literal(p, idx, "true");
        break;
    case 'f':
        idx = add(p, JT_FALSE);
        rc = idx < 0 ? -1 : literal(p, idx, "false");
        break;
    case 'n':
        idx = add(p, JT_NULL);
        rc = idx < 0 ? -1 : literal(p, idx, "null");
        break;
    default:
        if (c != '-' && (c < '0' || c > '9'))
            return fail(p, "unexpected character");
        idx = add(p, JT_NUMBER);
        rc = idx < 0 ? -1 : number(p, idx);
    }
    if (rc == 0)
        p->t[idx].next = (uint32_t)p->count;
    return rc;
}

int jt_parse(const char *s, size_t n, struct jt *t, size_t max, const char **why)
{
    struct parser p = {.s = s, .n = n, .t = t, .max = max};
    if (n > UINT32_MAX - 1) {
        *why = "text too long";
        return -1;
    }
    if (!utf8_valid((const unsigned char *)s, n)) {
        *why = "invalid UTF-8";
        return -1;
    }
    ws(&p);
    if (value(&p) == 0) {
        ws(&p);
        if (p.pos != n)
            fail(&p, "text after the value");
    }
    if (p.why) {
        *why = p.why;
        return -1;
    }
    return (int)p.count;
}

/* Appends code point cp as UTF-8; the bytes written (cp is valid). */
static size_t utf8_put(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

long jt_string(const char *s, const struct jt *t, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = t->start; i < t->end;) {
        char tmp[4];
        size_t len;
        const char *from = tmp;
        if (s[i] != '\\') {
            /* A run without escapes at once. */
            const char *bs = memchr(s + i, '\\', t->end - i);
            len = (bs ? (size_t)(bs - s) : t->end) - i;
            from = s + i;
            i += len;
        } else {
            char e = s[i + 1];
            static const char from_esc[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *k = strchr(from_esc, e);
            if (e == 'u') {
                unsigned cp = 0;
                int used = unicode_escape(s, i, t->end, &cp);
                if (used < 0)
                    return -1; /* cannot happen after jt_parse */
                len = utf8_put(cp, tmp);
                i += (size_t)used;
            } else if (k && e) {
                tmp[0] = to[k - from_esc];
                len = 1;
                i += 2;
            } else {
                return -1;
            }
        }
        if (o + len >= cap)
            return -1;
        memcpy(out + o, from, len);
        o += len;
    }
    out[o] = '\0';
    return (long)o;
}

bool jt_eq(const char *s, const struct jt *t, const char *key)
{
    size_t n = strlen(key);
    if (t->type != JT_STRING)
        return false;
    if (!t->escaped)
        return t->end - t->start == n && memcmp(s + t->start, key, n) == 0;
    char buf[128];
    long len = jt_string(s, t, buf, sizeof(buf));
    return len >= 0 && (size_t)len == n && memcmp(buf, key, n) == 0;
}

int jt_int64(const char *s, const struct jt *t, int64_t *v)
{
    if (t->type != JT_NUMBER || !t->integer)
        return -1;
    size_t i = t->start;
    bool neg = s[i] == '-';
    i += neg;
    uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < t->end; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (limit - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}
