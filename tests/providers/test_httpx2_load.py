"""The wire client imports httpx2 and httpcore2 without ``importlib.metadata`` (see
``providers/_httpx2.py``): same packages, same versions, and the real module afterwards."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from threadline.providers import _httpx2


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_wire_client_does_not_load_importlib_metadata() -> None:
    code = (
        "import sys, importlib\n"
        "import threadline.providers._wire_httpx2\n"
        "import httpx2, httpcore2\n"
        "print('importlib.metadata' in sys.modules, hasattr(importlib, 'metadata'))\n"
        "print(httpx2.__version__, httpcore2.__version__)\n"
        "import importlib.metadata as m\n"  # the real module, imported now
        "print(type(m).__name__, m.version('httpx2'), m.version('httpcore2'))\n"
    )
    first, versions, real = _run(code).splitlines()
    assert first == "False False"
    expected = f"{importlib.metadata.version('httpx2')} {importlib.metadata.version('httpcore2')}"
    assert versions == expected
    assert real == f"module {expected}"


def test_the_direct_path_loads_httpcore2_alone_without_importlib_metadata() -> None:
    """The wire client's module loads ``httpcore2`` only (``httpx2`` when a request needs
    it: see ``test_wire_direct``), also without ``importlib.metadata``."""
    code = (
        "import sys, importlib\n"
        "import threadline.providers._anthropic_wire\n"
        "print('importlib.metadata' in sys.modules, 'httpx2' in sys.modules)\n"
        "import httpcore2, importlib.metadata as m\n"
        "print(httpcore2.__version__ == m.version('httpcore2'))\n"
    )
    assert _run(code).splitlines() == ["False False", "True"]


def test_a_loaded_importlib_metadata_is_used_as_it_is() -> None:
    code = (
        "import importlib.metadata as m, sys\n"
        "import threadline.providers._anthropic_wire\n"
        "print(sys.modules['importlib.metadata'] is m)\n"
    )
    assert _run(code) == "True"


def test_the_stand_in_hands_everything_else_to_the_real_module() -> None:
    stand_in = _httpx2._StandIn("importlib.metadata")
    assert stand_in.version("httpx2") == importlib.metadata.version("httpx2")
    # not an imported package: the real lookup answers (and raises as it does)
    assert stand_in.version("pytest") == importlib.metadata.version("pytest")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        stand_in.version("no-such-distribution-threadline")
    assert stand_in.PackageNotFoundError is importlib.metadata.PackageNotFoundError
    with pytest.raises(AttributeError):
        stand_in.__path__  # noqa: B018  (``from ... import`` must not see a package)
    assert _httpx2.dist_version("no_such_module_threadline") is None
