/* The OpenAPI 3.1 document of the host-based inventory API, served at
 * GET /api/inventory/v1/openapi.json (see hbi.h, docs/api.md). The
 * operations come from one table (keep it in step with the /api/inventory
 * rows of server.c's route table; tests/integration/test_openapi_hbi.py
 * checks both ways). Components are written below as JSON with single
 * quotes, for legibility; they are JSON Schema 2020-12 and closed where
 * the answer's shape is fixed, so answers can be validated with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/hbi.h"
#include "core/log.h"
#include "core/util.h"

#define PREFIX "/api/inventory/v1"

/* JSON written with ' for " (no ' inside strings): a new reference. A
 * text that does not parse is a bug here; the tests load the document. */
static json_t *jq(const char *text)
{
    char *t = xstrdup(text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *v = json_loads(t, 0, &je);
    if (!v) {
        log_error("api: bad OpenAPI fragment", LF_STR("error", je.text), LF_INT("line", je.line),
                  LF_INT("column", je.column));
        abort();
    }
    free(t);
    return v;
}

/* ---- components ---- */

static const char *const schemas =
    "{"
    "'Error': {'type': 'object', 'additionalProperties': false, 'required': ['error'],"
    " 'description': 'Our error shape; the routes of this API add HBI problem members (status,"
    " title, detail).',"
    " 'properties': {'error': {'type': 'string'}, 'reason': {'type': 'string'},"
    "  'status': {'type': 'integer'}, 'title': {'type': 'string'}, 'detail': {'type': 'string'}}},"
    "'Uuid': {'type': 'string', 'pattern': "
    "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'},"
    "'Timestamp': {'type': 'string', 'format': 'date-time',"
    " 'description': 'RFC 3339 with microseconds and +00:00.'},"
    "'FactSet': {'type': 'object', 'additionalProperties': false, 'required': ['namespace', "
    "'facts'],"
    " 'properties': {'namespace': {'type': 'string', 'minLength': 1}, 'facts': {'type': "
    "'object'}}},"
    "'PerReporterStaleness': {'type': 'object', 'additionalProperties': false,"
    " 'properties': {'last_check_in': {'type': 'string'}, 'stale_timestamp': {'type': 'string'},"
    "  'check_in_succeeded': {'type': 'boolean'}}},"
    "'Host': {'type': 'object', 'additionalProperties': false,"
    " 'description': 'A host as HBI serializes it (hbi_host_doc).',"
    " 'required': ['id', 'org_id', 'account', 'display_name', 'ansible_host', 'insights_id',"
    "  'subscription_manager_id', 'satellite_id', 'bios_uuid', 'ip_addresses', 'mac_addresses',"
    "  'fqdn', 'provider_id', 'provider_type', 'facts', 'reporter', 'per_reporter_staleness',"
    "  'stale_timestamp', 'stale_warning_timestamp', 'culled_timestamp', 'created', 'updated',"
    "  'last_check_in', 'groups'],"
    " 'properties': {"
    "  'id': {'$ref': '#/components/schemas/Uuid'}, 'org_id': {'type': 'string'},"
    "  'account': {'type': ['string', 'null']}, 'display_name': {'type': 'string'},"
    "  'ansible_host': {'type': ['string', 'null']},"
    "  'insights_id': {'type': ['string', 'null']},"
    "  'subscription_manager_id': {'type': ['string', 'null']},"
    "  'satellite_id': {'type': ['string', 'null']}, 'bios_uuid': {'type': ['string', 'null']},"
    "  'ip_addresses': {'type': ['array', 'null'], 'items': {'type': 'string'}},"
    "  'mac_addresses': {'type': ['array', 'null'], 'items': {'type': 'string'}},"
    "  'fqdn': {'type': ['string', 'null']}, 'provider_id': {'type': ['string', 'null']},"
    "  'provider_type': {'type': ['string', 'null']},"
    "  'facts': {'type': 'array', 'items': {'$ref': '#/components/schemas/FactSet'}},"
    "  'reporter': {'type': ['string', 'null']},"
    "  'per_reporter_staleness': {'type': 'object',"
    "   'additionalProperties': {'$ref': '#/components/schemas/PerReporterStaleness'}},"
    "  'stale_timestamp': {'$ref': '#/components/schemas/Timestamp'},"
    "  'stale_warning_timestamp': {'$ref': '#/components/schemas/Timestamp'},"
    "  'culled_timestamp': {'$ref': '#/components/schemas/Timestamp'},"
    "  'created': {'$ref': '#/components/schemas/Timestamp'},"
    "  'updated': {'$ref': '#/components/schemas/Timestamp'},"
    "  'last_check_in': {'$ref': '#/components/schemas/Timestamp'},"
    "  'groups': {'type': 'array', 'maxItems': 0}}},"
    "'StructuredTag': {'type': 'object', 'additionalProperties': false,"
    " 'required': ['namespace', 'key', 'value'],"
    " 'properties': {'namespace': {'type': ['string', 'null']}, 'key': {'type': 'string'},"
    "  'value': {'type': ['string', 'null']}}},"
    "'HostSystemProfile': {'type': 'object', 'additionalProperties': false,"
    " 'required': ['id', 'system_profile'],"
    " 'properties': {'id': {'$ref': '#/components/schemas/Uuid'},"
    "  'system_profile': {'type': 'object'}}},"
    "'ActiveTag': {'type': 'object', 'additionalProperties': false, 'required': ['tag', 'count'],"
    " 'properties': {'tag': {'$ref': '#/components/schemas/StructuredTag'},"
    "  'count': {'type': 'integer', 'minimum': 1}}},"
    "'HostIdOut': {'type': 'object', 'additionalProperties': false, 'required': ['id'],"
    " 'properties': {'id': {'$ref': '#/components/schemas/Uuid'}}},"
    "'PatchHostIn': {'type': 'object', 'additionalProperties': false,"
    " 'properties': {'display_name': {'type': 'string', 'minLength': 1, 'maxLength': 200},"
    "  'ansible_host': {'type': 'string', 'maxLength': 255}}},"
    "'CreateCheckIn': {'type': 'object', 'additionalProperties': false, 'minProperties': 1,"
    " 'description': 'Canonical facts; only the ID facts (provider pair, subscription_manager_id,"
    " insights_id) find the host.',"
    " 'properties': {'insights_id': {'type': 'string'}, 'subscription_manager_id': {'type': "
    "'string'},"
    "  'satellite_id': {'type': 'string'}, 'bios_uuid': {'type': 'string'},"
    "  'ip_addresses': {'type': 'array', 'items': {'type': 'string'}},"
    "  'fqdn': {'type': 'string'}, 'mac_addresses': {'type': 'array', 'items': {'type': 'string'}},"
    "  'provider_id': {'type': 'string'}, 'provider_type': {'type': 'string'},"
    "  'checkin_frequency': {'type': 'integer', 'minimum': 1, 'maximum': 2880}}},"
    "'CreateHostIn': {'type': 'object', 'additionalProperties': false,"
    " 'description': 'A reported host (docs/hosts.md, The host).',"
    " 'properties': {'org_id': {'type': 'string'}, 'display_name': {'type': 'string'},"
    "  'ansible_host': {'type': 'string'}, 'reporter': {'type': 'string'},"
    "  'insights_id': {'type': ['string', 'null']},"
    "  'subscription_manager_id': {'type': ['string', 'null']},"
    "  'satellite_id': {'type': ['string', 'null']}, 'bios_uuid': {'type': ['string', 'null']},"
    "  'fqdn': {'type': ['string', 'null']},"
    "  'ip_addresses': {'type': ['array', 'null'], 'items': {'type': 'string'}},"
    "  'mac_addresses': {'type': ['array', 'null'], 'items': {'type': 'string'}},"
    "  'provider_id': {'type': ['string', 'null']}, 'provider_type': {'type': ['string', 'null']},"
    "  'facts': {'type': 'array', 'items': {'$ref': '#/components/schemas/FactSet'}},"
    "  'tags': {'type': ['array', 'object']}, 'system_profile': {'type': 'object'},"
    "  'stale_timestamp': {'type': 'string'}, 'account': {'type': ['string', 'null']},"
    "  'canonical_facts_version': {}, 'is_virtual': {}, 'openshift_cluster_id': {},"
    "  'groups': {}, 'tags_alt': {}}},"
    "'BulkHostOut': {'type': 'object', 'additionalProperties': false,"
    " 'required': ['total', 'errors', 'data'],"
    " 'properties': {'total': {'type': 'integer', 'minimum': 0},"
    "  'errors': {'type': 'integer', 'minimum': 0},"
    "  'data': {'type': 'array', 'items': {'oneOf': ["
    "   {'type': 'object', 'additionalProperties': false, 'required': ['status', 'host'],"
    "    'properties': {'status': {'enum': [200, 201]},"
    "     'host': {'$ref': '#/components/schemas/Host'}}},"
    "   {'type': 'object', 'additionalProperties': false,"
    "    'required': ['status', 'title', 'detail', 'host'],"
    "    'properties': {'status': {'const': 400}, 'title': {'type': 'string'},"
    "     'detail': {'type': 'string'}, 'host': {'description': 'The element as sent.'}}}]}}}},"
    "'StalenessIn': {'type': 'object', 'additionalProperties': false,"
    " 'description': 'Seconds after the last check-in; merged over the current values, they"
    " must increase. immutable_* are accepted and not kept.',"
    " 'properties': {"
    "  'conventional_time_to_stale': {'type': 'integer', 'minimum': 1, 'maximum': 604800},"
    "  'conventional_time_to_stale_warning': {'type': 'integer', 'minimum': 1, 'maximum': "
    "15552000},"
    "  'conventional_time_to_delete': {'type': 'integer', 'minimum': 1, 'maximum': 63072000},"
    "  'immutable_time_to_stale': {'type': 'integer', 'minimum': 1, 'maximum': 604800},"
    "  'immutable_time_to_stale_warning': {'type': 'integer', 'minimum': 1, 'maximum': 15552000},"
    "  'immutable_time_to_delete': {'type': 'integer', 'minimum': 1, 'maximum': 63072000}}},"
    "'StalenessOutput': {'type': 'object', 'additionalProperties': false,"
    " 'required': ['id', 'org_id', 'conventional_time_to_stale',"
    "  'conventional_time_to_stale_warning', 'conventional_time_to_delete',"
    "  'immutable_time_to_stale', 'immutable_time_to_stale_warning', 'immutable_time_to_delete',"
    "  'created', 'updated'],"
    " 'properties': {'id': {'type': 'string', 'description': 'system_default for the defaults.'},"
    "  'org_id': {'type': 'string'},"
    "  'conventional_time_to_stale': {'type': 'integer'},"
    "  'conventional_time_to_stale_warning': {'type': 'integer'},"
    "  'conventional_time_to_delete': {'type': 'integer'},"
    "  'immutable_time_to_stale': {'type': 'integer'},"
    "  'immutable_time_to_stale_warning': {'type': 'integer'},"
    "  'immutable_time_to_delete': {'type': 'integer'},"
    "  'created': {'type': ['string', 'null']}, 'updated': {'type': ['string', 'null']}}},"
    "'OpenAPIDocument': {'type': 'object', 'required': ['openapi', 'info', 'paths'],"
    " 'properties': {'openapi': {'const': '3.1.0'}}, 'description': 'This document.'}"
    "}";

/* HBI's pagination envelope around results of the given schema. */
static json_t *envelope(json_t *results)
{
    json_t *o = jq("{'type': 'object', 'additionalProperties': false,"
                   " 'required': ['total', 'count', 'page', 'per_page', 'results'],"
                   " 'properties': {'total': {'type': 'integer', 'minimum': 0},"
                   "  'count': {'type': 'integer', 'minimum': 0},"
                   "  'page': {'type': 'integer', 'minimum': 1},"
                   "  'per_page': {'type': 'integer', 'minimum': 1, 'maximum': 100}}}");
    json_object_set_new(json_object_get(o, "properties"), "results", results);
    return o;
}

static const struct {
    const char *name, *results;
} envelopes[] = {
    {"HostQueryOutput", "{'type': 'array', 'items': {'$ref': '#/components/schemas/Host'}}"},
    {"SystemProfileByHostOut",
     "{'type': 'array', 'items': {'$ref': '#/components/schemas/HostSystemProfile'}}"},
    {"TagsOut", "{'type': 'object', 'description': 'By host id.', 'additionalProperties':"
                " {'type': 'array', 'items': {'$ref': '#/components/schemas/StructuredTag'}}}"},
    {"TagCountOut", "{'type': 'object', 'description': 'By host id.', 'additionalProperties':"
                    " {'type': 'integer', 'minimum': 0}}"},
    {"ActiveTags", "{'type': 'array', 'items': {'$ref': '#/components/schemas/ActiveTag'}}"},
};

static const char *const parameters =
    "{"
    "'hostIdList': {'name': 'host_id_list', 'in': 'path', 'required': true, 'style': 'simple',"
    " 'explode': false, 'description': 'Comma-separated host UUIDs (with or without dashes).',"
    " 'schema': {'type': 'array', 'minItems': 1, 'maxItems': 500, 'items': {'type': 'string',"
    "  'pattern': '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    "|[0-9a-fA-F]{32})$'}}},"
    "'pageParam': {'name': 'page', 'in': 'query', 'description': 'A page number, from 1; an"
    " empty page past the first is a 404.',"
    " 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 21474837, 'default': 1}},"
    "'perPageParam': {'name': 'per_page', 'in': 'query', 'description': 'Items per page.',"
    " 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 100, 'default': 50}},"
    "'hostOrderByParam': {'name': 'order_by', 'in': 'query', 'description': 'Ordering field.',"
    " 'schema': {'type': 'string', 'enum': ['display_name', 'updated', 'last_check_in',"
    "  'operating_system'], 'default': 'updated'}},"
    "'orderHowParam': {'name': 'order_how', 'in': 'query', 'description': 'ASC by default for"
    " display_name, DESC for the others; needs order_by.',"
    " 'schema': {'type': 'string', 'enum': ['ASC', 'DESC']}},"
    "'tagsOrderBy': {'name': 'order_by', 'in': 'query', 'description': 'Ordering field.',"
    " 'schema': {'type': 'string', 'enum': ['tag', 'count'], 'default': 'tag'}},"
    "'tagsOrderHow': {'name': 'order_how', 'in': 'query', 'description': 'Direction.',"
    " 'schema': {'type': 'string', 'enum': ['ASC', 'DESC'], 'default': 'ASC'}},"
    "'displayName': {'name': 'display_name', 'in': 'query', 'description': 'A case-insensitive"
    " substring of display_name.', 'schema': {'type': 'string'}},"
    "'fqdn': {'name': 'fqdn', 'in': 'query', 'description': 'The FQDN (case-insensitive).',"
    " 'schema': {'type': 'string'}},"
    "'hostnameOrId': {'name': 'hostname_or_id', 'in': 'query', 'description': 'A"
    " case-insensitive substring of display_name or fqdn, or the host id.',"
    " 'schema': {'type': 'string'}},"
    "'insightsId': {'name': 'insights_id', 'in': 'query', 'description': 'The insights_id.',"
    " 'schema': {'type': 'string', 'format': 'uuid'}},"
    "'providerId': {'name': 'provider_id', 'in': 'query', 'description': 'The provider_id"
    " (case-insensitive).', 'schema': {'type': 'string'}},"
    "'providerType': {'name': 'provider_type', 'in': 'query', 'description': 'The"
    " provider_type.', 'schema': {'type': 'string', 'enum': ['alibaba', 'aws', 'azure', 'gcp',"
    " 'ibm']}},"
    "'updatedStart': {'name': 'updated_start', 'in': 'query', 'description': 'Hosts updated at"
    " or after (RFC 3339).', 'schema': {'type': 'string', 'format': 'date-time'}},"
    "'updatedEnd': {'name': 'updated_end', 'in': 'query', 'description': 'Hosts updated at or"
    " before (RFC 3339).', 'schema': {'type': 'string', 'format': 'date-time'}},"
    "'stalenessParam': {'name': 'staleness', 'in': 'query', 'style': 'form', 'explode': true,"
    " 'description': 'Staleness states (repeated or comma-separated); default fresh, stale,"
    " stale_warning. Culled hosts are never shown.',"
    " 'schema': {'type': 'array', 'items': {'type': 'string', 'enum': ['fresh', 'stale',"
    " 'stale_warning', 'unknown']}}},"
    "'tagsParam': {'name': 'tags', 'in': 'query', 'style': 'form', 'explode': true,"
    " 'description': 'namespace/key=value, each part URL-encoded; namespace and value optional;"
    " hosts with every tag given.',"
    " 'schema': {'type': 'array', 'items': {'type': 'string'}}},"
    "'registeredWith': {'name': 'registered_with', 'in': 'query', 'style': 'form',"
    " 'explode': true, 'description': 'Hosts registered with any of these reporters (! negates).',"
    " 'schema': {'type': 'array', 'items': {'type': 'string', 'enum': ['insights', 'yupana',"
    " 'puptoo', 'rhsm-conduit', 'cloud-connector', '!yupana', '!puptoo', '!rhsm-conduit',"
    " '!cloud-connector']}}},"
    "'searchParam': {'name': 'search', 'in': 'query', 'description': 'A case-insensitive"
    " substring of namespace/key=value.', 'schema': {'type': 'string'}},"
    "'insightsIdRequired': {'name': 'insights_id', 'in': 'query', 'required': true,"
    " 'description': 'The insights_id.', 'schema': {'type': 'string', 'format': 'uuid'}}"
    "}";

