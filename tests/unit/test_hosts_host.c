/* Unit tests: hosts/host: every validation rule of one host (accepted
 * forms, normalisation, sent flags, each rejection with its reason) and of
 * the ingress message around it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts/host.h"

#define ORG     "123"
#define UUID    "1b36b20f-7fa0-4454-a6d2-008294e06378"
#define UUID_UP "1B36B20F-7FA0-4454-A6D2-008294E06378"
#define UUID2   "7e5a6c1a-3f1b-4c9e-9d3e-2b1c0a9f8e7d"
#define ID      "\"insights_id\":\"" UUID "\"" /* the smallest valid host */
#define C50     "cccccccccccccccccccccccccccccccccccccccccccccccccc"
#define C100    C50 C50
#define C200    C100 C100
#define C255    C200 C50 "ccccc"
#define C500    C255 C200 "ccccccccccccccccccccccccccccccccccccccccccccc"
#define E_ACUTE "\xc3\xa9"
#define E10     E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE E_ACUTE
#define E200    E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10

/* host_parse of the JSON text with org ORG; data is freed before the
 * caller looks at h, so h must own what it keeps. */
static enum host_invalid parse(const char *json, struct host_in *h, struct buf *err)
{
    json_error_t jerr;
    json_t *data = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!data)
        fail_msg("test JSON %s: %s", json, jerr.text);
    enum host_invalid r = host_parse(data, ORG, h, err);
    json_decref(data);
    return r;
}

static void accept(const char *json, struct host_in *h)
{
    struct buf err;
    buf_init(&err, 1024);
    enum host_invalid r = parse(json, h, &err);
    if (r != HOST_OK)
        fail_msg("%s: %s (%s)", json, host_invalid_name(r), buf_str(&err));
    buf_release(&err);
}

