/* Unit tests: core/httpd (routing, metrics endpoint, listen errors), over
 * raw HTTP/1.0 on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/httpd.h"
#include "core/log.h"
#include "core/metrics.h"

struct reply {
    int status;
    char content_type[128];
    char allow[64];
    char *body; /* owned */
};

/* Copies the value of header `name` (case-insensitive) into out. */
static void header(const char *head, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(out, n, "%.*s", (int)len, v);
            return;
        }
    }
}

/* Sends raw request text to addr:port and parses the reply; -1 on socket
 * failure. */
static int fetch(int family, const char *addr, unsigned int port, const char *request,
                 struct reply *r)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &s6->sin6_addr);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &s4->sin_addr);
        sl = sizeof(*s4);
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 ||
        write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    struct buf in;
    buf_init(&in, BUF_NOLIMIT);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_add(&in, chunk, (size_t)n), 0);
    close(fd);

    const char *text = buf_str(&in);
    const char *end = strstr(text, "\r\n\r\n");
    memset(r, 0, sizeof(*r));
    if (!end || sscanf(text, "HTTP/1.%*d %d", &r->status) != 1) {
        buf_release(&in);
        return -1;
    }
    char *head = xstrndup(text, (size_t)(end - text) + 2);
    header(head, "Content-Type", r->content_type, sizeof(r->content_type));
    header(head, "Allow", r->allow, sizeof(r->allow));
    free(head);
    r->body = xstrdup(end + 4);
    buf_release(&in);
    return 0;
}

struct app {
    const char *name;
};

/* Route data for health(); writable arrays since route data is void *. */
static char st_ok[] = "ok", st_down[] = "down";

/* Uses both the server-wide arg and the route's data. */
static void health(void *arg, void *data, struct httpd_response *resp)
{
    const struct app *app = arg;
    const char *state = data;
    resp->content_type = "application/json";
    if (strcmp(state, "ok") != 0)
        resp->status = 503;
    if (buf_addf(&resp->body, "{\"app\":\"%s\",\"state\":\"%s\"}", app->name, state) < 0)
        resp->status = 500;
}

static void build_registry(struct metrics_registry *reg)
{
    metrics_registry_init(reg);
    struct metric *m =
        metrics_counter(reg, "t_scrapes_total", "Requests.", 1, (const char *const[]){"path"});
    metrics_inc(m, (const char *const[]){"/metrics"}, 3);
}

