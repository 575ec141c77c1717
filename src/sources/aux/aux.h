/* Built-in (aux) tasks shared between files of the aux source. */
#ifndef INV_AUX_H
#define INV_AUX_H

#include "queue/handler.h"

/* aux:task:housekeeper: deletes rows of each model in payload.retention not
 * updated within its duration, records the run in aux_housekeeper_run. */
enum task_result aux_housekeeper(struct task_ctx *ctx);

#endif
