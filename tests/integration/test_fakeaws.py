"""The fake AWS (tests/fakes/fakeaws.c) is faithful: Debian's boto3 calls every
operation the collectors make against it (EC2, ELB, ELBv2, S3, STS), pages
through everything with its paginators, parses every response, and sees the
counts the sizing flags promise; authentication failures, parameter errors
and injected faults come back with AWS's codes, through boto3's own error and
retry handling. Raw signed requests check what boto3 hides (the wire: XML
namespaces, tokens, truncated bodies). The fake runs under the sanitizers
(build/san) and must stop cleanly with no report."""
import datetime
import http.client
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fakeaws import FakeAWS, account_id, fakeaws_bin  # noqa: E402

# Sizing of the shared fake; every expected count below derives from it.
ACCOUNTS, REGIONS, AZS, VPCS, SUBNETS, INSTANCES = 2, 3, 3, 2, 3, 7
IMAGES, CLBS, ALBS, BUCKETS, DHCP = 5, 2, 3, 5, 2
REGION_NAMES = ["eu-central-1", "eu-west-1", "us-east-1"]
PER_REGION = {
    "vpcs": VPCS,
    "subnets": VPCS * SUBNETS,
    "instances": VPCS * SUBNETS * INSTANCES,
    # one per instance, plus one per load balancer and subnet it spans
    "enis": VPCS * (SUBNETS * INSTANCES + (CLBS + ALBS) * min(SUBNETS, AZS)),
    "clbs": VPCS * CLBS,
    "albs": VPCS * ALBS,
}
NS_EC2 = "http://ec2.amazonaws.com/doc/2016-11-15/"
NS_ELB = "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"
NS_ELBV2 = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
NS_STS = "https://sts.amazonaws.com/doc/2011-06-15/"
NS_S3 = "http://s3.amazonaws.com/doc/2006-03-01/"
QUERY_VERSION = {"ec2": "2016-11-15", "elb": "2012-06-01", "elbv2": "2015-12-01",
                 "sts": "2011-06-15"}
SCOPE = {"ec2": "ec2", "elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing",
         "sts": "sts", "s3": "s3"}


def sizing_flags():
    return dict(accounts=ACCOUNTS, regions=REGIONS, azs_per_region=AZS, vpcs_per_region=VPCS,
                subnets_per_vpc=SUBNETS, instances_per_subnet=INSTANCES,
                images_per_region=IMAGES, classic_lbs_per_vpc=CLBS, v2_lbs_per_vpc=ALBS,
                buckets_per_account=BUCKETS, dhcp_options_per_region=DHCP)


@pytest.fixture(scope="module")
def fake():
    f = FakeAWS(fakeaws_bin(), **sizing_flags())
    f.start()
    yield f
    f.stop()


@pytest.fixture(autouse=True)
def clean(request):
    """No fault or count leaks from one test into the next."""
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()
    yield


def client(fake, service, account=1, region="eu-central-1", attempts=1, creds=None, **cfg):
    if creds is None:
        akid, secret = fake.keys(account)
        creds = {"aws_access_key_id": akid, "aws_secret_access_key": secret}
    # total_max_attempts counts the first try (max_attempts would count retries only)
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                    s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60, **cfg)
    return boto3.client(service, endpoint_url=fake.url, region_name=region, config=config,
                        **creds)


def error_code(excinfo):
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


# --- raw signed requests -------------------------------------------------------

class Raw:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def xml(self):
        return ET.fromstring(self.body)

    @property
    def code(self):
        m = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return m.group(1).decode() if m else None


