/* Unit tests: core/config (key table, file:line errors, merging of several
 * files, environment overrides). Rows of YAML in, an exact error line or
 * key=value expectations out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

/* ---- helpers ----------------------------------------------------------- */

static void clear_env(void)
{
    unsetenv("DATABASE_URI");
    unsetenv("REDIS_ENDPOINT");
    unsetenv("REDIS_PASSWORD");
}

static int group_setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static int load(struct config *cfg, const char *yaml, struct buf *err)
{
    return config_load_string(cfg, "cfg.yaml", yaml, strlen(yaml), err);
}

/* The test's own view of the struct, by dotted key, so rows can say
 * "redis.db=3" without a checker function per row. */
enum vt { V_STR, V_BOOL, V_INT, V_MS, V_LEVEL, V_FORMAT };
#define F(k, t, f)                                                                                 \
    {                                                                                              \
        k, t, offsetof(struct config, f)                                                           \
    }
static const struct {
    const char *key;
    enum vt type;
    size_t off;
} fields[] = {
    F("version", V_STR, version),
    F("debug", V_BOOL, debug),
    F("logging.level", V_LEVEL, logging.level),
    F("logging.format", V_FORMAT, logging.format),
    F("redis.endpoint", V_STR, redis.endpoint),
    F("redis.username", V_STR, redis.username),
    F("redis.password", V_STR, redis.password),
    F("redis.db", V_INT, redis.db),
    F("redis.connect_timeout", V_MS, redis.connect_timeout_ms),
    F("database.dsn", V_STR, database.dsn),
    F("database.migration_dir", V_STR, database.migration_dir),
    F("database.connect_timeout", V_MS, database.connect_timeout_ms),
    F("worker.concurrency", V_INT, worker.concurrency),
    F("worker.strict_priority", V_BOOL, worker.strict_priority),
    F("worker.metrics.address", V_STR, worker.metrics.address),
    F("worker.metrics.path", V_STR, worker.metrics.path),
    F("scheduler.default_queue", V_STR, scheduler.default_queue),
};

static const char *nz(const char *s)
{
    return s ? s : "-";
}

/* Formats one key; worker.queues as "name:prio,..." and scheduler.jobs as
 * "name|spec|desc|payload|queue;..." with "-" for unset. */
static void value(const struct config *cfg, const char *key, struct buf *out)
{
    buf_reset(out);
    if (strcmp(key, "worker.queues") == 0) {
        for (size_t i = 0; i < cfg->worker.nqueues; i++)
            assert_int_equal(buf_addf(out, "%s%s:%d", i ? "," : "", cfg->worker.queues[i].name,
                                      cfg->worker.queues[i].priority),
                             0);
        return;
    }
    if (strcmp(key, "scheduler.jobs") == 0) {
        for (size_t i = 0; i < cfg->scheduler.njobs; i++) {
            const struct config_job *j = &cfg->scheduler.jobs[i];
            assert_int_equal(buf_addf(out, "%s%s|%s|%s|%s|%s", i ? ";" : "", nz(j->name),
                                      nz(j->spec), nz(j->desc), nz(j->payload), nz(j->queue)),
                             0);
        }
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (strcmp(fields[i].key, key) != 0)
            continue;
        const void *f = (const char *)cfg + fields[i].off;
        int rc = 0;
        switch (fields[i].type) {
        case V_STR:
            rc = buf_adds(out, nz(*(char *const *)f));
            break;
        case V_BOOL:
            rc = buf_adds(out, *(const bool *)f ? "true" : "false");
            break;
        case V_INT:
            rc = buf_addf(out, "%d", *(const int *)f);
            break;
        case V_MS:
            rc = buf_addf(out, "%lldms", (long long)*(const int64_t *)f);
            break;
        case V_LEVEL:
            rc = buf_adds(out, log_level_name(*(const enum log_level *)f));
            break;
        case V_FORMAT:
            rc = buf_adds(out, *(const enum log_format *)f == LOG_FORMAT_JSON ? "json" : "text");
            break;
        }
        assert_int_equal(rc, 0);
        return;
    }
    fail_msg("test bug: no field %s", key);
}

/* Checks "key=value" expectations against cfg. */
static void expect_values(const struct config *cfg, const char *what, const char *const *want)
{
    struct buf v;
    buf_init(&v, BUF_NOLIMIT);
    for (size_t i = 0; want[i]; i++) {
        const char *eq = strchr(want[i], '=');
        assert_non_null(eq);
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - want[i]), want[i]);
        value(cfg, key, &v);
        if (strcmp(buf_str(&v), eq + 1) != 0) {
            char got[512];
            snprintf(got, sizeof(got), "%s", buf_str(&v));
            buf_release(&v);
            fail_msg("%s: %s = \"%s\", want \"%s\"", what, key, got, eq + 1);
        }
    }
    buf_release(&v);
}

/* ---- sample configs from the development guide ------------------------- */

static const char local_env[] = "---\n"
                                "version: v1alpha1\n"
                                "debug: false\n"
                                "\n"
                                "redis:\n"
                                "  endpoint: 127.0.0.1:6379\n"
                                "\n"
                                "database:\n"
                                "  dsn: \"postgresql://inventory:p4ssw0rd@localhost:5432/"
                                "inventory?sslmode=disable\"\n"
                                "  migration_dir: ./internal/pkg/migrations\n"
                                "\n"
                                "worker:\n"
                                "  concurrency: 10\n";

static const char periodic_1[] = "# config.yaml\n"
                                 "---\n"
                                 "scheduler:\n"
                                 "  jobs:\n"
                                 "    - name: \"my-sample-task\"\n"
                                 "      spec: \"@every 1h\"\n"
                                 "      desc: \"Foo does bar\"\n";