static void test_routes(void **state)
{
    (void)state;
    struct metrics_registry reg;
    build_registry(&reg);
    struct app app = {"worker"};
    const struct httpd_route routes[] = {
        httpd_metrics_route("/metrics", &reg),
        {"GET", "/health", health, st_ok},
        {"GET", "/health/db", health, st_down},
        {"POST", "/health", health, st_ok},
    };
    struct httpd h;
    struct buf err;
    buf_init(&err, 512);
    if (httpd_start(&h, "127.0.0.1:0", routes, ARRAY_SIZE(routes), &app, &err) != 0)
        fail_msg("httpd_start: %s", buf_str(&err));
    assert_int_not_equal(httpd_port(&h), 0);

    struct buf want_metrics;
    buf_init(&want_metrics, BUF_NOLIMIT);
    assert_int_equal(metrics_render(&reg, &want_metrics), 0);

    static const char json[] = "application/json";
    static const char text[] = "text/plain; version=0.0.4; charset=utf-8";
    const struct {
        const char *request;
        int status;
        const char *type;
        const char *allow;
        const char *body;
    } rows[] = {
        {"GET /metrics HTTP/1.0\r\n\r\n", 200, text, "", buf_str(&want_metrics)},
        {"GET /metrics?debug=1 HTTP/1.0\r\n\r\n", 200, text, "", buf_str(&want_metrics)},
        {"HEAD /metrics HTTP/1.0\r\n\r\n", 200, text, "", ""},
        {"GET /health HTTP/1.0\r\n\r\n", 200, json, "", "{\"app\":\"worker\",\"state\":\"ok\"}"},
        {"GET /health/db HTTP/1.0\r\n\r\n", 503, json, "",
         "{\"app\":\"worker\",\"state\":\"down\"}"},
        {"GET /nope HTTP/1.0\r\n\r\n", 404, json, "", "{\"error\":\"not found\"}"},
        {"GET /metrics/ HTTP/1.0\r\n\r\n", 404, json, "", "{\"error\":\"not found\"}"},
        {"POST /metrics HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 405, json, "GET",
         "{\"error\":\"method not allowed\"}"},
        {"DELETE /health HTTP/1.0\r\n\r\n", 405, json, "GET, POST",
         "{\"error\":\"method not allowed\"}"},
        {"POST /health HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 200, json, "",
         "{\"app\":\"worker\",\"state\":\"ok\"}"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct reply r;
        if (fetch(AF_INET, "127.0.0.1", httpd_port(&h), rows[i].request, &r) != 0)
            fail_msg("row %zu: no HTTP reply", i);
        if (r.status != rows[i].status || strcmp(r.content_type, rows[i].type) != 0 ||
            strcmp(r.allow, rows[i].allow) != 0 || strcmp(r.body, rows[i].body) != 0)
            fail_msg("row %zu (%.20s...): got %d [%s] allow [%s] body\n%s", i, rows[i].request,
                     r.status, r.content_type, r.allow, r.body);
        free(r.body);
    }
    buf_release(&want_metrics);
    httpd_stop(&h);
    httpd_stop(&h); /* idempotent */
    buf_release(&err);
    metrics_registry_release(&reg);
}

/* ":0" listens on every interface (dual stack or IPv4 only). */
static void test_wildcard(void **state)
{
    (void)state;
    struct metrics_registry reg;
    build_registry(&reg);
    const struct httpd_route routes[] = {httpd_metrics_route("/m", &reg)};
    struct httpd h;
    struct buf err;
    buf_init(&err, 512);
    if (httpd_start(&h, ":0", routes, 1, NULL, &err) != 0)
        fail_msg("httpd_start: %s", buf_str(&err));
    struct reply r;
    assert_int_equal(fetch(AF_INET, "127.0.0.1", httpd_port(&h), "GET /m HTTP/1.0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "t_scrapes_total{path=\"/metrics\"} 3\n"));
    free(r.body);
    httpd_stop(&h);
    buf_release(&err);
    metrics_registry_release(&reg);
}

static void test_ipv6_loopback(void **state)
{
    (void)state;
    struct metrics_registry reg;
    build_registry(&reg);
    const struct httpd_route routes[] = {httpd_metrics_route("/metrics", &reg)};
    struct httpd h;
    struct buf err;
    buf_init(&err, 512);
    if (httpd_start(&h, "[::1]:0", routes, 1, NULL, &err) != 0) {
        /* Hosts without IPv6 (some containers) cannot run this one. */
        buf_release(&err);
        metrics_registry_release(&reg);
        skip();
    }
    struct reply r;
    assert_int_equal(fetch(AF_INET6, "::1", httpd_port(&h), "GET /metrics HTTP/1.0\r\n\r\n", &r),
                     0);
    assert_int_equal(r.status, 200);
    free(r.body);
    httpd_stop(&h);
    buf_release(&err);
    metrics_registry_release(&reg);
}

static void test_bad_address(void **state)
{
    (void)state;
    static const struct {
        const char *address;
        const char *want; /* substring of the error */
    } rows[] = {
        {NULL, "invalid listen address"},
        {"", "invalid listen address"},
        {"6080", "invalid listen address"},
        {"127.0.0.1", "invalid listen address"},
        {"127.0.0.1:", "invalid listen address"},
        {"127.0.0.1:http", "invalid listen address"},
        {"127.0.0.1:70000", "invalid listen address"},
        {"127.0.0.1:-1", "invalid listen address"},
        {"::1:6080", "invalid listen address"},
        {"[::1:6080", "invalid listen address"},
        {"[::1]6080", "invalid listen address"},
        {"[]:6080", "invalid listen address"},
        /* TEST-NET-1 is on no local interface: bind fails. */
        {"192.0.2.1:0", "cannot listen on 192.0.2.1:0: "},
    };
    const struct httpd_route routes[] = {{"GET", "/x", health, st_ok}};
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct httpd h;
        struct buf err;
        buf_init(&err, 512);
        int rc = httpd_start(&h, rows[i].address, routes, 1, NULL, &err);
        if (rc != -1 || !strstr(buf_str(&err), rows[i].want) || strchr(buf_str(&err), '\n'))
            fail_msg("\"%s\": rc %d, err \"%s\"", rows[i].address ? rows[i].address : "(null)", rc,
                     buf_str(&err));
        httpd_stop(&h); /* harmless after a failed start */
        buf_release(&err);
    }
}

static void test_port_in_use(void **state)
{
    (void)state;
    const struct httpd_route routes[] = {{"GET", "/x", health, st_ok}};
    struct httpd a, b;
    struct buf err;
    buf_init(&err, 512);
    if (httpd_start(&a, "127.0.0.1:0", routes, 1, NULL, &err) != 0)
        fail_msg("httpd_start: %s", buf_str(&err));
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", httpd_port(&a));
    assert_int_equal(httpd_start(&b, addr, routes, 1, NULL, &err), -1);
    char want[96];
    snprintf(want, sizeof(want), "cannot listen on %s: ", addr);
    if (strncmp(buf_str(&err), want, strlen(want)) != 0 ||
        !strstr(buf_str(&err), "Address already in use") || strchr(buf_str(&err), '\n'))
        fail_msg("err \"%s\"", buf_str(&err));
    httpd_stop(&b);
    httpd_stop(&a);
    buf_release(&err);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT, stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_ipv6_loopback), cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