def raw(fake, service, params=None, region="eu-central-1", account=1, method=None, path="/",
        query="", secret=None, akid=None, token=None, when=None, sign=True, headers=None):
    """One request signed by botocore's own signer, sent with http.client."""
    if service == "s3":
        method = method or "GET"
        body = b""
    else:
        method = method or "POST"
        p = {"Version": QUERY_VERSION[service], **(params or {})}
        body = "&".join(f"{k}={v}" for k, v in p.items()).encode()
    url = fake.url + path + ("?" + query if query else "")
    hdrs = dict(headers or {})
    if body:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    if sign:
        k, s = fake.keys(account)
        auth_cls = S3SigV4Auth if service == "s3" else SigV4Auth
        auth = auth_cls(Credentials(akid or k, secret or s, token), SCOPE[service], region)
        when = when or datetime.datetime.now(datetime.timezone.utc)
        req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        auth._modify_request_before_signing(req)
        canonical = auth.canonical_request(req)
        auth._inject_signature_to_request(req, auth.signature(auth.string_to_sign(req, canonical),
                                                              req))
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=60)
    try:
        conn.request(method, path + ("?" + query if query else ""), body=body,
                     headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return Raw(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# --- every operation, every page, every count ----------------------------------

def test_regions_and_zones(fake):
    ec2 = client(fake, "ec2")
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == REGION_NAMES
    assert all(r["Endpoint"] == f"ec2.{r['RegionName']}.amazonaws.com" and
               r["OptInStatus"] == "opt-in-not-required" for r in regions)
    every = ec2.describe_regions(AllRegions=True)["Regions"]
    assert len(every) > REGIONS and {r["OptInStatus"] for r in every[REGIONS:]} == {"not-opted-in"}
    assert [r["RegionName"] for r in ec2.describe_regions(RegionNames=["us-east-1"])["Regions"]] \
        == ["us-east-1"]
    for region in REGION_NAMES:
        zones = client(fake, "ec2", region=region).describe_availability_zones()
        zones = zones["AvailabilityZones"]
        assert [z["ZoneName"] for z in zones] == [region + c for c in "abc"]
        assert all(z["State"] == "available" and z["RegionName"] == region and
                   z["ZoneId"].endswith(f"-az{i + 1}") for i, z in enumerate(zones))
    # a region the accounts do not use has nothing in it
    assert client(fake, "ec2", region="ap-south-1").describe_vpcs()["Vpcs"] == []


def paginate(c, op, key, page_size, **kw):
    items, pages = [], 0
    for page in c.get_paginator(op).paginate(PaginationConfig={"PageSize": page_size}, **kw):
        items += page[key]
        pages += 1
    return items, pages


def test_every_collection_every_account_and_region(fake):
    cfg = fake.config
    per = cfg["per_account_region"]
    assert (per["vpcs"], per["subnets"], per["instances"], per["network_interfaces"],
            per["classic_lbs"], per["v2_lbs"], per["images"], per["dhcp_option_sets"]) == \
        (PER_REGION["vpcs"], PER_REGION["subnets"], PER_REGION["instances"], PER_REGION["enis"],
         PER_REGION["clbs"], PER_REGION["albs"], IMAGES, DHCP)
    assert cfg["totals"]["instances"] == ACCOUNTS * REGIONS * PER_REGION["instances"]
    seen_instances = set()
    for account in range(1, ACCOUNTS + 1):
        owner = account_id(account)
        for region in REGION_NAMES:
            ec2 = client(fake, "ec2", account=account, region=region)
            vpcs, _ = paginate(ec2, "describe_vpcs", "Vpcs", 5)
            subnets, _ = paginate(ec2, "describe_subnets", "Subnets", 5)
            reservations, pages = paginate(ec2, "describe_instances", "Reservations", 5)
            enis, _ = paginate(ec2, "describe_network_interfaces", "NetworkInterfaces", 5)
            dhcp, _ = paginate(ec2, "describe_dhcp_options", "DhcpOptions", 5)
            images = ec2.describe_images(Owners=["self"])["Images"]
            zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
            instances = [i for r in reservations for i in r["Instances"]]
            assert pages == -(-PER_REGION["instances"] // 5)
            assert len(vpcs) == PER_REGION["vpcs"] and len(subnets) == PER_REGION["subnets"]
            assert len(instances) == PER_REGION["instances"] and len(enis) == PER_REGION["enis"]
            assert len(dhcp) == DHCP and len(images) == IMAGES

            vpc_ids = {v["VpcId"] for v in vpcs}
            subnet_by_id = {s["SubnetId"]: s for s in subnets}
            image_by_id = {i["ImageId"]: i for i in images}
            dhcp_ids = {d["DhcpOptionsId"] for d in dhcp}
            eni_by_id = {e["NetworkInterfaceId"]: e for e in enis}
            assert len(vpc_ids) == len(vpcs) and len(subnet_by_id) == len(subnets)
            assert len(eni_by_id) == len(enis)
            assert all(v["OwnerId"] == owner and v["DhcpOptionsId"] in dhcp_ids for v in vpcs)
            assert all(s["VpcId"] in vpc_ids and s["AvailabilityZone"] in zones for s in subnets)
            assert all(i["OwnerId"] == owner for i in images)
            for r in reservations:
                assert r["OwnerId"] == owner and len(r["Instances"]) == 1
            for i in instances:
                assert i["InstanceId"] not in seen_instances
                seen_instances.add(i["InstanceId"])
                # every reference resolves
                subnet = subnet_by_id[i["SubnetId"]]
                assert subnet["VpcId"] == i["VpcId"] and i["VpcId"] in vpc_ids
                assert i["Placement"]["AvailabilityZone"] == subnet["AvailabilityZone"]
                image = image_by_id[i["ImageId"]]
                assert i["Architecture"] == image["Architecture"]
                assert i["PlatformDetails"] == image["PlatformDetails"]
                assert i.get("Platform") == image.get("Platform")
                (nic,) = i["NetworkInterfaces"]
                eni = eni_by_id[nic["NetworkInterfaceId"]]
                assert eni["Attachment"]["InstanceId"] == i["InstanceId"]
                assert eni["PrivateIpAddress"] == i["PrivateIpAddress"] == nic["PrivateIpAddress"]
                assert eni["SubnetId"] == i["SubnetId"]
            # the load balancers' interfaces
            lb_enis = [e for e in enis if e.get("RequesterId") == "amazon-elb"]
            assert len(lb_enis) == PER_REGION["enis"] - PER_REGION["instances"]
            assert all(e["Description"].startswith("ELB ") and e["RequesterManaged"]
                       for e in lb_enis)
    assert len(seen_instances) == fake.config["totals"]["instances"]


def test_instance_fields(fake):
    ec2 = client(fake, "ec2", region="us-east-1")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(instances) == PER_REGION["instances"]  # no MaxResults: one page of up to 1000
    i = instances[0]
    for key in ("InstanceId", "ImageId", "State", "PrivateDnsName", "PublicDnsName",
                "InstanceType", "LaunchTime", "Placement", "PlatformDetails", "Architecture",
                "SubnetId", "VpcId", "PrivateIpAddress", "NetworkInterfaces", "Tags",
                "BlockDeviceMappings", "RootDeviceType", "VirtualizationType"):
        assert key in i, key
    assert re.fullmatch(r"i-[0-9a-f]{17}", i["InstanceId"])
    assert i["State"] == {"Code": 16, "Name": "running"}
    assert isinstance(i["LaunchTime"], datetime.datetime)
    assert i["PrivateDnsName"].endswith(".ec2.internal")  # us-east-1 naming
    assert i["PublicIpAddress"] and i["PublicDnsName"].endswith(".compute-1.amazonaws.com")
    assert dict((t["Key"], t["Value"]) for t in i["Tags"])["Name"].startswith("fake-use1-")
    states = {x["State"]["Name"] for x in instances}
    assert states == {"running", "stopped"}
    stopped = next(x for x in instances if x["State"]["Name"] == "stopped")
    assert stopped["State"]["Code"] == 80 and "PublicIpAddress" not in stopped
    assert {x["Architecture"] for x in instances} == {"x86_64", "arm64"}
    windows = [x for x in instances if x.get("Platform") == "windows"]
    assert windows and all(x["PlatformDetails"] == "Windows" for x in windows)


def test_images_owners_ids_and_pages(fake):
    ec2 = client(fake, "ec2", account=2)
    me = account_id(2)
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == IMAGES
    assert len(ec2.describe_images(Owners=[me])["Images"]) == IMAGES
    assert ec2.describe_images(Owners=["amazon"])["Images"] == []
    assert ec2.describe_images(Owners=[account_id(1)])["Images"] == []
    img = ec2.describe_images(Owners=["self"])["Images"][3]
    for key in ("ImageId", "Name", "OwnerId", "ImageType", "RootDeviceType", "Description",
                "VirtualizationType", "CreationDate", "ImageLocation", "Architecture", "State",
                "PlatformDetails", "BlockDeviceMappings"):
        assert key in img, key
    assert (img["OwnerId"], img["State"], img["ImageType"], img["Architecture"]) == \
        (me, "available", "machine", "arm64")
    got = ec2.describe_images(ImageIds=[img["ImageId"]])["Images"]
    assert [g["ImageId"] for g in got] == [img["ImageId"]]
    with pytest.raises(ClientError) as e:
        ec2.describe_images(ImageIds=["ami-0fffffffffffffff0"])
    assert error_code(e) == ("InvalidAMIID.NotFound", 400)
    # MaxResults/NextToken (the API has them; this botocore's model does not)
    r1 = raw(fake, "ec2", {"Action": "DescribeImages", "Owner.1": "self", "MaxResults": "5"},
             account=2)
    assert r1.status == 200 and r1.xml.tag == f"{{{NS_EC2}}}DescribeImagesResponse"
    assert len(r1.xml.findall(f"{{{NS_EC2}}}imagesSet/{{{NS_EC2}}}item")) == min(5, IMAGES)


def test_load_balancers_classic_and_v2(fake):
    for account in range(1, ACCOUNTS + 1):
        for region in REGION_NAMES:
            elb = client(fake, "elb", account=account, region=region)
            classic, pages = paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions", 1)
            assert len(classic) == PER_REGION["clbs"] and pages == PER_REGION["clbs"]
            elbv2 = client(fake, "elbv2", account=account, region=region)
            v2, _ = paginate(elbv2, "describe_load_balancers", "LoadBalancers", 2)
            assert len(v2) == PER_REGION["albs"]
            assert len({lb["LoadBalancerName"] for lb in classic + v2}) == len(classic) + len(v2)
    ec2 = client(fake, "ec2")
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets()["Subnets"]}
    vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    lb = client(fake, "elb").describe_load_balancers()["LoadBalancerDescriptions"][0]
    for key in ("LoadBalancerName", "DNSName", "VPCId", "Subnets", "AvailabilityZones",
                "CreatedTime", "Scheme", "Instances", "CanonicalHostedZoneNameID"):
        assert key in lb, key
    assert lb["VPCId"] in vpcs and all(s in subnets for s in lb["Subnets"])
    assert lb["DNSName"].endswith(".eu-central-1.elb.amazonaws.com")
    v2 = client(fake, "elbv2").describe_load_balancers()["LoadBalancers"]
    assert {x["Type"] for x in v2} == {"application", "network"}
    assert {x["Scheme"] for x in v2} == {"internet-facing", "internal"}
    for x in v2:
        assert re.fullmatch(r"arn:aws:elasticloadbalancing:eu-central-1:100000000001:"
                            r"loadbalancer/(app|net)/fake-[an]lb-v\d+-\d+/[0-9a-f]{16}",
                            x["LoadBalancerArn"])
        assert x["State"] == {"Code": "active"} and x["VpcId"] in vpcs
        assert x["IpAddressType"] == "ipv4" and x["CanonicalHostedZoneId"]
        assert isinstance(x["CreatedTime"], datetime.datetime)
        for az in x["AvailabilityZones"]:
            assert subnets[az["SubnetId"]]["AvailabilityZone"] == az["ZoneName"]
    # the wire: namespaces and NextMarker
    r = raw(fake, "elb", {"Action": "DescribeLoadBalancers", "PageSize": "1"})
    assert r.xml.tag == f"{{{NS_ELB}}}DescribeLoadBalancersResponse"
    assert r.xml.find(f".//{{{NS_ELB}}}NextMarker") is not None
    assert r.xml.find(f"{{{NS_ELB}}}ResponseMetadata/{{{NS_ELB}}}RequestId").text
    r = raw(fake, "elbv2", {"Action": "DescribeLoadBalancers"})
    assert r.xml.tag == f"{{{NS_ELBV2}}}DescribeLoadBalancersResponse"
    assert r.headers["content-type"] == "text/xml"


def test_s3_buckets_and_locations(fake):
    for account in range(1, ACCOUNTS + 1):
        s3 = client(fake, "s3", account=account, region="us-east-1")
        resp = s3.list_buckets()
        names = [b["Name"] for b in resp["Buckets"]]
        assert len(names) == BUCKETS and len(set(names)) == BUCKETS
        assert all(n.startswith(f"fake-{account_id(account)}-") for n in names)
        assert resp["Owner"]["ID"] and isinstance(resp["Buckets"][0]["CreationDate"],
                                                  datetime.datetime)
        for i, name in enumerate(names):
            loc = s3.get_bucket_location(Bucket=name)["LocationConstraint"]
            region = REGION_NAMES[i % REGIONS]
            assert loc == (None if region == "us-east-1" else region)
    s3 = client(fake, "s3")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_location(Bucket=f"fake-{account_id(2)}-bucket-0000")
    assert error_code(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_location(Bucket="no-such-bucket")
    assert error_code(e) == ("NoSuchBucket", 404)
    r = raw(fake, "s3", path="/")
    assert r.status == 200 and r.headers["content-type"] == "application/xml"
    assert r.xml.tag == f"{{{NS_S3}}}ListAllMyBucketsResult" and "x-amz-request-id" in r.headers
    r = raw(fake, "s3", path=f"/fake-{account_id(1)}-bucket-0002", query="location")
    assert r.xml.tag == f"{{{NS_S3}}}LocationConstraint" and r.xml.text is None  # us-east-1
    # max-buckets / continuation-token
    r = raw(fake, "s3", path="/", query="max-buckets=2")
    token = r.xml.find(f"{{{NS_S3}}}ContinuationToken").text
    assert len(r.xml.findall(f".//{{{NS_S3}}}Bucket")) == 2
    r = raw(fake, "s3", path="/", query=f"continuation-token={token}&max-buckets=10")
    assert len(r.xml.findall(f".//{{{NS_S3}}}Bucket")) == BUCKETS - 2


def test_sts_caller_identity_and_web_identity(fake):
    for account in range(1, ACCOUNTS + 1):
        ident = client(fake, "sts", account=account).get_caller_identity()
        assert ident["Account"] == account_id(account)
        assert ident["Arn"] == f"arn:aws:iam::{account_id(account)}:user/fakeaws"
        assert ident["UserId"]
    # AssumeRoleWithWebIdentity goes unsigned (botocore: auth type none)
    sts = client(fake, "sts", creds={})
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = sts.assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{account_id(2)}:role/path/inventory-collector",
        RoleSessionName="collector-1", WebIdentityToken="some-oidc-token", DurationSeconds=900)
    c = resp["Credentials"]
    assert re.fullmatch(r"ASIA[0-9A-Z]{16}", c["AccessKeyId"])
    assert c["SecretAccessKey"] and c["SessionToken"]
    assert 850 <= (c["Expiration"] - before).total_seconds() <= 960
    assert resp["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{account_id(2)}:assumed-role/inventory-collector/collector-1"
    temp = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}
    ident = client(fake, "sts", creds=temp).get_caller_identity()
    assert ident["Account"] == account_id(2)
    assert ident["Arn"] == resp["AssumedRoleUser"]["Arn"]
    # the temporary credentials act in the role's account, on every service
    vpcs = client(fake, "ec2", creds=temp).describe_vpcs()["Vpcs"]
    assert {v["OwnerId"] for v in vpcs} == {account_id(2)}
    assert len(client(fake, "s3", creds=temp).list_buckets()["Buckets"]) == BUCKETS
    assert client(fake, "elbv2", creds=temp).describe_load_balancers()["LoadBalancers"]
    # without the session token, or with another: refused
    no_token = dict(temp, aws_session_token=None)
    with pytest.raises(ClientError) as e:
        client(fake, "sts", creds=no_token).get_caller_identity()
    assert error_code(e) == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as e:
        client(fake, "ec2", creds=dict(temp, aws_session_token="x" + c["SessionToken"])) \
            .describe_vpcs()
    assert error_code(e) == ("AuthFailure", 401)
    # bad requests
    bad = [
        (dict(RoleArn="arn:aws:iam::12345:role/x"), "ValidationError", 400),
        (dict(RoleArn=f"arn:aws:iam::{account_id(9)}:role/x"), "AccessDenied", 403),
        (dict(RoleSessionName="bad name!"), "ValidationError", 400),
        (dict(DurationSeconds=43201), "ValidationError", 400),
    ]
    for override, code, status in bad:
        kw = dict(RoleArn=f"arn:aws:iam::{account_id(1)}:role/r", RoleSessionName="s1",
                  WebIdentityToken="some-oidc-token")
        kw.update(override)
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(**kw)
        assert error_code(e) == (code, status), override
    # an expired JWT
    import base64
    import json

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    jwt = ".".join([b64({"alg": "RS256"}), b64({"sub": "s", "exp": 1000}), "c2ln"])
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{account_id(1)}:role/r",
                                          RoleSessionName="s1", WebIdentityToken=jwt)
    assert error_code(e) == ("ExpiredTokenException", 400)
    # wire: namespace, text/xml
    r = raw(fake, "sts", {"Action": "GetCallerIdentity"})
    assert r.xml.tag == f"{{{NS_STS}}}GetCallerIdentityResponse"
    assert r.headers["content-type"] == "text/xml"


def test_sts_short_lived_credentials_expire():
    token = "the-one-token"
    with FakeAWS(fakeaws_bin(), sts_max_duration="2s", web_identity_token=token) as fake:
        sts = client(fake, "sts", creds={})
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{account_id(1)}:role/r",
                                              RoleSessionName="s1", WebIdentityToken="other-token")
        assert error_code(e) == ("InvalidIdentityToken", 400)
        t0 = datetime.datetime.now(datetime.timezone.utc)
        c = sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{account_id(1)}:role/r",
                                              RoleSessionName="s1", WebIdentityToken=token,
                                              DurationSeconds=3600)["Credentials"]
        assert (c["Expiration"] - t0).total_seconds() <= 3  # capped by --sts-max-duration
        temp = {"aws_access_key_id": c["AccessKeyId"],
                "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"]}
        assert client(fake, "sts", creds=temp).get_caller_identity()["Account"] == account_id(1)
        time.sleep(max(0.0, (c["Expiration"] - datetime.datetime.now(datetime.timezone.utc))
                       .total_seconds()) + 0.2)
        for service, call, code, status in [
                ("sts", lambda x: x.get_caller_identity(), "ExpiredToken", 403),
                ("ec2", lambda x: x.describe_vpcs(), "RequestExpired", 400),
                ("elb", lambda x: x.describe_load_balancers(), "ExpiredToken", 403),
                ("s3", lambda x: x.list_buckets(), "ExpiredToken", 400)]:
            with pytest.raises(ClientError) as e:
                call(client(fake, service, creds=temp))
            assert error_code(e) == (code, status), service