static const char periodic_2[] = "# config.yaml\n"
                                 "---\n"
                                 "scheduler:\n"
                                 "  jobs:\n"
                                 "    - name: \"my-sample-task\"\n"
                                 "      spec: \"@every 1h\"\n"
                                 "      desc: \"Foo does bar\"\n"
                                 "      payload: >-\n"
                                 "        {\"foo\": \"bar\"}\n";

static void test_samples(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *want[12];
    } rows[] = {
        {local_env,
         {"version=v1alpha1", "debug=false", "logging.level=info", "redis.endpoint=127.0.0.1:6379",
          "database.dsn=postgresql://inventory:p4ssw0rd@localhost:5432/inventory?sslmode=disable",
          "database.migration_dir=./internal/pkg/migrations", "worker.concurrency=10",
          "worker.queues=default:1", "scheduler.jobs=", NULL}},
        {periodic_1, {"scheduler.jobs=my-sample-task|@every 1h|Foo does bar|-|-", NULL}},
        {periodic_2,
         {"scheduler.jobs=my-sample-task|@every 1h|Foo does bar|{\"foo\": \"bar\"}|-", NULL}},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        config_init(&cfg);
        buf_init(&err, 1024);
        if (load(&cfg, rows[i].yaml, &err) != 0)
            fail_msg("sample %zu: %s", i, buf_str(&err));
        expect_values(&cfg, rows[i].yaml, rows[i].want);
        config_release(&cfg);
        buf_release(&err);
    }
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    static const char *const want[] = {
        "version=-",
        "debug=false",
        "logging.level=info",
        "logging.format=text",
        "redis.endpoint=127.0.0.1:6379",
        "redis.username=-",
        "redis.password=-",
        "redis.db=0",
        "redis.connect_timeout=5000ms",
        "database.dsn=-",
        "database.migration_dir=-",
        "database.connect_timeout=5000ms",
        "worker.concurrency=0",
        "worker.queues=default:1",
        "worker.strict_priority=false",
        "worker.metrics.address=127.0.0.1:6080",
        "worker.metrics.path=/metrics",
        "scheduler.default_queue=default",
        "scheduler.jobs=",
        NULL,
    };
    struct config cfg;
    struct buf err;
    buf_init(&err, 1024);

    /* config_init alone, config_finish without files, and empty inputs. */
    config_init(&cfg);
    expect_values(&cfg, "init", want);
    assert_int_equal(config_finish(&cfg, &err), 0);
    expect_values(&cfg, "finish", want);
    assert_int_equal(cfg.nfiles, 0);
    config_release(&cfg);

    static const char *const empties[] = {
        "", "\n", "# only a comment\n", "---\n", "--- ~\n", "---\n...\n", "{}\n", "null\n"};
    for (size_t i = 0; i < ARRAY_SIZE(empties); i++) {
        config_init(&cfg);
        if (load(&cfg, empties[i], &err) != 0)
            fail_msg("empty input %zu: %s", i, buf_str(&err));
        expect_values(&cfg, empties[i], want);
        assert_int_equal(cfg.nfiles, 1);
        assert_string_equal(cfg.files[0], "cfg.yaml");
        config_release(&cfg);
    }
    buf_release(&err);
}

/* ---- values accepted --------------------------------------------------- */

static void test_values(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *want[8];
    } rows[] = {
        {"debug: yes\n", {"debug=true", NULL}},
        {"debug: off\n", {"debug=false", NULL}},
        {"logging:\n  level: WARNING\n  format: json\n",
         {"logging.level=warn", "logging.format=json", NULL}},
        {"logging: {level: error}\n", {"logging.level=error", NULL}},
        {"redis:\n  endpoint: redis.example.com:6380\n  username: inv\n  password: s3cret\n"
         "  db: 1023\n  connect_timeout: 100ms\n",
         {"redis.endpoint=redis.example.com:6380", "redis.username=inv", "redis.password=s3cret",
          "redis.db=1023", "redis.connect_timeout=100ms", NULL}},
        {"redis:\n  endpoint: \"[::1]:6379\"\n", {"redis.endpoint=[::1]:6379", NULL}},
        {"redis:\n  endpoint: \"[fe80::1%eth0]:1\"\n", {"redis.endpoint=[fe80::1%eth0]:1", NULL}},
        {"redis:\n  endpoint: localhost:65535\n  connect_timeout: 5m\n",
         {"redis.endpoint=localhost:65535", "redis.connect_timeout=300000ms", NULL}},
        {"database:\n  dsn: host=db user=inv\n  migration_dir: /srv/m\n  connect_timeout: 1m30s\n",
         {"database.dsn=host=db user=inv", "database.migration_dir=/srv/m",
          "database.connect_timeout=90000ms", NULL}},
        {"database:\n  connect_timeout: 1s\n", {"database.connect_timeout=1000ms", NULL}},
        {"worker:\n  concurrency: 10000\n  strict_priority: true\n",
         {"worker.concurrency=10000", "worker.strict_priority=true", NULL}},
        {"worker:\n  queues:\n    critical: 6\n    default: 3\n    low: 1\n",
         {"worker.queues=critical:6,default:3,low:1", NULL}},
        {"worker:\n  queues: {aws:collect.v1-x_y: 1000}\n",
         {"worker.queues=aws:collect.v1-x_y:1000", NULL}},
        {"worker:\n  metrics:\n    address: \":9090\"\n    path: /m\n",
         {"worker.metrics.address=:9090", "worker.metrics.path=/m", NULL}},
        {"worker:\n  metrics:\n    address: 0.0.0.0:6080\n",
         {"worker.metrics.address=0.0.0.0:6080", NULL}},
        {"scheduler:\n  default_queue: low\n  jobs:\n    - name: a\n      spec: '@daily'\n"
         "      queue: critical\n    - {name: b, spec: '*/5 * * * *', desc: ''}\n",
         {"scheduler.default_queue=low", "scheduler.jobs=a|@daily|-|-|critical;b|*/5 * * * *||-|-",
          NULL}},
        /* Null and empty: `key:` keeps the previous value for strings, an
         * empty string unsets optional strings; sections may be empty. */
        {"redis:\n  endpoint:\n  username: ~\n  password: \"\"\n",
         {"redis.endpoint=127.0.0.1:6379", "redis.username=-", "redis.password=-", NULL}},
        {"redis:\nworker:\n  metrics: null\nscheduler:\n  jobs:\n  default_queue:\n",
         {"redis.endpoint=127.0.0.1:6379", "scheduler.jobs=", "scheduler.default_queue=default",
          NULL}},
        {"worker:\n  queues:\n", {"worker.queues=default:1", NULL}},
        {"scheduler:\n  jobs: []\n", {"scheduler.jobs=", NULL}},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: '@hourly'\n      desc:\n",
         {"scheduler.jobs=a|@hourly|-|-|-", NULL}},
        /* Quoted or tagged "null" is a string. */
        {"redis:\n  username: \"null\"\n  password: !!str null\n",
         {"redis.username=null", "redis.password=null", NULL}},
        {"version: !!str v1alpha1\n", {"version=v1alpha1", NULL}},
        /* Anchors and aliases. */
        {"scheduler:\n  jobs:\n    - &j {name: a, spec: '@hourly'}\n    - *j\n",
         {"scheduler.jobs=a|@hourly|-|-|-;a|@hourly|-|-|-", NULL}},
        {"redis:\n  endpoint: &e h:1\nworker:\n  metrics:\n    address: *e\n",
         {"redis.endpoint=h:1", "worker.metrics.address=h:1", NULL}},
        /* Duplicate job names are fine (one task on two schedules). */
        {"scheduler:\n  jobs:\n    - {name: a, spec: '@hourly'}\n    - {name: a, spec: '@daily'}\n",
         {"scheduler.jobs=a|@hourly|-|-|-;a|@daily|-|-|-", NULL}},
        /* Flow style and a UTF-8 value. */
        {"{redis: {db: 7}, database: {dsn: \"dbname=größe\"}}\n",
         {"redis.db=7", "database.dsn=dbname=größe", NULL}},
        {"%YAML 1.1\n---\ndebug: on\n...\n", {"debug=true", NULL}},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        config_init(&cfg);
        buf_init(&err, 1024);
        if (load(&cfg, rows[i].yaml, &err) != 0)
            fail_msg("row %zu: unexpected error: %s", i, buf_str(&err));
        expect_values(&cfg, rows[i].yaml, rows[i].want);
        config_release(&cfg);
        buf_release(&err);
    }
}

