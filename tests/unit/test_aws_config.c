/* Unit tests: the aws section of core/config (credentials, services,
 * retry/http settings, cross-checks). Rows of YAML in, an exact error line
 * or field expectations out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static int load(struct config *cfg, const char *yaml, struct buf *err)
{
    return config_load_string(cfg, "cfg.yaml", yaml, strlen(yaml), err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    buf_init(&err, 4096);
    config_init(&cfg);
    assert_int_equal(config_finish(&cfg, &err), 0);
    assert_false(cfg.aws.is_enabled);
    assert_string_equal(cfg.aws.region, "us-east-1");
    assert_null(cfg.aws.endpoint_url);
    assert_int_equal(cfg.aws.excluded_regions.n, 0);
    assert_int_equal(cfg.aws.retry.max_attempts, 5);
    assert_int_equal(cfg.aws.retry.base_delay_ms, 200);
    assert_int_equal(cfg.aws.retry.max_delay_ms, 5000);
    assert_int_equal(cfg.aws.http.timeout_ms, 30000);
    assert_int_equal(cfg.aws.http.connect_timeout_ms, 5000);
    assert_int_equal(cfg.aws.ncredentials, 0);
    for (size_t i = 0; i < CONFIG_AWS_SERVICES; i++) {
        assert_int_equal(cfg.aws.services[i].use_credentials.n, 0);
        assert_null(cfg.aws.services[i].endpoint_url);
    }
    config_release(&cfg);
    buf_release(&err);
}

static const char full[] = "aws:\n"
                           "  is_enabled: true\n"
                           "  region: eu-central-1\n"
                           "  endpoint_url: http://127.0.0.1:4566\n"
                           "  excluded_regions: [ap-east-1, me-south-1]\n"
                           "  retry: {max_attempts: 3, base_delay: 50ms, max_delay: 2s}\n"
                           "  http: {timeout: 10s, connect_timeout: 1s}\n"
                           "  services:\n"
                           "    ec2:\n"
                           "      use_credentials: [default, web]\n"
                           "      endpoint_url: https://ec2.example.test/base\n"
                           "    elb: {use_credentials: [default]}\n"
                           "    elbv2: {use_credentials: [default]}\n"
                           "    s3:\n"
                           "      use_credentials:\n"
                           "        - web\n"
                           "  credentials:\n"
                           "    default:\n"
                           "      provider: profile\n"
                           "      profile: {name: prod}\n"
                           "    env1:\n"
                           "      provider: env\n"
                           "    web:\n"
                           "      provider: token_file\n"
                           "      token_file:\n"
                           "        path: /var/run/token\n"
                           "        role_arn: \"arn:aws:iam::123456789012:role/x\"\n"
                           "        duration: 30m\n";

static void test_full(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    buf_init(&err, 4096);
    config_init(&cfg);
    int rc = load(&cfg, full, &err);
    if (rc)
        fail_msg("%s", buf_str(&err));
    assert_true(cfg.aws.is_enabled);
    assert_string_equal(cfg.aws.region, "eu-central-1");
    assert_string_equal(cfg.aws.endpoint_url, "http://127.0.0.1:4566");
    assert_int_equal(cfg.aws.excluded_regions.n, 2);
    assert_string_equal(cfg.aws.excluded_regions.items[1], "me-south-1");
    assert_int_equal(cfg.aws.retry.max_attempts, 3);
    assert_int_equal(cfg.aws.retry.base_delay_ms, 50);
    assert_int_equal(cfg.aws.retry.max_delay_ms, 2000);
    assert_int_equal(cfg.aws.http.timeout_ms, 10000);
    assert_int_equal(cfg.aws.http.connect_timeout_ms, 1000);
    const struct config_aws_service *ec2 = &cfg.aws.services[0];
    assert_int_equal(ec2->use_credentials.n, 2);
    assert_string_equal(ec2->use_credentials.items[1], "web");
    assert_int_equal(ec2->use_credentials.pos[1].line, 10);
    assert_string_equal(ec2->endpoint_url, "https://ec2.example.test/base");
    assert_string_equal(cfg.aws.services[3].use_credentials.items[0], "web");
    assert_null(cfg.aws.services[3].endpoint_url);
    assert_int_equal(cfg.aws.ncredentials, 3);
    const struct config_aws_cred *c = cfg.aws.credentials;
    assert_string_equal(c[0].name, "default");
    assert_int_equal(c[0].provider, CONFIG_AWS_PROFILE);
    assert_string_equal(c[0].profile, "prod");
    assert_int_equal(c[0].pos.line, 18);
    assert_int_equal(c[1].provider, CONFIG_AWS_ENV);
    assert_string_equal(c[1].profile, "default");
    assert_int_equal(c[2].provider, CONFIG_AWS_TOKEN_FILE);
    assert_string_equal(c[2].token_path, "/var/run/token");
    assert_string_equal(c[2].role_arn, "arn:aws:iam::123456789012:role/x");
    assert_string_equal(c[2].role_session_name, "inventory");
    assert_int_equal(c[2].duration_ms, 30 * 60 * 1000);
    config_release(&cfg);
    buf_release(&err);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *err;
    } rows[] = {
        {"aws: {is_enabled: maybe}\n",
         "cfg.yaml:1: aws.is_enabled: expected a boolean, got \"maybe\""},
        {"aws: {region: EU}\n",
         "cfg.yaml:1: aws.region: expected a region name of 1..32 characters from a-z 0-9 -, got "
         "\"EU\""},
        {"aws: {endpoint_url: ftp://x}\n",
         "cfg.yaml:1: aws.endpoint_url: expected an http:// or https:// URL with a host, without "
         "spaces, query or fragment, got \"ftp://x\""},
        {"aws: {endpoint_url: \"http://\"}\n",
         "cfg.yaml:1: aws.endpoint_url: expected an http:// or https:// URL with a host, without "
         "spaces, query or fragment, got \"http://\""},
        {"aws: {excluded_regions: eu-west-1}\n",
         "cfg.yaml:1: aws.excluded_regions: expected a sequence of strings, got \"eu-west-1\""},
        {"aws:\n  excluded_regions:\n    - eu-west-1\n    - [x]\n",
         "cfg.yaml:4: aws.excluded_regions[1]: expected a string, got a sequence"},
        {"aws:\n  excluded_regions: [a-1, a-1]\n",
         "cfg.yaml:2: aws.excluded_regions[1]: \"a-1\" listed twice"},
        {"aws: {retry: {max_attempts: 0}}\n",
         "cfg.yaml:1: aws.retry.max_attempts: expected an integer in 1..20, got \"0\""},
        {"aws: {retry: {base_delay: 10s, max_delay: 1s}}\n",
         "config: aws.retry.base_delay (10s) is longer than aws.retry.max_delay (1s)"},
        {"aws: {http: {timeout: 10}}\n",
         "cfg.yaml:1: aws.http.timeout: expected a duration in 1s..1h0m0s, got \"10\""},
        {"aws: {services: {ec3: {}}}\n", "cfg.yaml:1: unknown key \"aws.services.ec3\""},
        {"aws: {services: {ec2: {use: [a]}}}\n",
         "cfg.yaml:1: unknown key \"aws.services.ec2.use\""},
        {"aws:\n  services:\n    ec2:\n      use_credentials: [nope]\n",
         "cfg.yaml:4: aws.services.ec2.use_credentials: unknown credential \"nope\" (not in "
         "aws.credentials)"},
        {"aws:\n  services:\n    ec2:\n      use_credentials: [\"a b\"]\n",
         "cfg.yaml:4: aws.services.ec2.use_credentials[0]: expected a credential name of 1..64 "
         "characters from A-Z a-z 0-9 _ . : -, got \"a b\""},
        {"aws:\n  credentials:\n    x: {}\n",
         "cfg.yaml:3: aws.credentials.x: missing \"provider\" (profile, env or token_file)"},
        {"aws:\n  credentials:\n    x: {provider: sso}\n",
         "cfg.yaml:3: aws.credentials.x.provider: expected one of profile, env, token_file, got "
         "\"sso\""},
        {"aws:\n  credentials:\n    x:\n      provider: token_file\n      token_file:\n"
         "        path: /t\n",
         "cfg.yaml:3: aws.credentials.x: provider token_file needs token_file.role_arn"},
        {"aws:\n  credentials:\n    x:\n      provider: token_file\n",
         "cfg.yaml:3: aws.credentials.x: provider token_file needs token_file.path"},
        {"aws:\n  credentials:\n    x:\n      provider: token_file\n      token_file:\n"
         "        path: /t\n        role_arn: role\n",
         "cfg.yaml:7: aws.credentials.x.token_file.role_arn: expected a role ARN "
         "(arn:aws:iam::123456789012:role/name), got \"role\""},
        {"aws:\n  credentials:\n    x:\n      provider: token_file\n      token_file:\n"
         "        duration: 5m\n",
         "cfg.yaml:6: aws.credentials.x.token_file.duration: expected a duration in 15m0s..12h0m0s "
         "in whole seconds, got \"5m\""},
        {"aws:\n  credentials:\n    x:\n      provider: token_file\n      token_file:\n"
         "        role_session_name: \"a b\"\n",
         "cfg.yaml:6: aws.credentials.x.token_file.role_session_name: expected 2..64 characters "
         "from A-Z a-z 0-9 + = , . @ _ -, got \"a b\""},
        {"aws:\n  credentials:\n    x:\n      provider: env\n      profile: {nam: a}\n",
         "cfg.yaml:5: unknown key \"aws.credentials.x.profile.nam\""},
        {"aws:\n  credentials:\n    x:\n      provider: env\n      token: a\n",
         "cfg.yaml:5: unknown key \"aws.credentials.x.token\""},
        {"aws:\n  credentials:\n    x:\n      provider: env\n      provider: env\n",
         "cfg.yaml:5: duplicate key \"aws.credentials.x.provider\""},
        {"aws:\n  credentials:\n    x:\n      provider: env\n      profile: a\n",
         "cfg.yaml:5: aws.credentials.x.profile: expected a mapping, got \"a\""},
        {"aws:\n  credentials:\n    x: env\n",
         "cfg.yaml:3: aws.credentials.x: expected a mapping, got \"env\""},
        {"aws:\n  credentials:\n    \"a b\": {provider: env}\n",
         "cfg.yaml:3: aws.credentials: invalid credential name \"a b\" (expected a credential "
         "name of 1..64 characters from A-Z a-z 0-9 _ . : -)"},
        {"aws:\n  credentials: [a]\n",
         "cfg.yaml:2: aws.credentials: expected a mapping of credential names to credentials, got "
         "a sequence"},
        {"aws:\n  credentials:\n    x:\n      provider: profile\n      profile: {name: \"[a]\"}\n",
         "cfg.yaml:5: aws.credentials.x.profile.name: expected a profile name without brackets or "
         "control characters, got \"[a]\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf err;
        buf_init(&err, 4096);
        config_init(&cfg);
        int rc = load(&cfg, rows[i].yaml, &err);
        if (rc == 0)
            fail_msg("row %zu: loaded, want error %s", i, rows[i].err);
        if (strcmp(buf_str(&err), rows[i].err) != 0)
            fail_msg("row %zu:\n got %s\nwant %s", i, buf_str(&err), rows[i].err);
        config_release(&cfg);
        buf_release(&err);
    }
}

/* Credentials may come from a later file than use_credentials; a later
 * file replaces the whole credentials map and lists. */
