"""Static checks of the deployment files: docker-compose.yml and Dockerfile (no Docker needed).

They parse the files and check that the stack is wired together: dependencies exist, the app reaches
Postgres and Temporal by their compose service names, the search attributes registered by the stack
are exactly the ones the workflows use, and the image installs the project and starts the API.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "worker", "api", "schedules")
SEARCH_ATTRIBUTE_SERVICE = "temporal-search-attributes"


# ---------------------------------------------------------------------------------------------- helpers

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Resolve compose `${VAR:-default}` / `${VAR-default}` to their defaults, `${VAR:?message}` to a
    `<required VAR>` marker, and `$$` to `$`.

    The real environment is deliberately ignored: the checks are about the file's own defaults.
    """
    placeholder = "\0"
    value = value.replace("$$", placeholder)

    def resolve(m: re.Match[str]) -> str:
        if m.group("op") in (":-", "-"):
            return m.group("arg")
        if m.group("op") in (":?", "?"):
            return f"<required {m.group('name')}>"  # compose refuses to start without it
        raise AssertionError(f"{m.group(0)} has no default in docker-compose.yml")

    return _INTERPOLATION.sub(resolve, value).replace(placeholder, "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment as a dict (both the mapping and the list form), interpolated."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    """service name -> condition (list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command_text(service: dict) -> str:
    command = service.get("command") or []
    if isinstance(command, str):
        return command
    return "\n".join(str(part) for part in command)


def published_ports(service: dict) -> list[tuple[str, int, int]]:
    """(host_ip, host_port, container_port) for each port published to a fixed host port."""
    result = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            result.append(
                (entry.get("host_ip", ""), int(interpolate(str(entry["published"]))), int(entry["target"]))
            )
            continue
        spec = interpolate(str(entry)).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: Docker picks an ephemeral host port
        host_ip = parts[0] if len(parts) == 3 else ""
        result.append((host_ip, int(parts[-2]), int(parts[-1])))
    return result


def host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


# ------------------------------------------------------------------------------------------- compose


def test_every_depends_on_target_is_a_defined_service(services: dict) -> None:
    for name, service in services.items():
        for dependency in depends_on(service):
            assert dependency in services, f"{name} depends on undefined service {dependency!r}"


def test_depends_on_conditions_are_valid_compose_conditions(services: dict) -> None:
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert condition in valid, f"{name} -> {dependency}: unknown condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                )


def test_postgres_has_a_healthcheck_and_a_volume(compose: dict, services: dict) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    data_mounts = [v for v in postgres.get("volumes", []) if str(v).endswith(":/var/lib/postgresql/data")]
    assert data_mounts, "postgres data directory is not on a volume"
    volume_name = str(data_mounts[0]).split(":", 1)[0]
    assert volume_name in (compose.get("volumes") or {}), f"named volume {volume_name!r} is not declared"


def test_postgres_creates_the_careflow_database(services: dict) -> None:
    env = env_of(services["postgres"])
    assert env["POSTGRES_DB"] == "careflow"
    assert env["POSTGRES_USER"] and env["POSTGRES_PASSWORD"]


def test_temporal_uses_the_postgres_service_with_postgres12(services: dict) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    env = env_of(temporal)
    pg = env_of(services["postgres"])
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"] == pg["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == pg["POSTGRES_PASSWORD"]
    # Temporal's own databases, created by auto-setup, must not be Careflow's.
    assert pg["POSTGRES_DB"] not in {
        env.get("DBNAME", "temporal"),
        env.get("VISIBILITY_DBNAME", "temporal_visibility"),
    }
    assert depends_on(temporal).get("postgres") == "service_healthy"
    assert "healthcheck" in temporal


def test_search_attribute_registration_covers_exactly_registration(services: dict) -> None:
    from workflows.search_attributes import REGISTRATION

    script = command_text(services[SEARCH_ATTRIBUTE_SERVICE])
    registered = dict(re.findall(r"^\s*register\s+(\w+)\s+(\w+)\s*$", script, flags=re.MULTILINE))
    lines = re.findall(r"^\s*register\s+\w+\s+\w+\s*$", script, flags=re.MULTILINE)
    assert len(lines) == len(registered), "a search attribute is registered twice"
    assert registered == REGISTRATION


def test_search_attribute_registration_uses_the_temporal_cli_in_the_default_namespace(services: dict) -> None:
    service = services[SEARCH_ATTRIBUTE_SERVICE]
    assert service["image"].startswith("temporalio/admin-tools:")
    script = interpolate(command_text(service))
    assert "temporal operator search-attribute create" in script
    assert re.search(r'--name "\$name" --type "\$type"', script)
    # idempotent: it looks before it creates, and waits for the server/namespace first
    assert "temporal operator search-attribute list" in script
    assert "until temporal operator namespace describe" in script
    env = env_of(service)
    assert env["NAMESPACE"] == "default"
    assert host_and_port(env["TEMPORAL_ADDRESS"]) == ("temporal", 7233)
    assert "temporal" in depends_on(service)


def test_search_attribute_registration_is_a_one_shot_the_app_waits_for(services: dict) -> None:
    assert services[SEARCH_ATTRIBUTE_SERVICE].get("restart", "no") == "no"
    for name in ("worker", "api"):
        assert depends_on(services[name]).get(SEARCH_ATTRIBUTE_SERVICE) == "service_completed_successfully"


def test_temporal_auto_setup_skips_its_demo_search_attributes(services: dict) -> None:
    # SQL visibility has a per-type quota of custom attributes; keep it for Careflow's own.
    assert env_of(services["temporal"]).get("SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES") == "true"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_database_url_points_at_the_postgres_service(services: dict, name: str) -> None:
    env = env_of(services[name])
    url = urlsplit(env["DATABASE_URL"])
    pg = env_of(services["postgres"])
    assert url.scheme in {"postgresql", "postgres"}
    assert url.hostname == "postgres"
    assert (url.port or 5432) == 5432
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]
    assert url.username == pg["POSTGRES_USER"]
    assert url.password == pg["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_temporal_address_points_at_the_temporal_service(services: dict, name: str) -> None:
    env = env_of(services[name])
    assert host_and_port(env["TEMPORAL_ADDRESS"]) == ("temporal", 7233)
    assert env["TEMPORAL_NAMESPACE"] == env_of(services[SEARCH_ATTRIBUTE_SERVICE])["NAMESPACE"]
    assert env["CAREFLOW_TASK_QUEUE"]


def test_worker_and_api_share_one_task_queue_and_namespace(services: dict) -> None:
    worker, api = env_of(services["worker"]), env_of(services["api"])
    assert worker["CAREFLOW_TASK_QUEUE"] == api["CAREFLOW_TASK_QUEUE"]
    assert worker["TEMPORAL_NAMESPACE"] == api["TEMPORAL_NAMESPACE"]


def test_app_env_names_are_settings_that_config_reads(services: dict) -> None:
    from config import Settings

    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    for name in APP_SERVICES:
        unknown = set(env_of(services[name])) - known
        assert not unknown, f"{name} sets variables config.py does not read: {sorted(unknown)}"


def test_api_listens_on_all_interfaces_on_the_published_port(services: dict) -> None:
    api = services["api"]
    env = env_of(api)
    assert env["CAREFLOW_API_HOST"] == "0.0.0.0"
    container_ports = {container for _, _, container in published_ports(api)}
    assert int(env["CAREFLOW_API_PORT"]) in container_ports
    assert (8000, 8000) in {(host, container) for _, host, container in published_ports(api)}
    assert command_text(api).split() == ["careflow", "api"]


def test_api_links_to_the_published_temporal_ui(services: dict) -> None:
    ui_url = urlsplit(env_of(services["api"])["TEMPORAL_UI_URL"])
    ui_host_ports = {host for _, host, _ in published_ports(services["temporal-ui"])}
    assert ui_url.port in ui_host_ports


def test_app_services_run_the_expected_careflow_commands(services: dict) -> None:
    for name, expected in {
        "migrate": "careflow migrate",
        "worker": "careflow worker",
        "api": "careflow api",
        "schedules": "careflow schedules",
    }.items():
        assert command_text(services[name]).split() == expected.split()
        assert services[name].get("build") or services[name].get("image")


def test_worker_and_api_wait_for_migrate_to_succeed_and_for_temporal(services: dict) -> None:
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("worker", "api"):
        deps = depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully"
        assert "temporal" in deps


def test_worker_can_be_scaled_out(services: dict) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container_name prevents --scale worker=N"
    assert not worker.get("ports"), "published ports would collide between worker replicas"


def test_temporal_ui_points_at_the_temporal_service(services: dict) -> None:
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert host_and_port(env_of(ui)["TEMPORAL_ADDRESS"]) == ("temporal", 7233)
    assert "temporal" in depends_on(ui)
    assert (8080, 8080) in {(host, container) for _, host, container in published_ports(ui)}


def test_published_host_ports_do_not_collide(services: dict) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for _, host_port, _ in published_ports(service):
            assert host_port not in seen, (
                f"host port {host_port} published by {seen.get(host_port)} and {name}"
            )
            seen[host_port] = name
    assert {8000, 8080} <= set(seen)


def test_images_are_pinned_to_explicit_tags(services: dict) -> None:
    for name, service in services.items():
        image = interpolate(str(service.get("image", "")))
        if service.get("build"):
            continue  # built locally from the Dockerfile
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: image {image!r} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"


def test_temporal_server_and_admin_tools_versions_match(services: dict) -> None:
    server = services["temporal"]["image"].rsplit(":", 1)[1]
    tools = services[SEARCH_ATTRIBUTE_SERVICE]["image"].rsplit(":", 1)[1]
    assert tools.split("-", 1)[0] == server


# ------------------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_is_based_on_python_311_slim() -> None:
    instructions = dockerfile_instructions()
    args = {}
    for ins, rest in instructions:
        if ins == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip()
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0])
        for ins, rest in instructions
        if ins == "FROM"
    ]
    assert bases and all(base.startswith("python:3.11-slim") for base in bases), bases


def test_dockerfile_installs_the_project_with_pip() -> None:
    runs = [rest for ins, rest in dockerfile_instructions() if ins == "RUN"]
    installs = [cmd for run in runs for cmd in re.split(r"&&|;", run) if "pip install" in cmd]
    assert any("." in shlex.split(cmd)[shlex.split(cmd).index("install") + 1 :] for cmd in installs), installs


def test_dockerfile_copies_every_module_and_package_pyproject_builds() -> None:
    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    copied = set()
    for ins, rest in dockerfile_instructions():
        if ins == "COPY" and "--from" not in rest:
            copied.update(Path(src).as_posix().rstrip("/") for src in rest.split()[:-1])
    wanted = {"pyproject.toml"} | {f"{module}.py" for module in setuptools_cfg["py-modules"]}
    wanted |= {pattern.rstrip("*") for pattern in setuptools_cfg["packages"]["find"]["include"]}
    assert "." in copied or wanted <= copied, f"not copied into the build: {sorted(wanted - copied)}"


def test_dockerfile_default_cmd_is_careflow_api() -> None:
    cmds = [rest for ins, rest in final_stage(dockerfile_instructions()) if ins == "CMD"]
    assert cmds, "no CMD in the final stage"
    assert json.loads(cmds[-1]) == ["careflow", "api"]


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [rest for ins, rest in final_stage(dockerfile_instructions()) if ins == "USER"]
    assert users, "final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_the_signing_key_is_required_and_the_same_for_worker_and_api(services: dict) -> None:
    """The worker signs survey links and the api checks them: a per-container random key would break them."""
    keys = {env_of(services[name])["CAREFLOW_SECRET_KEY"] for name in ("worker", "api")}
    assert keys == {"<required CAREFLOW_SECRET_KEY>"}


def test_schedules_is_a_one_shot_after_migrate_and_temporal(services: dict) -> None:
    service = services["schedules"]
    assert service.get("restart", "no") == "no"
    deps = depends_on(service)
    assert (
        deps.get("migrate") == "service_completed_successfully" and deps.get("temporal") == "service_healthy"
    )
