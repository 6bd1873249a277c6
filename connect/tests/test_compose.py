"""docker-compose.yml cannot run here (no Docker engine), so check it against the project instead."""

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
README = (ROOT / "README.md").read_text()
PROJECT_SOURCES = "\n".join(p.read_text() for p in ROOT.glob("*/*.py") if ".venv" not in p.parts)
SETTINGS = (ROOT / "connect" / "settings.py").read_text()
OUR_SERVICES = {name for name, svc in COMPOSE["services"].items() if "build" in svc}


def _readme_variables() -> set[str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.M))


def test_full_stack_is_described():
    assert {"web", "worker", "beat", "postgres", "redis", "coturn", "livekit", "minio"} <= set(COMPOSE["services"])
    assert OUR_SERVICES == {"web", "worker", "beat"}
    assert (ROOT / "Dockerfile").exists()


def test_our_services_run_commands_that_exist():
    for name in OUR_SERVICES:
        command = COMPOSE["services"][name]["command"]
        for part in re.split(r"&&|;", command.removeprefix('sh -c "').rstrip('"')):
            words = shlex.split(part)
            if words[:3] == ["python", "-m", "connect.serve"]:
                assert (ROOT / "connect" / "serve.py").exists(), name
            elif words[0] == "celery":
                assert words[1:3] == ["-A", "connect"] and (ROOT / "connect" / "celery.py").exists()
                assert words[3] in {"worker", "beat"}
            elif words[:2] == ["python", "manage.py"]:
                assert words[2] in {"migrate", "collectstatic"}
            else:
                raise AssertionError(f"{name}: unknown command {part!r}")


def test_every_variable_given_to_our_services_is_read_and_documented():
    documented = _readme_variables()
    for name in OUR_SERVICES:
        for variable in COMPOSE["services"][name]["environment"]:
            assert f'"{variable}"' in PROJECT_SOURCES, f"{name}: {variable} is not read by the project"
            assert variable in documented, f"{variable} is missing from README's configuration table"


def test_every_variable_the_settings_read_is_documented():
    read = set(re.findall(r'env(?:\(\))?\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS))
    assert read, "the settings read no variables? the pattern is out of date"
    missing = read - _readme_variables()
    assert not missing, f"add these to README's configuration table: {sorted(missing)}"
