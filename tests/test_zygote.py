"""The tests' warm server (tests/zygote.py) runs a command as a fresh ``python -m loadkit`` would.

Most tests run ``loadkit run`` through tests/helpers.py, which forks it from a process that has already
imported loadkit and Locust. These checks compare a forked command with the same command in a new
interpreter: exit code, output, the files it wrote, the environment and working directory it saw.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.countserver import CountingServer
from tests.helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def site() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def _both(monkeypatch: pytest.MonkeyPatch, *args: str, **kwargs: object) -> tuple[subprocess.CompletedProcess[str],
                                                                                   subprocess.CompletedProcess[str]]:
    """The command forked by the warm server, then in a new interpreter (``LOADKIT_TEST_FORK=0``)."""
    forked = run_cli(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setenv("LOADKIT_TEST_FORK", "0")
    fresh = run_cli(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.delenv("LOADKIT_TEST_FORK")
    return forked, fresh


def test_run_and_worker_are_forked_and_other_commands_are_not(tmp_path: Path) -> None:
    scenario = str(tmp_path / "s.yaml")
    assert helpers._forked(("plan", scenario), helpers._child_env(), helpers.ROOT) is None
    assert helpers._forked(("report", scenario), helpers._child_env(), helpers.ROOT) is None
    assert helpers._forked(("run", scenario), helpers._child_env({"LOCUST_SKIP_MONKEY_PATCH": "1"}),
                           helpers.ROOT) is None, "a variable read at import time needs a new interpreter"
    for command in ("run", "worker"):
        forked = helpers._forked((command, "--help"), helpers._child_env(), helpers.ROOT)
        assert forked is not None
        done = forked.wait(30)
        assert done.returncode == 0 and "usage: loadkit" in done.stdout, done.stderr


def test_a_usage_error_reads_the_same_forked_or_fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forked, fresh = _both(monkeypatch, "run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "out"))
    assert forked.returncode == fresh.returncode == 2
    assert forked.stdout == fresh.stdout
    assert forked.stderr == fresh.stderr
    assert "no such scenario file" in forked.stderr
    assert not (tmp_path / "out").exists()


def test_the_environment_and_folder_are_the_callers(monkeypatch: pytest.MonkeyPatch, site: CountingServer,
                                                     tmp_path: Path) -> None:
    doc = {"name": "env", "traffic": {"profile": "constant", "rate": "2/s", "duration": "1s"},
           "journeys": [{"name": "home", "steps": [{"get": "/"}]}]}
    write_scenario(tmp_path / "s.yaml", doc)
    # an empty setting is a usage error naming the variable: the child read this call's environment
    forked, fresh = _both(monkeypatch, "run", "s.yaml", cwd=tmp_path, env={"LOADKIT_TARGET": ""})
    assert forked.returncode == fresh.returncode == 2
    assert forked.stderr == fresh.stderr and "LOADKIT_TARGET" in forked.stderr
    # a relative scenario and output folder are the caller's working directory's; the target comes from the
    # environment; both ways send the same requests and write the same counts
    forked = run_cli("run", "s.yaml", "--out", "forked", "--quiet", cwd=tmp_path, env={"LOADKIT_TARGET": site.url})
    monkeypatch.setenv("LOADKIT_TEST_FORK", "0")
    fresh = run_cli("run", "s.yaml", "--out", "fresh", "--quiet", cwd=tmp_path, env={"LOADKIT_TARGET": site.url})
    assert forked.returncode == fresh.returncode == 0, forked.stderr + fresh.stderr
    assert forked.stdout.splitlines()[0] == fresh.stdout.splitlines()[0].replace("/fresh", "/forked")
    counts = [read_summary(tmp_path / name)["totals"]["requests"] for name in ("forked", "fresh")]
    assert counts == [2, 2]
    assert site.requests == 2 * (1 + 1 + 2)  # each run: its preflight, its rehearsal's visit, two visits


def test_a_command_past_its_timeout_is_killed(site: CountingServer, tmp_path: Path) -> None:
    doc = {"name": "long", "traffic": {"profile": "constant", "rate": "2/s", "duration": "60s"},
           "journeys": [{"name": "home", "steps": [{"get": "/"}]}]}
    scenario = str(write_scenario(tmp_path / "s.yaml", doc))
    forked = helpers._forked(("run", scenario, "--target", site.url, "--out", str(tmp_path / "run"), "--quiet"),
                             helpers._child_env(), helpers.ROOT)
    assert forked is not None and helpers._zygote is not None
    # the command is the warm server's child, not a new interpreter started by this test
    parent = Path(f"/proc/{forked.pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    assert int(parent) == helpers._zygote.proc.pid
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        forked.wait(4)
    assert time.monotonic() - started < 6
    time.sleep(1)
    seen = site.requests
    assert seen > 0
    time.sleep(2)
    assert site.requests == seen, "the command went on sending after its timeout"
    assert not Path(f"/proc/{forked.pid}/cmdline").exists() or not Path(f"/proc/{forked.pid}/cmdline").read_bytes()
