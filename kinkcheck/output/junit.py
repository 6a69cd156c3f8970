"""JUnit XML (``--output-format junit``) for CI test dashboards.

One ``<testsuite>`` per file with findings, one ``<testcase>`` per finding; an undocumented
kink is a ``<failure>`` whose message starts with its severity (also a ``severity``
property of the test case), a documented one (shown with ``show_documented``) passes and
carries its reason in ``<system-out>``. A clean run is one passing testcase, so dashboards
see that the check ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from xml.etree import ElementTree as ET

from kinkcheck.findings import Finding, sort_key
from kinkcheck.output.safe import guard, one_line
from kinkcheck.output.safe import path as safe_path
from kinkcheck.output.severity import resolver
from kinkcheck.paths import repo_path


def _testcase(f: Finding, path: str, severity: str = "warning") -> ET.Element:
    classname = one_line(path).removesuffix(".py").replace("/", ".")
    path = safe_path(path)  # no control character reaches the XML (they are not even valid there)
    case = ET.Element(
        "testcase",
        {
            "name": f"{f.code} ({f.name}) at {path}:{f.line}:{f.col}",
            "classname": classname,
            "file": path,
            "line": str(f.line),
        },
    )
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", {"name": "severity", "value": severity})
    if f.documented:
        out = ET.SubElement(case, "system-out")
        out.text = f"documented: {one_line(f.reason)}" if f.reason else "documented"
    else:
        message = one_line(f.message)
        failure = ET.SubElement(case, "failure", {"message": f"{severity}: {message}", "type": f.code})
        failure.text = f"{path}:{f.line}:{f.col}: {severity}: {f.code} {message}"
    return case


def build(findings: Sequence[Finding], *, root=None, show_documented: bool = False, severity=None) -> ET.Element:
    """``severity``: code -> "error" | "warning" | "note" (default: every finding a warning)."""
    severity = severity or (lambda code: "warning")
    shown = [f for f in sorted(findings, key=sort_key) if show_documented or not f.documented]
    suites = ET.Element("testsuites", {"name": "kinkcheck"})
    total = failures = 0
    for path, group in groupby(shown, key=lambda f: repo_path(f.path, root)):
        cases = [_testcase(f, path, severity(f.code)) for f in group]
        failed = sum(1 for c in cases if c.find("failure") is not None)
        suite = ET.SubElement(
            suites,
            "testsuite",
            {"name": safe_path(path), "tests": str(len(cases)), "failures": str(failed), "errors": "0", "skipped": "0"},
        )
        suite.extend(cases)
        total += len(cases)
        failures += failed
    if not shown:
        suite = ET.SubElement(
            suites, "testsuite", {"name": "kinkcheck", "tests": "1", "failures": "0", "errors": "0", "skipped": "0"}
        )
        ET.SubElement(suite, "testcase", {"name": "no undocumented kinks", "classname": "kinkcheck"})
        total = 1
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", "0")
    return suites


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    tree = build(findings, root=root, show_documented=show_documented, severity=resolver({"catalog": catalog, **ctx}))
    ET.indent(tree)
    return guard('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="unicode") + "\n", "xml")
