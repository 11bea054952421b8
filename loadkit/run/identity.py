"""How loadkit names itself to the sites it tests.

Every request loadkit's own client sends, and the preflight check, carry ``User-Agent: loadkit/<version>``
(as k6 and Locust name themselves), so a site's operators can tell the test from an attack and allow-list it
in their bot protection. A scenario's ``headers`` (top level or a step's) may send another ``User-Agent``.
"""

from __future__ import annotations

from .. import __version__

USER_AGENT = f"loadkit/{__version__}"

__all__ = ["USER_AGENT"]