def test_expire_issued_credentials_on_demand(fake):
    c = client(fake, "sts", creds={}).assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{account_id(1)}:role/r", RoleSessionName="s1",
        WebIdentityToken="tok1")["Credentials"]
    temp = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}
    client(fake, "sts", creds=temp).get_caller_identity()
    assert fake.expire_credentials()["expired"] >= 1
    with pytest.raises(ClientError) as e:
        client(fake, "sts", creds=temp).get_caller_identity()
    assert error_code(e) == ("ExpiredToken", 403)


# --- authentication --------------------------------------------------------------

CALLS = {
    "ec2": lambda c: c.describe_regions(),
    "elb": lambda c: c.describe_load_balancers(),
    "elbv2": lambda c: c.describe_load_balancers(),
    "sts": lambda c: c.get_caller_identity(),
    "s3": lambda c: c.list_buckets(),
}
WRONG_SECRET = {"ec2": ("AuthFailure", 401), "elb": ("SignatureDoesNotMatch", 403),
                "elbv2": ("SignatureDoesNotMatch", 403), "sts": ("SignatureDoesNotMatch", 403),
                "s3": ("SignatureDoesNotMatch", 403)}
UNKNOWN_KEY = {"ec2": ("AuthFailure", 401), "elb": ("InvalidClientTokenId", 403),
               "elbv2": ("InvalidClientTokenId", 403), "sts": ("InvalidClientTokenId", 403),
               "s3": ("InvalidAccessKeyId", 403)}
