"""``summary.md``: a short Markdown verdict for pull requests and CI job summaries."""

from __future__ import annotations

from typing import Any

from ..units import format_duration, format_ms, format_percent
from ..verdict import kind_words
from ..verdict_words import headroom_words
from .model import ReportModel
from .text import md_text, slo_value

ICONS = {"survives": "✅", "at-risk": "⚠️", "fails": "❌", "inconclusive": "❔"}


def render_markdown(model: ReportModel) -> str:
    """The Markdown summary (a few KB at most)."""
    t, tot, cap = model.traffic, model.totals, model.capacity
    unit = " users" if model.run.get("model") == "users" else "/s"
    lines = [f"## {ICONS.get(model.verdict, '')} loadkit: {md_text(model.run.get('scenario'))} — "
             f"**{model.verdict}**", "", md_text(model.headline), ""]
    lines += [f"- {md_text(r)}" for r in model.reasons]
    lines += journey_table(model)
    lines += ["", "| figure | value |", "| --- | --- |",
              f"| planned peak | {t['peak_planned_per_s']:.3g}{unit} |",
              f"| delivered peak | {t['peak_delivered_per_s']:.3g}{unit} |",
              (f"| visitors | {t['delivered_arrivals']} of {t['planned_arrivals']} planned"
               + (f"; {t['cut_short']} stopped mid-journey when the run ended" if t.get("cut_short") else "") + " |"
               if t["planned_arrivals"] is not None else f"| journeys walked | {t['delivered_arrivals']} |"),
              f"| requests | {tot['requests']} ({format_percent(tot['error_rate'])} failed) |",
              f"| p95 / p99 | {format_ms(tot['p95_ms'])} / {format_ms(tot['p99_ms'])} |"]
    lines.append(f"| capacity | {md_text(model.capacity_figure)}{capacity_note(cap, unit)} |")
    if model.scenario_errors.get("count"):
        lines.append(f"| scenario errors | {model.scenario_errors['count']:,} (the scenario's, not counted against "
                     "the site) |")
    rec = model.recovery
    if rec.get("measured"):
        lines.append("| recovery | " + (f"{format_duration(rec['seconds'])} |" if rec.get("recovered")
                                         else "did not recover |"))
    lines += cut_short_lines(t, model.run.get("model") == "users", bool(model.run.get("complete", True)))
    if model.slos:
        lines += ["", "| SLO | scope | observed | limit | |", "| --- | --- | --- | --- | --- |"]
        for row in model.slos:
            lines.append(f"| {md_text(row.name)} | {md_text(row.scope or row.phase)} | "
                         f"{slo_value(row, row.observed)} | {slo_value(row, row.threshold)} | "
                         f"{'pass' if row.passed else '**FAIL**'} |")
    if model.observed_cited:
        lines += ["", md_text(model.observed_cited)]
    if model.baseline is not None:
        lines += ["", baseline_line(model.baseline)]
    lines += ["", f"<sub>loadkit {md_text(model.run.get('loadkit_version'))}, "
                  f"{md_text(model.run.get('started_at'))}, target {md_text(model.run.get('target'))}</sub>", ""]
    return "\n".join(lines)


def capacity_note(cap: dict[str, Any], unit: str) -> str:
    """Beside the capacity figure: what broke first whenever the capacity was found, and the headroom
    when there is one (" (latency; headroom 1.67x)"), as the HTML report's figure says them. A planned
    run's headroom only beside a found capacity; a search's, over its required rate, found or not."""
    limited_by = cap.get("limited_by") if cap.get("found") else None
    headroom = headroom_words(cap, unit) if limited_by or cap.get("search") is not None else ""
    parts = [md_text(p) for p in (limited_by, headroom) if p]
    return f" ({'; '.join(parts)})" if parts else ""


MAX_CUT_SHORT_ROWS = 10