/* Error answers (server.c's and ours): the Error schema with its fixed
 * error text. */
static const struct {
    unsigned bit;
    const char *code, *name, *error, *desc;
} errors[] = {
    {1u << 0, "400", "BadRequest", "bad request",
     "A parameter, id or body refused; the detail says why."},
    {1u << 1, "401", "Unauthorized", "unauthorized",
     "x-rh-identity missing, not base64, not JSON, or not a valid identity."},
    {1u << 2, "404", "NotFound", "not found",
     "No visible host (none of the ids, none matching), no record, or a page out of range."},
    {1u << 3, "409", "Conflict", "conflict", "More than one host has the insights_id."},
    {1u << 4, "413", "PayloadTooLarge", "payload too large", "A request body over 1 MiB."},
    {1u << 5, "500", "InternalError", "internal error", "Details in the server log only."},
    {1u << 6, "503", "DatabaseUnavailable", "database unavailable",
     "No PostgreSQL connection could be made."},
    {1u << 7, "504", "RequestTimeout", "request timeout",
     "The query ran past api.request_timeout."},
    {1u << 8, "405", "MethodNotAllowed", "method not allowed",
     "A known path with a method it does not serve; Allow lists those it does."},
};

#define E_400    (1u << 0)
#define E_401    (1u << 1)
#define E_404    (1u << 2)
#define E_409    (1u << 3)
#define E_413    (1u << 4)
#define E_ALWAYS (E_401 | (1u << 5) | (1u << 6) | (1u << 7))

