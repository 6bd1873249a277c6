"""The BizGaze Connect desktop agent (``connect-agent``): unattended access to an enrolled machine, or attended
control of one session by its code. See docs/desktop-agent.md."""

__version__ = "0.1.0"