static char *dumps(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void assert_json(const json_t *j, const char *want)
{
    char *got = dumps(j);
    if (strcmp(got, want) != 0)
        fail_msg("got %s, want %s", got, want);
    free(got);
}

static void test_rejections(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        enum host_invalid want;
        const char *reason; /* a part of err */
    } rows[] = {
        {"[]", HOST_BAD_JSON, "not a JSON object"},
        /* org_id */
        {"{" ID ",\"org_id\":\"124\"}", HOST_ORG_MISMATCH, "org_id \"124\" differs"},
        {"{" ID ",\"org_id\":\"\"}", HOST_ORG_MISMATCH, "differs"},
        {"{" ID ",\"org_id\":123}", HOST_BAD_FIELD, "org_id: expected a string, got a number"},
        /* UUID facts */
        {"{\"insights_id\":\"1b36b20f7fa04454a6d2008294e06378\"}", HOST_BAD_CANONICAL_FACT,
         "insights_id: expected a UUID"},
        {"{\"insights_id\":\"{" UUID "}\"}", HOST_BAD_CANONICAL_FACT, "insights_id"},
        {"{\"insights_id\":\"1b36b20f-7fa0-4454-a6d2-008294e0637g\"}", HOST_BAD_CANONICAL_FACT,
         "insights_id"},
        {"{\"insights_id\":\"1b36b20f-7fa0-4454-a6d2-008294e063\"}", HOST_BAD_CANONICAL_FACT,
         "insights_id"},
        {"{\"insights_id\":\"1b36b20f-7fa04-454-a6d2-008294e06378\"}", HOST_BAD_CANONICAL_FACT,
         "insights_id"},
        {"{\"insights_id\":\"\"}", HOST_BAD_CANONICAL_FACT, "insights_id"},
        {"{\"insights_id\":42}", HOST_BAD_CANONICAL_FACT, "got a number"},
        {"{\"subscription_manager_id\":\"x\"}", HOST_BAD_CANONICAL_FACT,
         "subscription_manager_id: expected a UUID (8-4-4-4-12 hex digits), got \"x\""},
        {"{" ID ",\"bios_uuid\":\"1234567890\"}", HOST_BAD_CANONICAL_FACT, "bios_uuid"},
        {"{" ID ",\"satellite_id\":\"123456789\"}", HOST_BAD_CANONICAL_FACT,
         "satellite_id: expected a UUID (8-4-4-4-12 hex digits) or 10 digits"},
        {"{" ID ",\"satellite_id\":\"12345678901\"}", HOST_BAD_CANONICAL_FACT, "satellite_id"},
        {"{" ID ",\"satellite_id\":\"12345678a0\"}", HOST_BAD_CANONICAL_FACT, "satellite_id"},
        {"{" ID ",\"satellite_id\":1234567890}", HOST_BAD_CANONICAL_FACT, "satellite_id"},
        /* fqdn */
        {"{" ID ",\"fqdn\":\"\"}", HOST_BAD_CANONICAL_FACT, "fqdn: expected a non-blank string"},
        {"{" ID ",\"fqdn\":\"  \"}", HOST_BAD_CANONICAL_FACT, "fqdn"},
        {"{" ID ",\"fqdn\":\"" C255 "c\"}", HOST_BAD_CANONICAL_FACT, "1..255 characters"},
        {"{" ID ",\"fqdn\":[\"a\"]}", HOST_BAD_CANONICAL_FACT, "fqdn"},
        /* IP addresses */
        {"{" ID ",\"ip_addresses\":[]}", HOST_BAD_CANONICAL_FACT,
         "ip_addresses: expected a non-empty list of IP addresses"},
        {"{" ID ",\"ip_addresses\":\"1.2.3.4\"}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[\"1.2.3.4\",\"1.2.3\"]}", HOST_BAD_CANONICAL_FACT,
         "ip_addresses[1]: expected an IPv4 or IPv6 address, got \"1.2.3\""},
        {"{" ID ",\"ip_addresses\":[\"01.2.3.4\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses[0]"},
        {"{" ID ",\"ip_addresses\":[\"1.2.3.4/24\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[\"256.1.1.1\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[\"fe80::1%eth0\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[\"2001:db8:::1\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[\"\"]}", HOST_BAD_CANONICAL_FACT, "ip_addresses"},
        {"{" ID ",\"ip_addresses\":[null]}", HOST_BAD_CANONICAL_FACT, "got null"},
        /* MAC addresses */
        {"{" ID ",\"mac_addresses\":[]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses: expected a non-empty list of MAC addresses"},
        {"{" ID ",\"mac_addresses\":[\"aa:bb:cc:dd:ee\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses[0]: expected a MAC address"},
        {"{" ID ",\"mac_addresses\":[\"aa:bb-cc:dd:ee:ff\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses[0]"},
        {"{" ID ",\"mac_addresses\":[\"aa.bb.cc.dd.ee.ff\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses"},
        {"{" ID ",\"mac_addresses\":[\"aabb:ccdd:eeff\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses"},
        {"{" ID ",\"mac_addresses\":[\"gg:bb:cc:dd:ee:ff\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses"},
        {"{" ID ",\"mac_addresses\":[\"aabbccddeef\"]}", HOST_BAD_CANONICAL_FACT, "mac_addresses"},
        {"{" ID ",\"mac_addresses\":[\"aabb-ccdd-eeff\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses"},
        {"{" ID ",\"mac_addresses\":[\"aa:bb:cc:dd:ee:ff\",\"x\"]}", HOST_BAD_CANONICAL_FACT,
         "mac_addresses[1]"},
        /* provider */
        {"{\"provider_id\":\"i-0abc\"}", HOST_BAD_PROVIDER,
         "provider_id and provider_type go together: provider_id without provider_type"},
        {"{" ID ",\"provider_type\":\"aws\"}", HOST_BAD_PROVIDER,
         "provider_type without provider_id"},
        {"{\"provider_id\":\"i-0abc\",\"provider_type\":\"oracle\"}", HOST_BAD_PROVIDER,
         "provider_type: expected one of alibaba, aws, azure, gcp, ibm, got \"oracle\""},
        {"{\"provider_id\":\"i-0abc\",\"provider_type\":\"discovery\"}", HOST_BAD_PROVIDER,
         "provider_type"},
        {"{\"provider_id\":\"i-0abc\",\"provider_type\":\"awss\"}", HOST_BAD_PROVIDER,
         "provider_type"},
        {"{\"provider_id\":\"i-0abc\",\"provider_type\":\"\"}", HOST_BAD_PROVIDER, "provider_type"},
        {"{\"provider_id\":\"i-0abc\",\"provider_type\":1}", HOST_BAD_CANONICAL_FACT,
         "provider_type: expected a string"},
        {"{\"provider_id\":\"\",\"provider_type\":\"aws\"}", HOST_BAD_CANONICAL_FACT,
         "provider_id: expected a non-blank string of 1..500 characters"},
        {"{\"provider_id\":\" \\t\",\"provider_type\":\"aws\"}", HOST_BAD_CANONICAL_FACT,
         "provider_id"},
        {"{\"provider_id\":\"" C500 "c\",\"provider_type\":\"aws\"}", HOST_BAD_CANONICAL_FACT,
         "provider_id"},
        /* at least one ID fact */
        {"{}", HOST_NO_ID_FACT,
         "one of provider_id, subscription_manager_id or insights_id is required"},
        {"{\"fqdn\":\"a.example.com\",\"bios_uuid\":\"" UUID "\",\"satellite_id\":\"" UUID
         "\",\"ip_addresses\":[\"1.2.3.4\"],\"mac_addresses\":[\"aa:bb:cc:dd:ee:ff\"]}",
         HOST_NO_ID_FACT, "required"},
        {"{\"insights_id\":null,\"subscription_manager_id\":null,\"provider_id\":null,"
         "\"provider_type\":null}",
         HOST_NO_ID_FACT, "required"},
        /* other fields */
        {"{" ID ",\"display_name\":\"\"}", HOST_BAD_FIELD,
         "display_name: expected a string of 1..200 characters, got \"\""},
        {"{" ID ",\"display_name\":\"" C200 "c\"}", HOST_BAD_FIELD, "display_name"},
        {"{" ID ",\"display_name\":\"" E200 E_ACUTE "\"}", HOST_BAD_FIELD, "display_name"},
        {"{" ID ",\"display_name\":null}", HOST_BAD_FIELD, "display_name: expected a string"},
        {"{" ID ",\"display_name\":5}", HOST_BAD_FIELD, "got a number"},
        {"{" ID ",\"ansible_host\":\"" C255 "c\"}", HOST_BAD_FIELD,
         "ansible_host: expected a string of 0..255 characters"},
        {"{" ID ",\"ansible_host\":false}", HOST_BAD_FIELD, "got a boolean"},
        {"{" ID ",\"reporter\":\"\"}", HOST_BAD_FIELD, "reporter: expected a string of 1..255"},
        {"{" ID ",\"reporter\":\"" C255 "c\"}", HOST_BAD_FIELD, "reporter"},
        {"{" ID ",\"account\":\"12345678901\"}", HOST_BAD_FIELD,
         "account: expected a string of 0..10 characters"},
        {"{" ID ",\"account\":1}", HOST_BAD_FIELD, "account"},
        /* closed schema */
        {"{" ID ",\"hostname\":\"a\"}", HOST_BAD_FIELD, "unknown key \"hostname\""},
        {"{" ID ",\"id\":\"" UUID "\"}", HOST_BAD_FIELD,
         "unknown key \"id\" (hosts are matched by their canonical facts)"},
        {"{" ID ",\"a\\u0001b\":1}", HOST_BAD_FIELD, "unknown key \"a?b\""},
        {"{" ID ",\"" C50 "\":1}", HOST_BAD_FIELD, "unknown key \"cccccccccccccccccccccccc"},
        /* facts */
        {"{" ID ",\"facts\":{}}", HOST_BAD_FIELD,
         "facts: expected a list of {namespace, facts}, got an object"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\"}]}", HOST_BAD_FIELD,
         "facts[0]: expected exactly"},
        {"{" ID ",\"facts\":[{\"facts\":{}}]}", HOST_BAD_FIELD, "facts[0]"},
        {"{" ID ",\"facts\":[{\"namespace\":\"\",\"facts\":{}}]}", HOST_BAD_FIELD, "facts[0]"},
        {"{" ID ",\"facts\":[{\"namespace\":\"" C255 "c\",\"facts\":{}}]}", HOST_BAD_FIELD,
         "facts[0]"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\",\"facts\":[]}]}", HOST_BAD_FIELD, "facts[0]"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\",\"facts\":{},\"x\":1}]}", HOST_BAD_FIELD,
         "facts[0]"},
        {"{" ID ",\"facts\":[1]}", HOST_BAD_FIELD, "facts[0]"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\",\"facts\":{\"b\":{\"\":1}}}]}", HOST_BAD_FIELD,
         "facts[0].facts: an empty key"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\",\"facts\":{\"b\":[{\"\":1}]}}]}", HOST_BAD_FIELD,
         "facts[0].facts: an empty key"},
        {"{" ID ",\"facts\":[{\"namespace\":\"a\",\"facts\":{}},{\"namespace\":\"b\",\"facts\":{}},"
         "{\"namespace\":\"a\",\"facts\":{}}]}",
         HOST_BAD_FIELD, "facts[2]: namespace \"a\" given twice"},
        /* tags, list form */
        {"{" ID ",\"tags\":null}", HOST_BAD_FIELD, "tags: expected a list of {namespace, key"},
        {"{" ID ",\"tags\":\"a/b=c\"}", HOST_BAD_FIELD, "tags"},
        {"{" ID ",\"tags\":[{\"namespace\":\"a\",\"value\":\"c\"}]}", HOST_BAD_FIELD,
         "tags[0]: expected"},
        {"{" ID ",\"tags\":[{\"key\":\"\"}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":null}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"" C255 "c\"}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\",\"value\":\"" C255 "c\"}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\",\"namespace\":\"" C255 "c\"}]}", HOST_BAD_FIELD,
         "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\",\"value\":1}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\",\"namespace\":[]}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\",\"extra\":\"x\"}]}", HOST_BAD_FIELD, "tags[0]"},
        {"{" ID ",\"tags\":[{\"key\":\"k\"},\"a/b\"]}", HOST_BAD_FIELD, "tags[1]"},
        /* tags, nested form */
        {"{" ID ",\"tags\":{\"ns\":[\"k\"]}}", HOST_BAD_FIELD,
         "tags: a namespace is 0..255 characters mapping to an object or null"},
        {"{" ID ",\"tags\":{\"" C255 "c\":{}}}", HOST_BAD_FIELD, "a namespace"},
        {"{" ID ",\"tags\":{\"ns\":{\"\":[\"v\"]}}}", HOST_BAD_FIELD,
         "tags: a key is 1..255 characters mapping to a list or null"},
        {"{" ID ",\"tags\":{\"ns\":{\"" C255 "c\":null}}}", HOST_BAD_FIELD, "a key"},
        {"{" ID ",\"tags\":{\"ns\":{\"k\":\"v\"}}}", HOST_BAD_FIELD, "a key"},
        {"{" ID ",\"tags\":{\"ns\":{\"k\":[1]}}}", HOST_BAD_FIELD,
         "tags: a value is a string of 0..255 characters or null"},
        {"{" ID ",\"tags\":{\"ns\":{\"k\":[\"" C255 "c\"]}}}", HOST_BAD_FIELD, "a value"},
        /* system_profile */
        {"{" ID ",\"system_profile\":[]}", HOST_BAD_FIELD,
         "system_profile: expected an object, got a list"},
        {"{" ID ",\"system_profile\":null}", HOST_BAD_FIELD, "system_profile"},
        {"{" ID ",\"system_profile\":{\"owner_id\":\"me\"}}", HOST_BAD_FIELD,
         "system_profile.owner_id: expected a UUID, got \"me\""},
        {"{" ID ",\"system_profile\":{\"owner_id\":null}}", HOST_BAD_FIELD, "owner_id"},
        /* stale_timestamp */
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T09:41:03\"}", HOST_BAD_FIELD,
         "stale_timestamp: expected an RFC 3339 date-time with a time zone, got "
         "\"2024-06-03T09:41:03\""},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03\"}", HOST_BAD_FIELD, "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03 09:41:03Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2023-02-29T00:00:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-04-31T00:00:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-13-01T00:00:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T24:00:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T23:60:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T23:59:60Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T09:41:03.Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T09:41:03+0200\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T09:41:03+24:00\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"2024-06-03T09:41:03Z \"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"0000-01-01T00:00:00Z\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"0001-01-01T00:00:00+00:01\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":\"9999-12-31T23:59:59-00:01\"}", HOST_BAD_FIELD,
         "stale_timestamp"},
        {"{" ID ",\"stale_timestamp\":1717407663}", HOST_BAD_FIELD, "got a number"},
        {"{" ID ",\"stale_timestamp\":null}", HOST_BAD_FIELD, "got null"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct host_in h;
        struct buf err;
        buf_init(&err, 1024);
        enum host_invalid r = parse(rows[i].json, &h, &err);
        if (r != rows[i].want || !strstr(buf_str(&err), rows[i].reason))
            fail_msg("row %zu %.80s: got %s (%s), want %s (%s)", i, rows[i].json,
                     host_invalid_name(r), buf_str(&err), host_invalid_name(rows[i].want),
                     rows[i].reason);
        /* out is left empty */
        assert_int_equal(h.sent, 0);
        assert_null(h.facts);
        assert_null(h.ip_addresses);
        assert_string_equal(h.org_id, "");
        buf_release(&err);
    }
}

