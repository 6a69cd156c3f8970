"""Per-step rows, bounded: the first steps one row each, later steps summed into blocks.

A site keeps one row per training step for the first :data:`EXACT_STEPS` steps. From then on
steps are summed into aligned blocks of ``width`` steps (a power of two: the block of step
``s`` starts at ``EXACT_STEPS + (s - EXACT_STEPS) // width * width``); ``width`` doubles, and
neighbouring blocks merge, whenever more than :data:`MAX_BLOCKS` blocks would be needed. So a
site never holds more than ``EXACT_STEPS + MAX_BLOCKS`` rows however long training runs, the
rows still add up to the site's totals, and blocks of two traces line up when merged (a wider
block is a whole number of narrower ones).
"""

from __future__ import annotations

from collections.abc import Iterable

#: steps 0 .. EXACT_STEPS - 1 keep one row each
EXACT_STEPS = 1024
#: later steps: at most this many blocks
MAX_BLOCKS = 1024
#: the most rows a site (or a trace-file record) holds
MAX_ROWS = EXACT_STEPS + MAX_BLOCKS


def width_for(step: int) -> int:
    """The narrowest block width that fits steps up to ``step`` in :data:`MAX_BLOCKS` blocks."""
    width = 1
    while step >= EXACT_STEPS and (step - EXACT_STEPS) // width >= MAX_BLOCKS:
        width *= 2
    return width


def block_start(step: int, width: int) -> int:
    """The first step of the row that ``step`` is summed into."""
    if step < EXACT_STEPS or width <= 1:
        return step
    return EXACT_STEPS + (step - EXACT_STEPS) // width * width


def rebucket(rows: Iterable[list[int]], width: int) -> list[list[int]]:
    """``[step, evaluations, exact, near]`` rows summed per block of ``width`` steps (rows of
    one step or block add up), in step order."""
    out: dict[int, list[int]] = {}
    for row in rows:
        start = block_start(row[0], width)
        cur = out.get(start)
        if cur is None:
            out[start] = [start, *row[1:4]]
        else:
            for i in (1, 2, 3):
                cur[i] += row[i]
    return [out[k] for k in sorted(out)]


def describe(width: int) -> dict:
    """The trace file's ``per_step_blocks`` entry: how to read the ``per_step`` rows."""
    return {"exact_steps": EXACT_STEPS, "width": width}
