"""threadline's version, and the official SDK release whose API it follows.

One source, read by the package and by hatchling (``__version__``).
"""

__version__ = "0.1.0"

CLAUDE_AGENT_SDK_VERSION = "0.2.187"
"""The ``claude-agent-sdk`` release whose public API threadline mirrors (names, kinds, fields,
errors); ``tests/test_official_api.py`` compares against that package."""