static void test_canonical_facts(void **state)
{
    (void)state;
    struct host_in h;
    accept("{\"insights_id\":\"" UUID_UP "\",\"subscription_manager_id\":\"" UUID2
           "\",\"satellite_id\":\"" UUID_UP "\",\"bios_uuid\":\"" UUID_UP
           "\",\"fqdn\":\"Host.Example.COM\",\"provider_id\":\"I-0ABC\",\"provider_type\":\"AWS\","
           "\"ip_addresses\":[\"10.0.0.1\",\"2001:DB8:0:0:0:0:0:1\",\"::FFFF:1.2.3.4\",\"::\"],"
           "\"org_id\":\"" ORG "\"}",
           &h);
    assert_string_equal(h.org_id, ORG);
    assert_string_equal(h.insights_id, UUID);
    assert_string_equal(h.subscription_manager_id, UUID2);
    assert_string_equal(h.satellite_id, UUID);
    assert_string_equal(h.bios_uuid, UUID);
    assert_string_equal(h.fqdn, "host.example.com");
    assert_string_equal(h.provider_id, "i-0abc");
    assert_string_equal(h.provider_type, "aws");
    assert_int_equal(h.n_ip_addresses, 4);
    assert_string_equal(h.ip_addresses[0], "10.0.0.1");
    assert_string_equal(h.ip_addresses[1], "2001:db8::1");
    assert_string_equal(h.ip_addresses[2], "::ffff:1.2.3.4");
    assert_string_equal(h.ip_addresses[3], "::");
    assert_int_equal(h.sent, HOST_SENT_INSIGHTS_ID | HOST_SENT_SUBSCRIPTION_MANAGER_ID |
                                 HOST_SENT_SATELLITE_ID | HOST_SENT_BIOS_UUID | HOST_SENT_FQDN |
                                 HOST_SENT_PROVIDER | HOST_SENT_IP_ADDRESSES);
    host_in_release(&h);

    /* satellite_id of ten digits; each ID fact alone is enough */
    accept("{\"subscription_manager_id\":\"" UUID "\",\"satellite_id\":\"0123456789\"}", &h);
    assert_string_equal(h.satellite_id, "0123456789");
    assert_int_equal(h.sent, HOST_SENT_SUBSCRIPTION_MANAGER_ID | HOST_SENT_SATELLITE_ID);
    host_in_release(&h);
    static const char *const providers[] = {"alibaba", "aws", "azure", "gcp", "ibm", "Azure"};
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"provider_id\":\"x\",\"provider_type\":\"%s\"}",
                 providers[i]);
        accept(json, &h);
        assert_int_equal(h.sent, HOST_SENT_PROVIDER);
        host_in_release(&h);
    }
    /* limits reached exactly; null canonical facts are not sent */
    accept("{\"provider_id\":\"" C500 "\",\"provider_type\":\"gcp\",\"fqdn\":\"" C255
           "\",\"bios_uuid\":null,\"satellite_id\":null,\"mac_addresses\":null,"
           "\"ip_addresses\":null,\"insights_id\":null}",
           &h);
    assert_int_equal(strlen(h.provider_id), 500);
    assert_int_equal(strlen(h.fqdn), 255);
    assert_int_equal(h.sent, HOST_SENT_PROVIDER | HOST_SENT_FQDN);
    assert_string_equal(h.bios_uuid, "");
    assert_null(h.ip_addresses);
    host_in_release(&h);
}

