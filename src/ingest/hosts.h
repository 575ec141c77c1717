/* The host ingress consumers (`inventory ingest start hosts`,
 * docs/hosts.md). */
#ifndef INV_INGEST_HOSTS_H
#define INV_INGEST_HOSTS_H

#include <stdatomic.h>

#include "core/config.h"
#include "core/metrics.h"

/* Runs cfg->ingest.hosts.concurrency consumers until *stop, recording
 * into reg; 0, or 1 when they could not start. */
int hosts_consume(const struct config *cfg, struct metrics_registry *reg, atomic_bool *stop);

#endif
