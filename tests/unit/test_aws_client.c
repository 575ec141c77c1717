/* Unit tests: sources/aws/client (endpoints, response and error document
 * parsing, classification, XML helpers, malformed inputs). No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/metrics.h"
#include "sources/aws/client.h"

static struct aws *client(const char *yaml, struct config *cfg)
{
    struct buf err;
    struct aws *a = NULL;
    buf_init(&err, 4096);
    config_init(cfg);
    if (config_load_string(cfg, "cfg.yaml", yaml, strlen(yaml), &err) < 0)
        fail_msg("config: %s", buf_str(&err));
    if (aws_new(cfg, &a, &err) < 0)
        fail_msg("aws_new: %s", buf_str(&err));
    buf_release(&err);
    return a;
}

static void test_disabled(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    struct aws *a = (struct aws *)1;
    buf_init(&err, 1024);
    config_init(&cfg);
    assert_int_equal(aws_new(&cfg, &a, &err), -1);
    assert_null(a);
    assert_string_equal(buf_str(&err), "aws: disabled (set aws.is_enabled: true)");
    config_release(&cfg);
    buf_release(&err);
}

static void test_endpoints(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        enum aws_service svc;
        const char *region, *want;
    } rows[] = {
        {"aws: {is_enabled: true}\n", AWS_EC2, "eu-west-1", "https://ec2.eu-west-1.amazonaws.com"},
        {"aws: {is_enabled: true}\n", AWS_ELB, "us-east-2",
         "https://elasticloadbalancing.us-east-2.amazonaws.com"},
        {"aws: {is_enabled: true}\n", AWS_ELBV2, "us-east-2",
         "https://elasticloadbalancing.us-east-2.amazonaws.com"},
        {"aws: {is_enabled: true}\n", AWS_S3, "ap-south-1", "https://s3.ap-south-1.amazonaws.com"},
        {"aws: {is_enabled: true}\n", AWS_SERVICE_COUNT, "eu-central-1",
         "https://sts.eu-central-1.amazonaws.com"},
        {"aws: {is_enabled: true}\n", AWS_EC2, "cn-north-1",
         "https://ec2.cn-north-1.amazonaws.com.cn"},
        {"aws: {is_enabled: true, endpoint_url: \"http://127.0.0.1:4566/\"}\n", AWS_EC2,
         "eu-west-1", "http://127.0.0.1:4566"},
        {"aws: {is_enabled: true, endpoint_url: \"http://127.0.0.1:4566\"}\n", AWS_SERVICE_COUNT,
         "eu-west-1", "http://127.0.0.1:4566"},
        {"aws:\n  is_enabled: true\n  endpoint_url: http://g:1\n  services:\n"
         "    s3: {endpoint_url: \"http://s3.local:9000/base/\"}\n",
         AWS_S3, "eu-west-1", "http://s3.local:9000/base"},
        {"aws:\n  is_enabled: true\n  endpoint_url: http://g:1\n  services:\n"
         "    s3: {endpoint_url: \"http://s3.local:9000\"}\n",
         AWS_EC2, "eu-west-1", "http://g:1"},
        {"aws:\n  is_enabled: true\n  services:\n    elbv2: {endpoint_url: \"https://lb\"}\n",
         AWS_ELB, "eu-west-1", "https://elasticloadbalancing.eu-west-1.amazonaws.com"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct config cfg;
        struct buf out;
        struct aws *a = client(rows[i].yaml, &cfg);
        buf_init(&out, 1024);
        assert_int_equal(aws_endpoint(a, rows[i].svc, rows[i].region, &out), 0);
        if (strcmp(buf_str(&out), rows[i].want) != 0)
            fail_msg("row %zu: got %s, want %s", i, buf_str(&out), rows[i].want);
        buf_release(&out);
        aws_free(a);
        config_release(&cfg);
    }
}

static void test_settings(void **state)
{
    (void)state;
    struct config cfg;
    struct buf err;
    const struct aws_account *const *all;
    const struct aws_account *const *list;
    size_t n;
    struct aws *a = client("aws:\n  is_enabled: true\n  region: eu-west-3\n"
                           "  excluded_regions: [me-south-1]\n"
                           "  services: {ec2: {use_credentials: [b]}}\n"
                           "  credentials:\n    a: {provider: env}\n    b: {provider: profile}\n"
                           "    c: {provider: token_file, token_file: {path: /t, role_arn: "
                           "\"arn:aws:iam::1:role/r\"}}\n",
                           &cfg);
    buf_init(&err, 1024);
    assert_string_equal(aws_default_region(a), "eu-west-3");
    assert_true(aws_region_excluded(a, "me-south-1"));
    assert_false(aws_region_excluded(a, "eu-west-1"));
    assert_int_equal(aws_credentials(a, &all), 3);
    assert_string_equal(all[0]->name, "a");
    assert_string_equal(aws_account_provider_name(all[0]), "env");
    assert_string_equal(aws_account_provider_name(all[1]), "profile");
    assert_string_equal(aws_account_provider_name(all[2]), "token_file");
    assert_string_equal(all[1]->account_id, "");
    /* A service without credentials: a clear error, no network. */
    assert_int_equal(aws_accounts(a, AWS_S3, &list, &n, NULL, &err), -1);
    assert_string_equal(buf_str(&err),
                        "aws.services.s3.use_credentials is empty: no accounts to collect");
    assert_null(aws_account_find(a, AWS_EC2, "123456789012"));
    aws_free(a);
    config_release(&cfg);
    buf_release(&err);
}