static void test_mac_forms(void **state)
{
    (void)state;
    struct host_in h;
    accept("{" ID
           ",\"mac_addresses\":[\"AA:BB:CC:DD:EE:FF\",\"aa-bb-cc-dd-ee-0f\",\"AABB.CCDD.EEFF\","
           "\"aabbccddee00\",\"00:00:00:00:00:00\",\"000000000000\","
           "\"80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:01:23:45\","
           "\"80-00-02-08-FE-80-00-00-00-00-00-00-00-02-C9-03-00-01-23-45\","
           "\"80000208FE800000000000000002C90300012345\"]}",
           &h);
    assert_int_equal(h.sent, HOST_SENT_INSIGHTS_ID | HOST_SENT_MAC_ADDRESSES);
    static const char *const want[] = {
        "aa:bb:cc:dd:ee:ff",
        "aa-bb-cc-dd-ee-0f",
        "aabb.ccdd.eeff",
        "aabbccddee00",
        "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:01:23:45",
        "80-00-02-08-fe-80-00-00-00-00-00-00-00-02-c9-03-00-01-23-45",
        "80000208fe800000000000000002c90300012345",
    };
    assert_int_equal(h.n_mac_addresses, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(h.mac_addresses[i], want[i]);
    host_in_release(&h);
    /* only placeholders: as if not sent */
    accept("{" ID ",\"mac_addresses\":[\"00:00:00:00:00:00\",\"0000.0000.0000\"]}", &h);
    assert_int_equal(h.sent, HOST_SENT_INSIGHTS_ID);
    assert_int_equal(h.n_mac_addresses, 0);
    host_in_release(&h);
}

static void test_other_fields(void **state)
{
    (void)state;
    struct host_in h;
    accept("{" ID ",\"display_name\":\"" E200 "\",\"ansible_host\":\"\",\"reporter\":\"puptoo\","
           "\"account\":\"0000001\",\"is_virtual\":true,\"canonical_facts_version\":1,"
           "\"groups\":[],\"tags_alt\":[],\"openshift_cluster_id\":null,"
           "\"facts\":[{\"namespace\":\"rhsm\",\"facts\":{\"a\":{\"b\":[1,{\"c\":2}]}}},"
           "{\"namespace\":\"" C255 "\",\"facts\":{}}],"
           "\"system_profile\":{\"arch\":\"x86_64\",\"owner_id\":\"" UUID "\"},"
           "\"stale_timestamp\":\"2024-06-03T09:41:03.123456789+02:00\"}",
           &h);
    assert_int_equal(strlen(h.display_name), 400); /* 200 characters of 2 bytes */
    assert_string_equal(h.ansible_host, "");
    assert_string_equal(h.reporter, "puptoo");
    assert_int_equal(json_array_size(h.facts), 2);
    assert_json(json_object_get(h.system_profile, "arch"), "\"x86_64\"");
    assert_string_equal(h.stale_timestamp, "2024-06-03T07:41:03.123456Z");
    assert_int_equal(h.stale_timestamp_us, 1717400463123456LL);
    assert_int_equal(h.sent, HOST_SENT_INSIGHTS_ID | HOST_SENT_DISPLAY_NAME |
                                 HOST_SENT_ANSIBLE_HOST | HOST_SENT_REPORTER | HOST_SENT_FACTS |
                                 HOST_SENT_SYSTEM_PROFILE | HOST_SENT_STALE_TIMESTAMP);
    host_in_release(&h);

    /* nothing but an ID: nothing else sent; empty lists are sent */
    accept("{" ID ",\"facts\":[],\"tags\":[],\"system_profile\":{}}", &h);
    assert_int_equal(h.sent, HOST_SENT_INSIGHTS_ID | HOST_SENT_FACTS | HOST_SENT_TAGS |
                                 HOST_SENT_SYSTEM_PROFILE);
    assert_json(h.tags, "[]");
    assert_null(h.display_name);
    host_in_release(&h);
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *in, *text;
        int64_t us;
    } rows[] = {
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z", 0},
        {"1970-01-01t00:00:00.5z", "1970-01-01T00:00:00.500000Z", 500000},
        {"1970-01-01T00:00:00-00:01", "1970-01-01T00:01:00.000000Z", 60000000},
        {"1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z", -1},
        {"2024-02-29T12:00:00+12:30", "2024-02-28T23:30:00.000000Z", 1709163000000000LL},
        {"2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000000Z", 951782400000000LL},
        {"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z", -62135596800000000LL},
        {"9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999Z", 253402300799999999LL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json), "{" ID ",\"stale_timestamp\":\"%s\"}", rows[i].in);
        struct host_in h;
        accept(json, &h);
        assert_string_equal(h.stale_timestamp, rows[i].text);
        assert_int_equal(h.stale_timestamp_us, rows[i].us);
        host_in_release(&h);
    }
}

