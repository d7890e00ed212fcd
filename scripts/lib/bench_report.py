#!/usr/bin/env python3
"""The report of scripts/bench: reads every run's `key: value` block (courier-bench's stdout), as
listed in the runner's manifest, and writes

  a JSON file: the machine (CPUs, memory, kernel, CPU model), the commit, the build type, the
  settings; every run with its parsed figures; per scenario the median of every numeric figure
  over the runs that passed; the ratios (one-to-one msg/s over baseline msg/s);
  a markdown file: one table row per scenario with the medians of its main figures, the ratio
  below it, and the runs that failed.

A run passes when courier-bench exited 0 and printed a block that does not say `ok: false`; the
figures of a failed run are kept in the JSON but left out of the medians. Lines of a block that
are not `key: value` are skipped. Standard library only; run by scripts/bench, never alone:

    bench_report.py --manifest runs/manifest.tsv --json OUT.json --md OUT.md
                    [--repo DIR] [--build-dir DIR] [--timestamp T] [--rounds N]
                    [--quick true|false] [--scenarios LABEL,...] [--setting KEY=VALUE]...
                    [--note TEXT]...

The manifest is tab-separated with a header line: step, label, run, exit_status, duration_s,
stdout (the run's block), stderr. A label is a scenario name, or NAME@RATE for a fixed offered
rate.
"""
import argparse
import csv
import json
import os
import platform
import re
import statistics
import subprocess
import sys

KEY_VALUE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*:\s*(.*?)\s*$")
NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
INTEGER = re.compile(r"^[-+]?\d+$")

