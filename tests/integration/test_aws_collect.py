"""AWS collection end to end: worker + real PostgreSQL + Redis + the fake
AWS. Counts equal the fake's sizing, fan-out, idempotent upserts that move
updated_at only for rows seen, links, AWS client errors archived with AWS's
code, malformed answers failing without half-commits, throttling retried,
metrics, housekeeping after resources disappear."""
import json
import re
import time
import urllib.request
from pathlib import Path

from test_queue import FAST, info, start_worker, submit, task, wait_until

MODELS = {"region": "regions", "az": "azs", "vpc": "vpcs", "subnet": "subnets",
          "instance": "instances", "image": "images", "bucket": "buckets",
          "net_interface": "network_interfaces", "dhcp_option_set": "dhcp_option_sets"}
LINKS = ["region_to_az", "region_to_vpc", "vpc_to_subnet", "vpc_to_instance", "subnet_to_az",
         "instance_to_subnet", "instance_to_region", "instance_to_image",
         "instance_to_net_interface", "image_to_region", "lb_to_vpc", "lb_to_region",
         "lb_to_net_interface"]


def counts(db):
    out = {m: db.query(f"SELECT count(*) FROM aws_{m}")[0][0] for m in MODELS}
    out["loadbalancer"] = db.query("SELECT count(*) FROM aws_loadbalancer")[0][0]
    return out


def expected(fake):
    t = fake.config["totals"]
    out = {m: t[k] for m, k in MODELS.items()}
    out["loadbalancer"] = t["classic_lbs"] + t["v2_lbs"]
    return out


def drained(inv, cfg):
    q = info(inv, cfg)
    return q["pending"] == 0 and q["active"] == 0 and q["retry"] == 0 and q["scheduled"] == 0


def run_until_drained(inv, cfg, w, timeout=60):
    wait_until(lambda: drained(inv, cfg), timeout=timeout, step=0.2, what="queue drained")


def test_collect_all_and_link(inv, inv_popen, aws_cfg, fake, aws_env, db):
    cfg = aws_cfg()
    w = inv_popen("worker", "start", config=cfg, env=aws_env)
    w.wait_for(r'msg="worker started"')
    submit(inv, cfg, "aws:task:collect-all")
    run_until_drained(inv, cfg, w)
    assert info(inv, cfg)["archived"] == 0, inv("task", "archived", config=cfg).out
    assert counts(db) == expected(fake)
    # natural keys and console columns
    row = db.query("SELECT instance_id, name, arch, instance_type, state, subnet_id, vpc_id, "
                   "platform, region_name, image_id, launch_time IS NOT NULL, account_id "
                   "FROM aws_instance ORDER BY instance_id LIMIT 1")[0]
    assert row[0].startswith("i-") and row[1] and row[2] and row[3] and row[4]
    assert row[5].startswith("subnet-") and row[6].startswith("vpc-") and row[9].startswith("ami-")
    assert row[10] is True and row[11] in ("100000000001", "100000000002")
    assert db.query("SELECT count(DISTINCT region_name) FROM aws_bucket")[0][0] >= 1
    assert db.query("SELECT count(*) FROM aws_loadbalancer WHERE type = 'classic'")[0][0] == \
        fake.config["totals"]["classic_lbs"]

    submit(inv, cfg, "aws:task:link-all")
    run_until_drained(inv, cfg, w)
    n = {l: db.query(f"SELECT count(*) FROM l_aws_{l}")[0][0] for l in LINKS}
    e = expected(fake)
    assert n["vpc_to_instance"] == n["instance_to_subnet"] == n["instance_to_region"] == \
        n["instance_to_image"] == n["instance_to_net_interface"] == e["instance"]
    assert n["vpc_to_subnet"] == n["subnet_to_az"] == e["subnet"]
    assert n["region_to_vpc"] == e["vpc"] and n["region_to_az"] == e["az"]
    assert n["image_to_region"] == e["image"]
    assert n["lb_to_vpc"] == n["lb_to_region"] == e["loadbalancer"]
    assert n["lb_to_net_interface"] >= e["loadbalancer"]

    # metrics: per-resource gauges on the worker
    port = int(w.wait_for(r"http server listening.*port=(\d+)").group(1))
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    per_vpc = [float(v) for v in re.findall(
        r'^inventory_aws_instances\{account_id="\d+",region="[a-z0-9-]+",vpc_id="vpc-[0-9a-f]+"\}'
        r" (\S+)$", body, re.M)]
    assert sum(per_vpc) == e["instance"] and len(per_vpc) == e["vpc"]
    assert 'inventory_tasks_succeeded_total{queue="default",task="aws:task:collect-instances"}' \
        in body
    assert re.search(r'^inventory_aws_api_requests_total\{service="ec2",action="DescribeInstances",'
                     r'status="200"\} [1-9]', body, re.M), body

    # idempotent: a second collection changes nothing but updated_at
    before = db.query("SELECT instance_id, created_at, updated_at FROM aws_instance "
                      "ORDER BY instance_id")
    time.sleep(0.05)
    submit(inv, cfg, "aws:task:collect-instances")
    run_until_drained(inv, cfg, w)
    after = db.query("SELECT instance_id, created_at, updated_at FROM aws_instance "
                     "ORDER BY instance_id")
    assert [r[:2] for r in after] == [r[:2] for r in before]
    assert all(a[2] > b[2] for a, b in zip(after, before))
    assert counts(db) == expected(fake)
    w.stop()


