#!/usr/bin/python3
"""Checks docker/ without a Docker engine (none runs on Courier's machines; issue #8).

  1. `docker-compose config` accepts docker/docker-compose.yml with docker/courier.env.example,
     with DOCKER_HOST pointing at no socket (it needs no engine).
  2. Every path the compose file and docker/Dockerfile name exists: build contexts, Dockerfiles,
     build targets (stages), env files, bind mounts, COPY/ADD sources (and .dockerignore does
     not drop them); the real env file is git-ignored.
  3. The build stage's sources configure with CMake as in the Dockerfile, and the targets it
     builds exist and are where the runtime stages copy them from (configure only: no compile).
  4. Ports and shared settings agree everywhere: the uplink's HTTP port (image ENV, EXPOSE,
     published port, health check), the broker's listener in docker/mosquitto.conf (EXPOSE,
     published port, health check, COURIER_MQTT_PORT of the uplink and downlink), Redis's port
     (its command, EXPOSE, health check, COURIER_REDIS_PORT, the plugin's redis_port), the
     downlink's metrics port (health check, EXPOSE, COURIER_METRICS_HOST), the topic root, the
     shard count, the service user; the other services are named by their service names.
  5. With the binaries of a build (COURIER_BUILD_DIR, default build/): every COURIER_* variable
     set is one the binary reads (its --help), and every shared library it links comes from a
     Debian package its runtime stage installs (or that Debian's slim image has). Skipped, with
     a note, when the binaries are not built.
  6. Every metric the sample Grafana dashboard (docker/grafana/) queries is one the code
     registers.

Runs with Debian's /usr/bin/python3: PyYAML is python3-yaml, which docker-compose depends on.
Exit status 0 when all pass; otherwise each failure is printed with what to fix.
Usage: tests/docker/check_containers.py [--root DIR] [--build-dir DIR]
"""

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

T0 = time.monotonic()
failures = []


