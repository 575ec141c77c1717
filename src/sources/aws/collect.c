/* AWS collectors: one unit of work is (account, region) — or the account
 * for global resources. A unit runs in one transaction: every page of the
 * API answer is parsed and upserted as one set-based statement, then the
 * next page is fetched, so memory stays flat however large the account;
 * on any error the transaction rolls back and nothing is half-committed.
 *
 * Most collectors are rows of a table: the API call, where the items are in
 * the answer, and a mapping from model columns to XML paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/model.h"
#include "db/pg.h"
#include "sources/aws/collect.h"

#define MAX_RESULTS "500"  /* items per page: a ~1.6 MB body, parsed item by item */
#define MAX_PAGES   100000 /* a runaway NextToken loop is an error, not a hang */

/* Where a column's value comes from. */
enum src { F_PATH = 0, F_TAG, F_ACCOUNT, F_REGION, F_CONST, F_BOOL, F_DHCP };

struct field {
    const char *col;
    enum src src;
    const char *arg; /* path, tag key, constant, or DHCP option key */
};

struct kind {
    const char *model;
    enum aws_service svc;
    const char *action;
    const char *list;                     /* element under the root holding the items */
    const char *item;                     /* item element name ("item" or "member") */
    const char *sub;                      /* nested list inside each item (instancesSet), or NULL */
    const char *token_param, *token_elem; /* pagination, NULL when none */
    const char *page_param;               /* "MaxResults" or "PageSize", or NULL */
    const struct field *fields;
    const char *metric;       /* gauge name, e.g. "inventory_aws_instances" */
    const char *metric_label; /* column counted by, besides account and region */
};

