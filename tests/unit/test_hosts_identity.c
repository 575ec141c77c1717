/* Unit tests: hosts/identity (the x-rh-identity header): base64 forms,
 * every identity rule and the reason given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts/identity.h"

/* Standard base64 of s, with or without '=' padding (caller frees). */
static char *b64(const char *s, bool pad)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    char *out = malloc(n / 3 * 4 + 5);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (left > 2)
            v |= (unsigned char)s[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (left > 1)
            out[o++] = abc[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (left > 2)
            out[o++] = abc[v & 63];
        else if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Parses the identity of json (padded base64); the reason on failure. */
static int parse(const char *json, struct identity *id, struct buf *err)
{
    char *text = b64(json, true);
    int rc = identity_parse(text, strlen(text), id, err);
    free(text);
    return rc;
}

#define ORG36 "123456789012345678901234567890123456"
#define C51   "ccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define CN255 C51 C51 C51 C51 C51

static void test_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        enum identity_type type;
        const char *org_id, *cn, *account;
    } rows[] = {
        {"{\"identity\":{\"org_id\":\"123\",\"type\":\"User\",\"auth_type\":\"basic-auth\","
         "\"user\":{\"username\":\"u\"}}}",
         IDENTITY_USER, "123", "", ""},
        {"{\"identity\":{\"org_id\":\"123\",\"type\":\"System\",\"account_number\":\"42\","
         "\"system\":{\"cn\":\"1b36b20f-7fa0-4454-a6d2-008294e06378\",\"cert_type\":\"system\"}}}",
         IDENTITY_SYSTEM, "123", "1b36b20f-7fa0-4454-a6d2-008294e06378", "42"},
        {"{\"identity\":{\"org_id\":\"9\",\"type\":\"ServiceAccount\",\"account_number\":null,"
         "\"service_account\":{\"client_id\":\"c\"}}}",
         IDENTITY_SERVICE_ACCOUNT, "9", "", ""},
        /* internal.org_id when org_id is absent or null */
        {"{\"identity\":{\"type\":\"User\",\"internal\":{\"org_id\":\"77\"}}}", IDENTITY_USER, "77",
         "", ""},
        {"{\"identity\":{\"org_id\":null,\"type\":\"User\",\"internal\":{\"org_id\":\"78\"}}}",
         IDENTITY_USER, "78", "", ""},
        /* identity.org_id wins over internal.org_id */
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"User\",\"internal\":{\"org_id\":\"2\"}}}",
         IDENTITY_USER, "1", "", ""},
        {"{\"identity\":{\"org_id\":\"" ORG36 "\",\"type\":\"User\",\"account_number\":\"\"}}",
         IDENTITY_USER, ORG36, "", ""},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\",\"system\":{\"cn\":\"" CN255 "\"}}}",
         IDENTITY_SYSTEM, "1", CN255, ""},
        /* cn is not needed, and not kept, for other types */
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"User\",\"system\":{\"cn\":\"x\"}},\"x\":1}",
         IDENTITY_USER, "1", "", ""},
        {"{\"identity\":{\"org_id\":\"\xc3\xa9t\xc3\xa9\",\"type\":\"User\"}}", IDENTITY_USER,
         "\xc3\xa9t\xc3\xa9", "", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct identity id;
        struct buf err;
        buf_init(&err, 512);
        if (parse(rows[i].json, &id, &err) != 0)
            fail_msg("row %zu: refused: %s", i, buf_str(&err));
        assert_int_equal(id.type, rows[i].type);
        assert_string_equal(id.org_id, rows[i].org_id);
        assert_string_equal(id.cn, rows[i].cn);
        assert_string_equal(id.account_number, rows[i].account);
        buf_release(&err);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *reason; /* a part of the message */
    } rows[] = {
        {"{\"identity\":{\"type\":\"User\"}}", "org_id is required"},
        {"{\"identity\":{\"org_id\":null,\"type\":\"User\"}}", "org_id is required"},
        {"{\"identity\":{\"org_id\":\"\",\"type\":\"User\"}}", "org_id: expected 1..36 bytes"},
        {"{\"identity\":{\"org_id\":\"" ORG36 "7\",\"type\":\"User\"}}",
         "org_id: expected 1..36 bytes, got 37"},
        {"{\"identity\":{\"org_id\":123,\"type\":\"User\"}}", "org_id: expected a string"},
        {"{\"identity\":{\"org_id\":\"a\\nb\",\"type\":\"User\"}}", "control character"},
        {"{\"identity\":{\"type\":\"User\",\"internal\":{\"org_id\":\"\"}}}", "internal.org_id"},
        {"{\"identity\":{\"org_id\":\"1\"}}", "type is required"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":null}}", "type is required"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"user\"}}", "type: expected User, System"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"Associate\"}}", "type: expected User"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\"}}", "System requires system.cn"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\",\"system\":{}}}",
         "System requires system.cn"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\",\"system\":{\"cn\":\"\"}}}",
         "system.cn: expected 1..255 bytes"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\",\"system\":{\"cn\":\"" CN255 "c\"}}}",
         "system.cn: expected 1..255 bytes, got 256"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"System\",\"system\":{\"cn\":5}}}",
         "system.cn: expected a string"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"User\",\"account_number\":5}}",
         "account_number: expected a string"},
        {"{\"identity\":{\"org_id\":\"1\",\"type\":\"User\",\"account_number\":\"" ORG36 "7\"}}",
         "account_number: expected 1..36 bytes"},
        {"{\"identity\":[]}", "expected an \"identity\" object"},
        {"{\"org_id\":\"1\",\"type\":\"User\"}", "expected an \"identity\" object"},
        {"[1]", "expected an \"identity\" object"},
        {"{\"identity\":{\"org_id\":\"1\",\"org_id\":\"2\",\"type\":\"User\"}}", "not JSON"},
        {"{\"identity\":", "not JSON"},
        {"{\"identity\":{\"org_id\":\"\\u0000\",\"type\":\"User\"}}", "not JSON"},
        {"\xff", "not UTF-8"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct identity id;
        struct buf err;
        buf_init(&err, 512);
        if (parse(rows[i].json, &id, &err) != -1)
            fail_msg("row %zu: accepted", i);
        if (!strstr(buf_str(&err), rows[i].reason) || strncmp(buf_str(&err), "identity: ", 10))
            fail_msg("row %zu: reason \"%s\", want \"%s\"", i, buf_str(&err), rows[i].reason);
        assert_string_equal(id.org_id, ""); /* out stays zeroed */
        assert_int_equal(id.type, 0);
        buf_release(&err);
    }
}