static json_t *error_response(size_t i)
{
    json_t *r = jq("{'content': {'application/json': {'schema': {'allOf':"
                   " [{'$ref': '#/components/schemas/Error'}], 'properties': {'error': {}}}}}}");
    json_t *schema = json_object_get(
        json_object_get(json_object_get(r, "content"), "application/json"), "schema");
    json_object_set_new(json_object_get(json_object_get(schema, "properties"), "error"), "const",
                        json_string(errors[i].error));
    json_object_set_new(r, "description", json_string(errors[i].desc));
    if (strcmp(errors[i].code, "405") == 0)
        json_object_set_new(r, "headers",
                            jq("{'Allow': {'description': 'The methods of the path.',"
                               " 'schema': {'type': 'string'}}}"));
    return r;
}

static json_t *components(void)
{
    json_t *s = jq(schemas), *responses = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(envelopes); i++)
        json_object_set_new(s, envelopes[i].name, envelope(jq(envelopes[i].results)));
    for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
        json_object_set_new(responses, errors[i].name, error_response(i));
    json_t *c = json_pack("{s:o,s:o,s:o}", "schemas", s, "responses", responses, "parameters",
                          jq(parameters));
    json_object_set_new(c, "securitySchemes",
                        jq("{'ApiKeyAuth': {'type': 'apiKey', 'in': 'header',"
                           " 'name': 'x-rh-identity', 'description': 'Base64 of"
                           " {identity: {org_id, type: User|System|ServiceAccount, system: {cn}}},"
                           " set by the gateway in front of the API; no bearer token.'}}"));
    return c;
}

