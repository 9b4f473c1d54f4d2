"""
Static checks of everything under deploy/ (and the root .dockerignore).

The files are parsed and checked against the bridge itself. The known `BRIDGE_*`
names come from the string literals in bridge/config/, and the effective settings
of each deployment come from `bridge.config.load_settings` applied to the environment
that deployment would give the container, so the checks follow the code automatically.

Only the tests marked `container` need more: they compare the Kubernetes example
and the compose file with what the image built from deploy/Dockerfile actually
declares (`podman image inspect`; the `image` fixture in tests/deploy/conftest.py).
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import pytest
import yaml

from bridge.config import Settings, load_settings
from tests.deploy.container import BuildResult

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "kubernetes"
BRIDGE_SERVICE = "kyc-bridge"  # compose service and k8s container name
TOKEN = "placeholder-token-0123456789"  # stands in for secrets the tests cannot read
ENV_NAME = re.compile(r"\bBRIDGE_[A-Z0-9_]*[A-Z0-9]\b")
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
ENV_USING_FILES = [DOCKERFILE, COMPOSE, *sorted(K8S.glob("*.yaml"))]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --------------------------------------------------------------------------- the bridge


@functools.cache
def _config_names() -> tuple[frozenset[str], frozenset[str]]:
    """(every BRIDGE_* literal in bridge/config/, those read with `secret=True`)."""
    sources = sorted((ROOT / "bridge" / "config").glob("*.py"))
    nodes = [n for p in sources for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))]
    names: set[str] = set()
    secrets: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if ENV_NAME.fullmatch(node.value):
                names.add(node.value)
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            secret = any(
                k.arg == "secret" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if secret and isinstance(first, ast.Constant) and isinstance(first.value, str):
                secrets.add(first.value)
    return frozenset(names), frozenset(secrets)


def _settings_for(env: Mapping[str, str]) -> Settings:
    """
    Settings the bridge would build from `env`, with secrets stubbed: a `X_FILE`
    becomes a placeholder `X`, and a compose `${...}` interpolation a placeholder.
    """
    _, secrets = _config_names()
    resolved: dict[str, str] = {}
    for name, value in env.items():
        base = name.removesuffix("_FILE")
        if name.endswith("_FILE") and base in secrets:
            resolved[base] = f"placeholder-{base.lower()}-0123456789"
        elif "${" in value:
            resolved[name] = f"placeholder-{name.lower()}-0123456789"
        else:
            resolved[name] = value
    return load_settings(resolved)


# --------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


@functools.cache
def _dockerfile() -> tuple[Instruction, ...]:
    instructions: list[Instruction] = []
    stage = -1
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        current = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), args.strip(), stage))
    return tuple(instructions)


def _final(keyword: str) -> list[Instruction]:
    """Instructions of the final (runtime) stage with this keyword."""
    last = max(i.stage for i in _dockerfile())
    return [i for i in _dockerfile() if i.stage == last and i.keyword == keyword]


def _words(args: str) -> list[str]:
    return list(json.loads(args)) if args.startswith("[") else shlex.split(args)


def _global_args() -> dict[str, str]:
    """Defaults of the ARGs declared before the first FROM (usable in every FROM)."""
    args = [i.args for i in _dockerfile() if i.stage == -1 and i.keyword == "ARG"]
    return dict(a.partition("=")[::2] for a in args)


def _copies(*, final: bool = False) -> list[tuple[dict[str, str], list[str], str]]:
    """(flags, sources, destination) of every COPY/ADD (of the runtime stage only if `final`)."""
    result = []
    last = max(i.stage for i in _dockerfile())
    for instruction in _dockerfile():
        if instruction.keyword not in {"COPY", "ADD"} or (final and instruction.stage != last):
            continue
        words = shlex.split(instruction.args)
        flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        rest = [w for w in words if not w.startswith("--")]
        if rest and rest[0].startswith("["):
            rest = _words(" ".join(rest))
        result.append((flags, rest[:-1], rest[-1]))
    return result


@functools.cache
def _image_env() -> dict[str, str]:
    """ENV of the final stage (later values win)."""
    env: dict[str, str] = {}
    for instruction in _final("ENV"):
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:  # legacy `ENV NAME value`
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def _image_bridge_env() -> dict[str, str]:
    return {k: v for k, v in _image_env().items() if k.startswith("BRIDGE_")}


# --------------------------------------------------------------------------- YAML


@functools.cache
def _documents(path: Path) -> tuple[Any, ...]:
    with path.open(encoding="utf-8") as stream:
        return tuple(d for d in yaml.safe_load_all(stream) if d is not None)


def _k8s(kind: str) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in _documents(path)
        if isinstance(doc, dict) and doc.get("kind") == kind
    ]


def _deployment() -> dict[str, Any]:
    (deployment,) = _k8s("Deployment")
    return deployment


def _pod() -> dict[str, Any]:
    pod: dict[str, Any] = _deployment()["spec"]["template"]["spec"]
    return pod


def _container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _pod()["containers"]
    (container,) = [c for c in containers if c["name"] == BRIDGE_SERVICE]
    return container


def _k8s_env(image_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the sidecar's process sees: image ENV < envFrom ConfigMaps < env."""
    env = dict(_image_bridge_env() if image_env is None else image_env)
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in _k8s("ConfigMap")}
    for source in _container().get("envFrom", []):
        env.update({k: str(v) for k, v in configmaps[source["configMapRef"]["name"]].items()})
    for item in _container().get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def _compose() -> dict[str, Any]:
    (doc,) = _documents(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def _service() -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][BRIDGE_SERVICE]
    return service


