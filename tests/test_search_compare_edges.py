"""Edges of capacity searches (no level held, none judged) and of a locustfile's failure kinds."""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from gevent.event import Event

from loadkit.compare import ALL, Change, Comparison, _search_change, compare_runs
from loadkit.history import overall_change
from loadkit.report.comparison import headline, render_comparison_html, render_comparison_markdown
from loadkit.run.kinds import failure_kind
from loadkit.run.scenario_errors import is_scenario_status
from loadkit.run.searching import SearchDriver
from loadkit.search import Level, SearchLimits, Unjudged, bracket
from loadkit.verdict import capacity_words, search_sentence


def _found(good: float | None, broken: float | None) -> dict[str, float | None]:
    return {"last_good_per_s": good, "first_broken_per_s": broken}


def test_searches_where_no_level_held_are_uncertain_when_their_first_broken_levels_moved() -> None:
    # base: below 10/s; new: below 5/s. Neither capacity is known, so this is no "no change".
    assert _search_change(_found(None, 10.0), _found(None, 5.0), 0.10).decision == "uncertain"
    assert _search_change(_found(None, 10.0), _found(None, 10.0), 0.10).decision == "no change"
    # base between 50 and 60, new below 55: the brackets overlap and the upper ends barely moved
    assert _search_change(_found(50.0, 60.0), _found(None, 55.0), 0.10).decision == "no change"
    # the brackets still decide where they can: the new search broke well below a level the base held
    assert _search_change(_found(50.0, 60.0), _found(None, 20.0), 0.10).decision == "regression"


def test_a_search_that_judged_no_level_is_not_compared_in_the_headline_or_the_history() -> None:
    change = _search_change(_found(50.0, 60.0), _found(None, None), 0.10)
    assert change.decision == "not compared"
    comparison = Comparison(base_name="a", new_name="b", base_verdict="survives", new_verdict="inconclusive",
                            changes=(change,), notes=(), min_change=0.10, min_error_change=0.005)
    assert headline(comparison).startswith("Not compared"), headline(comparison)
    assert "within the runs' noise" not in headline(comparison)
    assert overall_change(comparison) == "not compared"
    moved = Change(ALL, "p95", 100.0, 150.0, 1.4, 1.6, "regression")
    mixed = Comparison(base_name="a", new_name="b", base_verdict="survives", new_verdict="fails",
                       changes=(change, moved), notes=(), min_change=0.10, min_error_change=0.005)
    assert overall_change(mixed) == "regression" and headline(mixed).startswith("Regression")


def test_a_search_that_judged_no_level_names_no_capacity_in_its_verdict_words() -> None:
    limits = SearchLimits(first=0.4, growth=2.0, step=None, precision=0.1, cap=None, level_s=5.0,
                          cool_down_s=5.0, max_duration_s=600.0)
    why = Unjudged("too_few", "it had 2 requests for p95 < 300ms, too few to judge (at least 5 are needed)")
    found = bracket([Level(0.4, 0.0, False, why)], limits, required_per_s=30.0)
    assert found.ended_by == "not_judged" and found.headroom is None
    words = capacity_words(found, "visitors/s")
    assert words == "capacity not measured" and "at least 0" not in words  # nothing held: no lower bound
    assert search_sentence(found).startswith("Capacity not measured: level 1 (0.4 visitors/s) could not be judged")
    held = bracket([Level(20.0, 0.0, True), Level(40.0, 40.0, False, why)], limits, required_per_s=30.0)
    assert capacity_words(held, "visitors/s") == "at least 20 visitors/s"


def test_a_level_whose_analysis_raised_is_reported_in_words_and_the_error_goes_to_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    said: list[str] = []

    def broken_analysis(run_dir: Path) -> list[Level]:
        raise KeyError("hiccup_ms")

    job = SimpleNamespace(out=tmp_path, on_status=said.append)
    driver = SearchDriver(job, None, Event(), lambda: None, lambda: 0.0, lambda plan: None,  # type: ignore[arg-type]
                          judge=broken_analysis)
    with caplog.at_level(logging.ERROR, logger="loadkit.run"):
        why = driver._judged(2)
        assert isinstance(why, Unjudged) and why.kind == "analysis_failed"
        assert driver._runs_again(2, 40.0, why, room=True) is False  # it would fail again: the search stops
    assert driver.ended == {"ended_by": "not_judged", "level": 2,
                            "reason": "loadkit's analysis of it failed (run.log has the error)",
                            "kind": "analysis_failed"}
    assert said == ["search: level 2 could not be judged: loadkit's analysis of it failed (run.log has the error); "
                    "done"]
    assert "KeyError" in caplog.text and "hiccup_ms" in caplog.text  # the error itself, for whoever debugs it