SKEWED = {"ec2": ("RequestExpired", 400), "elb": ("SignatureDoesNotMatch", 403),
          "elbv2": ("SignatureDoesNotMatch", 403), "sts": ("SignatureDoesNotMatch", 403),
          "s3": ("RequestTimeTooSkewed", 403)}
UNSIGNED = {"ec2": ("MissingAuthenticationToken", 401),
            "elb": ("MissingAuthenticationToken", 403),
            "elbv2": ("MissingAuthenticationToken", 403),
            "sts": ("MissingAuthenticationToken", 403), "s3": ("AccessDenied", 403)}
RAW_CALL = {"ec2": {"Action": "DescribeRegions"}, "elb": {"Action": "DescribeLoadBalancers"},
            "elbv2": {"Action": "DescribeLoadBalancers"}, "sts": {"Action": "GetCallerIdentity"},
            "s3": None}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_authentication_failures(fake, service):
    akid, secret = fake.keys(1)
    cases = [
        ({"aws_access_key_id": akid, "aws_secret_access_key": secret + "x"}, WRONG_SECRET),
        ({"aws_access_key_id": "AKIAFAKE100000000099", "aws_secret_access_key": "s"}, UNKNOWN_KEY),
        ({"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "s"}, UNKNOWN_KEY),
    ]
    for creds, expected in cases:
        with pytest.raises(ClientError) as e:
            CALLS[service](client(fake, service, creds=creds, region="us-east-1"))
        assert error_code(e) == expected[service], creds
    # the other account's secret with this account's key
    with pytest.raises(ClientError) as e:
        CALLS[service](client(fake, service, creds={"aws_access_key_id": akid,
                                                    "aws_secret_access_key": fake.keys(2)[1]}))
    assert error_code(e) == WRONG_SECRET[service]
    # X-Amz-Date 20 minutes off, either way
    for minutes in (-20, 20):
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        r = raw(fake, service, RAW_CALL[service], when=when)
        assert (r.code, r.status) == SKEWED[service], minutes
    # 10 minutes off is fine
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    assert raw(fake, service, RAW_CALL[service], when=when).status == 200
    # no signature at all
    r = raw(fake, service, RAW_CALL[service], sign=False)
    assert (r.code, r.status) == UNSIGNED[service]
    # error documents are AWS's, with a request id
    r = raw(fake, service, RAW_CALL[service], secret="wrong")
    root = r.xml
    if service == "ec2":
        assert root.tag == "Response" and root.find("Errors/Error/Code").text == "AuthFailure"
        assert root.find("RequestID").text
        assert r.headers["content-type"].startswith("text/xml")
    elif service == "s3":
        assert root.tag == "Error" and root.find("RequestId").text
        assert r.headers["content-type"] == "application/xml"
    else:
        ns = {"elb": NS_ELB, "elbv2": NS_ELBV2, "sts": NS_STS}[service]
        assert root.tag == f"{{{ns}}}ErrorResponse"
        assert root.find(f"{{{ns}}}Error/{{{ns}}}Type").text == "Sender"
        assert root.find(f"{{{ns}}}RequestId").text
    # a malformed Authorization header
    r = raw(fake, service, RAW_CALL[service], sign=False,
            headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x",
                     "X-Amz-Date": "20240101T000000Z"})
    assert r.status in (400, 403) and r.code in ("IncompleteSignature", "AuthorizationHeaderMalformed")
    # a region that does not exist in the credential scope
    r = raw(fake, service, RAW_CALL[service], region="xx-nowhere-1")
    assert r.status in (400, 401, 403)
    assert fake.count(f"{service}.{'ListBuckets' if service == 's3' else RAW_CALL[service]['Action']}") > 0


# --- parameters ---------------------------------------------------------------------

def test_parameter_errors(fake):
    ec2 = client(fake, "ec2")
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(MaxResults=3)
    assert error_code(e) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs(MaxResults=1001)
    assert error_code(e) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(NextToken="not-a-token")
    assert error_code(e) == ("InvalidNextToken", 400)
    # a token is bound to its action, account and region
    token = ec2.describe_instances(MaxResults=5)["NextToken"]
    assert ec2.describe_instances(MaxResults=5, NextToken=token)["Reservations"]
    for other in (client(fake, "ec2", region="eu-west-1"), client(fake, "ec2", account=2)):
        with pytest.raises(ClientError) as e:
            other.describe_instances(MaxResults=5, NextToken=token)
        assert error_code(e) == ("InvalidNextToken", 400)
    with pytest.raises(ClientError) as e:
        ec2.describe_network_interfaces(MaxResults=5, NextToken=token)
    assert error_code(e) == ("InvalidNextToken", 400)
    elb = client(fake, "elb")
    with pytest.raises(ClientError) as e:
        elb.describe_load_balancers(PageSize=401)
    assert error_code(e) == ("ValidationError", 400)
    with pytest.raises(ClientError) as e:
        client(fake, "elbv2").describe_load_balancers(Marker="garbage")
    assert error_code(e) == ("InvalidNextToken", 400)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(DryRun=True)
    assert error_code(e) == ("DryRunOperation", 412)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert error_code(e) == ("UnknownParameter", 400)
    for service, params, code in [
            ("ec2", {"Action": "RunInstances"}, "InvalidAction"),
            ("ec2", {"Action": "NoSuchThing"}, "InvalidAction"),
            ("elb", {"Action": "CreateLoadBalancer"}, "InvalidAction"),
            ("sts", {"Action": "AssumeRole"}, "InvalidAction")]:
        r = raw(fake, service, params)
        assert (r.code, r.status) == (code, 400), params
    r = raw(fake, "s3", method="PUT", path="/new-bucket")
    assert (r.code, r.status) == ("NotImplemented", 501)
    # GET with the query string works as well as a POSTed form
    r = raw(fake, "ec2", method="GET", path="/",
            query="Action=DescribeVpcs&MaxResults=5&Version=2016-11-15")
    assert r.status == 200 and len(r.xml.findall(f".//{{{NS_EC2}}}vpcId")) == VPCS


# --- faults -------------------------------------------------------------------------

THROTTLED = {"ec2": ("RequestLimitExceeded", 503), "elb": ("Throttling", 400),
             "elbv2": ("Throttling", 400), "sts": ("Throttling", 400), "s3": ("SlowDown", 503)}
ACTION = {"ec2": "DescribeRegions", "elb": "DescribeLoadBalancers",
          "elbv2": "DescribeLoadBalancers", "sts": "GetCallerIdentity", "s3": "ListBuckets"}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_throttling_is_retried_by_boto3(fake, service):
    fake.add_fault(kind="throttle", service=service, count=2)
    resp = CALLS[service](client(fake, service, attempts=4))
    assert resp["ResponseMetadata"]["RetryAttempts"] == 2
    code, status = THROTTLED[service]
    key = f"{service}.{ACTION[service]}"
    assert fake.count(key, status) == 2 and fake.count(key, 200) == 1
    # without retries boto3 reports AWS's code
    fake.add_fault(kind="throttle", service=service, count=1)
    with pytest.raises(ClientError) as e:
        CALLS[service](client(fake, service))
    assert error_code(e) == (code, status)
    assert fake.stats()["faults"]["throttle"] == 3


def test_server_errors_and_custom_errors(fake):
    ec2 = client(fake, "ec2")
    fake.add_fault(kind="error", action="DescribeVpcs", count=1)
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs()
    assert error_code(e) == ("InternalError", 500)
    fake.add_fault(kind="error", status=503, service="elbv2", count=1)
    with pytest.raises(ClientError) as e:
        client(fake, "elbv2").describe_load_balancers()
    assert error_code(e) == ("ServiceUnavailable", 503)
    # 500s are retried
    fake.add_fault(kind="error", action="DescribeSubnets", count=1)
    assert client(fake, "ec2", attempts=3).describe_subnets()["ResponseMetadata"]["RetryAttempts"] == 1
    # a client error of one's choosing is not
    fake.add_fault(kind="error", status=403, code="UnauthorizedOperation",
                   message="You are not authorized to perform this operation.", count=1)
    with pytest.raises(ClientError) as e:
        client(fake, "ec2", attempts=3).describe_instances()
    assert error_code(e) == ("UnauthorizedOperation", 403)
    assert fake.count("ec2.DescribeInstances") == 1


def test_fault_selection_after_fraction_account_delay(fake):
    ec2_1, ec2_2 = client(fake, "ec2"), client(fake, "ec2", account=2)
    # only account 2, only after its first two requests
    fake.add_fault(kind="error", account=account_id(2), after=2, count=1)
    for _ in range(3):
        ec2_1.describe_vpcs()
    ec2_2.describe_vpcs()
    ec2_2.describe_vpcs()
    with pytest.raises(ClientError):
        ec2_2.describe_vpcs()
    ec2_2.describe_vpcs()
    fake.reset()
    # a fraction of the requests (seeded: deterministic per run)
    fake.add_fault(kind="error", action="DescribeDhcpOptions", fraction=0.5)
    failed = 0
    for _ in range(40):
        try:
            ec2_1.describe_dhcp_options()
        except ClientError:
            failed += 1
    assert 8 <= failed <= 32
    fake.reset()
    # delays add up, then the answer is normal
    fake.add_fault(kind="delay", ms=300, count=1)
    fake.add_fault(kind="delay", ms=200, count=1)
    t = time.monotonic()
    ec2_1.describe_regions()
    assert time.monotonic() - t >= 0.5
    ec2_1.describe_regions()  # both used up
    faults = fake.control("GET", "faults")["faults"]
    assert [f["hits"] for f in faults] == [1, 1] and [f["count"] for f in faults] == [0, 0]


def test_broken_bodies(fake):
    params = {"Action": "DescribeInstances", "MaxResults": "50"}
    whole = raw(fake, "ec2", params)
    assert whole.status == 200
    # truncate: Content-Length says more than arrives, then the connection closes
    fake.add_fault(kind="truncate", count=1)
    with pytest.raises(http.client.IncompleteRead) as e:
        raw(fake, "ec2", params)
    assert len(e.value.partial) == len(whole.body) // 2
    # boto3 on Debian's urllib3 1.x does not enforce Content-Length: it sees the
    # half document and fails to parse it (urllib3 2.x raises, and boto3 retries)
    fake.add_fault(kind="truncate", count=1)
    try:
        assert client(fake, "ec2", attempts=3).describe_instances(MaxResults=50)["Reservations"]
    except ResponseParserError as e:
        assert "invalid XML" in str(e)
    # cut: a complete HTTP answer whose XML stops half-way
    fake.add_fault(kind="cut", count=1)
    r = raw(fake, "ec2", params)
    assert r.status == 200 and len(r.body) == len(whole.body) // 2
    with pytest.raises(ET.ParseError):
        ET.fromstring(r.body)
    fake.add_fault(kind="cut", count=1)
    with pytest.raises(ResponseParserError):
        client(fake, "ec2").describe_instances(MaxResults=50)
    # malformed: full length, not well-formed
    fake.add_fault(kind="malformed", count=1)
    r = raw(fake, "ec2", params)
    assert r.status == 200 and b"</fakeMismatched>" in r.body
    with pytest.raises(ET.ParseError):
        ET.fromstring(r.body)
    fake.add_fault(kind="malformed", service="elb", count=1)
    with pytest.raises(ResponseParserError):
        client(fake, "elb").describe_load_balancers()
    # badtype: an HTML page from a "proxy"
    fake.add_fault(kind="badtype", count=1)
    r = raw(fake, "sts", {"Action": "GetCallerIdentity"})
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    fake.add_fault(kind="badtype", status=502, count=1)
    r = raw(fake, "s3", path="/")
    assert r.status == 502 and r.body.startswith(b"<!DOCTYPE html>")
    # close: no answer at all; boto3 retries on a new connection
    fake.add_fault(kind="close", count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw(fake, "ec2", params)
    fake.add_fault(kind="close", count=1)
    assert client(fake, "ec2", attempts=3).describe_vpcs()["Vpcs"]
    st = fake.stats()
    assert st["actions"]["ec2.DescribeVpcs"].get("0") == 1  # recorded as status 0
    assert st["faults"]["truncate"] == 2 and st["faults"]["close"] == 2


def test_unexpected_elements_and_oversized_fields(fake):
    fake.add_fault(kind="unexpected", count=1)
    vpcs = client(fake, "ec2").describe_vpcs()["Vpcs"]
    assert len(vpcs) == VPCS  # unknown elements are ignored by a tolerant parser
    fake.add_fault(kind="oversized", field="instanceType", size=3 << 20, count=1)
    res = client(fake, "ec2").describe_instances(MaxResults=5)["Reservations"]
    assert res[0]["Instances"][0]["InstanceType"] == "x" * (3 << 20)
    assert res[1]["Instances"][0]["InstanceType"] != "x" * (3 << 20)
    fake.add_fault(kind="oversized", size=1 << 20, count=1)
    r = raw(fake, "elbv2", {"Action": "DescribeLoadBalancers"})
    assert b"<fakeOversizedField>" + b"x" * (1 << 20) + b"</fakeOversizedField>" in r.body
    assert r.xml is not None


def test_control_endpoints(fake):
    assert fake.control("GET", "health") == {"ok": True}
    with pytest.raises(RuntimeError, match="400"):
        fake.add_fault(kind="nonsense")
    with pytest.raises(RuntimeError, match="400"):
        fake.add_fault(kind="error", bogus=1)
    with pytest.raises(RuntimeError, match="404"):
        fake.control("GET", "nothing")
    rules = fake.control("POST", "faults", {"faults": [{"kind": "delay", "ms": 1},
                                                        {"kind": "throttle", "service": "s3"}]})
    assert [r["kind"] for r in rules["faults"]] == ["delay", "throttle"]
    assert fake.clear_faults()["faults"] and fake.control("GET", "faults")["faults"] == []
    client(fake, "ec2").describe_regions()
    st = fake.stats(reset=True)
    assert st["requests"] == 1 and st["actions"] == {"ec2.DescribeRegions": {"200": 1}}
    assert fake.stats()["requests"] == 0
    cfg = fake.config
    assert cfg["regions"] == REGION_NAMES
    assert cfg["accounts"][1] == {"id": "100000000002", "access_key_id": "AKIAFAKE100000000002",
                                  "secret_access_key": "fakesecret100000000002"}


# --- the program ----------------------------------------------------------------------

def test_command_line_and_signals(tmp_path):
    binary = fakeaws_bin()
    for args in (["--accounts", "0"], ["--regions", "99"], ["--bogus"], ["--fault", "nonsense"],
                 ["--fault", "throttle:count"], ["--listen", "nowhere"], ["extra"],
                 ["--instances-per-subnet", "5", "--images-per-region", "0"], ["--accounts"]):
        r = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage: fakeaws" in r.stderr or "fakeaws:" in r.stderr
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--instances-per-subnet" in r.stdout
    for sig in (signal.SIGTERM, signal.SIGINT):
        port_file = tmp_path / f"port-{sig}"
        p = subprocess.Popen([str(binary), "--port-file", str(port_file),
                              "--fault", "throttle:count=1,service=ec2"],
                             stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        m = re.match(r"fakeaws listening port=(\d+)$", line.strip())
        assert m, line
        assert int(port_file.read_text()) == int(m.group(1))
        p.send_signal(sig)
        _, err = p.communicate(timeout=15)
        assert p.returncode == 0, err
        assert "AddressSanitizer" not in err and "runtime error" not in err


def test_same_flags_same_data():
    bodies = []
    for _ in range(2):
        with FakeAWS(fakeaws_bin(), accounts=1, regions=1, instances_per_subnet=30) as f:
            page = raw(f, "ec2", {"Action": "DescribeInstances", "MaxResults": "50"}).body
            token = re.search(rb"<nextToken>([^<]+)</nextToken>", page).group(1).decode()
            page2 = raw(f, "ec2", {"Action": "DescribeInstances", "MaxResults": "50",
                                   "NextToken": token}).body
            enis = raw(f, "ec2", {"Action": "DescribeNetworkInterfaces"}).body
            bodies.append(re.sub(rb"<requestId>[^<]*</requestId>", b"", page + page2 + enis))
    assert bodies[0] == bodies[1]


def test_large_pages_are_quick():
    """5,000 instances in one region, pages of 1,000 (under the sanitizers:
    the release build is several times faster; see docs/fakeaws.md)."""
    with FakeAWS(fakeaws_bin(), accounts=1, regions=1, vpcs_per_region=5, subnets_per_vpc=4,
                 instances_per_subnet=250) as f:
        conn_time = time.monotonic()
        token, n, pages = None, 0, 0
        while True:
            params = {"Action": "DescribeInstances", "MaxResults": "1000"}
            if token:
                params["NextToken"] = token
            r = raw(f, "ec2", params)
            assert r.status == 200
            n += r.body.count(b"<instanceId>")
            pages += 1
            m = re.search(rb"<nextToken>([^<]+)</nextToken>", r.body)
            if not m:
                break
            token = m.group(1).decode()
        elapsed = time.monotonic() - conn_time
        assert (n, pages) == (5000, 5)
        assert elapsed < 20, elapsed
