/* `inventory api ...`: run the REST API server (docs/api.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/server.h"
#include "cmd/cmd.h"
#include "core/log.h"

static int api_start(struct cli_ctx *ctx)
{
    struct api_server s;
    struct buf err;
    buf_init(&err, 1024);
    atomic_bool *stop = cmd_stop_on_signals();
    if (api_server_start(&s, ctx->cfg, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    while (!atomic_load(stop))
        usleep(50 * 1000);
    log_info("api: signal received, draining");
    api_server_stop(&s);
    return EXIT_OK;
}

/* A new random token and the api.tokens entry that accepts it. */
static int api_token(struct cli_ctx *ctx)
{
    (void)ctx;
    unsigned char raw[24], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char tok[2 * sizeof(raw) + 1], hex[2 * 32 + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return cli_fail(EXIT_FAIL, "api token: no random bytes");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(tok + 2 * i, 3, "%02x", raw[i]);
    if (!EVP_Digest(tok, strlen(tok), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return cli_fail(EXIT_FAIL, "api token: SHA-256 failed");
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    printf("token:  %s\nsha256: %s\n", tok, hex);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(tok, sizeof(tok));
    return EXIT_OK;
}

const struct cli_cmd cmd_api_subs[] = {
    {"start",
     {"s"},
     "start the REST API server",
     NULL,
     NULL,
     api_start,
     NULL,
     CMD_CONFIG,
     "Serves the REST API on api.address with api.threads threads until SIGTERM/SIGINT,\n"
     "then stops accepting, lets in-flight requests finish and exits 0 (docs/api.md)."},
    {"token",
     {NULL},
     "print a new random API token and its SHA-256 for api.tokens",
     NULL,
     NULL,
     api_token,
     NULL,
     0,
     "Prints a random bearer token (48 hex digits) and the SHA-256 of it; put the hash in\n"
     "api.tokens[].sha256 and give the token to the client. The same hash, for a token of\n"
     "your own: printf %s \"$TOKEN\" | sha256sum (docs/api.md)."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