static void test_base64_forms(void **state)
{
    (void)state;
    /* 1, 2 and 0 bytes left in the last quantum: every padding length. */
    static const char *const jsons[] = {
        "{\"identity\":{\"org_id\":\"1\",\"type\":\"User\"}}",
        "{\"identity\":{\"org_id\":\"12\",\"type\":\"User\"}}",
        "{\"identity\":{\"org_id\":\"123\",\"type\":\"User\"}}",
    };
    for (size_t i = 0; i < 3; i++)
        for (int pad = 0; pad < 2; pad++) {
            char *text = b64(jsons[i], pad);
            struct identity id;
            if (identity_parse(text, strlen(text), &id, NULL) != 0)
                fail_msg("%s (pad %d) refused", text, pad);
            assert_int_equal(strlen(id.org_id), i + 1);
            free(text);
        }
    static const struct {
        const char *text;
        const char *reason;
    } bad[] = {
        {"", "empty"},
        /* {"identity":{}} with bytes replaced: URL alphabet, spaces, line breaks */
        {"eyJpZGVudGl0eSI6e319", "org_id is required"}, /* the base64 is fine */
        {"eyJpZGVudGl0eSI6e3-9", "not base64"},
        {"eyJpZGVudGl0eSI6e3_9", "not base64"},
        {"eyJpZGVudGl0eSI6e3 9", "not base64"},
        {"eyJpZGVudGl0eSI6\ne319", "not base64"},
        {"eyJpZGVudGl0eSI6e319=", "not base64"},          /* one digit in the last quantum */
        {"eyJpZGVudGl0eSI6e319fQ=", "not base64"},        /* "}}}" needs "==": one '=' short */
        {"eyJpZGVudGl0eSI6e319fQ===", "not base64"},      /* too much padding */
        {"eyJpZGVudGl0eSI6e319fR==", "not base64"},       /* non-zero pad bits */
        {"eyJpZGVudGl0eSI6e319fR", "not base64"},         /* the same, unpadded */
        {"eyJp=GVudGl0eSI6e319", "not base64"},           /* '=' inside */
        {"eyJpZGVudGl0eSI6e319IA", "org_id is required"}, /* unpadded, decoded */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct identity id;
        struct buf err;
        buf_init(&err, 512);
        if (identity_parse(bad[i].text, strlen(bad[i].text), &id, &err) != -1)
            fail_msg("%s accepted", bad[i].text);
        if (bad[i].reason && !strstr(buf_str(&err), bad[i].reason))
            fail_msg("%s: reason \"%s\", want \"%s\"", bad[i].text, buf_str(&err), bad[i].reason);
        buf_release(&err);
    }
    struct identity id;
    assert_int_equal(identity_parse(NULL, 0, &id, NULL), -1);
}

