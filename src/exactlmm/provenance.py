"""Provenance records written into every output (after msprime's ``provenance.py``).

The record names the software, its version, the parameters of the run and the environment
(Python, platform, numpy/scipy versions).  It carries no timestamp or host name, so the same
configuration gives the same bytes.
"""

from __future__ import annotations

import platform
import sys
from functools import cache
from typing import Any


@cache
def package_version(name: str) -> str | None:
    """Installed version of the distribution ``name``, or ``None`` when it is not installed
    (looked up once per process: a run writing several outputs asks for it each time)."""
    from importlib import metadata  # imported when needed: 10 ms of start-up

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(tool: str, version: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """Provenance dictionary for one tool run.

    Parameters
    ----------
    tool:
        Name of the program that produced the output (``"exactlmm"``, ``"gemma"``, ...).
    version:
        Its version string.
    parameters:
        The parameters of the run (JSON-serialisable; paths as given by the user).
    """
    return {
        "tool": tool,
        "version": version,
        "parameters": parameters,
        "environment": {
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "os": platform.system(),
            "machine": platform.machine(),
            "libraries": {
                name: package_version(name) for name in ("exactlmm", "numpy", "scipy")
            },
        },
    }
