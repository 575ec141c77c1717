/* Unit tests: core/metrics (registry, recording, text exposition 0.0.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

/* Every registry carries the dropped-series counter; test families are named
 * "t_..." so they sort after it. */
#define DROPPED_HEAD                                                                               \
    "# HELP inventory_metrics_dropped_series_total Label-value combinations not recorded "         \
    "because their metric reached its series limit.\n"                                             \
    "# TYPE inventory_metrics_dropped_series_total counter\n"
#define DROPPED_ZERO DROPPED_HEAD "inventory_metrics_dropped_series_total 0\n"

#define L(...) ((const char *const[]){__VA_ARGS__})

static char *render(struct metrics_registry *reg)
{
    struct buf b;
    buf_init(&b, BUF_NOLIMIT);
    assert_int_equal(metrics_render(reg, &b), 0);
    return buf_detach(&b);
}

/* Value of the sample line starting with `series` + ' ', or NaN. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

/* ---- rendering: one registry per row, exact text ---- */

static void build_counter(struct metrics_registry *reg)
{
    struct metric *m = metrics_counter(reg, "t_requests_total", "Requests served.", 0, NULL);
    metrics_inc(m, NULL, 1);
    metrics_inc(m, NULL, 2);
    metrics_inc(m, NULL, -5);  /* counters only go up */
    metrics_inc(m, NULL, NAN); /* ignored too */
}

static void build_counter_labels(struct metrics_registry *reg)
{
    struct metric *m =
        metrics_counter(reg, "t_tasks_total", "Tasks by outcome.", 2, L("queue", "outcome"));
    metrics_inc(m, L("sync", "ok"), 1);
    metrics_inc(m, L("default", "ok"), 4);
    metrics_inc(m, L("default", "error"), 0.5);
    metrics_inc(m, L("sync", "ok"), 1);
    /* Registered but never used: no HELP/TYPE lines. */
    metrics_counter(reg, "t_unused_total", "Never incremented.", 1, L("x"));
}

static void build_gauge(struct metrics_registry *reg)
{
    struct metric *g = metrics_gauge(reg, "t_temperature", "Degrees.", 0, NULL);
    metrics_set(g, NULL, 21.5);
    metrics_inc(g, NULL, -1.25);
    metrics_gauge(reg, "t_idle", "Untouched.", 0, NULL); /* label-less: rendered from the start */
}

static void build_histogram(struct metrics_registry *reg)
{
    static const double bounds[] = {0.25, 0.5, 1, INFINITY}; /* +Inf is implicit */
    struct metric *h = metrics_histogram(reg, "t_latency_seconds", "Latency.", 0, NULL,
                                         ARRAY_SIZE(bounds), bounds);
    /* Bounds are inclusive: 0.25 and 1 land in their own bucket. */
    static const double obs[] = {0.125, 0.25, 0.375, 2, 1, 0.75};
    for (size_t i = 0; i < ARRAY_SIZE(obs); i++)
        metrics_observe(h, NULL, obs[i]);
}

static void build_histogram_labels(struct metrics_registry *reg)
{
    static const double bounds[] = {1, 10};
    struct metric *h =
        metrics_histogram(reg, "t_size_bytes", "Sizes.", 1, L("kind"), ARRAY_SIZE(bounds), bounds);
    metrics_observe(h, L("b"), 10);
    metrics_observe(h, L("a"), 0.25);
    metrics_observe(h, L("a"), 100);
    /* No bounds at all: only the +Inf bucket. */
    struct metric *h0 = metrics_histogram(reg, "t_zero_buckets", "Only +Inf.", 0, NULL, 0, NULL);
    metrics_observe(h0, NULL, 3);
}

static void build_escaping(struct metrics_registry *reg)
{
    struct metric *m =
        metrics_gauge(reg, "t_escape", "Back\\slash and\nnewline \"quoted\".", 2, L("v", "w"));
    metrics_set(m, L("a\"b\\c\nd", NULL), 1);
}

static void build_sorted(struct metrics_registry *reg)
{
    /* Registered out of order; output is by name, series by label values. */
    struct metric *b = metrics_gauge(reg, "t_b", "B.", 1, L("k"));
    struct metric *a = metrics_gauge(reg, "t_a", "A.", 0, NULL);
    metrics_set(b, L("z"), 1);
    metrics_set(b, L("m"), 2);
    metrics_set(b, L("a"), 3);
    metrics_set(a, NULL, 4);
}