/* ---- errors ------------------------------------------------------------ */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *err; /* the exact line */
    } rows[] = {
        /* Each key's type error. */
        {"version: v2\n", "cfg.yaml:1: version: expected \"v1alpha1\", got \"v2\""},
        {"version: [v1alpha1]\n", "cfg.yaml:1: version: expected a string, got a sequence"},
        {"debug: maybe\n", "cfg.yaml:1: debug: expected a boolean, got \"maybe\""},
        {"version: v1alpha1\ndebug: maybe\n",
         "cfg.yaml:2: debug: expected a boolean, got \"maybe\""},
        {"debug:\n", "cfg.yaml:1: debug: expected a boolean, got an empty value"},
        {"debug: {a: 1}\n", "cfg.yaml:1: debug: expected a boolean, got a mapping"},
        {"logging:\n  level: loud\n",
         "cfg.yaml:2: logging.level: expected one of debug, info, warn, error, got \"loud\""},
        {"logging:\n  level:\n",
         "cfg.yaml:2: logging.level: expected one of debug, info, warn, error, got an empty "
         "value"},
        {"logging:\n  format: xml\n",
         "cfg.yaml:2: logging.format: expected one of text, json, got \"xml\""},
        {"redis:\n  endpoint: localhost\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\"localhost\""},
        {"redis:\n  endpoint: [a]\n", "cfg.yaml:2: redis.endpoint: expected a string, got a "
                                      "sequence"},
        {"redis:\n  username: {a: 1}\n",
         "cfg.yaml:2: redis.username: expected a string, got a mapping"},
        {"redis:\n  password: [hunter2]\n",
         "cfg.yaml:2: redis.password: expected a string, got a sequence"},
        {"version: v1alpha1\nredis:\n  db: x\n",
         "cfg.yaml:3: redis.db: expected an integer in 0..1023, got \"x\""},
        {"redis:\n  connect_timeout: 5\n",
         "cfg.yaml:2: redis.connect_timeout: expected a duration in 100ms..5m0s, got \"5\""},
        {"database:\n  dsn: {url: \"postgres://u:pw@h/db\"}\n",
         "cfg.yaml:2: database.dsn: expected a string, got a mapping"},
        {"database:\n  migration_dir: [a, b]\n",
         "cfg.yaml:2: database.migration_dir: expected a string, got a sequence"},
        {"database:\n  connect_timeout: soon\n",
         "cfg.yaml:2: database.connect_timeout: expected a duration in 1s..5m0s, got \"soon\""},
        {"worker:\n  concurrency: ten\n",
         "cfg.yaml:2: worker.concurrency: expected an integer in 0..10000, got \"ten\""},
        {"worker:\n  queues: [default]\n",
         "cfg.yaml:2: worker.queues: expected a mapping of queue names to priorities, got a "
         "sequence"},
        {"worker:\n  strict_priority: perhaps\n",
         "cfg.yaml:2: worker.strict_priority: expected a boolean, got \"perhaps\""},
        {"worker:\n  metrics:\n    address: nope\n",
         "cfg.yaml:3: worker.metrics.address: expected [host]:port with a port in 0..65535, got "
         "\"nope\""},
        {"worker:\n  metrics:\n    path: metrics\n",
         "cfg.yaml:3: worker.metrics.path: expected a path starting with \"/\" and without "
         "spaces, got \"metrics\""},
        {"worker:\n  metrics:\n    path: /a b\n",
         "cfg.yaml:3: worker.metrics.path: expected a path starting with \"/\" and without "
         "spaces, got \"/a b\""},
        {"scheduler:\n  default_queue: a b\n",
         "cfg.yaml:2: scheduler.default_queue: expected a queue name of 1..64 characters from "
         "A-Z a-z 0-9 _ . : -, got \"a b\""},
        {"scheduler:\n  jobs: {name: a}\n",
         "cfg.yaml:2: scheduler.jobs: expected a sequence of jobs, got a mapping"},
        /* Sections that are not mappings. */
        {"version: v1alpha1\n\n\n\n\n\n\nworker:\n  - a\n",
         "cfg.yaml:9: worker: expected a mapping, got a sequence"},
        {"redis: 6379\n", "cfg.yaml:1: redis: expected a mapping, got \"6379\""},
        {"worker:\n  metrics: 1\n", "cfg.yaml:2: worker.metrics: expected a mapping, got \"1\""},
        {"logging: \"\"\n", "cfg.yaml:1: logging: expected a mapping, got \"\""},
        /* Ranges. */
        {"redis:\n  db: 1024\n",
         "cfg.yaml:2: redis.db: expected an integer in 0..1023, got \"1024\""},
        {"redis:\n  db: -1\n", "cfg.yaml:2: redis.db: expected an integer in 0..1023, got \"-1\""},
        {"redis:\n  db: 1.5\n",
         "cfg.yaml:2: redis.db: expected an integer in 0..1023, got \"1.5\""},
        {"redis:\n  connect_timeout: 99ms\n",
         "cfg.yaml:2: redis.connect_timeout: expected a duration in 100ms..5m0s, got \"99ms\""},
        {"redis:\n  connect_timeout: 5m1s\n",
         "cfg.yaml:2: redis.connect_timeout: expected a duration in 100ms..5m0s, got \"5m1s\""},
        {"database:\n  connect_timeout: 500ms\n",
         "cfg.yaml:2: database.connect_timeout: expected a duration in 1s..5m0s, got \"500ms\""},
        {"database:\n  connect_timeout: 1500ms\n",
         "cfg.yaml:2: database.connect_timeout: expected whole seconds, got \"1500ms\""},
        {"database:\n  connect_timeout: 6m\n",
         "cfg.yaml:2: database.connect_timeout: expected a duration in 1s..5m0s, got \"6m\""},
        {"worker:\n  concurrency: -1\n",
         "cfg.yaml:2: worker.concurrency: expected an integer in 0..10000, got \"-1\""},
        {"worker:\n  concurrency: 10001\n",
         "cfg.yaml:2: worker.concurrency: expected an integer in 0..10000, got \"10001\""},
        {"redis:\n  endpoint: h:0\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got \"h:0\""},
        {"redis:\n  endpoint: h:65536\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\"h:65536\""},
        {"redis:\n  endpoint: \":6379\"\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\":6379\""},
        {"redis:\n  endpoint: ::1:6379\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\"::1:6379\""},
        {"redis:\n  endpoint: \"[::1]\"\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\"[::1]\""},
        {"redis:\n  endpoint: h:+80\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got "
         "\"h:+80\""},
        {"redis:\n  endpoint: \"\"\n",
         "cfg.yaml:2: redis.endpoint: expected host:port with a port in 1..65535, got \"\""},
        {"version: \"\"\n", "cfg.yaml:1: version: expected \"v1alpha1\", got \"\""},
        /* Queues. */
        {"worker:\n  queues: {}\n", "cfg.yaml:2: worker.queues: expected at least one queue"},
        {"worker:\n  queues:\n    a b: 1\n",
         "cfg.yaml:3: worker.queues: invalid queue name \"a b\" (expected a queue name of 1..64 "
         "characters from A-Z a-z 0-9 _ . : -)"},
        {"worker:\n  queues:\n    \"\": 1\n",
         "cfg.yaml:3: worker.queues: invalid queue name \"\" (expected a queue name of 1..64 "
         "characters from A-Z a-z 0-9 _ . : -)"},
        {"worker:\n  queues:\n    "
         "q2345678901234567890123456789012345678901234567890123456789012345: 1\n",
         "cfg.yaml:3: worker.queues: invalid queue name "
         "\"q234567890123456789012345678901234567890123456789012345678901234\"... (expected a "
         "queue name of 1..64 characters from A-Z a-z 0-9 _ . : -)"},
        {"worker:\n  queues:\n    critical: 0\n",
         "cfg.yaml:3: worker.queues.critical: expected an integer in 1..1000, got \"0\""},
        {"worker:\n  queues:\n    critical: 1001\n",
         "cfg.yaml:3: worker.queues.critical: expected an integer in 1..1000, got \"1001\""},
        {"worker:\n  queues:\n    critical:\n",
         "cfg.yaml:3: worker.queues.critical: expected an integer in 1..1000, got an empty value"},
        {"worker:\n  queues:\n    low: 1\n    critical: [6]\n",
         "cfg.yaml:4: worker.queues.critical: expected an integer in 1..1000, got a sequence"},
        {"worker:\n  queues:\n    low: 1\n    low: 2\n",
         "cfg.yaml:4: duplicate key \"worker.queues.low\""},
        /* Jobs. */
        {"scheduler:\n  jobs:\n    - hourly\n",
         "cfg.yaml:3: scheduler.jobs[0]: expected a mapping, got \"hourly\""},
        {"scheduler:\n  jobs:\n    -\n",
         "cfg.yaml:3: scheduler.jobs[0]: expected a mapping, got an empty value"},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: '@hourly'\n    - spec: '@daily'\n",
         "cfg.yaml:5: scheduler.jobs[1]: missing \"name\""},
        {"scheduler:\n  jobs:\n    - name: a\n", "cfg.yaml:3: scheduler.jobs[0]: missing \"spec\""},
        {"scheduler:\n  jobs:\n    - name: a\n      spec:\n",
         "cfg.yaml:3: scheduler.jobs[0]: missing \"spec\""},
        {"scheduler:\n  jobs:\n    - name: ''\n      spec: '@hourly'\n",
         "cfg.yaml:3: scheduler.jobs[0].name: must not be empty, got \"\""},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: \"\"\n",
         "cfg.yaml:4: scheduler.jobs[0].spec: must not be empty, got \"\""},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: '@hourly'\n      every: 1h\n",
         "cfg.yaml:5: unknown key \"scheduler.jobs[0].every\""},
        {"scheduler:\n  jobs:\n    - name: a\n      name: b\n",
         "cfg.yaml:4: duplicate key \"scheduler.jobs[0].name\""},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: '@hourly'\n      payload:\n        a: "
         "1\n",
         "cfg.yaml:6: scheduler.jobs[0].payload: expected a string, got a mapping"},
        {"scheduler:\n  jobs:\n    - name: a\n      spec: '@hourly'\n      queue: no way\n",
         "cfg.yaml:5: scheduler.jobs[0].queue: expected a queue name of 1..64 characters from "
         "A-Z a-z 0-9 _ . : -, got \"no way\""},
        {"scheduler:\n  jobs:\n    - {[a]: 1}\n",
         "cfg.yaml:3: scheduler.jobs[0]: expected a string key, got a sequence"},
        /* Unknown keys, top level and nested; dotted spellings. */
        {"foo: 1\n", "cfg.yaml:1: unknown key \"foo\""},
        {"version: v1alpha1\nworker:\n  concurrency: 1\n\n\n\n  concurency: 2\n",
         "cfg.yaml:7: unknown key \"worker.concurency\""},
        {"worker:\n  metrics:\n    port: 1\n", "cfg.yaml:3: unknown key \"worker.metrics.port\""},
        {"redis.db: 1\n", "cfg.yaml:1: unknown key \"redis.db\""},
        {"worker:\n  metrics.path: /m\n", "cfg.yaml:2: unknown key \"worker.metrics.path\""},
        {"\"\": 1\n", "cfg.yaml:1: unknown key \"\""},
        {"redis:\n  db:\n    x: 1\n",
         "cfg.yaml:3: redis.db: expected an integer in 0..1023, got a mapping"},
        {"Debug: true\n", "cfg.yaml:1: unknown key \"Debug\""},
        /* Duplicate keys: reported at the second occurrence. */
        {"debug: true\ndebug: false\n", "cfg.yaml:2: duplicate key \"debug\""},
        {"redis:\n  db: 1\nredis:\n  db: 2\n", "cfg.yaml:3: duplicate key \"redis\""},
        {"redis:\n  db: 1\n  endpoint: a:1\n  db: 2\n", "cfg.yaml:4: duplicate key \"redis.db\""},
        {"redis:\n  db: 1\nworker: {}\nredis: {}\n", "cfg.yaml:4: duplicate key \"redis\""},
        /* Structure. */
        {"- a\n- b\n", "cfg.yaml:1: expected a mapping at the top level, got a sequence"},
        {"hello\n", "cfg.yaml:1: expected a mapping at the top level, got \"hello\""},
        {"? [a]\n: 1\n", "cfg.yaml:1: expected a string key, got a sequence"},
        {"worker:\n  ? {a: 1}\n  : 1\n", "cfg.yaml:2: worker: expected a string key, got a "
                                         "mapping"},
        {"debug: true\n---\ndebug: false\n", "cfg.yaml:2: expected a single YAML document"},
        {"redis: *r\n", "cfg.yaml:1: alias *r names no complete anchor"},
        {"worker: &w\n  metrics: *w\n", "cfg.yaml:2: alias *w names no complete anchor"},
        {"version: \"v1\\0alpha1\"\n", "cfg.yaml:1: value contains a NUL byte"},
        /* YAML syntax errors: libyaml's text, 1-based line. */
        {"redis:\n  db: 1\n endpoint: a:1\n",
         "cfg.yaml:3: did not find expected key (while parsing a block mapping at line 1)"},
        {"debug: true\nredis: db: 1\n",
         "cfg.yaml:2: mapping values are not allowed in this context"},
        {"debug: true\n@redis: {}\n",
         "cfg.yaml:2: found character that cannot start any token (while scanning for the next "
         "token at line 2)"},
        {"debug: true\n\tredis: {}\n",
         "cfg.yaml:2: found a tab character that violates indentation (while scanning a plain "
         "scalar at line 1)"},
        {"version: \"v1alpha1\ndebug: true\n",
         "cfg.yaml:3: found unexpected end of stream (while scanning a quoted scalar at line 1)"},
        {"redis: {db: 1\n", "cfg.yaml:2: did not find expected ',' or '}' (while parsing a flow "
                            "mapping at line 1)"},
        {"debug: true\n\xff: 1\n", "cfg.yaml:2: invalid leading UTF-8 octet"},
        {"debug: \"\x01\"\n", "cfg.yaml:1: control characters are not allowed"},
        /* Bad values are quoted, escaped and capped so the error stays one
         * line. */
        {"debug: \"a\\nb\\\"c\\\\\"\n",
         "cfg.yaml:1: debug: expected a boolean, got \"a\\x0ab\\\"c\\\\\""},
        {"debug: "
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
         "cfg.yaml:1: debug: expected a boolean, got "
         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"..."},
    };
    int failures = 0;
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        config_init(&cfg);
        buf_init(&err, 4096);
        int rc = load(&cfg, rows[i].yaml, &err);
        /* Report every bad row, not just the first. */
        if (rc != -1) {
            print_error("row %zu: accepted:\n%s\n", i, rows[i].yaml);
            failures++;
        } else if (strcmp(buf_str(&err), rows[i].err) != 0) {
            print_error("row %zu:\n got: %s\nwant: %s\n", i, buf_str(&err), rows[i].err);
            failures++;
        }
        assert_null(strchr(buf_str(&err), '\n'));
        config_release(&cfg);
        buf_release(&err);
    }
    assert_int_equal(failures, 0);
}

