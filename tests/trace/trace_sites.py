"""Helpers the trace tests share: a trace's site records by rule code (a module of its own, so
that a whole-suite run never finds another folder's ``conftest`` under the same name)."""


def by_code(t, code):
    """The trace's site records for one rule code (from the written-out dict)."""
    return [s for s in t.to_dict()["sites"] if s["code"] == code]


def one(t, code):
    sites = by_code(t, code)
    assert len(sites) == 1, sites
    return sites[0]
