"""A trace site: one (source line, rule, op, module, dtype) and its counters, in total and per
step. Counts stay where the backend made them (device counters on a GPU, host arrays on the
CPU); adding them is a kernel, never a sync, and they are read only when the trace is saved
or summarised."""

from __future__ import annotations

import numpy as np

from kinkcheck.trace import backends as _backends
from kinkcheck.trace import steps
from kinkcheck.trace.counts import VEC_LEN
from kinkcheck.trace.near import histogram_dict

__all__ = ["VEC_LEN", "Site"]  # VEC_LEN: re-exported for the backends


def _to_host(backend: str, counters: list) -> list[np.ndarray]:
    """Device counters of one backend as host vectors (one transfer)."""
    return _backends.backend_class(backend).counters_to_host(counters)


class Site:
    """One (source line, rule, op, module, dtype): counts in total and per step."""

    __slots__ = (
        "backend",
        "calls",
        "code",
        "cur_dev",
        "cur_host",
        "dev",
        "dtype",
        "evaluations",
        "extra",
        "function",
        "host",
        "kind",
        "last_step",
        "line",
        "module",
        "name",
        "op",
        "path",
        "rows",
        "step_evals",
        "subgradient",
        "touched",
        "width",
    )

    def __init__(self, path, line, function, code, name, op, module, dtype, kind, backend, subgradient):
        self.path, self.line, self.function = path, line, function
        self.code, self.name, self.op, self.module, self.dtype = code, name, op, module, dtype
        self.kind, self.backend, self.subgradient = kind, backend, subgradient
        #: backend facts written with the record: near_scale (what near was measured on),
        #: observed (the framework's gradient seen at a hit)
        self.extra: dict = {}
        self.calls = 0
        self.evaluations = 0
        self.step_evals = 0
        self.host = np.zeros(VEC_LEN, dtype=np.int64)  # closed steps, host counts
        self.dev = None  # closed steps, device counts (a tensor), if any
        self.cur_host = None  # this step
        self.cur_dev = None
        # step (or block start, see kinkcheck.trace.steps) -> [evaluations, host exact, host near,
        # device counter or None]: at most steps.MAX_ROWS rows
        self.rows: dict[int, list] = {}
        self.width = 1  # the block width the rows are summed at
        self.last_step = -1
        self.touched = False

    def add(self, evaluations: int, vec) -> None:
        """Add one op's counts: ``vec`` is None (nothing exact or near), a numpy array
        ([exact, near, harmless, bins...]) or a device counter of the site's backend (read
        through the backend's ``counters_to_host``)."""
        self.step_evals += evaluations
        self.touched = True
        if vec is None:
            return
        if isinstance(vec, np.ndarray):
            if self.cur_host is None:
                self.cur_host = vec.copy()
            else:
                self.cur_host += vec
        elif self.cur_dev is None:
            self.cur_dev = vec
        else:
            self.cur_dev = self._ops().counter_add(self.cur_dev, vec)

    def _ops(self):
        return _backends.backend_class(self.backend)

    def close_step(self, step: int) -> None:
        """Fold this step's counters into the totals and into the step's row (a block of
        steps once there are many: :mod:`kinkcheck.trace.steps`). Device counters stay on
        the device (adding them is a kernel, never a sync)."""
        width = steps.width_for(step)
        if width != self.width:
            self._coarsen(width)
        hx = hn = 0
        if self.cur_host is not None:
            self.host += self.cur_host
            hx, hn = int(self.cur_host[0]), int(self.cur_host[1])
        cur = self.cur_dev
        if cur is not None:
            ops = self._ops()
            self.dev = ops.counter_copy(cur) if self.dev is None else ops.counter_add(self.dev, cur)
        start = steps.block_start(step, width)
        row = self.rows.get(start)
        if row is None:
            self.rows[start] = [self.step_evals, hx, hn, cur]
        else:  # a step closed twice (a decorated call per step), or a block
            row[0] += self.step_evals
            row[1] += hx
            row[2] += hn
            if cur is not None:
                row[3] = cur if row[3] is None else self._ops().counter_add(row[3], cur)
        self.evaluations += self.step_evals
        self.step_evals = 0
        self.last_step = step
        self.cur_host = self.cur_dev = None
        self.touched = False

    def _coarsen(self, width: int) -> None:
        """Sum the rows into blocks of ``width`` steps (neighbouring blocks merge)."""
        rows: dict[int, list] = {}
        for start, row in self.rows.items():
            key = steps.block_start(start, width)
            cur = rows.get(key)
            if cur is None:
                rows[key] = row
                continue
            for i in (0, 1, 2):
                cur[i] += row[i]
            if row[3] is not None:
                cur[3] = row[3] if cur[3] is None else self._ops().counter_add(cur[3], row[3])
        self.rows = rows
        self.width = width

    def totals(self) -> np.ndarray:
        out = self.host.copy()
        if self.dev is not None:
            out += _to_host(self.backend, [self.dev])[0]
        return out

    def per_step(self) -> list[list[int]]:
        """``[step, evaluations, exact, near]`` rows (reads the device counters: one sync)."""
        rows = sorted(self.rows.items())
        devs = [row[3] for _, row in rows if row[3] is not None]
        dev = iter(_to_host(self.backend, devs) if devs else [])
        out = []
        for start, (ev, hx, hn, d) in rows:
            if d is not None:
                v = next(dev)
                hx += int(v[0])
                hn += int(v[1])
            out.append([start, ev, hx, hn])
        return out

    def to_dict(self) -> dict:
        t = self.totals()
        d = {
            "path": self.path, "line": self.line, "function": self.function,
            "code": self.code, "name": self.name, "op": self.op, "module": self.module,
            "dtype": self.dtype, "kind": self.kind, "backend": self.backend,
            "evaluations": int(self.evaluations), "exact": int(t[0]), "near": int(t[1]),
            "harmless": int(t[2]), "histogram": histogram_dict(int(t[0]), t[3:]),
            "per_step": self.per_step(),
            "subgradient": self.subgradient,
        }
        d.update(self.extra)
        return d
