/* Unit tests: queue/task codecs and the worker's pure policies (retry
 * backoff, queue order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/task.h"
#include "queue/worker.h"

static void fill(struct task *t, const char *type, const char *payload)
{
    task_init(t);
    task_new_id(t->id);
    t->type = xstrdup(type);
    t->payload_len = strlen(payload);
    t->payload = (unsigned char *)xstrdup(payload);
    t->max_retry = 7;
    t->timeout_ms = 1500;
    t->deadline_ms = 1700000000000LL;
    t->retention_ms = 3600000;
    t->created_ms = 1690000000123LL;
}

static void test_msg_roundtrip(void **state)
{
    (void)state;
    struct task a, b;
    struct buf enc, err;
    fill(&a, "aws:task:collect-instances", "{\"account_id\":\"123\",\"region\":\"eu-1\"}");
    buf_init(&enc, BUF_NOLIMIT);
    buf_init(&err, 256);
    assert_int_equal(task_encode_msg(&a, &enc), 0);
    task_init(&b);
    assert_int_equal(task_decode_msg(&b, enc.ptr, enc.len, &err), 0);
    assert_string_equal(b.type, a.type);
    assert_int_equal(b.payload_len, a.payload_len);
    assert_memory_equal(b.payload, a.payload, a.payload_len);
    assert_int_equal(b.max_retry, 7);
    assert_int_equal(b.timeout_ms, 1500);
    assert_int_equal(b.deadline_ms, 1700000000000LL);
    assert_int_equal(b.retention_ms, 3600000);
    assert_int_equal(b.created_ms, 1690000000123LL);
    /* Binary payloads survive, NULs included. */
    free(a.payload);
    a.payload = xmalloc(4);
    memcpy(a.payload, "\0\1\2\3", 4);
    a.payload_len = 4;
    buf_reset(&enc);
    assert_int_equal(task_encode_msg(&a, &enc), 0);
    assert_int_equal(task_decode_msg(&b, enc.ptr, enc.len, &err), 0);
    assert_int_equal(b.payload_len, 4);
    assert_memory_equal(b.payload, "\0\1\2\3", 4);
    task_release(&a);
    task_release(&b);
    buf_release(&enc);
    buf_release(&err);
}

static void test_msg_corrupt(void **state)
{
    (void)state;
    struct task a, b;
    struct buf enc, err;
    fill(&a, "t", "{}");
    buf_init(&enc, BUF_NOLIMIT);
    buf_init(&err, 256);
    assert_int_equal(task_encode_msg(&a, &enc), 0);
    /* Every truncation, and every single-byte change of the header, is
     * refused or decodes to something sane, never read out of bounds. */
    for (size_t cut = 0; cut < enc.len; cut++) {
        task_init(&b);
        assert_int_equal(task_decode_msg(&b, enc.ptr, cut, &err), -1);
        task_release(&b);
    }
    char *extra = xmalloc(enc.len + 1);
    memcpy(extra, enc.ptr, enc.len);
    extra[enc.len] = 'x';
    task_init(&b);
    assert_int_equal(task_decode_msg(&b, extra, enc.len + 1, &err), -1);
    assert_non_null(strstr(buf_str(&err), "corrupt task message"));
    task_release(&b);
    extra[0] = 'X';
    assert_int_equal(task_decode_msg(&b, extra, enc.len, &err), -1);
    assert_non_null(strstr(buf_str(&err), "bad magic"));
    /* A type length pointing past the end. */
    memcpy(extra, enc.ptr, enc.len);
    extra[4] = (char)0xff;
    assert_int_equal(task_decode_msg(&b, extra, enc.len, &err), -1);
    task_release(&b);
    free(extra);
    /* Encoding refuses what it could not decode back. */
    free(a.type);
    a.type = xstrdup("");
    buf_reset(&enc);
    assert_int_equal(task_encode_msg(&a, &enc), -1);
    task_release(&a);
    buf_release(&enc);
    buf_release(&err);
}

static void test_info_and_state(void **state)
{
    (void)state;
    struct task t;
    struct buf b;
    task_init(&t);
    buf_init(&b, BUF_NOLIMIT);
    t.retried = 3;
    t.max_retry = 25;
    t.last_failed_ms = 1700000000000LL;
    t.error = xstrdup("boom\twith tab\nand newline");
    assert_int_equal(task_encode_info(&t, &b), 0);
    assert_string_equal(buf_str(&b), "3\t25\t1700000000000\t0\tboom with tab\nand newline");
    struct task u;
    task_init(&u);
    assert_int_equal(task_decode_info(&u, b.ptr, b.len), 0);
    assert_int_equal(u.retried, 3);
    assert_int_equal(u.max_retry, 25);
    assert_int_equal(u.last_failed_ms, 1700000000000LL);
    assert_string_equal(u.error, "boom with tab\nand newline");
    static const char *const bad[] = {"", "1", "1\t2\t3\t4", "x\t2\t3\t4\te", "-1\t2\t3\t4\t"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(task_decode_info(&u, bad[i], strlen(bad[i])), -1);
    assert_int_equal(task_decode_state(&u, "retry:1700000000001", 19), 0);
    assert_int_equal(u.state, TASK_RETRY);
    assert_int_equal(u.state_since_ms, 1700000000001LL);
    assert_int_equal(task_decode_state(&u, "weird:1", 7), -1);
    assert_int_equal(task_decode_state(&u, "pending", 7), -1);
    task_release(&t);
    task_release(&u);
    buf_release(&b);
    char id[TASK_ID_MAX];
    task_new_id(id);
    assert_int_equal(strlen(id), 36);
    assert_true(task_id_valid(id));
    assert_false(task_id_valid("has space"));
    assert_false(task_id_valid("x{y}"));
}

static void test_retry_delay(void **state)
{
    (void)state;
    static const struct {
        int retried;
        double rnd;
        int64_t want;
    } rows[] = {
        {1, 0.5, 1000},   {2, 0.5, 2000},     {3, 0.5, 4000},      {1, 0.0, 750},
        {1, 0.999, 1249}, {20, 0.5, 3600000}, {200, 0.0, 2700000},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        int64_t d = worker_retry_delay(rows[i].retried, 1000, 3600000, rows[i].rnd);
        if (d != rows[i].want)
            fail_msg("retried %d rnd %.3f: %lld, want %lld", rows[i].retried, rows[i].rnd,
                     (long long)d, (long long)rows[i].want);
    }
}

static uint64_t lcg = 42;
static double pseudo(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static void test_queue_order(void **state)
{
    (void)state;
    struct worker_queue q[3] = {{"low", 1}, {"high", 6}, {"mid", 3}};
    size_t order[3];
    worker_queue_order(q, 3, true, pseudo, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    int first[3] = {0, 0, 0};
    for (int i = 0; i < 10000; i++) {
        worker_queue_order(q, 3, false, pseudo, order);
        assert_true(order[0] != order[1] && order[1] != order[2] && order[0] != order[2]);
        first[order[0]]++;
    }
    /* Each queue comes first in proportion to its priority (1:6:3). */
    assert_in_range(first[0], 800, 1200);
    assert_in_range(first[1], 5700, 6300);
    assert_in_range(first[2], 2700, 3300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_roundtrip),  cmocka_unit_test(test_msg_corrupt),
        cmocka_unit_test(test_info_and_state), cmocka_unit_test(test_retry_delay),
        cmocka_unit_test(test_queue_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