def unit(inv, cfg, t, *extra, account="100000000001", region="eu-west-1"):
    return submit(inv, cfg, t, "--data", json.dumps({"account_id": account, "region": region}),
                  *extra)


def final(inv, cfg, tid, state):
    return wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") == state
                      and task(inv, cfg, tid), timeout=30, what=f"task {state}")


def test_errors(inv, inv_popen, aws_cfg, fake, aws_env, db, tmp_path):
    cfg = aws_cfg()
    w = inv_popen("worker", "start", config=cfg, env=aws_env)
    w.wait_for(r'msg="worker started"')

    # throttling is retried inside the call; the unit succeeds
    fake.add_fault(kind="throttle", action="DescribeVpcs", count=2)
    tid = unit(inv, cfg, "aws:task:collect-vpcs")
    wait_until(lambda: task(inv, cfg, tid) is None, what="vpcs collected")  # no retention
    assert db.query("SELECT count(*) FROM aws_vpc")[0][0] == \
        fake.config["per_account_region"]["vpcs"]
    assert fake.count("ec2.DescribeVpcs", 503) + fake.count("ec2.DescribeVpcs", 400) >= 2

    # a bad answer after part of the unit was upserted (classic LBs first,
    # then ELBv2 fails): the unit rolls back, nothing half-committed
    fake.clear_faults()
    for kind in ("cut", "truncate", "malformed", "badtype", "oversized", "close"):
        fake.add_fault(kind=kind, service="elbv2", count=1000, size=100000)
        # no retries: the task must end archived while the fault holds
        tid = unit(inv, cfg, "aws:task:collect-loadbalancers", "--max-retry", "0",
                   region="eu-central-1")
        t = final(inv, cfg, tid, "archived")
        assert t["last_error"], t
        assert fake.count("elb.DescribeLoadBalancers") >= 1
        assert db.query("SELECT count(*) FROM aws_loadbalancer")[0][0] == 0, kind
        fake.clear_faults()
    assert w.alive

    # an AWS client error is archived at once with AWS's code
    fake.add_fault(kind="error", action="DescribeSubnets", status=403,
                   code="UnauthorizedOperation", message="You are not authorized")
    tid = unit(inv, cfg, "aws:task:collect-subnets")
    t = final(inv, cfg, tid, "archived")
    assert "UnauthorizedOperation" in t["last_error"] and t["retried"] == 0
    fake.clear_faults()

    # bad payloads and unknown accounts are permanent
    for data, needle in [('{"account_id": 5}', "must be strings"),
                         ('{"region": "eu-west-1"}', "region without account_id"),
                         ('{"account_id": "999999999999", "region": "eu-west-1"}',
                          "not configured")]:
        tid = submit(inv, cfg, "aws:task:collect-vpcs", "--data", data)
        t = final(inv, cfg, tid, "archived")
        assert needle in t["last_error"], t
    w.stop()


