"""The production server's settings (python -m connect.serve)."""

from connect.serve import uvicorn_options


def test_compression_is_off_and_frames_are_bounded():
    options = uvicorn_options({})
    assert options["ws_per_message_deflate"] is False  # about 300 KiB per connection with zlib's defaults
    assert options["ws_max_size"] == 1024 * 1024


def test_forwarded_addresses_are_believed_only_from_named_proxies():
    assert uvicorn_options({})["proxy_headers"] is False
    options = uvicorn_options({"CONNECT_FORWARDED_ALLOW_IPS": "10.0.0.5,10.0.0.6"})
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"
