/* Converts a payload written as JSON or YAML (scheduler.jobs[].payload) into
 * compact JSON, so task handlers always receive JSON. */
#ifndef INV_YAMLJSON_H
#define INV_YAMLJSON_H

#include <stddef.h>

#include "core/buf.h"

/* JSON text is kept (re-serialised compactly); otherwise the text is read as
 * one YAML document. Plain scalars become numbers only when they look like
 * canonical decimal numbers (so "0123456789012", an AWS account id, stays a
 * string), true/false become booleans, null/~ null; everything else is a
 * string. *out is owned by the caller (free). */
int payload_to_json(const char *text, size_t len, char **out, struct buf *err) MUSTCHECK;

#endif