/* ---- operations (server.c's /api/inventory/v1 rows) ---- */

#define LIST_PARAMS "perPageParam pageParam hostOrderByParam orderHowParam"
#define FILTERS                                                                                    \
    "displayName fqdn hostnameOrId insightsId providerId providerType updatedStart updatedEnd "    \
    "stalenessParam tagsParam registeredWith"

static const struct op {
    const char *method, *path, *id, *tag, *summary;
    const char *params; /* components/parameters, space-separated */
    const char *body;   /* request body schema, or NULL */
    const char *status; /* success */
    const char *schema; /* its body, or NULL for none */
    unsigned errs;      /* E_* */
} ops[] = {
    {"get", PREFIX "/openapi.json", "openapi", "openapi", "This OpenAPI document (no identity).",
     "", NULL, "200", "OpenAPIDocument", 0},
    {"get", PREFIX "/hosts", "get_host_list", "hosts",
     "The visible hosts matching the filters, a page at a time (default order: updated, newest "
     "first).",
     FILTERS " " LIST_PARAMS, NULL, "200", "HostQueryOutput", E_400 | E_404},
    {"post", PREFIX "/hosts", "add_host_list", "hosts",
     "Create or update hosts (de-duplicated by their ID facts, as the ingress stream); one "
     "multi-status entry per element.",
     "", "CreateHostInList", "207", "BulkHostOut", E_400 | E_413},
    {"post", PREFIX "/hosts/checkin", "host_checkin", "hosts",
     "Find the host the ID facts name and set its last check-in (and updated) to now.", "",
     "CreateCheckIn", "201", "Host", E_400 | E_404 | E_413},
    {"get", PREFIX "/hosts/{host_id_list}", "get_host_by_id", "hosts",
     "The visible hosts among the ids; 404 when none is.", "hostIdList " LIST_PARAMS, NULL, "200",
     "HostQueryOutput", E_400 | E_404},
    {"patch", PREFIX "/hosts/{host_id_list}", "patch_host_by_id", "hosts",
     "Set display_name and/or ansible_host of the visible hosts among the ids; an updated event "
     "per changed host.",
     "hostIdList", "PatchHostIn", "200", NULL, E_400 | E_404 | E_413},
    {"delete", PREFIX "/hosts/{host_id_list}", "delete_host_by_id", "hosts",
     "Delete the visible hosts among the ids; a delete event each.", "hostIdList", NULL, "200",
     NULL, E_400 | E_404},
    {"get", PREFIX "/hosts/{host_id_list}/system_profile", "get_host_system_profile_by_id", "hosts",
     "The system profiles of the visible hosts among the ids.", "hostIdList " LIST_PARAMS, NULL,
     "200", "SystemProfileByHostOut", E_400 | E_404},
    {"get", PREFIX "/hosts/{host_id_list}/tags", "get_host_tags", "hosts",
     "The tags of the visible hosts among the ids, by host id.",
     "hostIdList " LIST_PARAMS " searchParam", NULL, "200", "TagsOut", E_400 | E_404},
    {"get", PREFIX "/hosts/{host_id_list}/tags/count", "get_host_tag_count", "hosts",
     "The number of tags of the visible hosts among the ids, by host id.",
     "hostIdList " LIST_PARAMS, NULL, "200", "TagCountOut", E_400 | E_404},
    {"get", PREFIX "/tags", "get_tags", "tags",
     "The tags of the visible hosts matching the filters, with the number of hosts each.",
     FILTERS " tagsOrderBy tagsOrderHow perPageParam pageParam searchParam", NULL, "200",
     "ActiveTags", E_400 | E_404},
    {"get", PREFIX "/host_exists", "get_host_exists", "hosts",
     "The id of the visible host with the insights_id; 409 when several have it.",
     "insightsIdRequired", NULL, "200", "HostIdOut", E_400 | E_404 | E_409},
    {"get", PREFIX "/account/staleness", "get_staleness", "staleness",
     "The org staleness settings, or the defaults (id system_default).", "", NULL, "200",
     "StalenessOutput", E_400},
    {"post", PREFIX "/account/staleness", "create_staleness", "staleness",
     "Create the org staleness record (400 when it exists).", "", "StalenessIn", "201",
     "StalenessOutput", E_400 | E_413},
    {"patch", PREFIX "/account/staleness", "update_staleness", "staleness",
     "Change the org staleness record (404 when none).", "", "StalenessIn", "200",
     "StalenessOutput", E_400 | E_404 | E_413},
    {"delete", PREFIX "/account/staleness", "delete_staleness", "staleness",
     "Delete the org staleness record: back to the defaults (404 when none).", "", NULL, "204",
     NULL, E_400 | E_404},
};