static void test_render(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        void (*build)(struct metrics_registry *reg);
        const char *want;
    } rows[] = {
        {"counter", build_counter,
         DROPPED_ZERO "# HELP t_requests_total Requests served.\n"
                      "# TYPE t_requests_total counter\n"
                      "t_requests_total 3\n"},
        {"counter with labels", build_counter_labels,
         DROPPED_ZERO "# HELP t_tasks_total Tasks by outcome.\n"
                      "# TYPE t_tasks_total counter\n"
                      "t_tasks_total{queue=\"default\",outcome=\"error\"} 0.5\n"
                      "t_tasks_total{queue=\"default\",outcome=\"ok\"} 4\n"
                      "t_tasks_total{queue=\"sync\",outcome=\"ok\"} 2\n"},
        {"gauge", build_gauge,
         DROPPED_ZERO "# HELP t_idle Untouched.\n"
                      "# TYPE t_idle gauge\n"
                      "t_idle 0\n"
                      "# HELP t_temperature Degrees.\n"
                      "# TYPE t_temperature gauge\n"
                      "t_temperature 20.25\n"},
        {"histogram", build_histogram,
         DROPPED_ZERO "# HELP t_latency_seconds Latency.\n"
                      "# TYPE t_latency_seconds histogram\n"
                      "t_latency_seconds_bucket{le=\"0.25\"} 2\n"
                      "t_latency_seconds_bucket{le=\"0.5\"} 3\n"
                      "t_latency_seconds_bucket{le=\"1\"} 5\n"
                      "t_latency_seconds_bucket{le=\"+Inf\"} 6\n"
                      "t_latency_seconds_sum 4.5\n"
                      "t_latency_seconds_count 6\n"},
        {"histogram with labels", build_histogram_labels,
         DROPPED_ZERO "# HELP t_size_bytes Sizes.\n"
                      "# TYPE t_size_bytes histogram\n"
                      "t_size_bytes_bucket{kind=\"a\",le=\"1\"} 1\n"
                      "t_size_bytes_bucket{kind=\"a\",le=\"10\"} 1\n"
                      "t_size_bytes_bucket{kind=\"a\",le=\"+Inf\"} 2\n"
                      "t_size_bytes_sum{kind=\"a\"} 100.25\n"
                      "t_size_bytes_count{kind=\"a\"} 2\n"
                      "t_size_bytes_bucket{kind=\"b\",le=\"1\"} 0\n"
                      "t_size_bytes_bucket{kind=\"b\",le=\"10\"} 1\n"
                      "t_size_bytes_bucket{kind=\"b\",le=\"+Inf\"} 1\n"
                      "t_size_bytes_sum{kind=\"b\"} 10\n"
                      "t_size_bytes_count{kind=\"b\"} 1\n"
                      "# HELP t_zero_buckets Only +Inf.\n"
                      "# TYPE t_zero_buckets histogram\n"
                      "t_zero_buckets_bucket{le=\"+Inf\"} 1\n"
                      "t_zero_buckets_sum 3\n"
                      "t_zero_buckets_count 1\n"},
        {"escaping", build_escaping,
         DROPPED_ZERO "# HELP t_escape Back\\\\slash and\\nnewline \"quoted\".\n"
                      "# TYPE t_escape gauge\n"
                      "t_escape{v=\"a\\\"b\\\\c\\nd\",w=\"\"} 1\n"},
        {"sorted", build_sorted,
         DROPPED_ZERO "# HELP t_a A.\n"
                      "# TYPE t_a gauge\n"
                      "t_a 4\n"
                      "# HELP t_b B.\n"
                      "# TYPE t_b gauge\n"
                      "t_b{k=\"a\"} 3\n"
                      "t_b{k=\"m\"} 2\n"
                      "t_b{k=\"z\"} 1\n"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct metrics_registry reg;
        metrics_registry_init(&reg);
        rows[i].build(&reg);
        char *got = render(&reg);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("%s: got\n%s\nwant\n%s", rows[i].name, got, rows[i].want);
        free(got);
        metrics_registry_release(&reg);
    }
}

static void test_format_double(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } rows[] = {
        {0, "0"},
        {-0.0, "0"},
        {3, "3"},
        {-2, "-2"},
        {1234567, "1234567"},
        {9007199254740992.0, "9007199254740992"},
        {1e20, "1e+20"},
        {0.5, "0.5"},
        {0.1, "0.1"},
        {-0.25, "-0.25"},
        {1e-05, "1e-05"},
        {123456.789, "123456.789"},
        {1.0 / 3, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    char out[METRICS_FMT_SIZE];
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        metrics_format_double(rows[i].v, out, sizeof(out));
        if (strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\", want \"%s\"", i, out, rows[i].want);
    }
}

