/* Unit tests: core/jsonarena (jansson allocations of a batch in an arena):
 * trees built in it work and their frees are no-ops, heap trees and
 * json_dumps texts stay ordinary, a reset reuses the memory, big blocks
 * get their own chunk, and other threads never use it. Under
 * AddressSanitizer a tree read after its reset would be reported. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jsonarena.h"
#include "hosts/host.h"

static json_t *tree(int i)
{
    return json_pack("{s:i, s:s, s:[i, i, {s:b}], s:o}", "n", i, "name", "host.example.com", "list",
                     1, 2, "deep", 1, "more", json_string("x"));
}

static void test_trees_in_the_arena(void **state)
{
    (void)state;
    struct json_arena a = {0};
    json_t *heap = tree(-1); /* before: from the heap */
    for (int round = 0; round < 3; round++) {
        json_arena_begin(&a);
        json_t *t[200];
        for (int i = 0; i < 200; i++)
            t[i] = tree(i);
        json_arena_end();
        json_t *after = tree(-2); /* after end: the heap again */
        for (int i = 0; i < 200; i++) {
            assert_int_equal(json_integer_value(json_object_get(t[i], "n")), i);
            json_decref(t[i]); /* frees nothing, does not crash */
        }
        char *text = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS); /* free()d as usual */
        assert_non_null(strstr(text, "\"n\":-2"));
        free(text);
        json_decref(after);
        json_arena_reset(&a);
        assert_non_null(a.chunks); /* kept for the next round */
    }
    assert_int_equal(json_integer_value(json_object_get(heap, "n")), -1);
    json_decref(heap);
    json_arena_release(&a);
    assert_null(a.chunks);
}

static void test_big_blocks_and_many_chunks(void **state)
{
    (void)state;
    struct json_arena a = {0};
    json_arena_begin(&a);
    char *big = malloc(1 << 20);
    memset(big, 'b', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    json_t *s = json_string(big); /* a block larger than a chunk */
    json_t *arr = json_array();
    for (int i = 0; i < 20000; i++) /* several chunks, and the array's growth */
        json_array_append_new(arr, json_integer(i));
    json_arena_end();
    free(big);
    assert_int_equal(strlen(json_string_value(s)), (1 << 20) - 1);
    assert_int_equal(json_array_size(arr), 20000);
    assert_int_equal(json_integer_value(json_array_get(arr, 19999)), 19999);
    json_arena_reset(&a); /* the big chunk goes, small ones stay (up to 4 MB) */
    assert_non_null(a.chunks);
    json_arena_release(&a);
}

static void *other_thread(void *arg)
{
    (void)arg;
    json_t *t = tree(7); /* this thread has no arena: the heap */
    char *text = json_dumps(t, JSON_COMPACT);
    free(text);
    json_decref(t);
    return NULL;
}

static void test_other_threads_use_the_heap(void **state)
{
    (void)state;
    struct json_arena a = {0};
    json_arena_begin(&a);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    json_arena_end();
    json_arena_release(&a);
}

/* A host message parsed in the arena (tags deduplicated through their
 * JSON text, which must not be a json_dumps text from the arena). */
static void test_host_message_in_the_arena(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r1\","
        "\"b64_identity\":\"eyJpZGVudGl0eSI6eyJvcmdfaWQiOiJvMSIsInR5cGUiOiJVc2VyIn19\"},"
        "\"data\":{\"org_id\":\"o1\",\"insights_id\":\"7e5b5a5e-1f6c-4a39-9d36-c7d6d2b1c0aa\","
        "\"tags\":[{\"namespace\":\"a\",\"key\":\"k\",\"value\":\"v\"},"
        "{\"namespace\":\"a\",\"key\":\"k\",\"value\":\"v\"}],"
        "\"facts\":[{\"namespace\":\"n\",\"facts\":{\"x\":1}}]}}";
    struct json_arena a = {0};
    for (int round = 0; round < 2; round++) {
        json_arena_begin(&a);
        struct host_msg m;
        enum host_invalid why = host_message_parse(msg, sizeof(msg) - 1, 1 << 20, &m, NULL);
        json_arena_end();
        assert_int_equal(why, HOST_OK);
        assert_int_equal(json_array_size(m.host.tags), 1);
        assert_int_equal(json_array_size(m.host.facts), 1);
        host_in_forget_json(&m.host);
        host_msg_release(&m);
        json_arena_reset(&a);
    }
    json_arena_release(&a);
}

int main(void)
{
    json_arena_install(); /* before any json_t */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees_in_the_arena),
        cmocka_unit_test(test_big_blocks_and_many_chunks),
        cmocka_unit_test(test_other_threads_use_the_heap),
        cmocka_unit_test(test_host_message_in_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
