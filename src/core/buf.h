/* Growable byte buffer with a hard cap (curl's dynbuf shape) and a
 * non-owning slice. A buf is always NUL-terminated once it holds data. */
#ifndef INV_BUF_H
#define INV_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/xalloc.h"

#define BUF_NOLIMIT ((size_t)-1)

struct buf {
    char *ptr;    /* owned; NULL until the first append */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* refuse to grow past this many bytes of content */
};

/* A view into someone else's memory; never freed through the slice. */
struct slice {
    const char *p;
    size_t len;
};

void buf_init(struct buf *b, size_t max);
/* Frees the contents; the buf can be reused afterwards. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Appends return 0, or -1 when the cap would be exceeded (the buf is then
 * released, as curl's dynbuf does, so a half-written value is never used). */
int buf_add(struct buf *b, const void *p, size_t n) MUSTCHECK;
int buf_adds(struct buf *b, const char *s) MUSTCHECK;
int buf_addc(struct buf *b, char c) MUSTCHECK;
int buf_addf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3) MUSTCHECK;
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) MUSTCHECK;
/* Appends n bytes of s as a quoted JSON string: '"', '\\', and control
 * characters escaped; other bytes (UTF-8) copied as they are. */
int buf_add_json_string(struct buf *b, const char *s, size_t n) MUSTCHECK;
/* Appends n bytes of s as one value of COPY's text format: \N for NULL s;
 * backslash, tab, newline and carriage return escaped (so no line is ever
 * a lone "\."), other bytes as they are. */
int buf_add_copy_text(struct buf *b, const char *s, size_t n) MUSTCHECK;
/* Never NULL: "" for an empty buffer. */
/* Appends that cannot fail, for buffers without a cap (BUF_NOLIMIT):
 * allocation failure aborts (xalloc), so a refusal would be a bug. */
void buf_put_grow(struct buf *b, const void *p, size_t n);
/* Inline: the writers of COPY rows, events and commands append a few bytes
 * at a time, and the room is nearly always there. */
static inline void buf_put(struct buf *b, const void *p, size_t n)
{
    if (n >= b->alloc - b->len || n > b->max - b->len) {
        buf_put_grow(b, p, n);
        return;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}
static inline void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}
static inline void buf_putc(struct buf *b, char c)
{
    buf_put(b, &c, 1);
}
void buf_putf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* v in decimal, as "%lld" writes it, without printf's cost. */
void buf_put_i64(struct buf *b, int64_t v);

const char *buf_str(const struct buf *b);
/* Hands the contents to the caller (free()), leaving the buf empty. */
char *buf_detach(struct buf *b);

/* Replaces the contents with a formatted message; for error reporting, where
 * a truncated message is better than none. NULL b is allowed (no-op). */
void buf_setf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

static inline struct slice slice_of(const char *s)
{
    struct slice v = {s, 0};
    while (s && s[v.len])
        v.len++;
    return v;
}

#endif