static json_t *ref_to(const char *kind, const char *name)
{
    char target[160];
    snprintf(target, sizeof(target), "#/components/%s/%s", kind, name);
    return json_pack("{s:s}", "$ref", target);
}

static json_t *op_params(const char *list)
{
    json_t *p = json_array();
    for (const char *e = list; *e;) {
        size_t n = strcspn(e, " ");
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)n, e);
        json_array_append_new(p, ref_to("parameters", name));
        e += n + (e[n] == ' ');
    }
    return p;
}

static json_t *op_body(const char *body)
{
    json_t *schema = strcmp(body, "CreateHostInList") == 0
                         ? json_pack("{s:s,s:i,s:o}", "type", "array", "maxItems", HBI_MAX_HOSTS_IN,
                                     "items", ref_to("schemas", "CreateHostIn"))
                         : ref_to("schemas", body);
    return json_pack("{s:b,s:{s:{s:o}}}", "required", true, "content", "application/json", "schema",
                     schema);
}

static json_t *op_object(const struct op *o)
{
    json_t *responses = json_object();
    json_t *ok = json_pack("{s:s}", "description", o->schema ? "OK." : "OK, no content.");
    if (o->schema)
        json_object_set_new(
            ok, "content",
            json_pack("{s:{s:o}}", "application/json", "schema", ref_to("schemas", o->schema)));
    json_object_set_new(responses, o->status, ok);
    unsigned errs = o->errs | (strcmp(o->id, "openapi") ? E_ALWAYS : 0);
    for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
        if (errs & errors[i].bit)
            json_object_set_new(responses, errors[i].code, ref_to("responses", errors[i].name));
    json_t *op =
        json_pack("{s:s,s:[s],s:s,s:o,s:o}", "operationId", o->id, "tags", o->tag, "summary",
                  o->summary, "parameters", op_params(o->params), "responses", responses);
    json_object_set_new(op, "security",
                        strcmp(o->id, "openapi") ? json_pack("[{s:[]}]", "ApiKeyAuth")
                                                 : json_array());
    if (o->body)
        json_object_set_new(op, "requestBody", op_body(o->body));
    return op;
}

