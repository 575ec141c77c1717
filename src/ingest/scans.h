/* Scan results from a Redis Stream into scan_result (docs/ingest.md):
 * message validation and the consumer.
 *
 *   struct scan_msg m;
 *   enum scan_invalid why = scan_parse(data, len, max, &m, &detail);
 *   if (why == SCAN_OK) ... m.ip, m.port, m.service, m.ts, m.response ...
 *   scan_msg_release(&m);
 */
#ifndef INV_INGEST_SCANS_H
#define INV_INGEST_SCANS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"

#define SCAN_SERVICE_MAX 64

/* Why a message is invalid: the `reason` label and dead-letter field. */
enum scan_invalid {
    SCAN_OK = 0,
    SCAN_JSON,
    SCAN_MISSING_FIELD,
    SCAN_IP,
    SCAN_PORT,
    SCAN_SERVICE,
    SCAN_TIMESTAMP,
    SCAN_DATA_VERSION,
    SCAN_BASE64,
    SCAN_ENCODING,
    SCAN_OVERSIZED,
    SCAN_NREASONS
};

struct scan_msg {
    char ip[48]; /* canonical text (inet_ntop) */
    int port;
    char service[SCAN_SERVICE_MAX + 1];
    int64_t ts;     /* Unix seconds */
    char *response; /* owned, NUL-terminated UTF-8 without NUL bytes */
    size_t response_len;
};

const char *scan_invalid_name(enum scan_invalid r);
/* The canonical text of an IPv4 or IPv6 address (inet_pton, inet_ntop)
 * into out (at least 46 bytes); -1 when in is not an address. */
int scan_ip_canonical(const char *in, char *out, size_t n);
/* Validates one message (the entry's data field, len bytes, at most max).
 * SCAN_OK fills out (release it); otherwise out is empty and detail says
 * what was wrong (never more than a short excerpt of the input). */
enum scan_invalid scan_parse(const char *data, size_t len, size_t max, struct scan_msg *out,
                             struct buf *detail);
void scan_msg_release(struct scan_msg *m);

/* Runs cfg->ingest.scans.concurrency consumers until *stop, recording
 * into reg; 0, or 1 when they could not start. */
int scans_consume(const struct config *cfg, struct metrics_registry *reg, atomic_bool *stop);

#endif