/* Secrets never show up in errors, whatever went wrong around them. */
static void test_secrets_not_echoed(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "database:\n  dsn: [\"postgres://u:TOPSECRET@h/db\"]\n",
        "redis:\n  password: {TOPSECRET: 1}\n",
        "redis:\n  password: TOPSECRET\n  db: x\n",
        "database:\n  dsn: postgres://u:TOPSECRET@h/db\n  dsn: again\n",
        "database:\n  dsn: \"postgres://u:TOPSECRET@h/db\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        config_init(&cfg);
        buf_init(&err, 4096);
        assert_int_equal(load(&cfg, rows[i], &err), -1);
        if (strstr(buf_str(&err), "TOPSECRET"))
            fail_msg("row %zu leaks: %s", i, buf_str(&err));
        config_release(&cfg);
        buf_release(&err);
    }
}

/* Limits: nesting depth, scalar size, anchor count, input size. */
static void test_limits(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err, in;
    buf_init(&err, 4096);
    buf_init(&in, BUF_NOLIMIT);

    /* At most 32 open collections: "worker:" is one, so 31 sequences
     * below it parse (and are then rejected by the schema), 32 do not. */
    for (int seqs = 31; seqs <= 32; seqs++) {
        buf_reset(&in);
        assert_int_equal(buf_adds(&in, "worker: "), 0);
        for (int i = 0; i < seqs; i++)
            assert_int_equal(buf_addc(&in, '['), 0);
        for (int i = 0; i < seqs; i++)
            assert_int_equal(buf_addc(&in, ']'), 0);
        config_init(&cfg);
        assert_int_equal(load(&cfg, buf_str(&in), &err), -1);
        assert_string_equal(buf_str(&err), seqs == 31
                                               ? "cfg.yaml:1: worker: expected a mapping, got a "
                                                 "sequence"
                                               : "cfg.yaml:1: nested deeper than 32 levels");
        config_release(&cfg);
    }

    /* A 64 KiB value is fine; one byte more is not. */
    for (size_t n = 64 * 1024; n <= 64 * 1024 + 1; n++) {
        buf_reset(&in);
        assert_int_equal(buf_adds(&in, "database:\n  migration_dir: "), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(buf_addc(&in, 'd'), 0);
        config_init(&cfg);
        int rc = load(&cfg, buf_str(&in), &err);
        if (n == 64 * 1024) {
            assert_int_equal(rc, 0);
            assert_int_equal(strlen(cfg.database.migration_dir), n);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(buf_str(&err), "cfg.yaml:2: value longer than 65536 bytes");
        }
        config_release(&cfg);
    }

    /* Too many anchors. */
    buf_reset(&in);
    assert_int_equal(buf_adds(&in, "scheduler:\n  jobs:\n"), 0);
    for (int i = 0; i < 257; i++)
        assert_int_equal(buf_addf(&in, "    - &a%d {name: a, spec: '@hourly'}\n", i), 0);
    config_init(&cfg);
    assert_int_equal(load(&cfg, buf_str(&in), &err), -1);
    assert_string_equal(buf_str(&err), "cfg.yaml:259: more than 256 anchors");
    config_release(&cfg);

    /* Too many values in one file. */
    buf_reset(&in);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(buf_adds(&in, "- a\n"), 0);
    config_init(&cfg);
    assert_int_equal(load(&cfg, buf_str(&in), &err), -1);
    assert_string_equal(buf_str(&err), "cfg.yaml:100000: more than 100000 values");
    config_release(&cfg);

    /* Input larger than CONFIG_MAX_FILE_BYTES. */
    char *big = calloc(CONFIG_MAX_FILE_BYTES + 1, 1);
    assert_non_null(big);
    memset(big, '#', CONFIG_MAX_FILE_BYTES);
    config_init(&cfg);
    assert_int_equal(config_load_string(&cfg, "big.yaml", big, CONFIG_MAX_FILE_BYTES + 1, &err),
                     -1);
    assert_string_equal(buf_str(&err), "big.yaml: larger than 4194304 bytes");
    config_release(&cfg);
    /* Exactly the limit is fine (all comment). */
    config_init(&cfg);
    assert_int_equal(config_load_string(&cfg, "big.yaml", big, CONFIG_MAX_FILE_BYTES, &err), 0);
    config_release(&cfg);
    free(big);

    buf_release(&in);
    buf_release(&err);
}

/* ---- debug and logging.level ------------------------------------------- */

static void test_debug_level(void **state)
{
    (void)state;
    static const struct {
        const char *first, *second; /* second: NULL for one load */
        const char *level;
    } rows[] = {
        {"debug: true\n", NULL, "debug"},
        {"debug: false\n", NULL, "info"},
        {"debug: true\nlogging:\n  level: warn\n", NULL, "warn"},
        {"logging:\n  level: info\ndebug: true\n", NULL, "info"},
        {"logging:\n  format: json\ndebug: true\n", NULL, "debug"},
        /* Across loads onto one struct: the explicit level sticks, and a
         * later `debug: false` undoes the implied level. */
        {"debug: true\n", "debug: false\n", "info"},
        {"logging:\n  level: error\n", "debug: true\n", "error"},
        {"debug: true\n", "logging:\n  level: info\n", "info"},
        {"debug: true\n", "redis:\n  db: 1\n", "debug"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err, v;
        config_init(&cfg);
        buf_init(&err, 1024);
        buf_init(&v, BUF_NOLIMIT);
        assert_int_equal(load(&cfg, rows[i].first, &err), 0);
        if (rows[i].second)
            assert_int_equal(load(&cfg, rows[i].second, &err), 0);
        /* config_finish is idempotent. */
        assert_int_equal(config_finish(&cfg, &err), 0);
        value(&cfg, "logging.level", &v);
        if (strcmp(buf_str(&v), rows[i].level) != 0)
            fail_msg("row %zu: level %s, want %s", i, buf_str(&v), rows[i].level);
        config_release(&cfg);
        buf_release(&err);
        buf_release(&v);
    }
}

/* ---- payloads ---------------------------------------------------------- */

static void test_payload(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *payload;
        int line;
    } rows[] = {
        {"scheduler:\n  jobs:\n    - name: t\n      spec: \"@every 1h\"\n      payload: >-\n"
         "        {\"foo\": \"bar\"}\n",
         "{\"foo\": \"bar\"}", 5},
        {"scheduler:\n  jobs:\n    - name: t\n      spec: \"@every 1h\"\n      payload: |\n"
         "        {\n          \"a\": [1, 2],\n          \"b\": \"x\"\n        }\n",
         "{\n  \"a\": [1, 2],\n  \"b\": \"x\"\n}\n", 5},
        {"scheduler:\n  jobs:\n    - name: t\n      spec: \"@every 1h\"\n      payload: |-\n"
         "        region: eu\n        ids: [1]\n",
         "region: eu\nids: [1]", 5},
        {"scheduler:\n  jobs:\n    - name: t\n      payload: '{\"k\": 1}'\n      spec: x\n",
         "{\"k\": 1}", 4},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        config_init(&cfg);
        buf_init(&err, 1024);
        if (load(&cfg, rows[i].yaml, &err) != 0)
            fail_msg("row %zu: %s", i, buf_str(&err));
        assert_int_equal(cfg.scheduler.njobs, 1);
        const struct config_job *j = &cfg.scheduler.jobs[0];
        assert_string_equal(j->payload, rows[i].payload);
        assert_int_equal(j->payload_pos.line, rows[i].line);
        assert_ptr_equal(j->payload_pos.file, cfg.files[0]);
        assert_int_equal(j->pos.line, 3);
        config_release(&cfg);
        buf_release(&err);
    }
}

/* ---- several files ----------------------------------------------------- */

struct tmpdir {
    char dir[64];
    char paths[8][128];
    int n;
};

static const char *write_tmp(struct tmpdir *t, const char *text)
{
    assert_true(t->n < (int)ARRAY_SIZE(t->paths));
    char *p = t->paths[t->n++];
    char tmpl[sizeof(t->paths[0])];
    snprintf(tmpl, sizeof(tmpl), "%s/cfgXXXXXX", t->dir);
    memcpy(p, tmpl, sizeof(tmpl));
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return p;
}

static void tmp_cleanup(struct tmpdir *t)
{
    for (int i = 0; i < t->n; i++)
        unlink(t->paths[i]);
    rmdir(t->dir);
}

static void tmp_init(struct tmpdir *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_configXXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static void test_multi_file(void **state)
{
    (void)state;
    struct tmpdir t;
    struct config cfg;
    struct buf err;
    tmp_init(&t);
    buf_init(&err, 4096);

    const char *a = write_tmp(&t, "version: v1alpha1\n"
                                  "debug: true\n"
                                  "redis:\n"
                                  "  endpoint: a:1\n"
                                  "  db: 2\n"
                                  "worker:\n"
                                  "  concurrency: 4\n"
                                  "  queues:\n"
                                  "    critical: 6\n"
                                  "    default: 3\n"
                                  "scheduler:\n"
                                  "  jobs:\n"
                                  "    - name: a\n"
                                  "      spec: '@every 1h'\n"
                                  "    - name: b\n"
                                  "      spec: '@every 2h'\n");
    const char *b = write_tmp(&t, "redis:\n"
                                  "  db: 5\n"
                                  "worker:\n"
                                  "  queues:\n"
                                  "    low: 1\n"
                                  "scheduler:\n"
                                  "  jobs:\n"
                                  "    - name: c\n"
                                  "      spec: '@daily'\n");
    const char *bad = write_tmp(&t, "redis:\n"
                                    "  db: 5\n"
                                    "  endpoint: nope\n");
    const char *empty = write_tmp(&t, "");

    /* Scalars and maps merge key by key; worker.queues and jobs are
     * replaced by the later file. */
    const char *const ab[] = {a, b, empty};
    config_init(&cfg);
    if (config_load(&cfg, ab, 3, &err) != 0)
        fail_msg("%s", buf_str(&err));
    static const char *const want[] = {
        "version=v1alpha1",
        "debug=true",
        "logging.level=debug",
        "redis.endpoint=a:1",
        "redis.db=5",
        "worker.concurrency=4",
        "worker.queues=low:1",
        "scheduler.jobs=c|@daily|-|-|-",
        NULL,
    };
    expect_values(&cfg, "a+b", want);
    assert_int_equal(cfg.nfiles, 3);
    assert_string_equal(cfg.files[0], a);
    assert_string_equal(cfg.files[1], b);
    assert_string_equal(cfg.files[2], empty);
    /* Positions point into cfg.files and name the file that set them. */
    assert_ptr_equal(cfg.scheduler.jobs[0].pos.file, cfg.files[1]);
    assert_int_equal(cfg.scheduler.jobs[0].pos.line, 8);
    assert_ptr_equal(cfg.scheduler.jobs[0].spec_pos.file, cfg.files[1]);
    assert_int_equal(cfg.scheduler.jobs[0].spec_pos.line, 9);
    assert_ptr_equal(cfg.worker.queues[0].pos.file, cfg.files[1]);
    assert_int_equal(cfg.worker.queues[0].pos.line, 5);
    config_release(&cfg);

    /* Order matters: b then a. */
    const char *const ba[] = {b, a};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, ba, 2, &err), 0);
    static const char *const want_ba[] = {
        "redis.db=2",
        "worker.queues=critical:6,default:3",
        "scheduler.jobs=a|@every 1h|-|-|-;b|@every 2h|-|-|-",
        NULL,
    };
    expect_values(&cfg, "b+a", want_ba);
    assert_ptr_equal(cfg.scheduler.jobs[1].pos.file, cfg.files[1]);
    config_release(&cfg);

    /* The error names the file it is in. */
    const char *const abad[] = {a, bad};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, abad, 2, &err), -1);
    char want_err[256];
    snprintf(want_err, sizeof(want_err),
             "%s:3: redis.endpoint: expected host:port with a port in 1..65535, got \"nope\"", bad);
    assert_string_equal(buf_str(&err), want_err);
    config_release(&cfg);

    /* A missing file, a directory. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.yaml", t.dir);
    const char *const am[] = {a, missing};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, am, 2, &err), -1);
    snprintf(want_err, sizeof(want_err), "%s: cannot open: No such file or directory", missing);
    assert_string_equal(buf_str(&err), want_err);
    config_release(&cfg);

    const char *const dir[] = {t.dir};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, dir, 1, &err), -1);
    snprintf(want_err, sizeof(want_err), "%s: cannot read: Is a directory", t.dir);
    assert_string_equal(buf_str(&err), want_err);
    config_release(&cfg);

    /* A file over the limit is refused before it is read. */
    const char *huge = write_tmp(&t, "");
    assert_int_equal(truncate(huge, CONFIG_MAX_FILE_BYTES + 1), 0);
    const char *const h[] = {huge};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, h, 1, &err), -1);
    snprintf(want_err, sizeof(want_err), "%s: larger than 4194304 bytes", huge);
    assert_string_equal(buf_str(&err), want_err);
    config_release(&cfg);

    /* No files at all: defaults plus environment. */
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL, 0, &err), 0);
    assert_int_equal(cfg.nfiles, 0);
    config_release(&cfg);

    buf_release(&err);
    tmp_cleanup(&t);
}