static void test_tags(void **state)
{
    (void)state;
    static const struct {
        const char *tags, *want;
    } rows[] = {
        {"[{\"namespace\":\"insights-client\",\"key\":\"env\",\"value\":\"prod\"},"
         "{\"key\":\"k\"},{\"namespace\":null,\"key\":\"k\",\"value\":null},"
         "{\"namespace\":\"\",\"key\":\"k\",\"value\":\"\"},"
         "{\"namespace\":\"insights-client\",\"key\":\"env\",\"value\":\"prod\"},"
         "{\"namespace\":\"NS\",\"key\":\"Env\",\"value\":\"Prod\"}]",
         "[{\"namespace\":\"insights-client\",\"key\":\"env\",\"value\":\"prod\"},"
         "{\"namespace\":null,\"key\":\"k\",\"value\":null},"
         "{\"namespace\":\"NS\",\"key\":\"Env\",\"value\":\"Prod\"}]"},
        {"{\"insights-client\":{\"env\":[\"prod\",\"eu\",\"prod\"],\"empty\":[],\"none\":null,"
         "\"nulls\":[null,\"\"]},\"skipped\":null,\"\":{\"k\":[\"v\"]},\"e\":{}}",
         "[{\"namespace\":\"insights-client\",\"key\":\"env\",\"value\":\"prod\"},"
         "{\"namespace\":\"insights-client\",\"key\":\"env\",\"value\":\"eu\"},"
         "{\"namespace\":\"insights-client\",\"key\":\"empty\",\"value\":null},"
         "{\"namespace\":\"insights-client\",\"key\":\"none\",\"value\":null},"
         "{\"namespace\":\"insights-client\",\"key\":\"nulls\",\"value\":null},"
         "{\"namespace\":null,\"key\":\"k\",\"value\":\"v\"}]"},
        {"{}", "[]"},
        {"[{\"namespace\":\"" C255 "\",\"key\":\"" C255 "\",\"value\":\"" C255 "\"}]",
         "[{\"namespace\":\"" C255 "\",\"key\":\"" C255 "\",\"value\":\"" C255 "\"}]"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = strlen(rows[i].tags) + 128;
        char *json = malloc(n);
        snprintf(json, n, "{" ID ",\"tags\":%s}", rows[i].tags);
        struct host_in h;
        accept(json, &h);
        assert_true(h.sent & HOST_SENT_TAGS);
        assert_json(h.tags, rows[i].want);
        host_in_release(&h);
        free(json);
    }
}

static void test_caller_tree_untouched(void **state)
{
    (void)state;
    json_t *data = json_pack("{s:s, s:{s:s, s:s}}", "insights_id", UUID, "system_profile",
                             "owner_id", UUID_UP, "arch", "x86_64");
    struct host_in h;
    assert_int_equal(host_parse(data, ORG, &h, NULL), HOST_OK);
    assert_json(json_object_get(h.system_profile, "owner_id"), "\"" UUID "\"");
    assert_json(json_object_get(json_object_get(data, "system_profile"), "owner_id"),
                "\"" UUID_UP "\"");
    host_in_release(&h);
    /* NUL inside strings (a caller loading with JSON_ALLOW_NUL) */
    json_t *nul = json_pack("{s:s, s:s#}", "insights_id", UUID, "display_name", "a\0b", 3);
    assert_int_equal(host_parse(nul, ORG, &h, NULL), HOST_BAD_FIELD);
    json_decref(nul);
    nul = json_pack("{s:s, s:s#}", "insights_id", UUID, "org_id", ORG "\0x", 5);
    assert_int_equal(host_parse(nul, ORG, &h, NULL), HOST_ORG_MISMATCH);
    json_decref(nul);
    assert_int_equal(host_parse(data, NULL, &h, NULL), HOST_BAD_IDENTITY);
    assert_int_equal(host_parse(data, "", &h, NULL), HOST_BAD_IDENTITY);
    assert_int_equal(host_parse(NULL, ORG, &h, NULL), HOST_BAD_JSON);
    json_decref(data);
}

static void test_reason_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "ok",           "bad_json",     "oversized",      "bad_operation",      "missing_field",
        "bad_identity", "org_mismatch", "owner_mismatch", "bad_canonical_fact", "no_id_fact",
        "bad_provider", "bad_field",
    };
    assert_int_equal(sizeof(names) / sizeof(names[0]), HOST_NREASONS);
    for (int i = 0; i < HOST_NREASONS; i++)
        assert_string_equal(host_invalid_name((enum host_invalid)i), names[i]);
    assert_string_equal(host_invalid_name(HOST_NREASONS), "unknown");
}