# Columns of the markdown table, when a scenario reports them; its other numeric figures go to
# the last column.
MAIN_COLUMNS = [
    ("delivered_msg_per_s", "msg/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("latency_max_ms", "max ms"),
]
HARM_KEYS = ("lost", "duplicated", "out_of_order")
RATIO_TITLES = {"one_to_one_over_baseline": "one-to-one msg/s ÷ baseline msg/s"}
NOT_SHOWN = {"rate_offered"}  # in the label already


def parse_value(text):
    if NUMBER.match(text):
        return int(text) if INTEGER.match(text) else float(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_block(text):
    """The first `scenario:` block of a run's stdout as a dict, and notes on what was odd.
    Lines before the first `scenario:` line count too (a block whose first line went missing
    still has figures); a second `scenario:` line ends the block."""
    figures, notes = {}, []
    seen_scenario = False
    for line in text.splitlines():
        m = KEY_VALUE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "scenario":
            if seen_scenario:
                notes.append("more than one block on stdout: the first one counts")
                break
            seen_scenario = True
        if key in figures:
            notes.append(f"key {key} appears twice: the last value counts")
        figures[key] = parse_value(value)
    if not seen_scenario:
        notes.append("no 'scenario:' line on stdout")
    return figures, notes


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def tail(path, lines=20):
    text = read_text(path) if path else None
    return text.splitlines()[-lines:] if text else []


def load_runs(manifest):
    runs = []
    with open(manifest, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            text = read_text(row["stdout"]) or ""
            figures, notes = parse_block(text)
            exit_status = int(row["exit_status"])
            label = row["label"]
            scenario = label.split("@", 1)[0]
            if "scenario" in figures and figures["scenario"] != scenario:
                notes.append(f"asked for scenario {scenario}, the block says {figures['scenario']}")
            passed = exit_status == 0 and "scenario" in figures and figures.get("ok") is not False
            run = {
                "label": label,
                "scenario": scenario,
                "run": int(row["run"]),
                "exit_status": exit_status,
                "passed": passed,
                "duration_s": float(row["duration_s"]),
                "figures": figures,
            }
            if notes:
                run["notes"] = notes
            if not passed:
                run["stderr_tail"] = tail(row.get("stderr"))
            runs.append(run)
    return runs


def median(values):
    m = statistics.median(values)
    if isinstance(m, float) and m.is_integer() and all(isinstance(v, int) for v in values):
        return int(m)
    return m


def medians_by_label(runs, planned, rounds):
    """label -> {planned, runs, passed, medians: {key: median over the passed runs}}: the planned
    labels first (a label the benchmark never reached has runs 0), then any other in run order."""
    out = {label: {"planned": rounds, "runs": 0, "passed": 0, "medians": {}, "_values": {}}
           for label in planned}
    for run in runs:
        entry = out.setdefault(
            run["label"], {"planned": rounds, "runs": 0, "passed": 0, "medians": {}, "_values": {}})
        entry["runs"] += 1
        if not run["passed"]:
            continue
        entry["passed"] += 1
        for key, value in run["figures"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                entry["_values"].setdefault(key, []).append(value)
    for entry in out.values():
        entry["medians"] = {k: median(v) for k, v in entry.pop("_values").items()}
    return out


def ratio_over_runs(runs, numerator, denominator, key):
    """numerator's key ÷ denominator's key for each run index where both passed, and the median."""
    by_run = {}
    for run in runs:
        value = run["figures"].get(key)
        if run["passed"] and isinstance(value, (int, float)) and not isinstance(value, bool):
            by_run.setdefault(run["run"], {})[run["label"]] = value
    per_run = []
    for index in sorted(by_run):
        pair = by_run[index]
        if numerator in pair and denominator in pair and pair[denominator] > 0:
            per_run.append({"run": index, "ratio": pair[numerator] / pair[denominator]})
    return {
        "of": f"{numerator} {key} / {denominator} {key}",
        "median": statistics.median([r["ratio"] for r in per_run]) if per_run else None,
        "per_run": per_run,
    }


# ---------------------------------------------------------------------------------------------
# The machine and the build.


def first_match(path, pattern):
    text = read_text(path) or ""
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1).strip() if m else None


def git(repo, *args):
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info():
    mem_kb = first_match("/proc/meminfo", r"^MemTotal:\s*(\d+)\s*kB")
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpus_online": os.cpu_count(),
        "cpu_model": first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
        or first_match("/proc/cpuinfo", r"^Hardware\s*:\s*(.+)$") or platform.processor() or None,
        "memory_bytes": int(mem_kb) * 1024 if mem_kb else None,
        "kernel": platform.release(),
        "os": first_match("/etc/os-release", r'^PRETTY_NAME="?([^"\n]*)"?$'),
    }


def git_info(repo):
    if not repo:
        return None
    status = git(repo, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def build_info(build_dir):
    if not build_dir:
        return None
    cache = os.path.join(build_dir, "CMakeCache.txt")
    return {
        "dir": build_dir,
        "type": first_match(cache, r"^CMAKE_BUILD_TYPE:\w+=(.*)$"),
        "compiler": first_match(cache, r"^CMAKE_CXX_COMPILER:\w+=(.*)$"),
    }


# ---------------------------------------------------------------------------------------------
# Markdown.


def fmt(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def markdown(report):
    lines = []
    git = report.get("git") or {}
    build = report.get("build") or {}
    m = report["machine"]
    mem = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m.get("memory_bytes") else "? memory"
    quick = " (quick)" if report["quick"] else ""
    lines.append(f"# Courier benchmark {report['timestamp']}{quick}")
    lines.append("")
    commit = (git.get("commit") or "?")[:12] + (" (dirty)" if git.get("dirty") else "")
    rounds = report["rounds"]
    lines.append(f"{m.get('nproc')} CPUs ({m.get('cpu_model') or '?'}), {mem}, "
                 f"Linux {m.get('kernel')}; commit {commit}; {build.get('type') or '?'} build; "
                 f"medians over {rounds} round{'s' if rounds != 1 else ''}.")
    lines.append("Settings: " + ", ".join(f"{k}={v}" for k, v in report["settings"].items()) + ".")
    lines.append("")
    header = ["scenario", "runs ok"] + [title for _, title in MAIN_COLUMNS]
    header += ["lost/dup/ooo", "other medians"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|" + "---:|" * (len(header) - 2) + "---|")
    shown = {key for key, _ in MAIN_COLUMNS} | set(HARM_KEYS) | NOT_SHOWN
    for label, entry in report["scenarios"].items():
        med = entry["medians"]
        harm = "/".join(fmt(med.get(k)) if k in med else "-" for k in HARM_KEYS)
        other = ", ".join(f"{k} {fmt(v)}" for k, v in med.items() if k not in shown)
        row = [label, f"{entry['passed']}/{entry['planned']}"]
        row += [fmt(med.get(k)) for k, _ in MAIN_COLUMNS]
        row += [harm if entry["passed"] else "", other]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for name, ratio in report["ratios"].items():
        value = "n/a (needs a passed baseline and one-to-one run in the same round)"
        if ratio["median"] is not None:
            value = f"**{ratio['median']:.3f}** (median of {len(ratio['per_run'])}: " + \
                ", ".join(f"{r['ratio']:.3f}" for r in ratio["per_run"]) + ")"
        lines.append(f"{RATIO_TITLES.get(name, name)}: {value}")
    not_run = sum(max(0, e["planned"] - e["runs"]) for e in report["scenarios"].values())
    if not_run or report["notes"]:
        lines.append("")
        if not_run:
            lines.append(f"{not_run} planned run{' was' if not_run == 1 else 's were'} not run.")
        lines.extend(report["notes"])
    failed = [r for r in report["runs"] if not r["passed"]]
    if failed:
        lines.append("")
        lines.append(f"Failed runs ({len(failed)}), left out of the medians:")
        lines.append("")
        for r in failed:
            f = r["figures"]
            why = [f"exit {r['exit_status']}"]
            why += [f"{k} {fmt(f[k])}" for k in HARM_KEYS + ("ok",) if k in f]
            why += r.get("notes", [])
            lines.append(f"- {r['label']}, run {r['run']}: " + ", ".join(why))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--repo")
    ap.add_argument("--build-dir")
    ap.add_argument("--timestamp", default="")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quick", choices=("true", "false"), default="false")
    ap.add_argument("--scenarios", default="", help="the planned labels, comma-separated")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--note", action="append", default=[], help="a line for the report")
    args = ap.parse_args()

    settings = {}
    for s in args.setting:
        key, sep, value = s.partition("=")
        if not sep:
            ap.error(f"--setting wants KEY=VALUE, got: {s}")
        settings[key] = parse_value(value)

    runs = load_runs(args.manifest)
    planned = [s for s in args.scenarios.split(",") if s]
    report = {
        "timestamp": args.timestamp,
        "quick": args.quick == "true",
        "rounds": args.rounds,
        "machine": machine_info(),
        "git": git_info(args.repo),
        "build": build_info(args.build_dir),
        "settings": settings,
        "scenarios": medians_by_label(runs, planned, args.rounds),
        "ratios": {
            "one_to_one_over_baseline": ratio_over_runs(runs, "one-to-one", "baseline",
                                                        "delivered_msg_per_s"),
        },
        "runs": runs,
        "notes": args.note,
        "failed": [f"{r['label']}, run {r['run']} (exit {r['exit_status']})"
                   for r in runs if not r["passed"]],
    }
    outputs = ((args.json, json.dumps(report, indent=2, allow_nan=False) + "\n"),
               (args.md, markdown(report)))
    for path, text in outputs:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
