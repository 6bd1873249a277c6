"""Production safety: with DJANGO_DEBUG off the server refuses insecure defaults."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(env_overrides: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update({"DJANGO_SETTINGS_MODULE": "connect.settings", "CONNECT_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_dev_secret_and_empty_hosts_without_debug(tmp_path):
    result = _start({"DJANGO_DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert "DJANGO_ALLOWED_HOSTS must list" in result.stderr


def test_refuses_empty_hosts_even_with_a_secret(tmp_path):
    result = _start({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50}, tmp_path)
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr and "DJANGO_SECRET_KEY" not in result.stderr


def test_starts_with_production_settings(tmp_path):
    result = _start(
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "s" * 50, "DJANGO_ALLOWED_HOSTS": "connect.example.com"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_embedded_defaults_need_no_environment(tmp_path):
    result = _start({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dev-secret-key").exists()