def _compose_env(image_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the compose service's process sees: image ENV < `environment`."""
    env = dict(_image_bridge_env() if image_env is None else image_env)
    raw = _service().get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    env.update({k: str(v) for k, v in raw.items()})
    return env


def _seconds(duration: object) -> float:
    """A compose duration (`30s`, `1m30s`, `500ms`) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity (`2Gi`, `500M`) in bytes."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|K|M|G|T)?", quantity)
    assert match, f"not a quantity: {quantity!r}"
    factor = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    factor |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return int(match[1]) * factor[match[2] or ""]


# --------------------------------------------------------------------------- .dockerignore


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore (Go filepath.Match + `**`) pattern as a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str) -> bool:
    """Whether the build context leaves `path` out (last matching rule wins; parents count)."""
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        negate = rule.startswith("!")
        regex = _glob_regex(rule.removeprefix("!").strip("/"))
        if negate:
            # An exception re-includes the path only if it names the path or a parent.
            if any(regex.fullmatch(p) for p in prefixes):
                ignored = False
        elif any(regex.fullmatch(p) for p in prefixes):
            ignored = True
    return ignored


# =========================================================================== tests


def test_config_scan_finds_the_bridge_settings() -> None:
    """The bridge/config/ scanner finds settings and secrets (guards the other tests)."""
    names, secrets = _config_names()
    assert {"BRIDGE_SPOOL_DIR", "BRIDGE_HTTP_PORT", "BRIDGE_SHUTDOWN_GRACE_S"} <= names
    assert "BRIDGE_AUTH_TOKENS" in secrets
    assert secrets <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=_rel)
def test_yaml_parses(path: Path) -> None:
    """Every YAML file under deploy/ parses, and every document in it is a mapping."""
    documents = _documents(path)
    assert documents, f"{_rel(path)} is empty"
    assert all(isinstance(d, dict) for d in documents)


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=_rel)
def test_kubernetes_documents_have_kind_and_name(path: Path) -> None:
    """Every Kubernetes document names its apiVersion and kind (and a name, bar kustomize)."""
    for doc in _documents(path):
        assert doc.get("apiVersion"), _rel(path)
        assert doc.get("kind"), _rel(path)
        if doc["kind"] != "Kustomization":
            assert doc.get("metadata", {}).get("name"), _rel(path)


@pytest.mark.parametrize("path", ENV_USING_FILES, ids=_rel)
def test_env_names_are_read_by_the_bridge(path: Path) -> None:
    """Each BRIDGE_* name in the file is read by bridge/config/; `_FILE` only for secrets."""
    names, secrets = _config_names()
    unknown = set()
    for name in set(ENV_NAME.findall(path.read_text(encoding="utf-8"))):
        base = name.removesuffix("_FILE")
        if name not in names and not (name.endswith("_FILE") and base in secrets):
            unknown.add(name)
    assert not unknown, f"{_rel(path)}: the bridge does not read {sorted(unknown)}"


@pytest.mark.parametrize(
    ("where", "env"),
    [("kubernetes", _k8s_env), ("compose", _compose_env), ("image defaults", _image_bridge_env)],
)
def test_settings_are_valid(where: str, env: Any) -> None:
    """The environment each deployment gives the bridge passes its own settings parser."""
    settings = _settings_for({"BRIDGE_AUTH_TOKENS": TOKEN, **env()})
    assert settings.spool.directory.is_absolute(), f"{where}: relative BRIDGE_SPOOL_DIR"


# ------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_copy_sources_exist_and_are_in_the_context() -> None:
    """Each COPY source (not --from a stage) exists in the repo and .dockerignore keeps it."""
    checked = 0
    for flags, sources, _ in _copies():
        if "from" in flags:
            continue
        for source in sources:
            rel = source.strip("/") or "."
            assert list(ROOT.glob(rel)), f"COPY {source}: not in the repository"
            assert not _ignored(rel), f"COPY {source}: excluded by .dockerignore"
            checked += 1
    assert checked


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".venv/bin/python", True),
        (".git/HEAD", True),
        (".cache/kafka", True),
        ("tests/fixtures/argos", True),
        ("deploy/.env", True),
        ("var/spool/spool.sqlite3", True),
        ("bridge/__pycache__/cli.cpython-311.pyc", True),
        ("pyproject.toml", False),
        ("README.md", False),
        ("bridge/cli.py", False),
        ("bridge/py.typed", False),
        ("schemas/envelope.v1.schema.json", False),
    ],
)
def test_dockerignore(path: str, ignored: bool) -> None:
    """The build context leaves out local state and secrets but keeps what the image needs."""
    assert _ignored(path) is ignored


def test_dockerfile_base_images_are_pinned() -> None:
    """
    Every FROM names an earlier stage or an image with an explicit, non-latest tag
    (a build argument counts with its default).
    """
    stages: set[str] = set()
    defaults = _global_args()
    for instruction in _dockerfile():
        if instruction.keyword != "FROM":
            continue
        words = [w for w in instruction.args.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults[m[1]], words[0])
        if image not in stages:
            tag = image.rpartition("/")[2].partition(":")[2]
            assert "@sha256:" in image or (tag and tag != "latest"), f"FROM {image}: unpinned"
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    assert len([i for i in _dockerfile() if i.keyword == "FROM"]) >= 2, "not multi-stage"


def test_dockerfile_production_base_is_python_311_slim() -> None:
    """The base image argument defaults to the official python:3.11-slim (digest allowed)."""
    base = _global_args()["BASE_IMAGE"]
    pattern = r"(docker\.io/library/)?python:3\.11-slim(@sha256:[0-9a-f]{64})?"
    assert re.fullmatch(pattern, base), base
    froms = [i.args.split()[0] for i in _dockerfile() if i.keyword == "FROM"]
    assert ["${BASE_IMAGE}", "${BASE_IMAGE}"] == froms


def test_dockerfile_runs_as_the_pod_user() -> None:
    """The runtime stage ends with a non-root USER, the uid the pod's securityContext uses."""
    users = _final("USER")
    assert users, "no USER in the runtime stage"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0", ""}
    assert user == str(_container()["securityContext"]["runAsUser"])


def test_dockerfile_entrypoint_is_the_console_script() -> None:
    """ENTRYPOINT is the console script declared in pyproject.toml, CMD is `serve`."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    (entrypoint,) = _final("ENTRYPOINT")
    (cmd,) = _final("CMD")
    assert json.loads(entrypoint.args) == ["kyc-bridge"]
    assert scripts.get("kyc-bridge") == "bridge.commands.cli:main"
    assert json.loads(cmd.args) == ["serve"]


def test_dockerfile_healthcheck_uses_stdlib_livez() -> None:
    """HEALTHCHECK probes /livez with Python's urllib (slim has no curl)."""
    (healthcheck,) = _final("HEALTHCHECK")
    assert "/livez" in healthcheck.args
    assert "urllib" in healthcheck.args
    assert "curl" not in healthcheck.args


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [("STOPSIGNAL", "SIGTERM"), ("EXPOSE", "8080"), ("VOLUME", '["/var/lib/kyc-bridge/spool"]')],
)
def test_dockerfile_runtime_instructions(keyword: str, expected: str) -> None:
    """The runtime stage declares the stop signal, the HTTP port and the spool volume."""
    assert [i.args for i in _final(keyword)] == [expected]