static const struct field region_fields[] = {
    {"name", F_PATH, "regionName"},
    {"endpoint", F_PATH, "regionEndpoint"},
    {"opt_in_status", F_PATH, "optInStatus"},
    {"account_id", F_ACCOUNT, NULL},
    {NULL, 0, NULL},
};
static const struct field az_fields[] = {
    {"zone_id", F_PATH, "zoneId"},       {"name", F_PATH, "zoneName"},
    {"account_id", F_ACCOUNT, NULL},     {"opt_in_status", F_PATH, "optInStatus"},
    {"state", F_PATH, "zoneState"},      {"region_name", F_PATH, "regionName"},
    {"group_name", F_PATH, "groupName"}, {"network_border_group", F_PATH, "networkBorderGroup"},
    {"zone_type", F_PATH, "zoneType"},   {NULL, 0, NULL},
};
static const struct field vpc_fields[] = {
    {"vpc_id", F_PATH, "vpcId"},
    {"name", F_TAG, "Name"},
    {"account_id", F_ACCOUNT, NULL},
    {"state", F_PATH, "state"},
    {"ipv4_cidr", F_PATH, "cidrBlock"},
    {"ipv6_cidr", F_PATH, "ipv6CidrBlockAssociationSet/item/ipv6CidrBlock"},
    {"is_default", F_BOOL, "isDefault"},
    {"owner_id", F_PATH, "ownerId"},
    {"region_name", F_REGION, NULL},
    {NULL, 0, NULL},
};
static const struct field subnet_fields[] = {
    {"subnet_id", F_PATH, "subnetId"},
    {"name", F_TAG, "Name"},
    {"account_id", F_ACCOUNT, NULL},
    {"vpc_id", F_PATH, "vpcId"},
    {"state", F_PATH, "state"},
    {"az", F_PATH, "availabilityZone"},
    {"az_id", F_PATH, "availabilityZoneId"},
    {"available_ipv4_addresses", F_PATH, "availableIpAddressCount"},
    {"ipv4_cidr", F_PATH, "cidrBlock"},
    {"ipv6_cidr", F_PATH, "ipv6CidrBlockAssociationSet/item/ipv6CidrBlock"},
    {"subnet_arn", F_PATH, "subnetArn"},
    {"region_name", F_REGION, NULL},
    {NULL, 0, NULL},
};
static const struct field instance_fields[] = {
    {"instance_id", F_PATH, "instanceId"},
    {"name", F_TAG, "Name"},
    {"account_id", F_ACCOUNT, NULL},
    {"arch", F_PATH, "architecture"},
    {"instance_type", F_PATH, "instanceType"},
    {"state", F_PATH, "instanceState/name"},
    {"subnet_id", F_PATH, "subnetId"},
    {"vpc_id", F_PATH, "vpcId"},
    {"platform", F_PATH, "platformDetails"},
    {"region_name", F_REGION, NULL},
    {"image_id", F_PATH, "imageId"},
    {"launch_time", F_PATH, "launchTime"},
    {"private_ip", F_PATH, "privateIpAddress"},
    {"public_ip", F_PATH, "ipAddress"},
    {"private_dns_name", F_PATH, "privateDnsName"},
    {"public_dns_name", F_PATH, "dnsName"},
    {NULL, 0, NULL},
};
static const struct field image_fields[] = {
    {"image_id", F_PATH, "imageId"},
    {"name", F_PATH, "name"},
    {"account_id", F_ACCOUNT, NULL},
    {"owner_id", F_PATH, "imageOwnerId"},
    {"image_type", F_PATH, "imageType"},
    {"root_device_type", F_PATH, "rootDeviceType"},
    {"description", F_PATH, "description"},
    {"architecture", F_PATH, "architecture"},
    {"state", F_PATH, "imageState"},
    {"virtualization_type", F_PATH, "virtualizationType"},
    {"creation_date", F_PATH, "creationDate"},
    {"region_name", F_REGION, NULL},
    {NULL, 0, NULL},
};
static const struct field eni_fields[] = {
    {"interface_id", F_PATH, "networkInterfaceId"},
    {"account_id", F_ACCOUNT, NULL},
    {"region_name", F_REGION, NULL},
    {"az", F_PATH, "availabilityZone"},
    {"description", F_PATH, "description"},
    {"interface_type", F_PATH, "interfaceType"},
    {"mac_address", F_PATH, "macAddress"},
    {"owner_id", F_PATH, "ownerId"},
    {"private_dns_name", F_PATH, "privateDnsName"},
    {"private_ip_address", F_PATH, "privateIpAddress"},
    {"public_ip_address", F_PATH, "association/publicIp"},
    {"requester_managed", F_BOOL, "requesterManaged"},
    {"src_dst_check", F_BOOL, "sourceDestCheck"},
    {"status", F_PATH, "status"},
    {"subnet_id", F_PATH, "subnetId"},
    {"vpc_id", F_PATH, "vpcId"},
    {"instance_id", F_PATH, "attachment/instanceId"},
    {NULL, 0, NULL},
};
static const struct field dhcp_fields[] = {
    {"set_id", F_PATH, "dhcpOptionsId"},
    {"name", F_TAG, "Name"},
    {"account_id", F_ACCOUNT, NULL},
    {"region_name", F_REGION, NULL},
    {"owner_id", F_PATH, "ownerId"},
    {"domain_name", F_DHCP, "domain-name"},
    {"domain_name_servers", F_DHCP, "domain-name-servers"},
    {NULL, 0, NULL},
};
static const struct field elb_fields[] = {
    {"dns_name", F_PATH, "DNSName"},
    {"name", F_PATH, "LoadBalancerName"},
    {"account_id", F_ACCOUNT, NULL},
    {"arn", F_CONST, ""},
    {"ip_address_type", F_CONST, "ipv4"},
    {"canonical_hosted_zone_id", F_PATH, "CanonicalHostedZoneNameID"},
    {"state", F_CONST, "active"},
    {"scheme", F_PATH, "Scheme"},
    {"type", F_CONST, "classic"},
    {"vpc_id", F_PATH, "VPCId"},
    {"region_name", F_REGION, NULL},
    {"created_time", F_PATH, "CreatedTime"},
    {NULL, 0, NULL},
};
static const struct field elbv2_fields[] = {
    {"dns_name", F_PATH, "DNSName"},
    {"name", F_PATH, "LoadBalancerName"},
    {"account_id", F_ACCOUNT, NULL},
    {"arn", F_PATH, "LoadBalancerArn"},
    {"ip_address_type", F_PATH, "IpAddressType"},
    {"canonical_hosted_zone_id", F_PATH, "CanonicalHostedZoneId"},
    {"state", F_PATH, "State/Code"},
    {"scheme", F_PATH, "Scheme"},
    {"type", F_PATH, "Type"},
    {"vpc_id", F_PATH, "VpcId"},
    {"region_name", F_REGION, NULL},
    {"created_time", F_PATH, "CreatedTime"},
    {NULL, 0, NULL},
};

