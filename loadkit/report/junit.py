"""``junit.xml``: one test suite per scenario, one test case per SLO and scope, one for the load itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..verdict import UNDELIVERED_STANDS
from .model import ReportModel
from .text import slo_outcome, xml_text


def render_junit(model: ReportModel) -> str:
    """The JUnit XML document for CI systems."""
    name = xml_text(model.run.get("scenario") or "scenario")
    suite = ET.Element("testsuite", name=f"loadkit.{name}")
    cases = 0
    failures = 0
    errors = 0
    seen: set[str] = set()

    def case(case_name: str) -> ET.Element:
        nonlocal cases
        unique, n = case_name, 2
        while unique in seen:
            unique, n = f"{case_name} #{n}", n + 1
        seen.add(unique)
        cases += 1
        return ET.SubElement(suite, "testcase", classname=f"loadkit.{name}", name=xml_text(unique),
                             time=f"{model.run.get('duration_s') or 0:.1f}")

    delivered = case("load delivered as planned")
    if model.verdict == "inconclusive":
        errors += 1
        ET.SubElement(delivered, "error", message=xml_text(model.reasons[0] if model.reasons else "inconclusive"),
                      type="inconclusive").text = xml_text("\n".join(model.reasons))
    elif UNDELIVERED_STANDS in model.reasons:
        # fails stands, but the planned load was not all delivered: this case is not green either
        errors += 1
        at = model.reasons.index(UNDELIVERED_STANDS)
        why = model.reasons[at + 1:]
        ET.SubElement(delivered, "error", message=xml_text(why[0] if why else UNDELIVERED_STANDS),
                      type="not-delivered").text = xml_text("\n".join(model.reasons[at:]))
    for row in model.slos:
        element = case(f"{row.name} [{row.scope or row.phase}]")
        if not row.passed:
            failures += 1
            ET.SubElement(element, "failure", message=xml_text(slo_outcome(row)), type="slo").text = \
                xml_text(slo_outcome(row))
    verdict_case = case(f"verdict: {model.verdict}")
    if model.verdict == "fails":
        failures += 1
        ET.SubElement(verdict_case, "failure", message=xml_text(model.headline), type="verdict").text = \
            xml_text("\n".join(model.reasons))
    out = ET.SubElement(verdict_case, "system-out")
    out.text = xml_text("\n".join([model.headline, *model.reasons]))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("time", f"{model.run.get('duration_s') or 0:.1f}")
    if model.run.get("started_at"):
        suite.set("timestamp", xml_text(model.run["started_at"]))
    root = ET.Element("testsuites", name="loadkit", tests=str(cases), failures=str(failures), errors=str(errors))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
