/* libFuzzer target: host ingress messages (src/hosts/host.c). The input is
 * tried as a whole message (host_message_parse) and, when it is a JSON
 * object, as the host itself (host_parse with a fixed org_id, so mutations
 * reach the field rules without a valid identity). Never a crash or a
 * leak; an accepted host keeps every normalisation promise of host.h; a
 * refused one is empty (but for the request id) with a UTF-8 reason. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"
#include "hosts/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool no_upper(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return false;
    return true;
}

static bool id_fact(const char *s, bool sent)
{
    return sent ? (strlen(s) == 36 || strlen(s) == 10) && no_upper(s) : s[0] == '\0';
}

static bool canonical_ip(const char *ip)
{
    unsigned char addr[16];
    char back[INET6_ADDRSTRLEN];
    int af = strchr(ip, ':') ? AF_INET6 : AF_INET;
    return inet_pton(af, ip, addr) == 1 && inet_ntop(af, addr, back, sizeof(back)) &&
           strcmp(back, ip) == 0;
}

static bool tags_normal(const json_t *tags)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const json_t *ns = json_object_get(t, "namespace"), *v = json_object_get(t, "value");
        const char *key = json_string_value(json_object_get(t, "key"));
        if (json_object_size(t) != 3 || !key || !key[0] || !ns || !v ||
            (!json_is_null(ns) && !json_string_value(ns)[0]) ||
            (!json_is_null(v) && !json_string_value(v)[0]))
            return false;
    }
    return json_is_array(tags);
}

static void check_host(const struct host_in *h)
{
    unsigned s = h->sent;
    if (!(s & (HOST_SENT_PROVIDER | HOST_SENT_INSIGHTS_ID | HOST_SENT_SUBSCRIPTION_MANAGER_ID)) ||
        !id_fact(h->insights_id, s & HOST_SENT_INSIGHTS_ID) ||
        !id_fact(h->subscription_manager_id, s & HOST_SENT_SUBSCRIPTION_MANAGER_ID) ||
        !id_fact(h->satellite_id, s & HOST_SENT_SATELLITE_ID) ||
        !id_fact(h->bios_uuid, s & HOST_SENT_BIOS_UUID) || !h->org_id[0] ||
        !(s & HOST_SENT_FQDN) != !h->fqdn || (h->fqdn && !no_upper(h->fqdn)) ||
        !(s & HOST_SENT_PROVIDER) != !h->provider_id ||
        !(s & HOST_SENT_PROVIDER) != !h->provider_type[0] ||
        !(s & HOST_SENT_DISPLAY_NAME) != !h->display_name ||
        !(s & HOST_SENT_ANSIBLE_HOST) != !h->ansible_host ||
        !(s & HOST_SENT_REPORTER) != !h->reporter ||
        !(s & HOST_SENT_IP_ADDRESSES) != !h->n_ip_addresses ||
        !(s & HOST_SENT_FACTS) != !json_is_array(h->facts) || !(s & HOST_SENT_TAGS) != !h->tags ||
        (h->tags && !tags_normal(h->tags)) ||
        !(s & HOST_SENT_SYSTEM_PROFILE) != !json_is_object(h->system_profile) ||
        !(s & HOST_SENT_STALE_TIMESTAMP) != !h->stale_timestamp[0])
        abort();
    for (size_t i = 0; i < h->n_ip_addresses; i++)
        if (!canonical_ip(h->ip_addresses[i]))
            abort();
    for (size_t i = 0; i < h->n_mac_addresses; i++)
        if (!no_upper(h->mac_addresses[i]))
            abort();
    const char *owner = json_string_value(json_object_get(h->system_profile, "owner_id"));
    if (owner && (strlen(owner) != 36 || !no_upper(owner)))
        abort();
}

static void check_refused(const struct buf *err, unsigned sent)
{
    if (err->len == 0 || !utf8_valid((const unsigned char *)err->ptr, err->len) || sent)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err;
    buf_init(&err, 1024);
    struct host_msg m;
    enum host_invalid r = host_message_parse((const char *)data, size, 1 << 16, &m, &err);
    if (r == HOST_OK) {
        check_host(&m.host);
        if (strcmp(m.host.org_id, m.id.org_id) != 0)
            abort();
    } else {
        check_refused(&err, m.host.sent);
        if (m.id.org_id[0] || strcmp(host_invalid_name(r), "unknown") == 0)
            abort();
    }
    host_msg_release(&m);

    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(j)) {
        struct host_in h;
        buf_reset(&err);
        if (host_parse(j, "123", &h, &err) == HOST_OK)
            check_host(&h);
        else
            check_refused(&err, h.sent);
        host_in_release(&h);
    }
    json_decref(j);
    buf_release(&err);
    return 0;
}