/* Cumulation across many observations, against a direct count. */
static void test_histogram_cumulative(void **state)
{
    (void)state;
    static const double bounds[] = {-1, 0, 2.5, 5, 7.5};
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct metric *h = metrics_histogram(&reg, "t_h", "H.", 0, NULL, ARRAY_SIZE(bounds), bounds);
    uint64_t want[ARRAY_SIZE(bounds) + 1] = {0};
    double sum = 0;
    for (int i = -20; i <= 100; i++) {
        double v = i / 10.0;
        metrics_observe(h, NULL, v);
        sum += v;
        for (size_t b = 0; b < ARRAY_SIZE(bounds); b++)
            want[b] += v <= bounds[b];
        want[ARRAY_SIZE(bounds)]++;
    }
    char *text = render(&reg);
    char series[64], le[METRICS_FMT_SIZE];
    for (size_t b = 0; b <= ARRAY_SIZE(bounds); b++) {
        if (b < ARRAY_SIZE(bounds))
            metrics_format_double(bounds[b], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        snprintf(series, sizeof(series), "t_h_bucket{le=\"%s\"}", le);
        if (sample(text, series) != (double)want[b])
            fail_msg("%s = %g, want %llu\n%s", series, sample(text, series),
                     (unsigned long long)want[b], text);
    }
    assert_true(sample(text, "t_h_count") == 121);
    assert_true(fabs(sample(text, "t_h_sum") - sum) < 1e-9);
    free(text);
    metrics_registry_release(&reg);
}

/* ---- concurrency ---- */

#define NTHREADS 8
#define NITERS   20000

struct worker {
    struct metric *plain, *labelled, *hist;
    int id;
};

static void *hammer(void *p)
{
    struct worker *w = p;
    static const char *const queues[] = {"q0", "q1", "q2"};
    for (int i = 0; i < NITERS; i++) {
        metrics_inc(w->plain, NULL, 1);
        metrics_inc(w->labelled, L(queues[(i + w->id) % 3]), 1);
        metrics_observe(w->hist, NULL, (double)(i % 4));
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    static const double bounds[] = {0, 1, 2};
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct worker w[NTHREADS];
    pthread_t tid[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        /* Registered from each thread's setup: duplicates return the same family. */
        w[i].plain = metrics_counter(&reg, "t_plain_total", "P.", 0, NULL);
        w[i].labelled = metrics_counter(&reg, "t_labelled_total", "L.", 1, L("queue"));
        w[i].hist = metrics_histogram(&reg, "t_obs", "O.", 0, NULL, 3, bounds);
        w[i].id = i;
        assert_ptr_equal(w[i].plain, w[0].plain);
        assert_ptr_equal(w[i].labelled, w[0].labelled);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, hammer, &w[i]), 0);
    /* Scrapes while the workers run must not disturb them. */
    for (int i = 0; i < 20; i++)
        free(render(&reg));
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);

    char *text = render(&reg);
    double total = (double)NTHREADS * NITERS;
    assert_true(sample(text, "t_plain_total") == total);
    double per_queue = 0;
    for (int q = 0; q < 3; q++) {
        char series[64];
        snprintf(series, sizeof(series), "t_labelled_total{queue=\"q%d\"}", q);
        per_queue += sample(text, series);
    }
    assert_true(per_queue == total);
    assert_true(sample(text, "t_obs_count") == total);
    assert_true(sample(text, "t_obs_bucket{le=\"0\"}") == total / 4);
    assert_true(sample(text, "t_obs_bucket{le=\"2\"}") == total * 3 / 4);
    assert_true(sample(text, "t_obs_sum") == total / 4 * (0 + 1 + 2 + 3));
    free(text);
    metrics_registry_release(&reg);
}

/* ---- series cap ---- */

static void test_series_cap(void **state)
{
    (void)state;
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    reg.max_series = 3;
    struct metric *m = metrics_counter(&reg, "t_capped_total", "C.", 1, L("id"));
    static const char *const ids[] = {"a", "b", "c", "d", "e", "d"};
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
        metrics_inc(m, L(ids[i]), 1);
    metrics_inc(m, L("a"), 1); /* existing series still count past the cap */

    char *text = render(&reg);
    static const char want[] = DROPPED_HEAD "inventory_metrics_dropped_series_total 3\n"
                                            "# HELP t_capped_total C.\n"
                                            "# TYPE t_capped_total counter\n"
                                            "t_capped_total{id=\"a\"} 2\n"
                                            "t_capped_total{id=\"b\"} 1\n"
                                            "t_capped_total{id=\"c\"} 1\n";
    assert_string_equal(text, want);
    free(text);

    /* A reset frees the room. */
    metrics_reset_family(m);
    metrics_inc(m, L("e"), 7);
    text = render(&reg);
    assert_true(sample(text, "t_capped_total{id=\"e\"}") == 7);
    assert_true(isnan(sample(text, "t_capped_total{id=\"a\"}")));
    free(text);
    metrics_registry_release(&reg);
}