/* clang-format off */
static const struct kind kinds[] = {
    [AWS_KIND_REGIONS] = {"aws:model:region", AWS_EC2, "DescribeRegions", "regionInfo", "item",
        NULL, NULL, NULL, NULL, region_fields, "inventory_aws_regions", NULL},
    [AWS_KIND_AZS] = {"aws:model:az", AWS_EC2, "DescribeAvailabilityZones",
        "availabilityZoneInfo", "item", NULL, NULL, NULL, NULL, az_fields, "inventory_aws_azs",
        NULL},
    [AWS_KIND_VPCS] = {"aws:model:vpc", AWS_EC2, "DescribeVpcs", "vpcSet", "item", NULL,
        "NextToken", "nextToken", "MaxResults", vpc_fields, "inventory_aws_vpcs", NULL},
    [AWS_KIND_SUBNETS] = {"aws:model:subnet", AWS_EC2, "DescribeSubnets", "subnetSet", "item",
        NULL, "NextToken", "nextToken", "MaxResults", subnet_fields, "inventory_aws_subnets",
        "vpc_id"},
    [AWS_KIND_INSTANCES] = {"aws:model:instance", AWS_EC2, "DescribeInstances", "reservationSet",
        "item", "instancesSet", "NextToken", "nextToken", "MaxResults", instance_fields,
        "inventory_aws_instances", "vpc_id"},
    [AWS_KIND_IMAGES] = {"aws:model:image", AWS_EC2, "DescribeImages", "imagesSet", "item", NULL,
        "NextToken", "nextToken", "MaxResults", image_fields, "inventory_aws_images", NULL},
    [AWS_KIND_NET_INTERFACES] = {"aws:model:net_interface", AWS_EC2, "DescribeNetworkInterfaces",
        "networkInterfaceSet", "item", NULL, "NextToken", "nextToken", "MaxResults", eni_fields,
        "inventory_aws_net_interfaces", NULL},
    [AWS_KIND_DHCP_OPTION_SETS] = {"aws:model:dhcp_option_set", AWS_EC2, "DescribeDhcpOptions",
        "dhcpOptionsSet", "item", NULL, "NextToken", "nextToken", "MaxResults", dhcp_fields,
        "inventory_aws_dhcp_option_sets", NULL},
    [AWS_KIND_ELB] = {"aws:model:loadbalancer", AWS_ELB, "DescribeLoadBalancers",
        "DescribeLoadBalancersResult/LoadBalancerDescriptions", "member", NULL, "Marker",
        "DescribeLoadBalancersResult/NextMarker", "PageSize", elb_fields,
        "inventory_aws_loadbalancers", "type"},
    [AWS_KIND_ELBV2] = {"aws:model:loadbalancer", AWS_ELBV2, "DescribeLoadBalancers",
        "DescribeLoadBalancersResult/LoadBalancers", "member", NULL, "Marker",
        "DescribeLoadBalancersResult/NextMarker", "PageSize", elbv2_fields,
        "inventory_aws_loadbalancers", "type"},
};
/* clang-format on */

/* ---- per-unit counters for the resource gauges ---- */

struct count {
    char *label;
    long long n;
};

struct counts {
    struct count *v;
    size_t n, cap;
};

