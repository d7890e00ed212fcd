#!/usr/bin/env python3
"""One `connections` figure block from several courier-bench processes run at once by
scripts/bench (--devices above what one process holds): sums their devices, takes the connect
rate over the wall time from the first process's first connect to the last one's last, and
computes the stack's memory per device from two snapshots of its processes' VmRSS (taken by
scripts/bench after every process registered its users, and after every process had all its
devices connected):

    bench_connections.py --asked N --before before.tsv --after after.tsv OUT1 OUT2 ...

A snapshot has one line per process: kind (redis, mosquitto, downlink, uplink), name, pid, role
(master or replica for Redis, - otherwise), VmRSS in KiB. Each OUT is one process's stdout (its
`key: value` block). A sixth column, if there, is a broker's established connections (- for
the others). The block goes to stdout, ending with `ok: true` or `ok: false` (with the
reasons in `failures:`); exits 0 either way, 2 on bad input. Standard library only.
"""
import argparse
import sys

# Counted in memory_per_device_kb (the "broker + downlink + Redis"); the uplink is
# shown but not counted, as in the single-process scenario.
COUNTED = ("redis", "mosquitto", "downlink")


def parse_block(text):
    figures = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            figures[key.strip()] = value.strip()
    return figures


def number(figures, key, default=0.0):
    try:
        return float(figures.get(key, default))
    except ValueError:
        return default


def read_snapshot(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) not in (5, 6):
                continue
            kind, name, pid, role, kib = parts[:5]
            conns = parts[5] if len(parts) == 6 and parts[5].isdigit() else None
            rows[name] = {"kind": kind, "pid": pid, "role": role, "kib": int(kib),
                          "connections": int(conns) if conns is not None else None}
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asked", type=int, required=True, help="devices asked for, in all")
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("outputs", nargs="+")
    args = ap.parse_args()

    failures = []
    blocks = []
    for path in args.outputs:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                blocks.append(parse_block(f.read()))
        except OSError as e:
            failures.append(f"cannot read {path}: {e}")
            blocks.append({})
    for i, b in enumerate(blocks, 1):
        if b.get("ok") != "true":
            failures.append(f"process {i}: " + (b.get("failures") or "no passing block"))

    connected = int(sum(number(b, "still_connected") for b in blocks))
    starts = [number(b, "connect_start_unix_ms") for b in blocks if "connect_start_unix_ms" in b]
    ends = [number(b, "connect_end_unix_ms") for b in blocks if "connect_end_unix_ms" in b]
    login_starts = [number(b, "login_start_unix_ms") for b in blocks if "login_start_unix_ms" in b]
    out = [("scenario", "connections"), ("devices", str(args.asked)),
           ("processes", str(len(blocks))), ("connected", str(connected))]
    if len(starts) == len(blocks) and len(ends) == len(blocks) and blocks:
        connect_s = (max(ends) - min(starts)) / 1000
        out.append(("connect_s", f"{connect_s:.2f}"))
        if connect_s > 0:
            out.append(("connects_per_s", f"{connected / connect_s:.1f}"))
        # From the first login to the last connect: what a user waits, login included.
        if len(login_starts) == len(blocks):
            total_s = (max(ends) - min(login_starts)) / 1000
            out.append(("login_and_connect_s", f"{total_s:.2f}"))
    brokers = {b.get("brokers") for b in blocks if b.get("brokers")}
    if brokers:
        out.append(("brokers_seen_by_a_process", "/".join(sorted(brokers))))

    try:
        before, after = read_snapshot(args.before), read_snapshot(args.after)
    except OSError as e:
        failures.append(f"memory snapshot: {e}")
        before, after = {}, {}
    kinds = {}
    for name, row in after.items():
        if name not in before or before[name]["pid"] != row["pid"]:
            failures.append(f"{name} has no memory figure from before (restarted?)")
            continue
        if row["kib"] < 0 or before[name]["kib"] < 0:
            failures.append(f"cannot read the memory of {name} (pid {row['pid']})")
            continue
        k = kinds.setdefault(row["kind"], {"n": 0, "after": 0, "delta": 0, "masters_delta": 0})
        k["n"] += 1
        k["after"] += row["kib"]
        k["delta"] += row["kib"] - before[name]["kib"]
        if row["role"] != "replica":
            k["masters_delta"] += row["kib"] - before[name]["kib"]
    per_device = lambda kib: kib * 1024 / connected if connected else 0.0  # noqa: E731
    total = masters_total = 0.0
    for kind in ("redis", "mosquitto", "downlink", "uplink"):
        if kind not in kinds:
            continue
        k = kinds[kind]
        out.append((f"{kind}_processes", str(k["n"])))
        out.append((f"{kind}_rss_mib", f"{k['after'] / 1024:.1f}"))
        out.append((f"{kind}_bytes_per_device", f"{per_device(k['delta']):.0f}"))
        if kind == "redis":
            out.append(("redis_masters_bytes_per_device", f"{per_device(k['masters_delta']):.0f}"))
        if kind in COUNTED:
            total += per_device(k["delta"])
            masters_total += per_device(k["masters_delta"])
    broker_conns = [r["connections"] for r in after.values()
                    if r["kind"] == "mosquitto" and r["connections"] is not None]
    if broker_conns:
        # How evenly the brokers' hash spread the devices, and how close the fullest broker is
        # to its open-file limit.
        out.append(("broker_connections_min", str(min(broker_conns))))
        out.append(("broker_connections_max", str(max(broker_conns))))
    if kinds:
        out.append(("memory_per_device_kb", f"{total / 1000:.2f}"))
        out.append(("memory_per_device_masters_only_kb", f"{masters_total / 1000:.2f}"))

    sample = int(sum(number(b, "presence_sample") for b in blocks))
    online = int(sum(number(b, "presence_online") for b in blocks))
    out += [("presence_sample", str(sample)), ("presence_online", str(online))]
    lost = int(sum(number(b, "mqtt_connection_lost") for b in blocks))
    refused = int(sum(number(b, "mqtt_refused") for b in blocks))
    out += [("mqtt_connection_lost", str(lost)), ("mqtt_refused", str(refused))]
    run_ids = [b.get("run_id", "?") for b in blocks]
    out.append(("run_ids", ",".join(run_ids)))

    if connected < args.asked:
        failures.append(f"{connected} of {args.asked} devices connected")
    if online < sample:
        failures.append(f"presence shows {online} of {sample} sampled devices online")
    for key, value in out:
        print(f"{key}: {value}")
    if failures:
        print("failures: " + "; ".join(failures))
    print(f"ok: {'false' if failures else 'true'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