/* ---- messages ---- */

/* base64 of {"identity":{"org_id":"123","type":"User"}} */
#define B64_USER "eyJpZGVudGl0eSI6eyJvcmdfaWQiOiIxMjMiLCJ0eXBlIjoiVXNlciJ9fQ=="

/* Standard padded base64 of s (caller frees). */
static char *b64(const char *s)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    char *out = malloc(n / 3 * 4 + 5);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* An add_host message with the identity JSON (base64-encoded here) and the
 * data object text (caller frees). */
static char *message(const char *identity_json, const char *data)
{
    char *id = b64(identity_json);
    size_t n = strlen(id) + strlen(data) + 256;
    char *msg = malloc(n);
    snprintf(msg, n,
             "{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r-1\","
             "\"b64_identity\":\"%s\",\"url\":\"x\"},\"data\":%s,\"extra\":1}",
             id, data);
    free(id);
    return msg;
}

static enum host_invalid parse_msg(const char *msg, struct host_msg *m, struct buf *err)
{
    return host_message_parse(msg, strlen(msg), 1 << 20, m, err);
}

static void test_message_ok(void **state)
{
    (void)state;
    char *msg = message("{\"identity\":{\"org_id\":\"" ORG "\",\"type\":\"User\"}}",
                        "{" ID ",\"fqdn\":\"A\",\"system_profile\":{\"arch\":\"x\"}}");
    struct host_msg m;
    struct buf err;
    buf_init(&err, 1024);
    enum host_invalid r = parse_msg(msg, &m, &err);
    if (r != HOST_OK)
        fail_msg("%s (%s)", host_invalid_name(r), buf_str(&err));
    assert_string_equal(m.request_id, "r-1");
    assert_string_equal(m.id.org_id, ORG);
    assert_int_equal(m.id.type, IDENTITY_USER);
    assert_string_equal(m.host.org_id, ORG);
    assert_string_equal(m.host.fqdn, "a");
    /* no owner for a User identity */
    assert_json(m.host.system_profile, "{\"arch\":\"x\"}");
    host_msg_release(&m);
    free(msg);
    /* request_id is optional */
    const char *plain =
        "{\"operation\":\"add_host\",\"platform_metadata\":{\"b64_identity\":\"" B64_USER
        "\",\"request_id\":null},\"data\":{" ID "}}";
    assert_int_equal(parse_msg(plain, &m, &err), HOST_OK);
    assert_string_equal(m.request_id, "");
    host_msg_release(&m);
    buf_release(&err);
}