static void count_add(struct counts *c, const char *label)
{
    label = label ? label : "";
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].label, label) == 0) {
            c->v[i].n++;
            return;
        }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (struct count){xstrdup(label), 1};
}

static void counts_release(struct counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].label);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

static void publish(const struct aws_unit *u, const struct kind *k, const struct counts *c,
                    long long total)
{
    if (!u->metrics || !k->metric)
        return;
    char help[160];
    snprintf(help, sizeof(help), "Collected %s rows, from the last collection.", k->model);
    if (k->metric_label) {
        const char *names[3] = {"account_id", "region", k->metric_label};
        struct metric *g = metrics_gauge(u->metrics, k->metric, help, 3, names);
        for (size_t i = 0; i < c->n; i++) {
            const char *v[3] = {u->account->account_id, u->region, c->v[i].label};
            metrics_set(g, v, (double)c->v[i].n);
        }
    } else {
        const char *names[2] = {"account_id", "region"};
        const char *v[2] = {u->account->account_id, u->region};
        metrics_set(metrics_gauge(u->metrics, k->metric, help, 2, names), v, (double)total);
    }
}

/* ---- one item to one row ---- */

/* The value of DHCP option `key` (values joined with ","), into tmp. */
static const char *dhcp_option(xmlNodePtr item, const char *key, struct buf *tmp)
{
    xmlNodePtr set = aws_xml_child(item, "dhcpConfigurationSet");
    for (xmlNodePtr o = set ? aws_xml_child(set, "item") : NULL; o; o = aws_xml_next(o)) {
        const char *k = aws_xml_text(o, "key");
        if (!k || strcmp(k, key) != 0)
            continue;
        xmlNodePtr vs = aws_xml_child(o, "valueSet");
        for (xmlNodePtr v = vs ? aws_xml_child(vs, "item") : NULL; v; v = aws_xml_next(v)) {
            const char *t = aws_xml_text(v, "value");
            if (t && ((tmp->len && buf_addc(tmp, ',') < 0) || buf_adds(tmp, t) < 0))
                return NULL;
        }
        return buf_str(tmp);
    }
    return "";
}

/* Fills vals (model column order) from item; -1 when a key field is
 * missing (a malformed answer). */
static int item_row(const struct aws_unit *u, const struct kind *k, const int *colidx,
                    xmlNodePtr item, const char **vals, size_t ncols, struct buf *tmp,
                    struct buf *err)
{
    for (size_t i = 0; i < ncols; i++)
        vals[i] = NULL;
    buf_reset(tmp);
    for (size_t f = 0; k->fields[f].col; f++) {
        const struct field *fd = &k->fields[f];
        const char *v = NULL;
        switch (fd->src) {
        case F_PATH:
            v = aws_xml_text(item, fd->arg);
            break;
        case F_TAG:
            v = aws_xml_tag(item, fd->arg);
            break;
        case F_ACCOUNT:
            v = u->account->account_id;
            break;
        case F_REGION:
            v = u->region;
            break;
        case F_CONST:
            v = fd->arg;
            break;
        case F_BOOL:
            v = aws_xml_text(item, fd->arg);
            v = v && strcmp(v, "true") == 0 ? "true" : "false";
            break;
        case F_DHCP:
            v = dhcp_option(item, fd->arg, tmp);
            break;
        }
        vals[colidx[f]] = v;
    }
    /* The first field is the natural id: without it the row is meaningless. */
    if (!vals[colidx[0]] || !*vals[colidx[0]]) {
        buf_setf(err, "%s: an item without %s in the answer", k->action, k->fields[0].arg);
        return -1;
    }
    return 0;
}

static void set_error(struct aws_unit *u, const struct aws_error *e, const char *action)
{
    u->permanent = e->kind == AWS_ERR_CLIENT;
    if (e->code[0])
        buf_setf(u->err, "%s %s/%s: %s: %s", action, u->account->account_id, u->region, e->code,
                 e->message);
    else
        buf_setf(u->err, "%s %s/%s: %s", action, u->account->account_id, u->region, e->message);
}