static void test_merge(void **state)
{
    (void)state;
    static const char a[] = "aws:\n"
                            "  excluded_regions: [x-1]\n"
                            "  services: {ec2: {use_credentials: [one]}}\n"
                            "  credentials:\n"
                            "    one: {provider: env}\n"
                            "    two: {provider: env}\n";
    static const char b[] = "aws:\n"
                            "  excluded_regions: []\n"
                            "  credentials:\n"
                            "    one: {provider: profile}\n";
    static const char c[] = "aws:\n"
                            "  credentials:\n"
                            "    two: {provider: env}\n";
    struct config cfg;
    struct buf err;
    buf_init(&err, 4096);
    config_init(&cfg);
    assert_int_equal(config_load_string(&cfg, "a.yaml", a, strlen(a), &err), 0);
    assert_int_equal(config_load_string(&cfg, "b.yaml", b, strlen(b), &err), 0);
    assert_int_equal(cfg.aws.ncredentials, 1);
    assert_int_equal(cfg.aws.credentials[0].provider, CONFIG_AWS_PROFILE);
    assert_int_equal(cfg.aws.excluded_regions.n, 0);
    assert_int_equal(cfg.aws.services[0].use_credentials.n, 1);
    /* "one" is gone now: the list written in a.yaml names an unknown one. */
    assert_int_equal(config_load_string(&cfg, "c.yaml", c, strlen(c), &err), -1);
    assert_string_equal(buf_str(&err), "a.yaml:3: aws.services.ec2.use_credentials: unknown "
                                       "credential \"one\" (not in aws.credentials)");
    config_release(&cfg);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_merge),
    };
    unsetenv("DATABASE_URI");
    unsetenv("REDIS_ENDPOINT");
    unsetenv("REDIS_PASSWORD");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