/* Many series: the hash table grows and every series stays findable. */
static void test_many_series(void **state)
{
    (void)state;
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct metric *m = metrics_gauge(&reg, "t_many", "M.", 2, L("x", "y"));
    char x[16], y[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(x, sizeof(x), "%d", i / 100);
            snprintf(y, sizeof(y), "%d", i % 100);
            metrics_inc(m, L(x, y), i);
        }
    }
    char *text = render(&reg);
    assert_true(sample(text, "t_many{x=\"0\",y=\"0\"}") == 0);
    assert_true(sample(text, "t_many{x=\"49\",y=\"99\"}") == 2 * 4999);
    assert_true(sample(text, "t_many{x=\"12\",y=\"34\"}") == 2 * 1234);
    assert_true(sample(text, "inventory_metrics_dropped_series_total") == 0);
    free(text);
    metrics_registry_release(&reg);
}

/* ---- collectors ---- */

struct fake_queues {
    struct metric *len;
    const char *const *names;
    const double *sizes;
    size_t n;
    int calls;
};

/* Replaces the family's series with the current queue set, as a collector
 * reading Redis would. */
static void collect_queues(void *arg)
{
    struct fake_queues *q = arg;
    q->calls++;
    metrics_reset_family(q->len);
    for (size_t i = 0; i < q->n; i++)
        metrics_set(q->len, L(q->names[i]), q->sizes[i]);
}

static void test_collect(void **state)
{
    (void)state;
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct fake_queues q = {0};
    q.len = metrics_gauge(&reg, "t_queue_length", "Tasks waiting.", 1, L("queue"));
    metrics_on_collect(&reg, collect_queues, &q);

    static const char *const names1[] = {"default", "sync"};
    static const double sizes1[] = {4, 0};
    q.names = names1, q.sizes = sizes1, q.n = 2;
    char *text = render(&reg);
    assert_string_equal(text, DROPPED_ZERO "# HELP t_queue_length Tasks waiting.\n"
                                           "# TYPE t_queue_length gauge\n"
                                           "t_queue_length{queue=\"default\"} 4\n"
                                           "t_queue_length{queue=\"sync\"} 0\n");
    free(text);

    /* "sync" is gone on the next scrape. */
    static const char *const names2[] = {"default"};
    static const double sizes2[] = {9};
    q.names = names2, q.sizes = sizes2, q.n = 1;
    text = render(&reg);
    assert_string_equal(text, DROPPED_ZERO "# HELP t_queue_length Tasks waiting.\n"
                                           "# TYPE t_queue_length gauge\n"
                                           "t_queue_length{queue=\"default\"} 9\n");
    free(text);

    /* No queues: the family disappears. */
    q.n = 0;
    text = render(&reg);
    assert_string_equal(text, DROPPED_ZERO);
    free(text);
    assert_int_equal(q.calls, 3);
    metrics_registry_release(&reg);
}

/* ---- limits and misuse ---- */

static void test_render_cap(void **state)
{
    (void)state;
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(metrics_render(&reg, &b), -1);
    assert_int_equal(b.len, 0);
    buf_release(&b);
    metrics_registry_release(&reg);
}

static void test_duplicate_same(void **state)
{
    (void)state;
    static const double bounds[] = {1, 2};
    struct metrics_registry reg;
    metrics_registry_init(&reg);
    struct metric *a = metrics_histogram(&reg, "t_dup", "D.", 1, L("k"), 2, bounds);
    struct metric *b = metrics_histogram(&reg, "t_dup", "D.", 1, L("k"), 2, bounds);
    assert_ptr_equal(a, b);
    struct metric *c = metrics_gauge(&reg, "t_dup:rate", "R.", 0, NULL); /* ':' is allowed */
    assert_ptr_not_equal(a, c);
    /* x_count only clashes with a histogram x. */
    metrics_gauge(&reg, "t_g", "G.", 0, NULL);
    metrics_counter(&reg, "t_g_count", "C.", 0, NULL);
    metrics_registry_release(&reg);
}

