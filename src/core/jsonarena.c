/* jansson allocations of a batch in a per-thread arena (jsonarena.h). */
#include "core/jsonarena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK (256 * 1024)      /* a batch of host messages fills a few */
#define KEEP  (4 * 1024 * 1024) /* kept over a reset, for the next batch */
#define ALIGN 16

struct json_arena_chunk {
    struct json_arena_chunk *next;
    size_t size, used;
    _Alignas(ALIGN) unsigned char data[];
};

static bool installed;
static _Thread_local struct json_arena *tl_arena; /* its blocks are not freed */
static _Thread_local bool tl_on;                  /* allocations go to tl_arena */

static struct json_arena_chunk *chunk_new(size_t size)
{
    struct json_arena_chunk *c = xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    POISON(c->data, size);
    return c;
}

static void *bump(struct json_arena *a, size_t n)
{
    if (n > SIZE_MAX - 2 * ALIGN)
        return NULL;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    struct json_arena_chunk *c = a->cur;
    if (need > CHUNK / 4) { /* its own chunk, after the current one */
        struct json_arena_chunk *big = chunk_new(need);
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = a->chunks;
            a->chunks = big;
        }
        c = big;
    } else {
        /* the next chunk with room (reset ones are empty), else a new one */
        while (c && c->size - c->used < need)
            c = c->next;
        if (!c) {
            c = chunk_new(CHUNK);
            c->next = a->chunks;
            a->chunks = c;
        }
        a->cur = c;
    }
    unsigned char *p = c->data + c->used;
    c->used += need;
    UNPOISON(p, n);
    return p;
}

static bool owns(const struct json_arena *a, const void *p)
{
    const unsigned char *q = p;
    for (const struct json_arena_chunk *c = a->chunks; c; c = c->next)
        if (q >= c->data && q < c->data + c->size)
            return true;
    return false;
}

static void *hook_malloc(size_t n)
{
    return tl_on && tl_arena ? bump(tl_arena, n) : malloc(n);
}

static void hook_free(void *p)
{
    if (p && tl_arena && owns(tl_arena, p))
        return; /* dropped with the arena */
    free(p);
}

void json_arena_install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
    installed = true;
}

bool json_arena_active(void)
{
    return installed;
}

void json_arena_begin(struct json_arena *a)
{
    if (!installed)
        return;
    tl_arena = a;
    tl_on = true;
}

void json_arena_end(void)
{
    tl_on = false;
}

void json_arena_reset(struct json_arena *a)
{
    size_t kept = 0;
    struct json_arena_chunk **link = &a->chunks;
    while (*link) {
        struct json_arena_chunk *c = *link;
        if (c->size == CHUNK && kept + c->size <= KEEP) {
            kept += c->size;
            c->used = 0;
            POISON(c->data, c->size);
            link = &c->next;
        } else {
            *link = c->next;
            free(c);
        }
    }
    a->cur = a->chunks;
}

void json_arena_release(struct json_arena *a)
{
    while (a->chunks) {
        struct json_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
    a->cur = NULL;
    if (tl_arena == a) {
        tl_arena = NULL;
        tl_on = false;
    }
}