/* ---- responses ----------------------------------------------------------- */

static void test_success(void **state)
{
    (void)state;
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
        "    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
        "    <regionInfo>\n"
        "        <item>\n"
        "            <regionName>us-east-1</regionName>\n"
        "            <regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint>\n"
        "            <optInStatus>opt-in-not-required</optInStatus>\n"
        "        </item>\n"
        "        <item>\n"
        "            <regionName>eu-<!-- c -->west-1</regionName>\n"
        "            <regionEndpoint><![CDATA[ec2.eu-west-1]]>.amazonaws.com</regionEndpoint>\n"
        "            <optInStatus>a &amp; b &#x41;</optInStatus>\n"
        "        </item>\n"
        "        <other/>\n"
        "        <item><regionName></regionName><x>  </x></item>\n"
        "    </regionInfo>\n"
        "</DescribeRegionsResponse>\n";
    xmlDocPtr doc;
    struct aws_error e;
    assert_int_equal(aws_parse_response(200, "text/xml;charset=UTF-8", body, strlen(body),
                                        "DescribeRegionsResponse", &doc, &e),
                     0);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr it = aws_xml_path(root, "regionInfo/item");
    assert_non_null(it);
    assert_string_equal(aws_xml_text(it, "regionName"), "us-east-1");
    it = aws_xml_next(it);
    assert_string_equal(aws_xml_text(it, "regionName"), "eu-west-1");
    assert_string_equal(aws_xml_text(it, "regionEndpoint"), "ec2.eu-west-1.amazonaws.com");
    assert_string_equal(aws_xml_text(it, "optInStatus"), "a & b A");
    it = aws_xml_next(it); /* skips <other/> */
    assert_non_null(it);
    assert_string_equal(aws_xml_text(it, "regionName"), "");
    assert_string_equal(aws_xml_text(it, "x"), "  ");
    assert_null(aws_xml_text(it, "missing"));
    assert_null(aws_xml_next(it));
    assert_string_equal(aws_xml_text(root, "requestId"), "59dbff89-35bd-4eac-99ed-be587EXAMPLE");
    assert_null(aws_xml_path(root, "regionInfo/nothing/item"));
    assert_null(aws_xml_child(NULL, "x"));
    assert_null(aws_xml_text(NULL, "x"));
    assert_null(aws_xml_next(NULL));
    assert_string_equal(aws_xml_text(aws_xml_path(root, "requestId"), NULL),
                        "59dbff89-35bd-4eac-99ed-be587EXAMPLE");
    assert_string_equal(aws_xml_text(aws_xml_path(root, "requestId"), ""),
                        "59dbff89-35bd-4eac-99ed-be587EXAMPLE");
    xmlFreeDoc(doc);
}