static void test_message_rejections(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        enum host_invalid want;
        const char *reason;
        const char *request_id; /* kept for the payload tracker */
    } rows[] = {
        {"", HOST_BAD_JSON, "not JSON", ""},
        {"{\"operation\":\"add_host\"", HOST_BAD_JSON, "not JSON", ""},
        {"[]", HOST_BAD_JSON, "the message is not a JSON object", ""},
        {"{\"operation\":\"add_host\",\"operation\":\"add_host\"}", HOST_BAD_JSON, "not JSON", ""},
        {"{\"platform_metadata\":{},\"data\":{}}", HOST_MISSING_FIELD, "missing operation", ""},
        {"{\"operation\":\"delete\"}", HOST_BAD_OPERATION,
         "operation: expected \"add_host\", got \"delete\"", ""},
        {"{\"operation\":\"ADD_HOST\"}", HOST_BAD_OPERATION, "operation", ""},
        {"{\"operation\":1}", HOST_BAD_OPERATION, "got a number", ""},
        {"{\"operation\":\"add_host\",\"data\":{}}", HOST_MISSING_FIELD,
         "missing platform_metadata", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":\"x\"}", HOST_BAD_JSON,
         "platform_metadata: expected an object", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\"},\"data\":{}}",
         HOST_MISSING_FIELD, "missing platform_metadata.b64_identity", "r"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"b64_identity\":null}}",
         HOST_MISSING_FIELD, "b64_identity", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"b64_identity\":1}}",
         HOST_BAD_IDENTITY, "b64_identity: expected a string", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\","
         "\"b64_identity\":\"!!!!\"}}",
         HOST_BAD_IDENTITY, "identity: not base64", "r"},
        /* {"identity":{"type":"User"}} */
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"b64_identity\":"
         "\"eyJpZGVudGl0eSI6eyJ0eXBlIjoiVXNlciJ9fQ==\"}}",
         HOST_BAD_IDENTITY, "identity: org_id is required", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\","
         "\"b64_identity\":\"" B64_USER "\"}}",
         HOST_MISSING_FIELD, "missing data", "r"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\","
         "\"b64_identity\":\"" B64_USER "\"},\"data\":[]}",
         HOST_BAD_JSON, "the host is not a JSON object", "r"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\","
         "\"b64_identity\":\"" B64_USER "\"},\"data\":{" ID ",\"org_id\":\"999\"}}",
         HOST_ORG_MISMATCH, "org_id \"999\" differs from the identity's", "r"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"r\","
         "\"b64_identity\":\"" B64_USER "\"},\"data\":{\"fqdn\":\"a\"}}",
         HOST_NO_ID_FACT, "required", "r"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"" C50
         "cccccccccccccc\",\"b64_identity\":\"" B64_USER "\"},\"data\":{" ID "}}",
         HOST_OK, "", C50 "cccccccccccccc"},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"" C50
         "ccccccccccccccc\",\"b64_identity\":\"" B64_USER "\"},\"data\":{" ID "}}",
         HOST_BAD_FIELD, "platform_metadata.request_id: expected up to 64 printable ASCII", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":\"a\\tb\","
         "\"b64_identity\":\"" B64_USER "\"},\"data\":{" ID "}}",
         HOST_BAD_FIELD, "request_id", ""},
        {"{\"operation\":\"add_host\",\"platform_metadata\":{\"request_id\":7,"
         "\"b64_identity\":\"" B64_USER "\"},\"data\":{" ID "}}",
         HOST_BAD_FIELD, "request_id", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct host_msg m;
        struct buf err;
        buf_init(&err, 1024);
        enum host_invalid r = parse_msg(rows[i].msg, &m, &err);
        if (r != rows[i].want || !strstr(buf_str(&err), rows[i].reason))
            fail_msg("row %zu: got %s (%s), want %s (%s)", i, host_invalid_name(r), buf_str(&err),
                     host_invalid_name(rows[i].want), rows[i].reason);
        assert_string_equal(m.request_id, rows[i].request_id);
        if (r != HOST_OK) {
            assert_string_equal(m.id.org_id, "");
            assert_int_equal(m.host.sent, 0);
        }
        host_msg_release(&m);
        buf_release(&err);
    }
    struct host_msg m;
    struct buf err;
    buf_init(&err, 1024);
    const char *msg = "{\"operation\":\"add_host\"}";
    assert_int_equal(host_message_parse(msg, strlen(msg), strlen(msg) - 1, &m, &err),
                     HOST_OVERSIZED);
    assert_non_null(strstr(buf_str(&err), "24 bytes, over the limit of 23"));
    assert_int_equal(host_message_parse(NULL, 0, 10, &m, &err), HOST_BAD_JSON);
    /* length is what counts, not a NUL */
    assert_int_equal(host_message_parse("{}x", 2, 10, &m, NULL), HOST_MISSING_FIELD);
    buf_release(&err);
}

