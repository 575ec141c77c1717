/* An arena for jansson's allocations, per thread: the trees a consumer
 * builds for one batch of messages (dozens of small nodes each) are
 * allocated by bumping a pointer and dropped all at once, instead of one
 * malloc and one free per node (a fifth of the host consumer's CPU went to
 * malloc, free and free's walk of the trees).
 *
 *   json_arena_install();           once, in main(), before any json_t exists
 *   struct json_arena a = {0};
 *   json_arena_begin(&a);           this thread's jansson allocations go to a
 *   ... json_loadb / jsonload ...
 *   json_arena_end();               back to malloc
 *   ... use the trees; json_decref of them frees nothing ...
 *   json_arena_reset(&a);           every tree allocated in a is gone
 *   json_arena_release(&a);
 *
 * jansson's free hook frees nothing that lies in the thread's arena and
 * passes everything else to free(), so trees from the heap stay ordinary.
 * What jansson hands out to be free()d (json_dumps) must not be made while
 * an arena is on: use json_dump_callback. Without json_arena_install()
 * jansson keeps malloc/free and an arena is never used. Under
 * AddressSanitizer a reset poisons the arena's memory, so a tree used
 * after its batch is still reported. */
#ifndef INV_CORE_JSONARENA_H
#define INV_CORE_JSONARENA_H

#include <stdbool.h>
#include <stddef.h>

struct json_arena_chunk;

struct json_arena {
    struct json_arena_chunk *chunks; /* all of them */
    struct json_arena_chunk *cur;    /* the one being filled */
};

/* Routes jansson's allocations through the arena hooks (process-wide). */
void json_arena_install(void);

/* Until json_arena_end(), the calling thread's jansson allocations come
 * from a (no-op when json_arena_install() was not called). */
void json_arena_begin(struct json_arena *a);
void json_arena_end(void);

/* True when json_arena_install() was called: arena trees need no decref. */
bool json_arena_active(void);

/* Drops everything allocated in a; keeps up to 4 MB of its chunks. */
void json_arena_reset(struct json_arena *a);

/* Frees a's chunks. */
void json_arena_release(struct json_arena *a);

#endif