def test_dockerfile_port_and_spool_match_settings() -> None:
    """EXPOSE and VOLUME agree with the settings the image's ENV produces."""
    settings = _settings_for({"BRIDGE_AUTH_TOKENS": TOKEN, **_image_bridge_env()})
    assert str(settings.http.port) in _final("EXPOSE")[0].args
    assert str(settings.spool.directory) in json.loads(_final("VOLUME")[0].args)


@pytest.mark.parametrize("name", ["PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"])
def test_dockerfile_python_env(name: str) -> None:
    """The runtime stage sets the usual container Python switches."""
    assert _image_env().get(name) == "1"


def test_dockerfile_installs_the_fast_extra() -> None:
    """The `fast` extra (uvloop) exists in pyproject.toml and the image installs it."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert "fast" in extras
    assert any("[fast]" in i.args for i in _dockerfile() if i.keyword == "RUN")


def test_image_builds_its_wheel_with_the_schemas_beside_the_package() -> None:
    """
    The schemas ship inside the package (bridge/_schemas -> ../schemas): the builder
    stage must copy schemas/ next to bridge/ before it builds the wheel.
    """
    assert (ROOT / "bridge" / "_schemas").resolve() == ROOT / "schemas"
    copied = [sources for flags, sources, _ in _copies() if "from" not in flags]
    assert any([s.strip("/") for s in sources] == ["schemas"] for sources in copied)
    assert "_schemas/*.schema.json" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ compose


def test_compose_build_paths_exist() -> None:
    """The bridge service builds from an existing context with deploy/Dockerfile."""
    build = _service()["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context.is_dir()
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_depends_on_conditions() -> None:
    """Kafka is healthy and the topics exist before the bridge starts."""
    depends = _service()["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["kafka-init"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in _compose()["services"]["kafka"]


def test_compose_creates_the_bridge_topics() -> None:
    """kafka-init creates exactly the bridge's topic (6 partitions) and dead-letter topic."""
    settings = _settings_for(_compose_env())
    command = _compose()["services"]["kafka-init"]["command"]
    script = "\n".join(command if isinstance(command, list) else [command])
    created = re.findall(
        r"--create\b.*--topic (\S+) --partitions (\d+)", script.replace("\\\n", " ")
    )
    assert dict(created) == {settings.topic: "6", settings.dlq_topic: "1"}