/* ---- environment ------------------------------------------------------- */

static void test_env(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    buf_init(&err, 4096);
    const char *yaml = "redis:\n  endpoint: file:1\n  password: filepw\n"
                       "database:\n  dsn: host=file\n";

    /* Set variables win over the files. */
    setenv("DATABASE_URI", "postgres://env/db", 1);
    setenv("REDIS_ENDPOINT", "[::1]:6380", 1);
    setenv("REDIS_PASSWORD", "envpw", 1);
    config_init(&cfg);
    assert_int_equal(load(&cfg, yaml, &err), 0);
    static const char *const want_env[] = {
        "database.dsn=postgres://env/db",
        "redis.endpoint=[::1]:6380",
        "redis.password=envpw",
        NULL,
    };
    expect_values(&cfg, "env", want_env);
    assert_int_equal(config_finish(&cfg, &err), 0);
    expect_values(&cfg, "env twice", want_env);
    config_release(&cfg);

    /* Without files. */
    config_init(&cfg);
    assert_int_equal(config_finish(&cfg, &err), 0);
    expect_values(&cfg, "env only", want_env);
    config_release(&cfg);

    /* Empty values count as unset. */
    setenv("DATABASE_URI", "", 1);
    setenv("REDIS_ENDPOINT", "", 1);
    setenv("REDIS_PASSWORD", "", 1);
    config_init(&cfg);
    assert_int_equal(load(&cfg, yaml, &err), 0);
    static const char *const want_file[] = {
        "database.dsn=host=file",
        "redis.endpoint=file:1",
        "redis.password=filepw",
        NULL,
    };
    expect_values(&cfg, "empty env", want_file);
    config_release(&cfg);

    /* REDIS_ENDPOINT is validated like the key. */
    static const struct {
        const char *value;
        const char *err;
    } bad[] = {
        {"localhost", "env REDIS_ENDPOINT: expected host:port with a port in 1..65535, got "
                      "\"localhost\""},
        {"h:99999", "env REDIS_ENDPOINT: expected host:port with a port in 1..65535, got "
                    "\"h:99999\""},
        {"a\nb:1", "env REDIS_ENDPOINT: expected host:port with a port in 1..65535, got "
                   "\"a\\x0ab:1\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        setenv("REDIS_ENDPOINT", bad[i].value, 1);
        config_init(&cfg);
        assert_int_equal(load(&cfg, yaml, &err), -1);
        assert_string_equal(buf_str(&err), bad[i].err);
        config_release(&cfg);
    }

    clear_env();
    buf_release(&err);
}

/* ---- config_finish on structs filled by code --------------------------- */

static void test_finish_checks(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    buf_init(&err, 1024);

    config_init(&cfg);
    assert_int_equal(load(&cfg, "scheduler:\n  jobs:\n    - {name: a, spec: '@hourly'}\n", &err),
                     0);
    /* A job without a queue uses default_queue, checked at finish. */
    free(cfg.scheduler.default_queue);
    cfg.scheduler.default_queue = strdup("bad queue");
    assert_int_equal(config_finish(&cfg, &err), -1);
    assert_string_equal(buf_str(&err), "config: scheduler.default_queue: expected a queue name of "
                                       "1..64 characters from A-Z a-z 0-9 _ . : -");
    free(cfg.scheduler.default_queue);
    cfg.scheduler.default_queue = strdup("ok");
    cfg.scheduler.jobs[0].queue = strdup("");
    assert_int_equal(config_finish(&cfg, &err), -1);
    assert_string_equal(buf_str(&err), "cfg.yaml:3: scheduler.jobs[0].queue: expected a queue "
                                       "name of 1..64 characters from A-Z a-z 0-9 _ . : -");
    config_release(&cfg);
    /* Releasing twice is harmless. */
    config_release(&cfg);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_secrets_not_echoed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_debug_level),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_multi_file),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_finish_checks),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