struct page_ctx {
    struct aws_unit *u;
    const struct kind *k;
    const struct model_def *m;
    const int *colidx;
    const char **vals;
    size_t ncols;
    struct model_batch *batch;
    struct counts *counts;
    struct buf *tmp;
    long long n;
};

static int on_item(void *arg, xmlNodePtr it)
{
    struct page_ctx *p = arg;
    const struct kind *k = p->k;
    xmlNodePtr sublist = k->sub ? aws_xml_child(it, k->sub) : NULL;
    xmlNodePtr x = k->sub ? (sublist ? aws_xml_child(sublist, "item") : NULL) : it;
    for (; x; x = k->sub ? aws_xml_next(x) : NULL) {
        if (item_row(p->u, k, p->colidx, x, p->vals, p->ncols, p->tmp, p->u->err) < 0 ||
            model_batch_add(p->batch, p->vals) < 0) {
            if (!p->u->err->len)
                buf_setf(p->u->err, "%s: a row too large to store", k->action);
            return -1;
        }
        if (k->metric_label)
            count_add(p->counts, p->vals[model_col_index(p->m, k->metric_label)]);
        p->n++;
    }
    return 0;
}

/* Collects one kind for the unit inside the caller's transaction. */
static int collect_kind(struct aws_unit *u, enum aws_kind which, long long *rows)
{
    const struct kind *k = &kinds[which];
    const struct model_def *m = model_find(k->model);
    int colidx[32];
    size_t nf = 0;
    for (; k->fields[nf].col; nf++) {
        colidx[nf] = model_col_index(m, k->fields[nf].col);
        if (colidx[nf] < 0) /* a programming error: the tables disagree */
            abort();
    }
    size_t ncols = model_ncols(m);
    const char **vals = xcalloc(ncols, sizeof(*vals));
    struct model_batch batch;
    struct counts counts = {0};
    struct buf tmp, token;
    model_batch_init(&batch, m);
    buf_init(&tmp, 64 * 1024);
    buf_init(&token, 64 * 1024);
    int rc = -1;
    long long total = 0;
    const char *region = u->region;
    for (int page = 0; page < MAX_PAGES; page++) {
        struct sigv4_kv params[16];
        size_t np = 0;
        char ownerkey[16][32];
        if (k->page_param)
            params[np++] = (struct sigv4_kv){
                k->page_param,
                which == AWS_KIND_ELB || which == AWS_KIND_ELBV2 ? "400" : MAX_RESULTS};
        if (k->token_param && token.len)
            params[np++] = (struct sigv4_kv){k->token_param, buf_str(&token)};
        if (which == AWS_KIND_IMAGES)
            for (size_t o = 0; o < u->nowners && np < 16; o++) {
                snprintf(ownerkey[o], sizeof(ownerkey[o]), "Owner.%zu", o + 1);
                params[np++] = (struct sigv4_kv){ownerkey[o], u->owners[o]};
            }
        xmlDocPtr doc = NULL;
        struct aws_error e;
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", k->list, k->item);
        struct page_ctx pc = {u, k, m, colidx, vals, ncols, &batch, &counts, &tmp, 0};
        if (aws_query_items(u->aws, u->account, k->svc, region, k->action, params, np, path,
                            on_item, &pc, u->cancel, &doc, &e) < 0) {
            if (e.kind != AWS_ERR_NONE)
                set_error(u, &e, k->action);
            goto out;
        }
        xmlNodePtr root = xmlDocGetRootElement(doc);
        long long n = pc.n;
        const char *next = k->token_param ? aws_xml_text(root, k->token_elem) : NULL;
        buf_reset(&token);
        if (next && *next && buf_adds(&token, next) < 0) {
            buf_setf(u->err, "%s: pagination token too long", k->action);
            xmlFreeDoc(doc);
            goto out;
        }
        xmlFreeDoc(doc);
        long long affected = 0;
        if (model_batch_flush(&batch, u->db, &affected, u->err) < 0)
            goto out;
        total += n;
        if (!token.len)
            break;
        if (page + 1 == MAX_PAGES) {
            buf_setf(u->err, "%s: more than %d pages", k->action, MAX_PAGES);
            goto out;
        }
    }
    publish(u, k, &counts, total);
    *rows += total;
    rc = 0;
out:
    free(vals);
    counts_release(&counts);
    model_batch_release(&batch);
    buf_release(&tmp);
    buf_release(&token);
    return rc;
}