static void test_length_cap(void **state)
{
    (void)state;
    /* Padded with spaces inside the JSON so the base64 is exactly the cap. */
    size_t json_len = IDENTITY_B64_MAX / 4 * 3;
    char *json = malloc(json_len + 2);
    const char *head = "{\"identity\":{\"org_id\":\"1\",\"type\":\"User\"}";
    memset(json, ' ', json_len);
    memcpy(json, head, strlen(head));
    json[json_len - 1] = '}';
    json[json_len] = '\0';
    char *text = b64(json, true);
    assert_int_equal(strlen(text), IDENTITY_B64_MAX);
    struct identity id;
    struct buf err;
    buf_init(&err, 512);
    assert_int_equal(identity_parse(text, strlen(text), &id, &err), 0);
    free(text);
    json[json_len] = ' ';
    json[json_len + 1] = '\0';
    text = b64(json, true);
    assert_int_equal(identity_parse(text, strlen(text), &id, &err), -1);
    assert_non_null(strstr(buf_str(&err), "over the limit of 8192"));
    free(text);
    free(json);
    buf_release(&err);
}

/* Headers parsed again come from the thread's memo: the same answer, and
 * a header that differs in one byte is parsed anew. */
static void test_parsed_again(void **state)
{
    (void)state;
    char json[128];
    struct buf err;
    buf_init(&err, 256);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 40; k++) { /* more headers than the memo holds */
            snprintf(json, sizeof(json), "{\"identity\":{\"org_id\":\"org%d\",\"type\":\"User\"}}",
                     k);
            struct identity id;
            assert_int_equal(parse(json, &id, &err), 0);
            char want[16];
            snprintf(want, sizeof(want), "org%d", k);
            assert_string_equal(id.org_id, want);
            assert_int_equal(id.type, IDENTITY_USER);
        }
    struct identity id;
    char *text = b64("{\"identity\":{\"org_id\":\"org1\",\"type\":\"User\"}}", true);
    assert_int_equal(identity_parse(text, strlen(text), &id, &err), 0);
    text[strlen(text) - 6] = '*'; /* no longer base64 */
    assert_int_equal(identity_parse(text, strlen(text), &id, &err), -1);
    assert_string_equal(id.org_id, "");
    free(text);
    buf_release(&err);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(identity_type_name(IDENTITY_USER), "User");
    assert_string_equal(identity_type_name(IDENTITY_SYSTEM), "System");
    assert_string_equal(identity_type_name(IDENTITY_SERVICE_ACCOUNT), "ServiceAccount");
    assert_string_equal(identity_type_name((enum identity_type)0), "unknown");
    assert_string_equal(identity_type_name((enum identity_type)9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),     cmocka_unit_test(test_refused),
        cmocka_unit_test(test_base64_forms), cmocka_unit_test(test_length_cap),
        cmocka_unit_test(test_type_names),   cmocka_unit_test(test_parsed_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