def test_wrong_secret_archived(inv, inv_popen, aws_cfg, aws_env, tmp_path, fake):
    creds = Path(aws_env["AWS_SHARED_CREDENTIALS_FILE"])
    creds.write_text(creds.read_text().replace("fakesecret100000000002", "wrong"))
    cfg = aws_cfg(services={s: {"use_credentials": ["acct2"]}
                            for s in ("ec2", "elb", "elbv2", "s3")})
    w = inv_popen("worker", "start", config=cfg, env=aws_env)
    w.wait_for(r'msg="worker started"')
    tid = submit(inv, cfg, "aws:task:collect-regions")
    t = wait_until(lambda: (task(inv, cfg, tid) or {}).get("state") in ("archived", "retry")
                   and task(inv, cfg, tid), timeout=30, what="failed")
    assert "SignatureDoesNotMatch" in t["last_error"] or "acct2" in t["last_error"], t
    assert "wrong" not in w.err  # the secret never reaches the log
    w.stop()


def test_disabled_skips(inv, inv_popen, make_config, db):
    cfg = make_config(worker=dict(FAST, concurrency=1))
    w = start_worker(inv_popen, cfg)
    tid = submit(inv, cfg, "aws:task:collect-all", "--retention", "1h")
    t = final(inv, cfg, tid, "completed")
    assert t["state"] == "completed"
    assert "aws is not enabled" in w.err
    w.stop()


def test_housekeeper_after_resources_vanish(inv, inv_popen, aws_cfg, aws_env, db, fake):
    cfg = aws_cfg()
    w = inv_popen("worker", "start", config=cfg, env=aws_env)
    w.wait_for(r'msg="worker started"')
    submit(inv, cfg, "aws:task:collect-all")
    run_until_drained(inv, cfg, w)
    submit(inv, cfg, "aws:task:link-all")
    run_until_drained(inv, cfg, w)
    total = db.query("SELECT count(*) FROM aws_instance")[0][0]
    # instances of one VPC were not seen for 5 hours
    gone = db.query("UPDATE aws_instance SET updated_at = now() - interval '5 hours' "
                    "WHERE vpc_id = (SELECT min(vpc_id) FROM aws_instance) RETURNING id")
    assert 0 < len(gone) < total
    payload = json.dumps({"retention": [{"name": "aws:model:instance", "duration": "4h"}]})
    tid = submit(inv, cfg, "aux:task:housekeeper", "--data", payload, "--retention", "1h")
    final(inv, cfg, tid, "completed")
    assert db.query("SELECT count(*) FROM aws_instance")[0][0] == total - len(gone)
    assert db.query("SELECT count(*) FROM l_aws_instance_to_subnet")[0][0] == total - len(gone)
    assert db.query("SELECT deleted FROM aux_housekeeper_run")[0][0] == len(gone)
    w.stop()


def test_excluded_regions_and_single_account(inv, inv_popen, aws_cfg, aws_env, db, fake):
    cfg = aws_cfg(excluded_regions=["eu-west-1"],
                  services={s: {"use_credentials": ["acct2"]}
                            for s in ("ec2", "elb", "elbv2", "s3")})
    w = inv_popen("worker", "start", config=cfg, env=aws_env)
    w.wait_for(r'msg="worker started"')
    submit(inv, cfg, "aws:task:collect-instances")
    run_until_drained(inv, cfg, w)
    per = fake.config["per_account_region"]["instances"]
    assert db.query("SELECT account_id, region_name, count(*) FROM aws_instance "
                    "GROUP BY 1, 2") == [("100000000002", "eu-central-1", per)]
    # the regions were learnt on the way (the fan-out needed them)
    assert db.query("SELECT count(*) FROM aws_region")[0][0] == 2
    w.stop()
