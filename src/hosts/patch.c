/* A validated host as host_store's write: the fields it sent in the
 * table's column form (docs/hosts.md, Storage). */
#include <string.h>

#include "hosts/host.h"
#include "hosts/store.h"

static void set_str(json_t *p, const char *k, const char *v)
{
    json_object_set_new(p, k, v ? json_string(v) : json_null());
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* [{namespace, facts}] -> {namespace: facts} */
static json_t *facts_object(const json_t *list)
{
    json_t *o = json_object();
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *ns = json_string_value(json_object_get(e, "namespace"));
        json_t *f = json_object_get(e, "facts");
        if (ns && f)
            json_object_set(o, ns, f);
    }
    return o;
}

/* [{namespace, key, value}] -> {namespace or "": {key: [values]}} */
static json_t *tags_object(const json_t *list)
{
    json_t *o = json_object();
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *ns = json_string_value(json_object_get(e, "namespace"));
        const char *key = json_string_value(json_object_get(e, "key"));
        json_t *value = json_object_get(e, "value");
        if (!key)
            continue;
        json_t *keys = json_object_get(o, ns ? ns : "");
        if (!keys) {
            keys = json_object();
            json_object_set_new(o, ns ? ns : "", keys);
        }
        json_t *values = json_object_get(keys, key);
        if (!values) {
            values = json_array();
            json_object_set_new(keys, key, values);
        }
        json_array_append_new(values, json_is_string(value) ? json_copy(value) : json_null());
    }
    return o;
}

void host_write_init(struct host_write *w, const struct host_in *h, const char *request_id)
{
    unsigned s = h->sent;
    json_t *p = json_object();
    if (s & HOST_SENT_DISPLAY_NAME)
        set_str(p, "display_name", h->display_name);
    if (s & HOST_SENT_ANSIBLE_HOST)
        set_str(p, "ansible_host", h->ansible_host);
    if (s & HOST_SENT_REPORTER)
        set_str(p, "reporter", h->reporter);
    if (s & HOST_SENT_INSIGHTS_ID)
        set_str(p, "insights_id", h->insights_id);
    if (s & HOST_SENT_SUBSCRIPTION_MANAGER_ID)
        set_str(p, "subscription_manager_id", h->subscription_manager_id);
    if (s & HOST_SENT_SATELLITE_ID)
        set_str(p, "satellite_id", h->satellite_id);
    if (s & HOST_SENT_BIOS_UUID)
        set_str(p, "bios_uuid", h->bios_uuid);
    if (s & HOST_SENT_FQDN)
        set_str(p, "fqdn", h->fqdn);
    if (s & HOST_SENT_PROVIDER) {
        set_str(p, "provider_id", h->provider_id);
        set_str(p, "provider_type", h->provider_type);
    }
    if (s & HOST_SENT_IP_ADDRESSES)
        json_object_set_new(p, "ip_addresses", str_array(h->ip_addresses, h->n_ip_addresses));
    if (s & HOST_SENT_MAC_ADDRESSES)
        json_object_set_new(p, "mac_addresses", str_array(h->mac_addresses, h->n_mac_addresses));
    if ((s & HOST_SENT_FACTS) && h->facts)
        json_object_set_new(p, "facts", facts_object(h->facts));
    if ((s & HOST_SENT_TAGS) && h->tags)
        json_object_set_new(p, "tags", tags_object(h->tags));
    if ((s & HOST_SENT_SYSTEM_PROFILE) && h->system_profile)
        json_object_set(p, "system_profile", h->system_profile);
    *w = (struct host_write){
        .org_id = h->org_id,
        .provider_type = (s & HOST_SENT_PROVIDER) ? h->provider_type : NULL,
        .provider_id = (s & HOST_SENT_PROVIDER) ? h->provider_id : NULL,
        .smid = (s & HOST_SENT_SUBSCRIPTION_MANAGER_ID) ? h->subscription_manager_id : NULL,
        .insights_id = (s & HOST_SENT_INSIGHTS_ID) ? h->insights_id : NULL,
        .patch = p,
        .request_id = request_id && *request_id ? request_id : NULL,
    };
}

void host_write_release(struct host_write *w)
{
    if (w->patch)
        json_decref(w->patch);
    w->patch = NULL;
}