def say(msg):
    print(f"[docker {time.monotonic() - T0:5.1f}s] {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    say(f"FAIL: {msg}")


def check(cond, ok_msg, fail_msg):
    if cond:
        say(f"ok: {ok_msg}")
    else:
        fail(fail_msg)
    return cond


# --- the Dockerfile ----------------------------------------------------------------------------


class Stage:
    def __init__(self, name, base):
        self.name = name
        self.base = base  # a parent stage's name or an image
        self.env = {}
        self.expose = []
        self.copies = []  # (from_stage or None, [sources], dest)
        self.runs = []
        self.cmd = None
        self.entrypoint = None
        self.user = None


def dockerfile_instructions(text):
    """(instruction, arguments) per instruction: comments dropped, continuations joined."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def parse_env(args):
    env = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        if sep:
            env[key] = value
    return env


def parse_dockerfile(path):
    stages, order, current = {}, [], None
    for word, args in dockerfile_instructions(open(path).read()):
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.IGNORECASE)
            current = Stage(m.group(2) or f"#{len(order)}", m.group(1))
            stages[current.name] = current
            order.append(current.name)
        elif current is None:
            continue  # ARG before the first FROM
        elif word == "ENV":
            current.env.update(parse_env(args))
        elif word == "EXPOSE":
            current.expose += [int(p.split("/")[0]) for p in args.split()]
        elif word in ("COPY", "ADD"):
            parts = shlex.split(args)
            from_stage = None
            while parts and parts[0].startswith("--"):
                if parts[0].startswith("--from="):
                    from_stage = parts[0][len("--from="):]
                parts.pop(0)
            current.copies.append((from_stage, parts[:-1], parts[-1]))
        elif word == "RUN":
            current.runs.append(args)
        elif word == "CMD":
            current.cmd = json.loads(args)
        elif word == "ENTRYPOINT":
            current.entrypoint = json.loads(args)
        elif word == "USER":
            current.user = args
    return stages, order


def stage_chain(stages, name):
    """The stage and its parent stages, the base first."""
    chain = []
    while name in stages:
        chain.insert(0, stages[name])
        name = stages[name].base
    return chain


def stage_env(stages, name):
    env = {}
    for s in stage_chain(stages, name):
        env.update(s.env)
    return env


def stage_expose(stages, name):
    return [p for s in stage_chain(stages, name) for p in s.expose]


def stage_packages(stages, name):
    """Packages named by `apt-get install` in the stage and its parents."""
    pkgs = []
    for s in stage_chain(stages, name):
        for run in s.runs:
            for m in re.finditer(r"apt-get install((?:\s+[^&|;]+)?)", run):
                pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def dockerignore_patterns(context):
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return []
    return [ln.strip() for ln in open(path) if ln.strip() and not ln.startswith("#")]


def ignored(rel, patterns):
    """True when .dockerignore keeps rel (or a folder above it) out of the context."""
    result = False
    parts = rel.strip("/").split("/")
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pat) or fnmatch.fnmatchcase(prefix, pat.replace("**/", "")):
                result = not negate
                break
    return result


# --- helpers -----------------------------------------------------------------------------------


def port_of(mapping):
    """The container side of a compose port ('127.0.0.1:8080:8080/tcp' or a long form)."""
    if isinstance(mapping, dict):
        return int(mapping["target"])
    return int(str(mapping).split("/")[0].split(":")[-1])


def host_ip_of(mapping):
    if isinstance(mapping, dict):
        return mapping.get("host_ip", "")
    parts = str(mapping).split("/")[0].split(":")
    return parts[0] if len(parts) == 3 else ""


def health_text(service):
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test[1:]) if isinstance(test, list) else str(test)


def flag_value(text, flag):
    m = re.search(re.escape(flag) + r"\s+(\S+)", text)
    return m.group(1) if m else None


def url_port(text):
    m = re.search(r"https?://[^/:\s]+:(\d+)/", text)
    return int(m.group(1)) if m else None


def mosquitto_conf(path):
    conf = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, value.strip())
    return conf


# --- the checks --------------------------------------------------------------------------------


def compose_config(root, compose_file, example_env):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        # No engine is asked: a socket that does not exist proves it.
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "COURIER_ENV_FILE": os.path.basename(example_env),
    }
    exe = shutil.which("docker-compose")
    if not exe:
        fail("docker-compose is not installed: run scripts/setup (Debian's docker-compose package)")
        return None
    # An empty --env-file: a docker/.env of the developer's does not change what is checked.
    with tempfile.NamedTemporaryFile("w", prefix="courier-empty-", suffix=".env") as empty:
        cmd = [exe, "--env-file", empty.name, "-f", compose_file, "config"]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if not check(proc.returncode == 0, f"docker-compose config accepts {rel(root, compose_file)}",
                 f"docker-compose config failed (exit {proc.returncode}):\n{proc.stderr.strip()}"):
        return None
    return yaml.safe_load(proc.stdout)


def rel(root, path):
    return os.path.relpath(path, root)


def check_paths(root, compose_dir, raw, config, example_env):
    stages_by_file = {}
    check(os.path.isfile(example_env), f"{rel(root, example_env)} exists",
          f"{rel(root, example_env)} is missing")
    example = open(example_env).read() if os.path.isfile(example_env) else ""
    check(re.search(r"^COURIER_JWT_SECRET=", example, re.M) is not None,
          "the example env file names COURIER_JWT_SECRET",
          f"{rel(root, example_env)} has no COURIER_JWT_SECRET= line")
    for name, svc in config["services"].items():
        build = svc.get("build")
        if not build:
            continue
        context = build["context"]
        if not check(os.path.isdir(context), f"{name}: build context {rel(root, context)} exists",
                     f"service {name}: build context {context} is not a directory"):
            continue
        dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
        if not check(os.path.isfile(dockerfile), f"{name}: {rel(root, dockerfile)} exists",
                     f"service {name}: Dockerfile {dockerfile} does not exist"):
            continue
        if dockerfile not in stages_by_file:
            stages_by_file[dockerfile] = (context, *parse_dockerfile(dockerfile))
        _, stages, _ = stages_by_file[dockerfile]
        target = build.get("target")
        check(target in stages, f"{name}: target {target} is a stage of the Dockerfile",
              f"service {name}: build target {target!r} is no stage of {rel(root, dockerfile)} "
              f"(stages: {', '.join(stages)})")
    # env_file and bind mounts, from the file as written (config inlines env files).
    for name, svc in raw["services"].items():
        env_files = svc.get("env_file") or []
        for ef in [env_files] if isinstance(env_files, str) else env_files:
            default = re.sub(r"\$\{COURIER_ENV_FILE:-([^}]*)\}", r"\1", ef)
            path = os.path.join(compose_dir, default)
            if "${" in ef:
                check(ef.replace("${COURIER_ENV_FILE:-" + default + "}", "") != ef,
                      f"{name}: env_file is {default} unless COURIER_ENV_FILE says otherwise",
                      f"service {name}: env_file {ef!r} uses a variable other than COURIER_ENV_FILE")
            ignored_by_git = subprocess.run(["git", "check-ignore", "-q", path], cwd=root).returncode
            if ignored_by_git != 128:  # 128: not a git work tree (a source tarball): skip
                check(ignored_by_git == 0, f"{name}: {rel(root, path)} is git-ignored",
                      f"service {name}: env file {rel(root, path)} holds the secret but git does "
                      "not ignore it (.gitignore)")
    for name, svc in config["services"].items():
        for vol in svc.get("volumes") or []:
            source = vol.get("source") if isinstance(vol, dict) else str(vol).split(":")[0]
            kind = vol.get("type") if isinstance(vol, dict) else None
            if kind == "bind" or (source and source.startswith(("/", "."))):
                check(os.path.exists(source), f"{name}: bind mount {source} exists",
                      f"service {name}: bind-mounted path {source} does not exist")
            else:
                check(source in (config.get("volumes") or {}), f"{name}: volume {source} is declared",
                      f"service {name}: named volume {source} is not under volumes:")
    # COPY/ADD sources.
    for dockerfile, (context, stages, order) in stages_by_file.items():
        patterns = dockerignore_patterns(context)
        for s in stages.values():
            for from_stage, sources, _ in s.copies:
                if from_stage:
                    check(from_stage in stages and order.index(from_stage) < order.index(s.name),
                          f"{s.name}: COPY --from={from_stage} names an earlier stage",
                          f"stage {s.name}: COPY --from={from_stage}: no such earlier stage")
                    continue
                for src in sources:
                    path = os.path.join(context, src)
                    check(os.path.exists(path), f"{s.name}: COPY {src} exists",
                          f"stage {s.name} of {rel(root, dockerfile)}: COPY source {src} does not "
                          f"exist in the build context {rel(root, context)}")
                    check(not ignored(src, patterns), f"{s.name}: COPY {src} is not in .dockerignore",
                          f"stage {s.name}: COPY source {src} is excluded by .dockerignore")
    return stages_by_file


def check_build_stage(root, context, stages, tmp):
    """Configure the build stage's sources as the Dockerfile does; its targets must exist."""
    build = stages.get("build")
    if not check(build is not None, "the Dockerfile has a build stage", "no stage named build"):
        return
    cmake_runs = [r for r in build.runs if "cmake --build" in r]
    if not check(len(cmake_runs) == 1, "the build stage runs cmake --build once",
                 "the build stage should have one RUN with cmake --build"):
        return
    m = re.search(r"--target\s+([^&;|]+)", cmake_runs[0])
    targets = m.group(1).split() if m else []
    bm = re.search(r"-B\s+(\S+)", cmake_runs[0])
    build_dir = bm.group(1) if bm else None
    # The runtime stages copy <build dir>/<subdir>/<target file>: each must be a target built.
    for s in stages.values():
        for from_stage, sources, _ in s.copies:
            if from_stage != "build":
                continue
            for src in sources:
                if not check(build_dir and src.startswith(build_dir + "/"),
                             f"{s.name}: copies {src} from the build directory",
                             f"stage {s.name}: COPY --from=build {src} is not under {build_dir}"):
                    continue
                sub = os.path.dirname(src[len(build_dir) + 1:])
                target = os.path.basename(src)
                target = target[:-3] if target.endswith(".so") else target
                lists = os.path.join(root, sub, "CMakeLists.txt")
                text = open(lists).read() if os.path.exists(lists) else ""
                declared = re.search(r"add_(executable|library)\(\s*" + re.escape(target) + r"\s", text)
                check(declared and target in targets,
                      f"{s.name}: {target} is declared in {sub}/CMakeLists.txt and built",
                      f"stage {s.name}: {src}: no target {target} in {sub}/CMakeLists.txt, or it "
                      f"is not in the build stage's --target list ({' '.join(targets)})")
    # Configure what the stage copies, with the stage's -D options, in a scratch directory.
    src_dir = os.path.join(tmp, "src")
    os.makedirs(src_dir)
    for from_stage, sources, dest in build.copies:
        if from_stage:
            continue
        for src in sources:
            if src.startswith("scripts/") or not os.path.exists(os.path.join(context, src)):
                continue  # the package list (copied to /tmp), or missing: reported above
            target = os.path.join(src_dir, dest if dest not in ("./", ".") else src)
            if os.path.isdir(os.path.join(context, src)):
                shutil.copytree(os.path.join(context, src), target,
                                ignore=shutil.ignore_patterns("build", "build-*"))
            else:
                shutil.copy(os.path.join(context, src), target)
    defines = re.findall(r"(-D\S+)", cmake_runs[0])
    bin_dir = os.path.join(tmp, "build")
    proc = subprocess.run(["nice", "-n", "19", "cmake", "-S", src_dir, "-B", bin_dir, *defines],
                          capture_output=True, text=True)
    if not check(proc.returncode == 0, f"the build stage's sources configure ({' '.join(defines)})",
                 "cmake configure of the build stage's COPY sources failed (a source folder "
                 f"missing from the Dockerfile's COPY lines?):\n{proc.stderr.strip()[-2000:]}"):
        return
    proc = subprocess.run(["cmake", "--build", bin_dir, "--target", "help"], capture_output=True,
                          text=True)
    listed = proc.stdout
    for t in targets:
        check(re.search(r"^\.\.\. " + re.escape(t) + r"$", listed, re.M) is not None,
              f"target {t} exists", f"the build stage builds --target {t}, which CMake does not know")


def effective_env(stages, config, service):
    env = stage_env(stages, config["services"][service]["build"]["target"])
    env.update({k: str(v) for k, v in (config["services"][service].get("environment") or {}).items()})
    return env


def check_ports(root, compose_dir, config, stages):
    services = config["services"]
    for name in ("redis", "broker", "uplink", "downlink"):
        if not check(name in services, f"service {name} is defined", f"no service {name}"):
            return
    for name, svc in services.items():
        check("healthcheck" in svc, f"{name} has a health check", f"service {name}: no healthcheck")
        for p in svc.get("ports") or []:
            check(host_ip_of(p) == "127.0.0.1", f"{name}: port {p} is published on 127.0.0.1",
                  f"service {name}: port {p} is not published on 127.0.0.1 only")

    def published(name):
        return [port_of(p) for p in services[name].get("ports") or []]

    def one_port(what, values):
        values = {v for v in values if v is not None}
        return check(len(values) == 1, f"{what}: {values.pop() if len(values) == 1 else ''} everywhere",
                     f"{what}: the port differs between the places that name it: {sorted(values)}")

    up, down = effective_env(stages, config, "uplink"), effective_env(stages, config, "downlink")

    # Redis.
    redis_target = services["redis"]["build"]["target"]
    cmd = " ".join(stage_chain(stages, redis_target)[-1].cmd or [])
    redis_port = int(flag_value(cmd, "--port") or 6379)
    one_port("redis port (its --port, EXPOSE, published, health check, the servers' "
             "COURIER_REDIS_PORT)",
             [redis_port, *stage_expose(stages, redis_target), *published("redis"),
              int(flag_value(health_text(services["redis"]), "-p") or 6379),
              int(up.get("COURIER_REDIS_PORT", 0)) or None,
              int(down.get("COURIER_REDIS_PORT", 0)) or None])
    check("--appendonly yes" in cmd.replace("\"", ""), "redis runs with appendonly yes",
          "the redis stage's CMD does not turn the append-only file on (--appendonly yes)")
    # The broker and its configuration.
    broker_target = services["broker"]["build"]["target"]
    conf_copies = [src for s in stage_chain(stages, broker_target) for f, srcs, dest in s.copies
                   if not f and dest.endswith("mosquitto.conf") for src in srcs]
    if not check(len(conf_copies) == 1, f"broker: its mosquitto.conf is {conf_copies}",
                 "the broker stage copies no mosquitto.conf"):
        return
    context = services["broker"]["build"]["context"]
    conf = mosquitto_conf(os.path.join(context, conf_copies[0]))
    listener = conf.get("listener", "").split()
    mqtt_port = int(listener[0]) if listener else None
    check(len(listener) == 1 or listener[1] not in ("127.0.0.1", "localhost", "::1"),
          "broker: the listener is not on loopback only",
          f"{conf_copies[0]}: 'listener {' '.join(listener)}' is unreachable from other containers")
    one_port("MQTT port (mosquitto.conf listener, EXPOSE, published, health check, the servers' "
             "COURIER_MQTT_PORT)",
             [mqtt_port, *stage_expose(stages, broker_target), *published("broker"),
              int(flag_value(health_text(services["broker"]), "-p") or 0) or None,
              int(up.get("COURIER_MQTT_PORT", 0)) or None,
              int(down.get("COURIER_MQTT_PORT", 0)) or None])
    one_port("the plugin's Redis port", [redis_port, int(conf.get("plugin_opt_redis_port", 6379))])
    for what, values in [
        ("Redis host (the plugin's, the uplink's, the downlink's)",
         {conf.get("plugin_opt_redis_host"), up.get("COURIER_REDIS_HOST"),
          down.get("COURIER_REDIS_HOST")}),
        ("broker host (the uplink's, the downlink's)",
         {up.get("COURIER_MQTT_HOST"), down.get("COURIER_MQTT_HOST")}),
    ]:
        check(len(values) == 1 and values <= set(services),
              f"{what}: the service {' '.join(map(str, values))}",
              f"{what}: {sorted(map(str, values))} should be one compose service name")
    check(conf.get("plugin_opt_redis_host") == "redis" and up.get("COURIER_MQTT_HOST") == "broker",
          "Redis is reached as 'redis' and the broker as 'broker'",
          "the servers must reach Redis and the broker by their service names (redis, broker)")
    for what, values in [
        ("topic root", {conf.get("plugin_opt_topic_root", "courier"),
                        up.get("COURIER_TOPIC_ROOT", "courier"),
                        down.get("COURIER_TOPIC_ROOT", "courier")}),
        ("delivery shards", {conf.get("plugin_opt_shards", "4"), up.get("COURIER_DELIVERY_SHARDS", "4"),
                             down.get("COURIER_DELIVERY_SHARDS", "4")}),
        ("service user", {conf.get("plugin_opt_service_user", "courier-service"),
                          down.get("COURIER_SERVICE_USER", "courier-service")}),
    ]:
        check(len(values) == 1, f"{what} agrees: {values.pop() if len(values) == 1 else ''}",
              f"{what} differs between mosquitto.conf and the servers: {sorted(values)}")
    # The uplink.
    uplink_target = services["uplink"]["build"]["target"]
    check(up.get("COURIER_HTTP_HOST") not in (None, "127.0.0.1", "localhost"),
          f"uplink: listens on {up.get('COURIER_HTTP_HOST')}",
          "uplink: COURIER_HTTP_HOST must be 0.0.0.0 in a container (the default is 127.0.0.1)")
    one_port("uplink HTTP port (COURIER_HTTP_PORT, EXPOSE, published, health check)",
             [int(up.get("COURIER_HTTP_PORT", 8080)), *stage_expose(stages, uplink_target),
              *published("uplink"), url_port(health_text(services["uplink"]))])
    check("/readyz" in health_text(services["uplink"]), "uplink: the health check asks /readyz",
          "uplink: the health check should ask /readyz")
    # The downlink: its metrics listener (--metrics-host, default 127.0.0.1 in the binary) must
    # listen beyond the container's loopback when the port is exposed or published, or that
    # would promise what does not work; and never be published on the host's every interface.
    metrics = int(down.get("COURIER_METRICS_PORT", 0))
    metrics_host = down.get("COURIER_METRICS_HOST", "127.0.0.1")
    down_target = services["downlink"]["build"]["target"]
    check(metrics > 0 and url_port(health_text(services["downlink"])) == metrics,
          f"downlink: the health check asks the metrics port {metrics}",
          f"downlink: COURIER_METRICS_PORT ({metrics}) must be set and be the health check's port")
    exposed = [*published("downlink"), *stage_expose(stages, down_target)]
    check(all(p == metrics for p in exposed),
          f"downlink: exposed or published ports are the metrics port ({exposed or 'none'})",
          f"downlink: exposed or published ports {exposed} differ from COURIER_METRICS_PORT {metrics}")
    check(not exposed or metrics_host not in ("127.0.0.1", "localhost", "::1"),
          f"downlink: metrics listen on {metrics_host}",
          "downlink: the metrics port is exposed or published but COURIER_METRICS_HOST is "
          f"{metrics_host}: set it to 0.0.0.0 in the container")
    check(bool(down.get("COURIER_CONSUMER_NAME")), "downlink: a stable COURIER_CONSUMER_NAME",
          "downlink: set COURIER_CONSUMER_NAME (the default, the host name, changes with the container)")


def installed_packages():
    """name -> (essential, [dependency alternatives]) of this machine's packages, and Provides."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${db:Status-Status}\t${Essential}\t${Pre-Depends}, "
                          "${Depends}\t${Provides}\n"], capture_output=True, text=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, status, essential, deps, prov = (line.split("\t") + [""] * 5)[:5]
        if status != "installed":
            continue
        alts = [[re.split(r"[\s:(]", a.strip())[0] for a in d.split("|")]
                for d in deps.split(",") if d.strip()]
        pkgs[name] = (essential == "yes", alts)
        for p in prov.split(","):
            if p.strip():
                provides.setdefault(re.split(r"[\s(]", p.strip())[0], []).append(name)
    return pkgs, provides


def closure(start, pkgs, provides):
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        for real in [name] if name in pkgs else provides.get(name, []):
            if real in seen:
                continue
            seen.add(real)
            for alts in pkgs[real][1]:
                todo += [a for a in alts if a in pkgs or a in provides]
    return seen


def check_binaries(root, build_dir, config, stages):
    services = config["services"]
    # The programs each runtime stage copies from the build stage, found in this build.
    programs = {}
    for name in ("uplink", "downlink", "broker"):
        target = services[name]["build"]["target"]
        for s in stage_chain(stages, target):
            for from_stage, sources, _ in s.copies:
                if from_stage == "build":
                    programs.setdefault(name, []).extend(
                        os.path.join(build_dir, src.split("/", 2)[2]) for src in sources)
    missing = [p for ps in programs.values() for p in ps if not os.path.isfile(p)]
    if missing:
        say(f"skipped: the runtime packages and COURIER_* names (not built here: {', '.join(missing)})")
        return
    # COURIER_* names: each must be one the binary reads, or a typo is silently ignored.
    for name in ("uplink", "downlink"):
        helptext = subprocess.run([programs[name][0], "--help"], capture_output=True, text=True).stdout
        known = set(re.findall(r"Env:(COURIER_[A-Z0-9_]+)", helptext)) | {"COURIER_JWT_SECRET"}
        env = effective_env(stages, config, name)
        unknown = sorted(k for k in env if k.startswith("COURIER_") and k not in known)
        check(not unknown, f"{name}: every COURIER_* variable set is one courier-{name} reads",
              f"{name}: courier-{name} reads no {', '.join(unknown)} (see its --help)")
    # Shared libraries: each from a package the stage installs, or one the slim image has
    # (the essential packages, apt, and what they depend on).
    pkgs, provides = installed_packages()
    base = closure([n for n, (ess, _) in pkgs.items() if ess] + ["apt"], pkgs, provides)
    for name, paths in programs.items():
        stage_pkgs = stage_packages(stages, services[name]["build"]["target"])
        have = base | closure(stage_pkgs, pkgs, provides)
        for path in paths:
            ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
            for lib, lib_path in re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M):
                if re.match(r"lib(asan|ubsan|lsan|tsan)\.so", lib):
                    say(f"{name}: {lib} skipped (a sanitizer build; the images build without)")
                    continue
                owner = None
                for candidate in (lib_path, os.path.realpath(lib_path)):
                    q = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                    if q.returncode == 0:
                        owner = q.stdout.split(":")[0]
                        break
                if owner is None:
                    fail(f"{name}: {os.path.basename(path)} links {lib_path}, which no Debian "
                         "package owns")
                    continue
                check(owner in have, f"{name}: {lib} comes with {owner}",
                      f"stage {services[name]['build']['target']}: {os.path.basename(path)} needs "
                      f"{lib} from the package {owner}, which the stage does not install "
                      f"(installs: {' '.join(stage_pkgs)})")


def check_dashboard(root, compose_dir):
    """Every metric the sample Grafana dashboard queries is one the code registers."""
    path = os.path.join(compose_dir, "grafana", "courier-dashboard.json")
    if not os.path.isfile(path):
        return
    try:
        dashboard = json.load(open(path))
    except ValueError as e:
        fail(f"{rel(root, path)} is not JSON: {e}")
        return
    exprs = [t.get("expr", "") for p in dashboard.get("panels", []) for t in p.get("targets", [])]
    queried = set()
    for expr in exprs:
        for name in re.findall(r"\bcourier_[a-z_]+", expr):
            queried.add(re.sub(r"_(bucket|count|sum)$", "", name))
    registered = set()
    for sub in ("common", "uplink", "downlink"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            for f in files:
                if f.endswith((".cpp", ".h")):
                    text = open(os.path.join(dirpath, f), encoding="utf-8").read()
                    registered.update(re.findall(r'"(courier_[a-z_]+)"', text))
    unknown = sorted(queried - registered)
    check(queried and not unknown,
          f"{rel(root, path)}: its {len(exprs)} queries name {len(queried)} metrics, all registered",
          f"{rel(root, path)} queries metrics no code registers: {', '.join(unknown) or 'none at all'}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(here)))
    parser.add_argument("--build-dir", default=os.environ.get("COURIER_BUILD_DIR"))
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    build_dir = os.path.abspath(args.build_dir or os.path.join(root, "build"))
    compose_dir = os.path.join(root, "docker")
    compose_file = os.path.join(compose_dir, "docker-compose.yml")
    example_env = os.path.join(compose_dir, "courier.env.example")

    say(f"checking {rel(root, compose_file)} and its Dockerfile in {root}")
    if not os.path.isfile(compose_file):
        fail(f"{compose_file} does not exist")
    else:
        config = compose_config(root, compose_file, example_env)
        raw = yaml.safe_load(open(compose_file))
        if config:
            by_file = check_paths(root, compose_dir, raw, config, example_env)
            stages = {}
            for context, file_stages, _ in by_file.values():
                stages = file_stages
                with tempfile.TemporaryDirectory(prefix="courier-docker-check-") as tmp:
                    check_build_stage(root, context, file_stages, tmp)
            if stages:
                check_ports(root, compose_dir, config, stages)
                check_binaries(root, build_dir, config, stages)
        check_dashboard(root, compose_dir)
    if failures:
        print(f"\n{len(failures)} check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
