/* Allocation wrappers that abort with a message on out-of-memory. */
#ifndef INV_XALLOC_H
#define INV_XALLOC_H

#include <stddef.h>

#define MUSTCHECK         __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))

/* All return memory the caller owns (free()); none returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array of `size`-byte items to hold at least `need` items. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