def test_compose_bridge_health_and_secrets() -> None:
    """The bridge has a /readyz healthcheck and gets its secrets from the host, not literals."""
    service = _service()
    assert "/readyz" in json.dumps(service["healthcheck"]["test"])
    _, secrets = _config_names()
    for name, value in service["environment"].items():
        if name in secrets:
            assert str(value).startswith("${"), f"{name} is a literal in docker-compose.yml"


def test_compose_spool_is_a_named_volume() -> None:
    """BRIDGE_SPOOL_DIR is the target of a named (persistent) volume."""
    spool = str(_settings_for(_compose_env()).spool.directory)
    named = set(_compose().get("volumes") or {})
    mounts = [v.split(":") for v in _service()["volumes"] if isinstance(v, str)]
    assert any(source in named and target == spool for source, target, *_ in mounts)


# ------------------------------------------------------------------------------ Kubernetes


def _port_number(port: object) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in _container()["ports"] if p.get("name") == port]
    assert isinstance(number, int)
    return number


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")],
)
def test_k8s_probes(probe: str, path: str) -> None:
    """Each probe calls its endpoint on the container port the bridge listens on."""
    settings = _settings_for(_k8s_env())
    http_get = _container()[probe]["httpGet"]
    assert http_get["path"] == path
    assert _port_number(http_get["port"]) == settings.http.port
    tls = settings.http.tls_certfile is not None
    assert http_get.get("scheme", "HTTP") == ("HTTPS" if tls else "HTTP")


