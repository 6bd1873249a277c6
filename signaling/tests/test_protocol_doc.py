"""docs/signaling.md describes exactly the protocol the server speaks."""

import re
from pathlib import Path

from signaling import protocol

DOC = (Path(__file__).resolve().parents[2] / "docs" / "signaling.md").read_text()


def test_every_client_message_type_is_documented_with_its_sender():
    rows = dict(re.findall(r"^\| `([a-z.]+)` \| (agent|customer|both) \|", DOC, flags=re.M))
    assert set(rows) == set(protocol.CLIENT_TYPES)
    for name, kind in protocol.CLIENT_TYPES.items():
        expected = "both" if kind.senders == protocol.BOTH else next(iter(kind.senders))
        assert rows[name] == expected, name


def test_every_server_message_and_error_code_is_documented():
    for name in protocol.SERVER_TYPES:
        assert f"| `{name}` |" in DOC, name
    for code in protocol.ERROR_CODES:
        assert f"`{code}`" in DOC, code
    assert f"version {protocol.PROTOCOL_VERSION}" in DOC