def test_a_level_lost_to_loadkit_runs_again_twice_at_most_and_only_with_room(tmp_path: Path) -> None:
    said: list[str] = []
    job = SimpleNamespace(out=tmp_path, on_status=said.append)
    driver = SearchDriver(job, None, Event(), lambda: None, lambda: 0.0, lambda plan: None)  # type: ignore[arg-type]
    stalled = Unjudged("stalled", "it broke its service levels only while the machine paused loadkit for up to "
                                  "300 ms, so the break may be loadkit's, not the site's")
    assert driver._runs_again(1, 20.0, stalled, room=False) is False  # max_duration leaves no room
    driver.ended = None
    assert driver._runs_again(1, 20.0, stalled, room=True) is True
    assert driver._runs_again(2, 20.0, Unjudged("undelivered", "loadkit did not deliver it"), room=True) is True
    assert driver.ended is None and said[-1] == "search: level 2 could not be judged: loadkit did not deliver it; " \
        "running 20/s again"
    assert driver._runs_again(3, 20.0, stalled, room=True) is False  # two reruns a search, no more
    assert driver.ended is not None and driver.ended["kind"] == "stalled" and driver.ended["level"] == 3
    too_few = Unjudged("too_few", "it had 2 requests for p95 < 1s, too few to judge (at least 5 are needed)")
    assert SearchDriver(job, None, Event(), lambda: None, lambda: 0.0, lambda plan: None,  # type: ignore[arg-type]
                        )._runs_again(1, 0.4, too_few, room=True) is False  # it would have too few again


def test_two_searches_comparison_states_the_bracket_rule_not_resampled_intervals_at_a_planned_peak() -> None:
    change = _search_change(_found(50.0, 55.0), _found(40.0, 44.0), 0.10)
    searches = Comparison(base_name="a", new_name="b", base_verdict="survives", new_verdict="fails",
                          changes=(change,), notes=(), min_change=0.10, min_error_change=0.005, searches=True)
    for text in (render_comparison_markdown(searches), render_comparison_html(searches)):
        assert "brackets allow clears 10%" in text
        assert "planned peak" not in text and "95% interval" not in text and "resampling" not in text
    planned = dataclasses.replace(searches, searches=False)
    assert "95% interval" in render_comparison_markdown(planned) and "planned peak" in render_comparison_html(planned)


def test_a_404_a_locustfile_client_reports_only_in_its_exception_is_the_scenario_s_error() -> None:
    answer = requests.Response()
    answer.status_code = 404
    error = requests.HTTPError("404 Client Error", response=answer)
    assert failure_kind(error, None) == "http_404"
    assert is_scenario_status("/missing", error, None)  # as the kind says: the scenario's error, not the site's
    assert not is_scenario_status("/missing", requests.HTTPError("500", response=_status(500)), None)


def test_a_request_built_wrong_is_the_scenario_s_error_and_a_site_s_failure_stays_the_site_s() -> None:
    """requests' errors for a request it could not build, reported by a locustfile's client (or a custom
    client), were counted as the site's connection failures; a host lookup of an empty host too."""
    from loadkit.run.kinds import RequestFailure, request_mistake
    from loadkit.run.recorder import Recorder

    built_wrong = [requests.exceptions.MissingSchema("Invalid URL '/cart': No scheme supplied"),
                   requests.exceptions.InvalidSchema("No connection adapters were found for 'ftp://x/'"),
                   requests.exceptions.InvalidURL("Failed to parse: http://127.0.0.1:8000cart"),
                   requests.exceptions.InvalidHeader("Invalid return character in header value")]
    for error in built_wrong:
        assert failure_kind(error, None) == "invalid_request", error
        assert is_scenario_status("GET /cart", error, None)
    lookup = socket.gaierror(-2, "Name or service not known")
    assert failure_kind(lookup, None, "http:///cart") == failure_kind(lookup, None, "/cart") == "invalid_request"
    # the site's own failures keep their kinds: a real host that does not resolve, a refused connection
    assert failure_kind(lookup, None, "http://shop.invalid/cart") == "dns"
    refused = requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    assert failure_kind(refused, None, "http://127.0.0.1:1/") == "connection_refused"
    # a custom client that reports a bare path: its timeouts and refused connections stay the site's
    assert failure_kind(TimeoutError("timed out"), None, "/cart") == "timeout"
    assert failure_kind(ConnectionRefusedError(111, "Connection refused"), None, "/cart") == "connection_refused"
    assert not request_mistake(ValueError("the locustfile's own check"))  # raised by its code, not a client
    # the recorder keeps them apart from the site's requests, each under its own kind
    recorder = Recorder()
    recorder.on_request("GET", "custom client", 0.0, 0, exception=built_wrong[0], url="/cart")
    recorder.on_request("GET", "GET /other", 0.0, 0, exception=RequestFailure("host_not_allowed", "not sent"))
    assert recorder.total_requests == recorder.total_failures == 0
    assert [(row["endpoint"], row["kind"]) for row in recorder.flush_scenario_errors()] == \
        [("GET /other", "host_not_allowed"), ("custom client", "invalid_request")]


def _status(code: int) -> requests.Response:
    answer = requests.Response()
    answer.status_code = code
    return answer


def test_two_searches_of_different_scenarios_say_so() -> None:
    def run(name: str, scenario: str) -> Any:
        return SimpleNamespace(plan=SimpleNamespace(profile="search"), path=Path(name),
                               meta=SimpleNamespace(scenario=scenario))

    def summary(good: float, broken: float) -> dict[str, Any]:
        return {"verdict": "survives", "capacity": {"search": {**_found(good, broken), "required_per_s": 10.0}}}

    docs = (summary(50.0, 55.0), summary(50.0, 54.0))
    other = compare_runs(run("a", "shop"), run("b", "blog"), summaries=docs)
    assert any("different scenarios (shop and blog)" in n for n in other.notes), other.notes
    same = compare_runs(run("a", "shop"), run("b", "shop"), summaries=docs)
    assert not any("different scenarios" in n for n in same.notes) and same.changes == other.changes
