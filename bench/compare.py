#!/usr/bin/env python3
"""Settings or builds of iaposted side by side, in rounds, on this machine's stack.

A shared machine drifts by 2-3x within minutes, so one run of A then one of B says little:
this runs every variant once per round, the order rotated each round, and reports the
median of the rounds with every run beside it. Each run is a fresh daemon with its own
topics and group against the stack's smtp-sink (scripts/stack up): 200 requests to warm up,
a paced run (`iaposte enqueue --rate`, latency enqueue -> `sent`), then a saturated one
(N at once, msg/s from the first enqueue to the last `sent`); then the dot-hold counters
from /metrics (the wait of each final dot for its `sending` record, at_most_once), and the
daemon's peak RSS and requests in flight during the saturated run (e.g. a variant with
IAPOSTE_DELIVERY_MAX_IN_FLIGHT=10000 and --sat-n 20000 is the bench's memory run). A first
run of the first variant, not counted, warms the machine up.

  bench/compare.py [--rounds R] [--rate R] [--paced-n N] [--sat-n N] VARIANT...
    VARIANT   label:KEY=VALUE,KEY=VALUE  environment for iaposted (IAPOSTE_* overrides);
              the key `daemon` names another iaposted binary (default build/daemon/iaposted)
  e.g. bench/compare.py 'now:' 'before:daemon=/tmp/iaposted-before' \\
         'c64:IAPOSTE_SMTP_MAX_CONNECTIONS=64'

Prints a Markdown table (medians, then the runs) and a JSON line per run on stderr.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stack_env():
    path = os.environ.get("IAPOSTE_STACK_ENV", os.path.join(REPO, ".state/stack/stack.env"))
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def parse_variant(arg):
    label, _, rest = arg.partition(":")
    env, daemon = {}, os.path.join(REPO, "build/daemon/iaposted")
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        if k == "daemon":
            daemon = v
        else:
            env[k] = v
    return {"label": label, "env": env, "daemon": daemon}


def requests(prefix, count, size=1024):
    line = "Bonjour {nom}, voici votre relevé mensuel de l'entreprise {entreprise}.\n"
    text = (line * (size // len(line) + 1))[:size]
    return "".join(
        json.dumps({"request_id": f"{prefix}{i}", "tenant": "bench", "from": "bench@iaposte.test",
                    "to": [f"client{i}@exemple.fr"], "subject": "Relevé {nom}", "text": text,
                    "variables": {"nom": "Hélène", "entreprise": "Société Exemple"}}) + "\n"
        for i in range(count))


def ts_ms(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000


class run_dir:
    def __init__(self, work, cli, topic):
        self.work, self.cli, self.topic = work, cli, topic

    def send(self, prefix, count, rate=None):
        """Enqueues `count` requests and waits for their `sent` events; returns the events."""
        req = os.path.join(self.work, prefix + ".jsonl")
        out = os.path.join(self.work, prefix + "-events.jsonl")
        with open(req, "w", encoding="utf-8") as f:
            f.write(requests(prefix, count))
        with open(out, "w", encoding="utf-8") as f:
            tail = subprocess.Popen([self.cli, "tail", "--topic", self.topic + ".status",
                                     "--from-beginning", "--prefix", prefix, "--status", "sent",
                                     "--count", str(count), "--timeout", "600"], stdout=f)
        cmd = [self.cli, "enqueue", "--topic", self.topic + ".requests", "--file", req,
               "--quiet", "--stamp"]
        if rate:
            cmd += ["--rate", str(rate)]
        subprocess.run(cmd, check=True)
        if tail.wait() != 0:
            raise RuntimeError(f"{prefix}: not every request was sent")
        with open(out, encoding="utf-8") as f:
            return [json.loads(line) for line in f]


def latencies(events):
    lat = sorted(ts_ms(e["timestamp"]) - e["metadata"]["enqueued_at"] for e in events)
    first = min(e["metadata"]["enqueued_at"] for e in events)
    last = max(ts_ms(e["timestamp"]) for e in events)
    return lat, first, last


def pct(lat, p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def sample(pid, port, peak, stop):
    """Peak RSS of the daemon and peak requests in flight (/metrics), every 0.2 s."""
    while not stop.wait(0.2):
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak["rss_kb"] = max(peak["rss_kb"], int(line.split()[1]))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as m:
                peak["in_flight"] = max(peak["in_flight"],
                                        metric(m.read().decode(), "iaposte_in_flight"))
        except OSError:
            pass


def one_run(v, args, base_env, work):
    topic = f"cmp-{v['label']}-{int(time.time() * 1000)}"
    env = dict(os.environ)
    env.update({"SMTP_SERVER": "127.0.0.1", "SMTP_PORT": base_env["SMTP_SINK_PORT"],
                "IAPOSTE_KAFKA_REQUESTS_TOPIC": topic + ".requests",
                "IAPOSTE_KAFKA_STATUS_TOPIC": topic + ".status",
                "IAPOSTE_KAFKA_DLQ_TOPIC": topic + ".dlq", "IAPOSTE_KAFKA_GROUP_ID": topic,
                "IAPOSTE_RETRY_TIERS": topic + ".retry.1m:60000",
                "IAPOSTE_SMTP_MAX_MESSAGES_PER_CONNECTION": "100000", "IAPOSTE_ADMIN_PORT": "0"})
    env.update(v["env"])
    log_path = os.path.join(work, topic + ".log")
    with open(log_path, "w", encoding="utf-8") as log:
        daemon = subprocess.Popen([v["daemon"], "--config",
                                   os.path.join(REPO, "config/iaposted.toml")], env=env,
                                  stderr=log)
    try:
        port = 0
        for _ in range(300):
            with open(log_path, encoding="utf-8") as f:
                for line in f:
                    if '"daemon.ready"' in line:
                        port = json.loads(line)["admin_port"]
            if port or daemon.poll() is not None:
                break
            time.sleep(0.1)
        if not port:
            raise RuntimeError(f"{v['label']}: iaposted did not start (see {log_path})")
        r = run_dir(work, os.path.join(REPO, "build/daemon/iaposte"), topic)
        r.send(topic + "-warm-", 200)
        plat, _, _ = latencies(r.send(topic + "-paced-", args.paced_n, args.rate))
        peak = {"rss_kb": 0, "in_flight": 0}
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(daemon.pid, port, peak, stop))
        sampler.start()
        try:
            slat, first, last = latencies(r.send(topic + "-sat-", args.sat_n))
        finally:
            stop.set()
            sampler.join()
        time.sleep(1.5)  # the worker's counters reach /metrics once a second
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as m:
            text = m.read().decode()
        holds = metric(text, "iaposte_dot_holds_total")
        hold_us = metric(text, "iaposte_dot_hold_microseconds_total")
        return {"label": v["label"], "p50_ms": round(pct(plat, 50), 1),
                "p99_ms": round(pct(plat, 99), 1),
                "sat_msg_s": int(len(slat) * 1000 / (last - first)),
                "dot_hold_ms": round(hold_us / holds / 1000, 2) if holds else None,
                "rss_mib": round(peak["rss_kb"] / 1024, 1), "in_flight": int(peak["in_flight"])}
    finally:
        daemon.terminate()
        daemon.wait(30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--paced-n", type=int, default=5000)
    ap.add_argument("--sat-n", type=int, default=10000)
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args()
    variants = [parse_variant(a) for a in args.variants]
    base = stack_env()
    os.environ.update(base)  # KAFKA_BROKERS for `iaposte enqueue` and `tail` too
    runs = {v["label"]: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="iaposte-compare-") as work:
        # The machine's first run after a pause is slower whatever runs it: one run of the
        # first variant first, not counted (on stderr, round 0).
        res = one_run(variants[0], args, base, work)
        res["round"] = 0
        print(json.dumps(res), file=sys.stderr, flush=True)
        for rnd in range(args.rounds):
            k = rnd % len(variants)
            for v in variants[k:] + variants[:k]:
                res = one_run(v, args, base, work)
                res["round"] = rnd + 1
                print(json.dumps(res), file=sys.stderr, flush=True)
                runs[v["label"]].append(res)

    def cell(rs, key):
        vals = [r[key] for r in rs]
        if any(x is None for x in vals):
            return "-"
        return f"{statistics.median(vals):g} ({', '.join(f'{x:g}' for x in vals)})"

    print(f"`bench/compare.py --rounds {args.rounds} --rate {args.rate} --paced-n {args.paced_n}"
          f" --sat-n {args.sat_n} {' '.join(repr(a) for a in args.variants)}`, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; median (runs in round order)\n")
    print(f"| variant | p50 ms at {args.rate} msg/s | p99 ms | saturated msg/s "
          "| dot hold ms per dot | peak RSS MiB (saturated) | peak in flight |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for v in variants:
        rs = sorted(runs[v["label"]], key=lambda r: r["round"])
        print(f"| {v['label']} {json.dumps(v['env']) if v['env'] else ''} | {cell(rs, 'p50_ms')} "
              f"| {cell(rs, 'p99_ms')} | {cell(rs, 'sat_msg_s')} | {cell(rs, 'dot_hold_ms')} "
              f"| {cell(rs, 'rss_mib')} | {cell(rs, 'in_flight')} |")


if __name__ == "__main__":
    main()