/* S3: ListBuckets, then the region of each bucket. */
static int collect_buckets(struct aws_unit *u, long long *rows)
{
    const struct model_def *m = model_find("aws:model:bucket");
    struct model_batch batch;
    model_batch_init(&batch, m);
    xmlDocPtr doc = NULL;
    struct aws_error e;
    int rc = -1;
    long long n = 0;
    if (aws_s3_get(u->aws, u->account, u->region, NULL, NULL, u->cancel, &doc, &e) < 0) {
        set_error(u, &e, "ListBuckets");
        goto out;
    }
    xmlNodePtr list = aws_xml_path(xmlDocGetRootElement(doc), "Buckets");
    for (xmlNodePtr b = list ? aws_xml_child(list, "Bucket") : NULL; b; b = aws_xml_next(b)) {
        const char *name = aws_xml_text(b, "Name");
        if (!name || !*name) {
            buf_setf(u->err, "ListBuckets: a bucket without Name in the answer");
            goto out;
        }
        xmlDocPtr loc = NULL;
        if (aws_s3_get(u->aws, u->account, u->region, name, "location", u->cancel, &loc, &e) < 0) {
            set_error(u, &e, "GetBucketLocation");
            goto out;
        }
        xmlNodePtr lc = xmlDocGetRootElement(loc);
        const char *where = lc && lc->children && lc->children->type == XML_TEXT_NODE
                                ? (const char *)lc->children->content
                                : "";
        /* An empty LocationConstraint means us-east-1; "EU" is eu-west-1. */
        const char *region = !where || !*where          ? "us-east-1"
                             : strcmp(where, "EU") == 0 ? "eu-west-1"
                                                        : where;
        const char *vals[4] = {name, u->account->account_id, aws_xml_text(b, "CreationDate"),
                               region};
        int arc = model_batch_add(&batch, vals);
        xmlFreeDoc(loc);
        if (arc < 0) {
            buf_setf(u->err, "ListBuckets: a row too large to store");
            goto out;
        }
        n++;
        if (batch.nrows >= MODEL_BATCH_ROWS && model_batch_flush(&batch, u->db, NULL, u->err) < 0)
            goto out;
    }
    if (model_batch_flush(&batch, u->db, NULL, u->err) < 0)
        goto out;
    if (u->metrics) {
        const char *names[1] = {"account_id"};
        const char *v[1] = {u->account->account_id};
        metrics_set(metrics_gauge(u->metrics, "inventory_aws_buckets",
                                  "Collected aws:model:bucket rows, from the last collection.", 1,
                                  names),
                    v, (double)n);
    }
    *rows += n;
    rc = 0;
out:
    if (doc)
        xmlFreeDoc(doc);
    model_batch_release(&batch);
    return rc;
}

int aws_collect_unit(struct aws_unit *u, const enum aws_kind *which, size_t n, long long *rows)
{
    *rows = 0;
    u->permanent = false;
    if (pg_run(u->db, "BEGIN", 0, NULL, u->err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = which[i] == AWS_KIND_BUCKETS ? collect_buckets(u, rows)
                                          : collect_kind(u, which[i], rows);
    struct buf err2;
    buf_init(&err2, 1024);
    if (rc == 0 && pg_run(u->db, "COMMIT", 0, NULL, u->err) < 0)
        rc = -1;
    if (rc < 0 && pg_run(u->db, "ROLLBACK", 0, NULL, &err2) < 0)
        log_warn("rollback failed", LF_STR("error", buf_str(&err2)));
    buf_release(&err2);
    return rc;
}
