/* Process-local HTTP endpoints on libmicrohttpd. */
#include "core/httpd.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"

#define JSON_TYPE "application/json"

/* libmicrohttpd reports start-up failures (bind, listen) only through its
 * logger, on the thread calling MHD_start_daemon; httpd_start points this at
 * its message buffer for the duration of the call. Messages from the server
 * thread find it NULL and go to the log. */
static _Thread_local char *start_msg;
static _Thread_local size_t start_msg_size;

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    str_trim(msg);
    if (start_msg) {
        /* The first message names the cause; later ones are consequences. */
        if (!start_msg[0])
            snprintf(start_msg, start_msg_size, "%s", msg);
        return;
    }
    log_warn("http server", LF_STR("error", msg));
}

/* Sends a constant body (not copied, not freed). */
static enum MHD_Result send_const(struct MHD_Connection *conn, unsigned int status,
                                  const char *type, const char *body, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
        (allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES))
        goto out;
    ret = MHD_queue_response(conn, status, r);
out:
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result run_handler(struct httpd *h, const struct httpd_route *route,
                                   struct MHD_Connection *conn, unsigned int *status)
{
    struct httpd_response resp = {.status = MHD_HTTP_OK,
                                  .content_type = "text/plain; charset=utf-8"};
    buf_init(&resp.body, HTTPD_MAX_BODY);
    route->fn(h->arg, route->data, &resp);

    *status = resp.status;
    size_t len = resp.body.len;
    char *body = buf_detach(&resp.body);
    /* Ownership of body passes to the response (free() when sent). */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type) != MHD_YES)
        goto out;
    ret = MHD_queue_response(conn, resp.status, r);
out:
    MHD_destroy_response(r);
    return ret;
}

static bool method_matches(const char *route, const char *req)
{
    return strcmp(route, req) == 0 ||
           (strcmp(route, MHD_HTTP_METHOD_GET) == 0 && strcmp(req, MHD_HTTP_METHOD_HEAD) == 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct httpd *h = cls;
    (void)version;
    (void)upload_data;
    /* The first call carries only the headers; answer once any body has
     * been read (and discarded: no endpoint takes one). */
    if (!*con_cls) {
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }

    const struct httpd_route *route = NULL;
    char allow[128] = "";
    for (size_t i = 0; i < h->nroutes && !route; i++) {
        const struct httpd_route *r = &h->routes[i];
        if (strcmp(r->path, url) != 0)
            continue;
        if (method_matches(r->method, method))
            route = r;
        else
            snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", r->method);
    }
    enum MHD_Result ret;
    unsigned int status;
    if (route) {
        ret = run_handler(h, route, conn, &status);
    } else if (allow[0]) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        ret = send_const(conn, status, JSON_TYPE, "{\"error\":\"method not allowed\"}", allow);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        ret = send_const(conn, status, JSON_TYPE, "{\"error\":\"not found\"}", NULL);
    }
    log_debug("http request", LF_STR("method", method), LF_STR("path", url),
              LF_INT("status", status));
    return ret;
}

int httpd_parse_address(const char *addr, char *host, size_t hn, int *port)
{
    const char *h = addr, *colon;
    size_t hl;
    if (!addr)
        return -1;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || close == addr + 1)
            return -1;
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - addr);
        if (memchr(addr, ':', hl)) /* a bare IPv6 address needs brackets */
            return -1;
    }
    if (hl >= hn || parse_int(colon + 1, 0, 65535, port) < 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}

/* One MHD_start_daemon attempt on one resolved address. */
static struct MHD_Daemon *start_on(struct httpd *h, const struct addrinfo *ai, bool any,
                                   uint16_t port)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (ai->ai_family == AF_INET6)
        flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* The port argument is unused with MHD_OPTION_SOCK_ADDR but appears in
     * libmicrohttpd's bind error message. */
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, HTTPD_CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_TIMEOUT_S, MHD_OPTION_END);
}

int httpd_start(struct httpd *h, const char *address, const struct httpd_route *routes,
                size_t nroutes, void *arg, struct buf *err)
{
    char host[256], service[8], msg[256] = "";
    struct addrinfo *res = NULL;
    int port, rc = -1;

    memset(h, 0, sizeof(*h));
    if (httpd_parse_address(address, host, sizeof(host), &port) < 0) {
        buf_setf(err, "invalid listen address \"%s\" (want host:port, :port or [v6]:port)",
                 address ? address : "");
        return -1;
    }
    for (size_t i = 0; i < nroutes; i++) {
        if (!routes[i].method || !routes[i].path || !routes[i].fn) {
            buf_setf(err, "http route %zu lacks a method, path or handler", i);
            return -1;
        }
    }
    h->arg = arg;
    h->nroutes = nroutes;
    h->routes = xmalloc((nroutes ? nroutes : 1) * sizeof(*routes));
    if (nroutes)
        memcpy(h->routes, routes, nroutes * sizeof(*routes));

    /* ":port" tries the IPv6 wildcard first (dual stack reaches IPv4 too)
     * and falls back to IPv4 on hosts without IPv6. */
    bool any = host[0] == '\0';
    static const char *const any_hosts[] = {"::", "0.0.0.0"};
    const char *const *hosts = any ? any_hosts : (const char *const[]){host};
    size_t nhosts = any ? ARRAY_SIZE(any_hosts) : 1;
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};

    start_msg = msg;
    start_msg_size = sizeof(msg);
    for (size_t i = 0; i < nhosts && !h->daemon; i++) {
        int gai = getaddrinfo(hosts[i], service, &hints, &res);
        if (gai != 0) {
            snprintf(msg, sizeof(msg), "cannot resolve \"%s\": %s", hosts[i], gai_strerror(gai));
            continue;
        }
        for (const struct addrinfo *ai = res; ai && !h->daemon; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                continue;
            msg[0] = '\0';
            h->daemon = start_on(h, ai, any, (uint16_t)port);
        }
        freeaddrinfo(res);
        res = NULL;
    }
    start_msg = NULL;
    if (!h->daemon) {
        buf_setf(err, "cannot listen on %s: %s", address,
                 msg[0] ? msg : "failed to start the HTTP server");
        goto out;
    }

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    log_info("http server listening", LF_STR("address", address), LF_INT("port", h->port));
    rc = 0;
out:
    if (rc < 0)
        httpd_stop(h);
    return rc;
}

void httpd_stop(struct httpd *h)
{
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
    free(h->routes);
    h->routes = NULL;
    h->nroutes = 0;
}

unsigned int httpd_port(const struct httpd *h)
{
    return h->port;
}

static void serve_metrics(void *arg, void *data, struct httpd_response *resp)
{
    (void)arg;
    struct metrics_registry *reg = data;
    resp->content_type = METRICS_CONTENT_TYPE;
    if (metrics_render(reg, &resp->body) < 0) {
        log_error("metrics output exceeds the response limit",
                  LF_INT("limit", (long long)HTTPD_MAX_BODY));
        resp->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp->content_type = "text/plain; charset=utf-8";
        buf_setf(&resp->body, "metrics output exceeds %u bytes\n", HTTPD_MAX_BODY);
    }
}

struct httpd_route httpd_metrics_route(const char *path, struct metrics_registry *reg)
{
    return (struct httpd_route){MHD_HTTP_METHOD_GET, path, serve_metrics, reg};
}
