/* The scan model: the latest observation per (ip, port, service) from the
 * scan stream (docs/ingest.md); the table is made by the add_scan_result
 * migration. */
#include "db/model.h"

static const struct model_col cols_scan_result[] = {
    {"ip", COL_TEXT, false},         {"port", COL_INT, false},      {"service", COL_TEXT, false},
    {"scanned_at", COL_TIME, false}, {"response", COL_TEXT, false}, {NULL, COL_TEXT, false}};
static const char *const key_scan_result[] = {"ip", "port", "service", NULL};
/* Latest wins: the later timestamp, on a tie the response last in byte order. */
static const char *const newer_scan_result[] = {"scanned_at", "response", NULL};

const struct model_def scan_models[] = {
    {"scan:model:result", "scan_result",
     "Latest scan observation per ip, port and service (inventory ingest start scans).",
     cols_scan_result, key_scan_result, NULL, NULL, "scan/results", newer_scan_result},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
