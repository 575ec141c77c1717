/* libFuzzer target: AWS response and error document parsing
 * (aws_parse_response) and the XML helpers on arbitrary bytes.
 *
 * The first byte picks the HTTP status and content type, the rest is the
 * body. Checked contracts:
 *   - success (2xx only) gives a document whose root is an element, in which
 *     no element has two adjacent text children, no text is longer than
 *     AWS_FIELD_MAX, there are no comments, PIs, entity references or DTD;
 *   - failure gives no document and a classified error: on 2xx always
 *     AWS_ERR_RESPONSE; otherwise AWS_ERR_CLIENT or AWS_ERR_RETRYABLE, the
 *     latter exactly for 5xx, 429 and the retryable codes;
 *   - code, message and request id are NUL-terminated, free of control
 *     characters, and the message is never empty;
 *   - the helpers (path, text, next, tag) terminate and return pointers
 *     into the document;
 *   - with streaming (bit 7 of the first byte), every item handed to the
 *     callback sits at the item path, is normalised like the document, and
 *     none is left in the document on success. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "sources/aws/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {200, 200, 200, 204, 400, 403, 404, 301, 429, 500, 503, 302};
static const char *const types[] = {
    "text/xml", "text/xml;charset=UTF-8", "application/xml", "text/html", "", NULL};

static void check_text(const char *s, size_t cap, bool nonempty)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort(); /* not terminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
    if (nonempty && !n)
        abort();
}

/* Walks every element: structure invariants and helper calls. */
static void walk(xmlNodePtr root)
{
    size_t visited = 0;
    for (xmlNodePtr n = root; n && visited < 1000000; visited++) {
        if (n->type == XML_ELEMENT_NODE) {
            bool prev_text = false;
            for (xmlNodePtr c = n->children; c; c = c->next) {
                if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE ||
                    c->type == XML_ENTITY_REF_NODE || c->type == XML_DTD_NODE)
                    abort();
                bool text = c->type == XML_TEXT_NODE;
                if (text && prev_text)
                    abort();
                if (text && c->content && strlen((const char *)c->content) > AWS_FIELD_MAX)
                    abort();
                prev_text = text;
            }
            const char *t = aws_xml_text(n, NULL);
            if (!t)
                abort();
            xmlNodePtr first = n->children;
            while (first && first->type != XML_ELEMENT_NODE)
                first = first->next;
            if (first) {
                const char *name = (const char *)first->name;
                if (aws_xml_child(n, name) != first)
                    abort();
                size_t k = 0;
                for (xmlNodePtr s = first; s && k < 100000; s = aws_xml_next(s), k++)
                    if (strcmp((const char *)s->name, name) != 0)
                        abort();
                (void)aws_xml_text(n, name);
                (void)aws_xml_path(n, "item/key");
                (void)aws_xml_tag(n, "Name");
            }
            (void)aws_xml_tag(n, "");
        }
        /* Depth-first without recursion. */
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        if (!n || n == root)
            break;
        n = n->next;
    }
}

static const char *const item_paths[] = {"regionInfo/item", "b", "Buckets/Bucket", "a/b/c"};

struct seen {
    const char *path;
    size_t n;
};

static int on_item(void *arg, xmlNodePtr item)
{
    struct seen *s = arg;
    /* At the path: the last step is the item's name, the parent chain
     * matches the steps before it. */
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s->path);
    xmlNodePtr n = item;
    for (char *slash; n; n = n->parent) {
        slash = strrchr(buf, '/');
        const char *step = slash ? slash + 1 : buf;
        if (strcmp((const char *)n->name, step) != 0)
            abort();
        if (!slash)
            break;
        *slash = '\0';
    }
    if (!n || !n->parent || !n->parent->parent || n->parent->parent->type != XML_DOCUMENT_NODE)
        abort();
    walk(item);
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        xmlInitParser();
        init = true;
    }
    if (size < 1)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    const char *ct = types[(data[0] >> 4) % (sizeof(types) / sizeof(types[0]))];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    const char *want = (data[0] & 0x08) ? "DescribeRegionsResponse" : NULL;
    xmlDocPtr doc = NULL;
    struct aws_error e;

    bool streaming = data[0] & 0x80;
    struct seen seen = {item_paths[(data[0] >> 1) % 4], 0};
    int rc = streaming ? aws_parse_response_items(status, ct, body, len, want, seen.path, on_item,
                                                  &seen, &doc, &e)
                       : aws_parse_response(status, ct, body, len, want, &doc, &e);
    if (rc == 0) {
        if (streaming && aws_xml_path(xmlDocGetRootElement(doc), seen.path))
            abort(); /* an item left behind */
        if (status < 200 || status > 299 || !doc)
            abort();
        xmlNodePtr root = xmlDocGetRootElement(doc);
        if (!root || root->type != XML_ELEMENT_NODE || doc->intSubset)
            abort();
        if (want && strcmp((const char *)root->name, want) != 0)
            abort();
        walk(root);
        xmlFreeDoc(doc);
        return 0;
    }
    if (doc)
        abort();
    check_text(e.code, sizeof(e.code), false);
    check_text(e.message, sizeof(e.message), true);
    check_text(e.request_id, sizeof(e.request_id), false);
    if (status >= 200 && status <= 299) {
        if (e.kind != AWS_ERR_RESPONSE)
            abort();
    } else {
        bool retry = status >= 500 || status == 429 || aws_code_retryable(e.code);
        if (e.kind != (retry ? AWS_ERR_RETRYABLE : AWS_ERR_CLIENT) || e.status != status)
            abort();
    }
    return 0;
}