def cut_short_lines(traffic: dict[str, Any], users: bool, complete: bool = True) -> list[str]:
    """Where the visitors cut short by the run's end stood: a line each (journey and step, or class and
    task), most first; nothing when none was."""
    rows = traffic.get("cut_short_at") or []
    if not traffic.get("cut_short") or not rows:
        return []
    who = "users" if users else "visitors"
    when = "when the run was stopped early" if not complete else \
        f"when the plan ended ({'the looping users stop with it' if users else 'after the drain'})"
    lines = ["", f"**{traffic['cut_short']} {who} were stopped mid-journey** {when}:", ""]
    for row in rows[:MAX_CUT_SHORT_ROWS]:
        where = f"step {row['step_index']} ({row['step']})" if row.get("step_index") is not None \
            else f"task {row['step']}"
        lines.append(f"- {md_text(row['journey'])}, {md_text(where)}: {row['visitors']}")
    if len(rows) > MAX_CUT_SHORT_ROWS:
        lines.append(f"- and {sum(r['visitors'] for r in rows[MAX_CUT_SHORT_ROWS:])} more elsewhere (summary.json "
                     "lists them all)")
    return lines


def journey_table(model: ReportModel) -> list[str]:
    """Journeys before endpoints: per journey, visits started, completed, failed, cut short and durations."""
    if not model.journeys:
        return []
    lines = ["", "| journey | visits | completed | failed | cut short | p95 duration | failed most at |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for j in model.journeys:
        worst = j["failed_at"][0] if j["failed_at"] else None
        where = (f"step {worst['step']} {md_text(worst['endpoint'])} ({md_text(kind_words(worst['kind']))}, "
                 f"{worst['count']:,})" if worst else "")
        lines.append(f"| {md_text(j['name'])} | {j['started']:,} | {j['completed']:,} | {j['failed']:,} | "
                     f"{j['cut_short']:,} | {format_ms(j['p95_ms'])} | {where} |")
    if model.business is not None:
        lines += ["", f"**Orders** ({md_text(model.business['orders_journey'])}): "
                  + " ".join(md_text(x) for x in model.business_lines)]
    return lines


def baseline_line(baseline: dict[str, Any]) -> str:
    """One line on the comparison with the baseline run."""
    changes = [c for c in baseline.get("changes", []) if c.get("decision") == "regression"]
    what = ", ".join(f"{md_text(c['metric'])} of {md_text(c['endpoint'])}" for c in changes[:5])
    base = md_text(baseline.get("base"))
    if changes:
        return f"**Against the baseline {base}: regression beyond noise** ({what})."
    return f"Against the baseline {base}: no regression beyond the runs' noise."


MAX_JOB_SUMMARY = 4000  # UTF-8 bytes (docs/ci.md: at most 4 KB): a CI job summary is a glance, not the report
TRUNCATED_NOTE = "\n\n(truncated; see the report)\n"


def render_job_summary(model: ReportModel) -> str:
    """A short verdict table for ``$GITHUB_STEP_SUMMARY`` (a few KB at most, every string escaped)."""
    t, tot = model.traffic, model.totals
    lines = [f"### {ICONS.get(model.verdict, '')} loadkit {md_text(model.run.get('scenario'))}: "
             f"**{model.verdict}**", "", md_text(model.headline), ""]
    lines += [f"- {md_text(r)}" for r in model.reasons[:5]]
    failed = [s for s in model.slos if not s.passed]
    lines += ["", "| | |", "| --- | --- |",
              f"| target | {md_text(model.run.get('target'))} |",
              f"| peak planned / delivered | {t['peak_planned_per_s']:.3g} / {t['peak_delivered_per_s']:.3g} |",
              f"| requests | {tot['requests']} ({format_percent(tot['error_rate'])} failed) |",
              f"| p95 / p99 | {format_ms(tot['p95_ms'])} / {format_ms(tot['p99_ms'])} |",
              f"| SLOs | {len(model.slos) - len(failed)} of {len(model.slos)} held |"]
    text = "\n".join(lines) + "\n"
    return cap_utf8(text, MAX_JOB_SUMMARY)


def cap_utf8(text: str, limit: int) -> str:
    """``text`` if its UTF-8 encoding fits in ``limit`` bytes; else cut at a line end (never inside a
    character) with a note, the whole within ``limit`` bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(TRUNCATED_NOTE.encode("utf-8"))
    kept = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")  # drops a character cut in two
    return kept.rsplit("\n", 1)[0] + TRUNCATED_NOTE