@pytest.mark.parametrize(
    ("where", "seconds", "env"),
    [
        ("kubernetes", lambda: _pod()["terminationGracePeriodSeconds"], _k8s_env),
        ("compose", lambda: _seconds(_service()["stop_grace_period"]), _compose_env),
    ],
)
def test_grace_period_exceeds_shutdown_grace(where: str, seconds: Any, env: Any) -> None:
    """The orchestrator waits longer than BRIDGE_SHUTDOWN_GRACE_S before it kills the bridge."""
    grace = _settings_for(env()).shutdown_grace_s
    assert float(seconds()) > grace, f"{where}: {seconds()} s <= BRIDGE_SHUTDOWN_GRACE_S {grace}"


def test_k8s_single_writer() -> None:
    """One replica and Recreate: never two bridges on one spool volume."""
    spec = _deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


def test_k8s_spool_is_a_persistent_volume() -> None:
    """BRIDGE_SPOOL_DIR is the mount path of a ReadWriteOnce PVC big enough for the spool."""
    settings = _settings_for(_k8s_env())
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    (mount,) = [
        m for m in _container()["volumeMounts"] if m["mountPath"] == str(settings.spool.directory)
    ]
    assert not mount.get("readOnly", False)
    claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
    (pvc,) = [p for p in _k8s("PersistentVolumeClaim") if p["metadata"]["name"] == claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert _bytes(pvc["spec"]["resources"]["requests"]["storage"]) > settings.spool.max_bytes


def test_k8s_security_context() -> None:
    """Non-root, read-only root filesystem with only the spool and /tmp writable, no caps."""
    context = _container()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    writable = {
        m["mountPath"]: volumes[m["name"]]
        for m in _container()["volumeMounts"]
        if not m.get("readOnly", False)
    }
    assert "emptyDir" in writable.pop("/tmp")
    assert [v for v in writable.values() if "persistentVolumeClaim" not in v] == []


@pytest.mark.parametrize("section", ["requests", "limits"])
def test_k8s_resources(section: str) -> None:
    """The sidecar declares CPU and memory requests and limits."""
    assert set(_container()["resources"][section]) == {"cpu", "memory"}


def test_k8s_secrets_are_files_from_the_secret() -> None:
    """
    Each BRIDGE_*_FILE is a secret setting whose path is a key of the mounted Secret
    (as in secret.example.yaml), and no secret setting is given as a plain value.
    """
    _, secrets = _config_names()
    (example,) = _k8s("Secret")
    keys = set(example.get("stringData", {})) | set(example.get("data", {}))
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    mounts = {
        m["mountPath"]: volumes[m["name"]]["secret"]
        for m in _container()["volumeMounts"]
        if "secret" in volumes[m["name"]]
    }
    files = {e["name"]: e["value"] for e in _container()["env"] if e["name"].endswith("_FILE")}
    assert files
    for name, value in files.items():
        assert name.removesuffix("_FILE") in secrets, name
        path = PurePosixPath(value)
        secret = mounts[str(path.parent)]
        assert secret["secretName"] == example["metadata"]["name"]
        items = {i["path"]: i["key"] for i in secret.get("items", [])} or {k: k for k in keys}
        assert items[path.name] in keys, f"{name}: no key for {path.name}"
    plain = _k8s_env().keys() - _image_bridge_env().keys() - files.keys()
    assert not plain & secrets, f"secrets given as plain values: {sorted(plain & secrets)}"


def test_kustomization_lists_the_manifests_but_not_the_example_secret() -> None:
    """kustomization.yaml lists every manifest that exists, and never secret.example.yaml."""
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    resources = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert resources == present - {"secret.example.yaml"}


# ------------------------------------------------------------------- the built image

_Test = TypeVar("_Test", bound=Callable[..., None])


def _needs_image(test: _Test) -> _Test:
    """Mark a test that inspects the image built from deploy/Dockerfile."""
    for mark in (pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1800)):
        test = mark(test)
    return test