static void test_message_owner(void **state)
{
    (void)state;
    static const struct {
        const char *cn, *data;
        enum host_invalid want;
        const char *profile; /* the resulting system_profile */
    } rows[] = {
        /* no system_profile: one with the cn as owner */
        {UUID_UP, "{" ID "}", HOST_OK, "{\"owner_id\":\"" UUID "\"}"},
        /* a system_profile without owner: the cn added */
        {UUID, "{" ID ",\"system_profile\":{\"arch\":\"x\"}}", HOST_OK,
         "{\"arch\":\"x\",\"owner_id\":\"" UUID "\"}"},
        /* the same owner, in either case */
        {UUID, "{" ID ",\"system_profile\":{\"owner_id\":\"" UUID_UP "\"}}", HOST_OK,
         "{\"owner_id\":\"" UUID "\"}"},
        {UUID_UP, "{" ID ",\"system_profile\":{\"owner_id\":\"" UUID "\"}}", HOST_OK,
         "{\"owner_id\":\"" UUID "\"}"},
        /* another owner */
        {UUID, "{" ID ",\"system_profile\":{\"owner_id\":\"" UUID2 "\"}}", HOST_OWNER_MISMATCH,
         NULL},
        /* a cn that cannot be an owner_id */
        {"not-a-uuid", "{" ID "}", HOST_OWNER_MISMATCH, NULL},
        {"not-a-uuid", "{" ID ",\"system_profile\":{\"owner_id\":\"" UUID "\"}}",
         HOST_OWNER_MISMATCH, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char identity[256];
        snprintf(identity, sizeof(identity),
                 "{\"identity\":{\"org_id\":\"" ORG "\",\"type\":\"System\",\"system\":{\"cn\":"
                 "\"%s\"}}}",
                 rows[i].cn);
        char *msg = message(identity, rows[i].data);
        struct host_msg m;
        struct buf err;
        buf_init(&err, 1024);
        enum host_invalid r = parse_msg(msg, &m, &err);
        if (r != rows[i].want)
            fail_msg("row %zu: got %s (%s), want %s", i, host_invalid_name(r), buf_str(&err),
                     host_invalid_name(rows[i].want));
        if (r == HOST_OK) {
            assert_true(m.host.sent & HOST_SENT_SYSTEM_PROFILE);
            assert_json(m.host.system_profile, rows[i].profile);
            assert_int_equal(m.id.type, IDENTITY_SYSTEM);
        } else {
            assert_non_null(strstr(buf_str(&err), "owner"));
            assert_string_equal(m.request_id, "r-1");
        }
        host_msg_release(&m);
        buf_release(&err);
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_canonical_facts),
        cmocka_unit_test(test_mac_forms),
        cmocka_unit_test(test_other_fields),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_caller_tree_untouched),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_message_ok),
        cmocka_unit_test(test_message_rejections),
        cmocka_unit_test(test_message_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