static void misuse_bad_name(struct metrics_registry *reg)
{
    metrics_counter(reg, "1abc", "x", 0, NULL);
}

static void misuse_dash(struct metrics_registry *reg)
{
    metrics_counter(reg, "a-b", "x", 0, NULL);
}

static void misuse_empty(struct metrics_registry *reg)
{
    metrics_gauge(reg, "", "x", 0, NULL);
}

static void misuse_no_help(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "", 0, NULL);
}

static void misuse_clash_histogram(struct metrics_registry *reg)
{
    metrics_histogram(reg, "t_x", "x", 0, NULL, 0, NULL);
    metrics_counter(reg, "t_x_count", "x", 0, NULL);
}

static void misuse_clash_counter(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x_bucket", "x", 0, NULL);
    metrics_histogram(reg, "t_x", "x", 0, NULL, 0, NULL);
}

static void misuse_reserved_label(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "x", 1, L("__name"));
}

static void misuse_colon_label(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "x", 1, L("a:b"));
}

static void misuse_le(struct metrics_registry *reg)
{
    metrics_histogram(reg, "t_x", "x", 1, L("le"), 0, NULL);
}

static void misuse_dup_label(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "x", 2, L("a", "a"));
}

static void misuse_bounds(struct metrics_registry *reg)
{
    metrics_histogram(reg, "t_x", "x", 0, NULL, 3, (const double[]){1, 3, 2});
}

static void misuse_redefine_type(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "x", 0, NULL);
    metrics_counter(reg, "t_x", "x", 0, NULL);
}

static void misuse_redefine_labels(struct metrics_registry *reg)
{
    metrics_gauge(reg, "t_x", "x", 1, L("a"));
    metrics_gauge(reg, "t_x", "x", 1, L("b"));
}

static void misuse_inc_histogram(struct metrics_registry *reg)
{
    metrics_inc(metrics_histogram(reg, "t_x", "x", 0, NULL, 0, NULL), NULL, 1);
}

static void misuse_observe_counter(struct metrics_registry *reg)
{
    metrics_observe(metrics_counter(reg, "t_x", "x", 0, NULL), NULL, 1);
}

static void misuse_missing_values(struct metrics_registry *reg)
{
    metrics_inc(metrics_counter(reg, "t_x", "x", 1, L("a")), NULL, 1);
}

/* Programming errors abort with a reason; each row runs in a child process
 * whose stderr comes back through a pipe. */
static void test_misuse_aborts(void **state)
{
    (void)state;
    static const struct {
        void (*fn)(struct metrics_registry *reg);
        const char *want;
    } rows[] = {
        {misuse_bad_name, "invalid metric name \"1abc\""},
        {misuse_dash, "invalid metric name \"a-b\""},
        {misuse_empty, "invalid metric name \"\""},
        {misuse_no_help, "t_x: help text is required"},
        {misuse_clash_histogram, "t_x_count clashes with the samples of histogram t_x"},
        {misuse_clash_counter, "histogram t_x clashes with metric t_x_bucket"},
        {misuse_reserved_label, "t_x: invalid label name \"__name\""},
        {misuse_colon_label, "t_x: invalid label name \"a:b\""},
        {misuse_le, "label name \"le\" is reserved"},
        {misuse_dup_label, "t_x: duplicate label name \"a\""},
        {misuse_bounds, "bounds must be strictly increasing"},
        {misuse_redefine_type, "t_x registered twice"},
        {misuse_redefine_labels, "t_x registered twice"},
        {misuse_inc_histogram, "t_x: metrics_inc on a histogram"},
        {misuse_observe_counter, "t_x: metrics_observe on a counter"},
        {misuse_missing_values, "t_x: label values missing"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(fds[1], STDERR_FILENO);
            close(fds[0]);
            struct metrics_registry reg;
            metrics_registry_init(&reg);
            rows[i].fn(&reg);
            _exit(0);
        }
        close(fds[1]);
        char msg[512];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(msg) - 1 && (n = read(fds[0], msg + len, sizeof(msg) - 1 - len)) > 0)
            len += (size_t)n;
        msg[len] = '\0';
        close(fds[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || !strstr(msg, rows[i].want))
            fail_msg("row %zu: status %d, stderr \"%s\", want abort with \"%s\"", i, status, msg,
                     rows[i].want);
    }
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT, stderr); /* the series-cap warning is expected */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_render_cap),
        cmocka_unit_test(test_duplicate_same),
        cmocka_unit_test(test_misuse_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
