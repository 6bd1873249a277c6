"""The agent's own rules, without a screen: input validation and its rate, file names and what may be fetched,
and the configuration file that holds the machine's key."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent import config as agent_config
from agent.remote_input import InputGate, InputRefused, parse
from agent.transfer import TransferRefused, Transfers, safe_name, unique_path

SCREEN = {"width": 1280, "height": 800}


def refused(frame) -> str:
    with pytest.raises(InputRefused) as caught:
        parse(frame if isinstance(frame, str) else json.dumps(frame), **SCREEN)
    return caught.value.code


def test_events_inside_the_screen_are_accepted():
    assert parse(json.dumps({"t": "move", "x": 0, "y": 799}), **SCREEN).y == 799
    event = parse(json.dumps({"t": "button", "button": "right", "down": True, "x": 1279, "y": 0}), **SCREEN)
    assert (event.button, event.down, event.x) == ("right", True, 1279)
    assert parse(json.dumps({"t": "key", "key": "F12", "down": False}), **SCREEN).key == "F12"
    assert parse(json.dumps({"t": "text", "text": "é ✓\n"}), **SCREEN).text == "é ✓\n"


@pytest.mark.parametrize(
    "frame",
    [
        {"t": "move", "x": 1280, "y": 0},
        {"t": "move", "x": -1, "y": 0},
        {"t": "button", "button": "left", "down": True, "x": 5, "y": 800},
        {"t": "wheel", "dx": 0, "dy": 21},
    ],
)
def test_coordinates_and_steps_out_of_range_are_refused(frame):
    assert refused(frame) == "out_of_range"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        {"t": "move", "x": 1.5, "y": 0},
        {"t": "move", "x": True, "y": 0},
        {"t": "move", "x": "10", "y": 0},
        {"t": "button", "button": "back", "down": True, "x": 1, "y": 1},
        {"t": "key", "key": "rm -rf /", "down": True},
        {"t": "key", "key": "\x07", "down": True},
        {"t": "text", "text": ""},
        {"t": "text", "text": "x" * 501},
        {"t": "text", "text": "bell\x07"},
        {"t": "launch", "command": "xterm"},
        "x" * 5000,
    ],
)
def test_malformed_events_are_refused(frame):
    assert refused(frame) == "invalid"


def test_a_flood_is_cut_at_the_burst_and_refills_with_time():
    now = [0.0]
    gate = InputGate(rate=100, burst=50, clock=lambda: now[0])
    move = json.dumps({"t": "move", "x": 1, "y": 1})
    outcomes = []
    for _ in range(200):
        try:
            gate.admit(move, **SCREEN)
            outcomes.append(True)
        except InputRefused as exc:
            assert exc.code == "rate_limited"
            outcomes.append(False)
    assert outcomes.count(True) == 50 and gate.refused == 150
    assert gate.should_report() and not gate.should_report()  # one error a second goes back, not one per event
    now[0] += 0.5  # 50 tokens back
    for _ in range(50):
        gate.admit(move, **SCREEN)
    with pytest.raises(InputRefused):
        gate.admit(move, **SCREEN)
    assert not gate.should_report()
    now[0] += 0.6
    assert gate.should_report()


def test_received_file_names_stay_in_their_directory(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_name("...") == "file"
    assert safe_name("report; rm -rf ~.txt") == "report_ rm -rf _.txt"
    (tmp_path / "a.txt").write_text("x")
    assert unique_path(tmp_path, "a.txt").name == "a (2).txt"


def test_only_files_under_the_root_may_be_fetched(tmp_path):
    root = tmp_path / "home"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "ok.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("no")
    os.symlink(tmp_path / "secret.txt", root / "docs" / "link.txt")
    transfers = Transfers(send=None, channel=lambda: None, files_dir=tmp_path / "in", files_root=root, max_bytes=10)
    assert transfers.resolve("docs/ok.txt") == (root / "docs" / "ok.txt").resolve()
    for path, code in [
        ("../secret.txt", "not_allowed"),
        (str(tmp_path / "secret.txt"), "not_allowed"),
        ("docs/link.txt", "not_allowed"),  # a link out of the root is judged by where it leads
        ("docs", "not_found"),
        ("docs/none.txt", "not_found"),
        ("a\x00b", "invalid"),
        (42, "invalid"),
    ]:
        with pytest.raises(TransferRefused) as caught:
            transfers.resolve(path)
        assert caught.value.code == code, path
    (root / "big.bin").write_bytes(b"x" * 11)
    with pytest.raises(TransferRefused) as caught:
        transfers.resolve("big.bin")
    assert caught.value.code == "file_too_large"


def test_the_configuration_keeps_the_key_to_its_owner(tmp_path):
    private, public = agent_config.new_key()
    path = tmp_path / "conf" / "config.json"
    cfg = agent_config.AgentConfig(server="https://c.example", machine_id="mch_x", private_key=private)
    agent_config.save(cfg, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = agent_config.load(path)
    signature = agent_config.b64url_decode(loaded.sign_challenge("nonce-1"))
    Ed25519PublicKey.from_public_bytes(agent_config.b64url_decode(public)).verify(
        signature, agent_config.SIGNED_CONTEXT + b"mch_x\nnonce-1"
    )
    path.chmod(0o644)
    with pytest.raises(agent_config.ConfigError, match="chmod 600"):
        agent_config.load(path)
    path.chmod(0o600)
    path.write_text("{}")
    with pytest.raises(agent_config.ConfigError, match="enroll again"):
        agent_config.load(path)
    with pytest.raises(agent_config.ConfigError, match="enroll this machine first"):
        agent_config.load(tmp_path / "none.json")


def test_each_operating_system_is_one_module_behind_one_interface():
    from agent.platforms import base, linux, macos, windows

    for desktop in (linux.X11Desktop, windows.WindowsDesktop, macos.MacDesktop):
        assert issubclass(desktop, base.Desktop)
        for method in ("inject", "clipboard_get", "clipboard_set"):
            assert getattr(desktop, method) is not getattr(base.Desktop, method), (desktop, method)
    assert {windows.WindowsDesktop.can_sas, macos.MacDesktop.can_sas, linux.X11Desktop.can_sas} == {False, True}
