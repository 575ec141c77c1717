/* A tiny HTTP server for a process's own endpoints (/metrics, /health) on
 * libmicrohttpd: one internal polling thread, a table of exact-path routes,
 * handlers that fill a status, a content type and a body.
 *
 *   static const struct httpd_route routes[] = {{"GET", "/health", health, NULL}};
 *   struct httpd h;
 *   if (httpd_start(&h, "127.0.0.1:6080", routes, 1, &worker, &err) < 0)
 *       ... buf_str(&err) ...
 *   httpd_stop(&h);
 *
 * Unknown paths get 404 {"error":"not found"}, a known path with another
 * method 405 {"error":"method not allowed"} and an Allow header. HEAD is
 * served by the GET route (libmicrohttpd drops the body). */
#ifndef INV_HTTPD_H
#define INV_HTTPD_H

#include <stddef.h>

#include "core/buf.h"
#include "core/metrics.h"

#define HTTPD_MAX_BODY         (64u << 20) /* cap of httpd_response.body */
#define HTTPD_CONNECTION_LIMIT 64u
#define HTTPD_TIMEOUT_S        10u /* idle connection timeout */

struct MHD_Daemon;

/* Filled by a handler. The server initialises status 200, content type
 * "text/plain; charset=utf-8" and an empty body capped at HTTPD_MAX_BODY. */
struct httpd_response {
    unsigned int status;
    const char *content_type; /* not copied: a literal or longer-lived string */
    struct buf body;          /* sent, then freed by the server */
};

/* Runs on the server thread. arg: httpd_start's arg (the process context);
 * data: the route's own data. One request at a time per server. */
typedef void (*httpd_handler_fn)(void *arg, void *data, struct httpd_response *resp);

struct httpd_route {
    const char *method; /* "GET" */
    const char *path;   /* exact match, no query string, e.g. "/metrics" */
    httpd_handler_fn fn;
    void *data;
};

/* Private to httpd.c; a caller only allocates it. */
struct httpd {
    struct MHD_Daemon *daemon;
    struct httpd_route *routes; /* copy of the table; strings borrowed */
    size_t nroutes;
    void *arg;
    unsigned int port;
};

/* Listens on address: "host:port", ":port" (all interfaces, IPv6 dual stack
 * when available) or "[v6]:port"; port 0 picks a free port (httpd_port).
 * The route table is copied but its strings and data are borrowed until
 * httpd_stop. -1 with a one-line reason in err (bad address, address in
 * use, ...); h is then stopped and httpd_stop is a no-op. */
int httpd_start(struct httpd *h, const char *address, const struct httpd_route *routes,
                size_t nroutes, void *arg, struct buf *err) MUSTCHECK;
/* Splits a listen address: "host:port", ":port" (host "" = any) or
 * "[v6]:port" (a bare IPv6 address needs brackets); 0 or -1. Shared by every
 * server of the process (metrics endpoints, the API). */
int httpd_parse_address(const char *addr, char *host, size_t hn, int *port) MUSTCHECK;
/* Stops the server thread after in-flight requests; safe to call twice and
 * after a failed start. */
void httpd_stop(struct httpd *h);
/* The bound port, e.g. the one picked for port 0. */
unsigned int httpd_port(const struct httpd *h);

/* A GET route at path serving reg (borrowed) in Prometheus text format with
 * METRICS_CONTENT_TYPE; 500 if the output exceeds HTTPD_MAX_BODY. */
struct httpd_route httpd_metrics_route(const char *path, struct metrics_registry *reg);

#endif