static const char *const description =
    "The host-based inventory API, after the public HBI v1 API (docs/api.md, Host-based "
    "inventory API). Every route but this document needs an x-rh-identity header (no bearer "
    "token: a gateway authenticates callers and sets it) and sees only the hosts of the "
    "identity's org_id; a System identity sees only the hosts it owns (system_profile.owner_id "
    "= its cn). Staleness is computed from last_check_in and the org's settings; culled hosts "
    "are invisible everywhere. Errors are {error, reason} with HBI's status, title and detail. "
    "Another method on a known path is a 405 (components/responses/MethodNotAllowed).";

json_t *hbi_openapi(const struct config *cfg)
{
    (void)cfg;
    json_t *paths = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        json_t *item = json_object_get(paths, ops[i].path);
        if (!item)
            json_object_set_new(paths, ops[i].path, item = json_object());
        json_object_set_new(item, ops[i].method, op_object(&ops[i]));
    }
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:o,s:o}", "openapi", "3.1.0", "info", "title",
                     "Inventory host-based inventory API", "version", INV_VERSION, "description",
                     description, "tags",
                     jq("[{'name': 'hosts', 'description': 'Hosts.'},"
                        " {'name': 'tags', 'description': 'Tags of hosts.'},"
                        " {'name': 'staleness', 'description': 'Per-org staleness.'},"
                        " {'name': 'openapi', 'description': 'This document.'}]"),
                     "paths", paths, "components", components());
}
