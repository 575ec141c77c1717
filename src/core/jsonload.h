/* json_loadb(msg, len, JSON_REJECT_DUPLICATES, err), faster (4x on host
 * messages): the strict tokenizer (core/jsontok, which accepts what
 * jansson accepts, fuzz/fuzz_jsontok.c) and a tree built from its tokens.
 * Whatever it does not take as it is (not JSON, deeper or more values than
 * it holds, a key given twice, a NUL character, a number beyond jansson's
 * ranges) goes to jansson itself, so the tree and the errors are always
 * jansson's. Used for host messages and identities (src/hosts). */
#ifndef INV_CORE_JSONLOAD_H
#define INV_CORE_JSONLOAD_H

#include <stddef.h>

#include <jansson.h>

/* The document's tree (the caller json_decref()s it), or NULL with jerr
 * set as json_loadb sets it. */
json_t *jsonload(const char *msg, size_t len, json_error_t *jerr);

#endif
