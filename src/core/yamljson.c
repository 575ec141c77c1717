/* YAML/JSON payload normalisation on libyaml's document API and jansson. */
#include "core/yamljson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#define MAX_DEPTH 64

static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
        return json_true();
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
        return json_false();
    if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0)
        return json_null();
    /* Canonical decimal integers only: no leading zeros, no '+', no exponent. */
    const char *p = v[0] == '-' ? v + 1 : v;
    bool digits = *p && (p[0] != '0' || p[1] == '\0');
    for (const char *q = p; digits && *q; q++)
        digits = *q >= '0' && *q <= '9';
    if (digits) {
        errno = 0;
        long long x = strtoll(v, NULL, 10);
        if (!errno)
            return json_integer(x);
    }
    json_t *j = json_loadb(v, len, JSON_DECODE_ANY, NULL); /* 1.5, -2e3 */
    if (j && json_is_real(j))
        return j;
    json_decref(j);
    return json_stringn(v, len);
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *n, int depth, struct buf *err)
{
    if (!n || depth > MAX_DEPTH) {
        buf_setf(err, "payload nests deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        /* "\0" escapes: JSON text handed to tasks never carries NUL. */
        if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
            buf_setf(err, "payload: NUL characters are not allowed");
            return NULL;
        }
        return scalar(n);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            json_t *v = convert(doc, yaml_document_get_node(doc, *i), depth + 1, err);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE ||
                memchr(k->data.scalar.value, 0, k->data.scalar.length)) {
                buf_setf(err, "payload: mapping keys must be scalars without NUL characters");
                json_decref(o);
                return NULL;
            }
            json_t *v = convert(doc, yaml_document_get_node(doc, p->value), depth + 1, err);
            if (!v) {
                json_decref(o);
                return NULL;
            }
            json_object_setn_new(o, (const char *)k->data.scalar.value, k->data.scalar.length, v);
        }
        return o;
    }
    case YAML_NO_NODE:
        break;
    }
    buf_setf(err, "payload: empty document");
    return NULL;
}

int payload_to_json(const char *text, size_t len, char **out, struct buf *err)
{
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    int rc = -1;
    *out = NULL;
    if (!j) {
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!yaml_parser_initialize(&parser)) {
            buf_setf(err, "payload: cannot initialise the YAML parser");
            return -1;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc)) {
            buf_setf(err, "payload: line %zu: %s", parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "invalid YAML");
            yaml_parser_delete(&parser);
            return -1;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        j = root ? convert(&doc, root, 0, err) : NULL;
        if (!root)
            buf_setf(err, "payload: empty document");
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (!j)
            return -1;
    }
    *out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (*out)
        rc = 0;
    else
        buf_setf(err, "payload: cannot serialise as JSON");
    json_decref(j);
    return rc;
}