def _inspected_env(image: BuildResult) -> dict[str, str]:
    """The built image's Env as a mapping."""
    env: list[str] = image.inspect()["Config"]["Env"]
    return dict(item.partition("=")[::2] for item in env)


def _inspected_bridge_env(image: BuildResult) -> dict[str, str]:
    return {k: v for k, v in _inspected_env(image).items() if k.startswith("BRIDGE_")}


@_needs_image
def test_static_image_env_is_the_built_images(image: BuildResult) -> None:
    """
    The ENV these static checks read from the Dockerfile is what the built image
    carries (PATH aside: it extends the base image's), so the checks above hold.
    """
    expected = {k: v for k, v in _image_env().items() if k != "PATH"}
    inspected = _inspected_env(image)
    assert expected == {k: inspected.get(k) for k in expected}
    assert expected.keys() >= _inspected_bridge_env(image).keys()


@_needs_image
def test_built_image_env_names_are_read_by_the_bridge(image: BuildResult) -> None:
    """Every BRIDGE_* variable the built image sets is a setting bridge/config.py reads."""
    names, _ = _config_names()
    assert set() == _inspected_bridge_env(image).keys() - names


@_needs_image
@pytest.mark.parametrize(
    ("where", "env", "declared_port"),
    [
        ("kubernetes", _k8s_env, lambda: _port_number("http")),
        (
            "compose",
            _compose_env,
            lambda: int(str(_service()["ports"][0]).rpartition(":")[2].partition("/")[0]),
        ),
    ],
)
def test_manifests_use_the_port_and_volume_the_image_declares(
    image: BuildResult, where: str, env: Any, declared_port: Any
) -> None:
    """
    With the built image's ENV underneath, each deployment's bridge listens on a
    port the image exposes (and the manifest publishes) and keeps its spool in the
    image's VOLUME.
    """
    settings = _settings_for({"BRIDGE_AUTH_TOKENS": TOKEN, **env(_inspected_bridge_env(image))})
    config = image.inspect()["Config"]
    assert {f"{settings.http.port}/tcp"} == set(config["ExposedPorts"]), where
    assert settings.http.port == declared_port(), where
    assert {str(settings.spool.directory)} == set(config["Volumes"]), where


@_needs_image
def test_pod_user_is_the_images_user(image: BuildResult) -> None:
    """runAsUser:runAsGroup and the pod's fsGroup are the uid and gid the image runs as."""
    context = _container()["securityContext"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == image.inspect()["Config"]["User"]
    assert context["runAsGroup"] == _pod()["securityContext"]["fsGroup"]


@_needs_image
def test_manifests_run_the_images_entrypoint(image: BuildResult) -> None:
    """The image runs `kyc-bridge serve`; the pod passes the same args, compose keeps them."""
    config = image.inspect()["Config"]
    assert (["kyc-bridge"], ["serve"]) == (config["Entrypoint"], config["Cmd"])
    assert config["Cmd"] == _container().get("args", config["Cmd"])
    assert "command" not in _container()
    assert {"entrypoint", "command"}.isdisjoint(_service())
