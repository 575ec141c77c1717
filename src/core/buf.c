/* Growable buffer with a hard cap. */
#include "core/buf.h"

#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

static int reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        buf_release(b);
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n = n > ((size_t)-1) / 2 ? need : n * 2;
    b->ptr = xrealloc(b->ptr, n);
    b->alloc = n;
    return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_add_json_string(struct buf *b, const char *s, size_t n)
{
    /* Runs of bytes that need no escape are copied at once. */
    static const char hex[] = "0123456789abcdef";
    if (buf_addc(b, '"') < 0)
        return -1;
    for (size_t i = 0;;) {
        size_t run = plain_run(s + i, n - i, '"');
        if (buf_add(b, s + i, run) < 0)
            return -1;
        i += run;
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i++];
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t len = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        if (buf_add(b, esc, len) < 0)
            return -1;
    }
    return buf_addc(b, '"');
}

int buf_add_copy_text(struct buf *b, const char *s, size_t n)
{
    if (!s)
        return buf_add(b, "\\N", 2);
    size_t run = 0;
    for (size_t i = 0;;) {
        i += plain_run(s + i, n - i, '\\');
        if (i == n)
            break;
        char c = s[i++];
        if (c != '\\' && c != '\t' && c != '\n' && c != '\r')
            continue; /* another control byte: COPY takes it as it is */
        char esc[2] = {'\\', c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\'};
        if (buf_add(b, s + run, i - 1 - run) < 0 || buf_add(b, esc, 2) < 0)
            return -1;
        run = i;
    }
    return buf_add(b, s + run, n - run);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const struct buf *b)
{
    return b->ptr ? b->ptr : "";
}

char *buf_detach(struct buf *b)
{
    char *p = b->ptr ? b->ptr : xstrdup("");
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void buf_setf(struct buf *b, const char *fmt, ...)
{
    if (!b)
        return;
    buf_reset(b);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vaddf(b, fmt, ap) < 0) {
        /* Over the cap: keep what fits so the caller still has a reason. */
        char tmp[512];
        va_end(ap);
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof(tmp), fmt, ap);
        size_t keep = strlen(tmp);
        if (keep > b->max)
            keep = b->max;
        if (buf_add(b, tmp, keep) < 0)
            buf_release(b);
    }
    va_end(ap);
}

void buf_put_i64(struct buf *b, int64_t v)
{
    char t[24];
    size_t k = sizeof(t);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do {
        t[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[--k] = '-';
    buf_put(b, t + k, sizeof(t) - k);
}

void buf_put_grow(struct buf *b, const void *p, size_t n)
{
    if (buf_add(b, p, n) < 0)
        abort();
}

void buf_putf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    if (rc < 0)
        abort();
}