static void test_tags(void **state)
{
    (void)state;
    static const char body[] =
        "<r xmlns=\"urn:x\"><item><tagSet><item><key>Name</key><value>web-1</value></item>"
        "<item><key>env</key><value/></item></tagSet></item>"
        "<member><Tags><member><Key>Name</Key><Value>lb</Value></member></Tags></member>"
        "<b><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></b></r>";
    xmlDocPtr doc;
    struct aws_error e;
    assert_int_equal(aws_parse_response(200, "application/xml", body, strlen(body), NULL, &doc, &e),
                     0);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr item = aws_xml_child(root, "item");
    assert_string_equal(aws_xml_tag(item, "Name"), "web-1");
    assert_string_equal(aws_xml_tag(item, "env"), "");
    assert_null(aws_xml_tag(item, "nope"));
    assert_string_equal(aws_xml_tag(aws_xml_child(item, "tagSet"), "Name"), "web-1");
    assert_string_equal(aws_xml_tag(aws_xml_child(root, "member"), "Name"), "lb");
    assert_string_equal(aws_xml_tag(aws_xml_child(root, "b"), "k"), "v");
    assert_null(aws_xml_tag(root, "Name"));
    assert_null(aws_xml_tag(NULL, "Name"));
    xmlFreeDoc(doc);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body;
        enum aws_err_kind kind;
        const char *code, *message, *request_id;
    } rows[] = {
        /* EC2 */
        {401,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>AuthFailure"
         "</Code><Message>AWS was not able to validate the provided access credentials</Message>"
         "</Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>",
         AWS_ERR_CLIENT, "AuthFailure",
         "AWS was not able to validate the provided access credentials",
         "ea966190-f9aa-478e-9ede-example"},
        {503,
         "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
         "exceeded.</Message></Error></Errors><RequestID>r1</RequestID></Response>",
         AWS_ERR_RETRYABLE, "RequestLimitExceeded", "Request limit exceeded.", "r1"},
        /* ELB / STS */
        {400,
         "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender"
         "</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r2"
         "</RequestId></ErrorResponse>",
         AWS_ERR_RETRYABLE, "Throttling", "Rate exceeded", "r2"},
        {403,
         "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>"
         "The request signature we calculated does not match</Message></Error><RequestId>r3"
         "</RequestId></ErrorResponse>",
         AWS_ERR_CLIENT, "SignatureDoesNotMatch",
         "The request signature we calculated does not match", "r3"},
        {400,
         "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token included in "
         "the request is expired</Message></Error></ErrorResponse>",
         AWS_ERR_CLIENT, "ExpiredToken", "The security token included in the request is expired",
         ""},
        /* S3 */
        {503,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please "
         "reduce your request rate.</Message><RequestId>r4</RequestId><HostId>h</HostId></Error>",
         AWS_ERR_RETRYABLE, "SlowDown", "Please reduce your request rate.", "r4"},
        {404,
         "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
         "<BucketName>b</BucketName><RequestId>r5</RequestId></Error>",
         AWS_ERR_CLIENT, "NoSuchBucket", "The specified bucket does not exist", "r5"},
        {400, "<Error><Code>TooManyRequestsException</Code></Error>", AWS_ERR_RETRYABLE,
         "TooManyRequestsException", "HTTP 400", ""},
        {429, "", AWS_ERR_RETRYABLE, "", "HTTP 429 without an AWS error document", ""},
        /* Not XML: a proxy's page, or a broken error body. */
        {502, "<html>\n<body>Bad   Gateway</body></html>", AWS_ERR_RETRYABLE, "",
         "HTTP 502 without an AWS error document: <html> <body>Bad Gateway</body></html>", ""},
        {400, "<Response><Errors><Error><Code>Invalid", AWS_ERR_CLIENT, "",
         "HTTP 400 without an AWS error document: <Response><Errors><Error><Code>Invalid", ""},
        {500,
         "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error "
         "has occurred</Message></Error></Errors></Response>",
         AWS_ERR_RETRYABLE, "InternalError", "An internal error has occurred", ""},
        /* Control characters never reach a log line. */
        {400, "<Error><Code>Bad&#10;Code</Code><Message>line1\nline2\ttab</Message></Error>",
         AWS_ERR_CLIENT, "Bad Code", "line1 line2 tab", ""},
        {301, "<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>", AWS_ERR_CLIENT,
         "PermanentRedirect", "m", ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        xmlDocPtr doc = (xmlDocPtr)1;
        struct aws_error e;
        int rc = aws_parse_response(rows[i].status, "text/xml", rows[i].body, strlen(rows[i].body),
                                    "X", &doc, &e);
        assert_int_equal(rc, -1);
        assert_null(doc);
        if (e.kind != rows[i].kind || strcmp(e.code, rows[i].code) != 0 ||
            strcmp(e.message, rows[i].message) != 0 ||
            strcmp(e.request_id, rows[i].request_id) != 0 || e.status != rows[i].status)
            fail_msg("row %zu: got kind %s code \"%s\" message \"%s\" request id \"%s\" status %ld",
                     i, aws_err_kind_name(e.kind), e.code, e.message, e.request_id, e.status);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    char *big = xmalloc(AWS_FIELD_MAX + 64);
    int n = snprintf(big, 32, "<a><b>");
    memset(big + n, 'x', AWS_FIELD_MAX + 1);
    strcpy(big + n + AWS_FIELD_MAX + 1, "</b></a>");
    char *ok = xmalloc(AWS_FIELD_MAX + 64);
    n = snprintf(ok, 32, "<a><b>");
    memset(ok + n, 'x', AWS_FIELD_MAX);
    strcpy(ok + n + AWS_FIELD_MAX, "</b></a>");
    /* Two halves that merge past the limit. */
    char *split = xmalloc(AWS_FIELD_MAX + 64);
    n = snprintf(split, 32, "<a><b>");
    memset(split + n, 'y', AWS_FIELD_MAX / 2 + 1);
    n += AWS_FIELD_MAX / 2 + 1;
    n += snprintf(split + n, 32, "<!---->");
    memset(split + n, 'y', AWS_FIELD_MAX / 2 + 1);
    n += AWS_FIELD_MAX / 2 + 1;
    strcpy(split + n, "</b></a>");

    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
        "\"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
    static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                              "\"file:///etc/passwd\">]><r>&x;</r>";
    const struct {
        const char *ct, *body, *root, *message;
    } rows[] = {
        {"text/xml", "<a><b>x</b>", NULL,
         "malformed response: not well-formed XML (line 1: Premature end of data in tag a line 1)"},
        {"text/xml", "", NULL, "malformed response: empty body"},
        {"text/xml", "not xml", NULL,
         "malformed response: not well-formed XML (line 1: Start tag expected, '<' not found)"},
        {"text/html", "<a/>", NULL, "unexpected content type \"text/html\" (expected XML)"},
        {"", "<a/>", NULL, "unexpected content type \"(none)\" (expected XML)"},
        {"application/json", "{}", NULL,
         "unexpected content type \"application/json\" (expected XML)"},
        {"text/xml", "<a/>", "DescribeVpcsResponse",
         "unexpected response <a> (expected <DescribeVpcsResponse>)"},
        {"text/xml", "<Response><Errors/></Response>", "DescribeVpcsResponse",
         "unexpected response <Response> (expected <DescribeVpcsResponse>)"},
        {"text/xml", laughs, NULL, "malformed response: document has a DTD"},
        {"text/xml", xxe, NULL, "malformed response: document has a DTD"},
        {"text/xml", "<a>&undefined;</a>", NULL,
         "malformed response: not well-formed XML (line 1: Entity 'undefined' not defined)"},
        {"text/xml", "<a></a><b></b>", NULL,
         "malformed response: not well-formed XML (line 1: Extra content at the end of the "
         "document)"},
        {"text/xml", big, NULL, "malformed response: <b> holds more than 65536 bytes"},
        {"text/xml", split, NULL, "malformed response: <b> holds more than 65536 bytes"},
        {"text/xml", "<a>\xff\xfe</a>", NULL,
         "malformed response: not well-formed XML (line 1: Input is not proper UTF-8, indicate "
         "encoding ! Bytes: 0xFF 0xFE 0x3C 0x2F)"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        xmlDocPtr doc = (xmlDocPtr)1;
        struct aws_error e;
        int rc = aws_parse_response(200, rows[i].ct, rows[i].body, strlen(rows[i].body),
                                    rows[i].root, &doc, &e);
        if (rc != -1)
            fail_msg("row %zu: parsed", i);
        assert_null(doc);
        assert_int_equal(e.kind, AWS_ERR_RESPONSE);
        if (strcmp(e.message, rows[i].message) != 0)
            fail_msg("row %zu:\n got %s\nwant %s", i, e.message, rows[i].message);
    }
    /* Exactly AWS_FIELD_MAX is fine; NULL content type skips the check. */
    xmlDocPtr doc;
    struct aws_error e;
    assert_int_equal(aws_parse_response(200, NULL, ok, strlen(ok), "a", &doc, &e), 0);
    assert_int_equal(strlen(aws_xml_text(xmlDocGetRootElement(doc), "b")), AWS_FIELD_MAX);
    xmlFreeDoc(doc);
    free(big);
    free(ok);
    free(split);
}

/* A long non-XML error body is cut to an excerpt, whatever its spacing
 * (found by fuzz_aws_xml: a pending space once wrote past the buffer). */
static void test_error_excerpt(void **state)
{
    (void)state;
    for (size_t shift = 0; shift < 8; shift++) {
        char body[1024];
        size_t n = 0;
        for (size_t i = 0; i < shift; i++)
            body[n++] = 'x';
        while (n + 2 < sizeof(body)) {
            body[n++] = 'a';
            body[n++] = ' ';
        }
        xmlDocPtr doc;
        struct aws_error e;
        assert_int_equal(aws_parse_response(502, "text/html", body, n, NULL, &doc, &e), -1);
        assert_int_equal(e.kind, AWS_ERR_RETRYABLE);
        size_t ml = strlen(e.message);
        assert_true(ml < sizeof(e.message));
        assert_string_equal(e.message + ml - 3, "...");
        assert_non_null(strstr(e.message, "HTTP 502 without an AWS error document: "));
    }
}

/* ---- streaming --------------------------------------------------------- */

struct seen {
    int n, stop_at;
    char names[8][32];
};

static int on_item(void *arg, xmlNodePtr item)
{
    struct seen *s = arg;
    if (s->stop_at && s->n + 1 == s->stop_at)
        return -1;
    const char *id = aws_xml_text(item, "id");
    snprintf(s->names[s->n % 8], sizeof(s->names[0]), "%s", id ? id : "?");
    /* Still attached: its parent is the list. */
    assert_non_null(item->parent);
    s->n++;
    return 0;
}

static void test_items(void **state)
{
    (void)state;
    static const char body[] =
        "<?xml version=\"1.0\"?>\n<DescribeInstancesResponse xmlns=\"urn:ec2\">\n"
        " <requestId>r1</requestId>\n"
        " <reservationSet>\n"
        "  <item><id>a<!-- x -->1</id><instancesSet><item><id>nested</id></item></instancesSet>"
        "</item>\n"
        "  <item><id><![CDATA[b2]]></id></item>\n"
        "  <item/>\n"
        " </reservationSet>\n"
        " <other><item><id>not-streamed</id></item></other>\n"
        " <nextToken>tok</nextToken>\n"
        "</DescribeInstancesResponse>\n";
    struct seen seen = {0};
    xmlDocPtr doc;
    struct aws_error e;
    assert_int_equal(aws_parse_response_items(200, "text/xml", body, strlen(body),
                                              "DescribeInstancesResponse", "reservationSet/item",
                                              on_item, &seen, &doc, &e),
                     0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.names[0], "a1");
    assert_string_equal(seen.names[1], "b2");
    assert_string_equal(seen.names[2], "?");
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal(aws_xml_text(root, "nextToken"), "tok");
    assert_string_equal(aws_xml_text(root, "requestId"), "r1");
    assert_null(aws_xml_path(root, "reservationSet/item"));
    assert_string_equal(aws_xml_text(root, "other/item/id"), "not-streamed");
    xmlFreeDoc(doc);

    /* A deeper path, and text around the items (the builder's text
     * bookkeeping must survive items vanishing under it). */
    static const char mixed[] =
        "<R><Result><List>abc<member><id>1</id></member>def"
        "<member><id>2</id>tail</member>ghi<member/>jkl</List></Result></R>";
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(aws_parse_response_items(200, "text/xml", mixed, strlen(mixed), "R",
                                              "Result/List/member", on_item, &seen, &doc, &e),
                     0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.names[1], "2");
    assert_string_equal(aws_xml_text(xmlDocGetRootElement(doc), "Result/List"), "abcdefghijkl");
    xmlFreeDoc(doc);

    /* The callback stops the call. */
    memset(&seen, 0, sizeof(seen));
    seen.stop_at = 2;
    assert_int_equal(aws_parse_response_items(200, "text/xml", body, strlen(body), NULL,
                                              "reservationSet/item", on_item, &seen, &doc, &e),
                     -1);
    assert_null(doc);
    assert_int_equal(e.kind, AWS_ERR_NONE);
    assert_int_equal(seen.n, 1);

    /* Malformed after the first item: the caller has seen it, and is told. */
    static const char cut[] = "<X><L><item><id>1</id></item><item><id>2</id></L></X>";
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(aws_parse_response_items(200, "text/xml", cut, strlen(cut), NULL, "L/item",
                                              on_item, &seen, &doc, &e),
                     -1);
    assert_int_equal(e.kind, AWS_ERR_RESPONSE);
    assert_int_equal(seen.n, 1);

    /* The wrong root: nothing is streamed. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(aws_parse_response_items(200, "text/xml", body, strlen(body), "Other",
                                              "reservationSet/item", on_item, &seen, &doc, &e),
                     -1);
    assert_int_equal(seen.n, 0);
    assert_string_equal(e.message,
                        "unexpected response <DescribeInstancesResponse> (expected <Other>)");

    /* A field too long inside an item. */
    char *big = xmalloc(AWS_FIELD_MAX + 64);
    int n = snprintf(big, 32, "<X><L><item><id>");
    memset(big + n, 'z', AWS_FIELD_MAX + 1);
    strcpy(big + n + AWS_FIELD_MAX + 1, "</id></item></L></X>");
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(aws_parse_response_items(200, "text/xml", big, strlen(big), NULL, "L/item",
                                              on_item, &seen, &doc, &e),
                     -1);
    assert_int_equal(e.kind, AWS_ERR_RESPONSE);
    assert_string_equal(e.message, "malformed response: <id> holds more than 65536 bytes");
    assert_int_equal(seen.n, 0);
    free(big);

    /* Bad paths. */
    assert_int_equal(aws_parse_response_items(200, "text/xml", body, strlen(body), NULL, "/",
                                              on_item, &seen, &doc, &e),
                     -1);
    assert_int_equal(e.kind, AWS_ERR_CLIENT);
    /* Error statuses are error documents, whatever the path. */
    static const char err[] = "<Response><Errors><Error><Code>AuthFailure</Code><Message>m"
                              "</Message></Error></Errors></Response>";
    assert_int_equal(aws_parse_response_items(401, "text/xml", err, strlen(err), NULL,
                                              "reservationSet/item", on_item, &seen, &doc, &e),
                     -1);
    assert_string_equal(e.code, "AuthFailure");
}

/* Metrics and retries of connection failures, against a closed port. */
static void test_metrics_and_io_retries(void **state)
{
    (void)state;
    struct config cfg;
    struct metrics_registry reg;
    struct buf out;
    xmlDocPtr doc;
    struct aws_error e;
    const struct aws_account *const *all;
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    struct aws *a = client("aws:\n  is_enabled: true\n  endpoint_url: http://127.0.0.1:1\n"
                           "  retry: {max_attempts: 3, base_delay: 1ms, max_delay: 2ms}\n"
                           "  credentials: {e: {provider: env}}\n",
                           &cfg);
    metrics_registry_init(&reg);
    aws_metrics_register(a, &reg);
    assert_int_equal(aws_credentials(a, &all), 1);
    assert_int_equal(
        aws_query(a, all[0], AWS_EC2, "eu-west-1", "DescribeRegions", NULL, 0, NULL, &doc, &e), -1);
    assert_int_equal(e.kind, AWS_ERR_RETRYABLE);
    assert_non_null(strstr(e.message, "POST http://127.0.0.1:1/: Couldn't connect to server"));
    assert_non_null(strstr(e.message, "(after 3 attempts)"));
    assert_null(strstr(e.message, "secret"));
    /* Cancelled before the first attempt. */
    atomic_bool cancel = true;
    assert_int_equal(aws_query(a, all[0], AWS_ELB, "eu-west-1", "DescribeLoadBalancers", NULL, 0,
                               &cancel, &doc, &e),
                     -1);
    assert_int_equal(e.kind, AWS_ERR_CANCELLED);
    buf_init(&out, BUF_NOLIMIT);
    assert_int_equal(metrics_render(&reg, &out), 0);
    assert_non_null(strstr(buf_str(&out), "inventory_aws_api_requests_total{service=\"ec2\","
                                          "action=\"DescribeRegions\",status=\"error\"} 3"));
    assert_non_null(strstr(buf_str(&out), "inventory_aws_api_request_duration_seconds_count{"
                                          "service=\"ec2\",action=\"DescribeRegions\"} 3"));
    buf_release(&out);
    aws_free(a);
    metrics_registry_release(&reg);
    config_release(&cfg);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

static void test_retryable_codes(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "Throttling",    "ThrottlingException",      "RequestLimitExceeded",
        "SlowDown",      "TooManyRequestsException", "RequestThrottled",
        "InternalError", "ServiceUnavailable"};
    static const char *const no[] = {"AuthFailure", "UnauthorizedOperation", "",
                                     "throttling",  "InvalidParameterValue", "AccessDenied"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        assert_true(aws_code_retryable(yes[i]));
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        assert_false(aws_code_retryable(no[i]));
    assert_false(aws_code_retryable(NULL));
}

static void test_error_format(void **state)
{
    (void)state;
    struct aws_error e = {AWS_ERR_CLIENT, 403, "AccessDenied", "Access Denied", "rid"};
    struct buf b;
    buf_init(&b, 1024);
    aws_error_format(&e, &b);
    assert_string_equal(buf_str(&b), "AccessDenied: Access Denied (HTTP 403, request id rid)");
    buf_reset(&b);
    struct aws_error f = {AWS_ERR_RETRYABLE, 0, "", "POST x: Couldn't connect", ""};
    aws_error_format(&f, &b);
    assert_string_equal(buf_str(&b), "POST x: Couldn't connect");
    assert_string_equal(aws_err_kind_name(AWS_ERR_RESPONSE), "response");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled),     cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_settings),     cmocka_unit_test(test_success),
        cmocka_unit_test(test_tags),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_retryable_codes),
        cmocka_unit_test(test_error_format), cmocka_unit_test(test_error_excerpt),
        cmocka_unit_test(test_items),        cmocka_unit_test(test_metrics_and_io_retries),
    };
    unsetenv("DATABASE_URI");
    unsetenv("REDIS_ENDPOINT");
    unsetenv("REDIS_PASSWORD");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
