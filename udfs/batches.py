"""Whole sequences out of a stream of Arrow record batches (what `mapInArrow` hands a task).

The quality job reads `boxes` in its clustered layout (each file holds whole sequences, its rows sorted by
sequence, object and frame; README, *Lake layout*) with files never split, so a task's stream holds each sequence
in one contiguous run, though a run may be cut by a batch edge. `whole_sequences` regroups the stream into tables
of whole sequences, many at a time, carrying a cut sequence over to the next table.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class NotClustered(ValueError):
    """A sequence came back in a stream after another one: the rows were not stored (or not read) clustered."""


def run_starts(table: pa.Table, keys: Sequence[str]) -> np.ndarray:
    """Per row, whether it starts a new run of equal `keys` values (the first row does; missing values are equal),
    compared in Arrow: no Python object per row."""
    n = table.num_rows
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for key in keys:
            col = pc.fill_null(table.column(key).cast(pa.string()), "\0missing")
            start[1:] |= pc.not_equal(col.slice(1), col.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return start


def whole_sequences(batches: Iterable[pa.RecordBatch], keys: Sequence[str], min_rows: int) -> Iterator[pa.Table]:
    """Tables of whole sequences (rows with equal `keys` values), in the stream's order, from batches in which each
    sequence is one contiguous run: a table is cut once `min_rows` rows have come, before the last sequence (which
    may go on in the next batch, and is carried over). NotClustered when a sequence
    comes back after another one (the stream was not clustered: its results would be wrong, so none are made)."""
    pending: list[pa.Table] = []
    rows = 0
    seen: set[tuple] = set()

    def checked(table: pa.Table) -> pa.Table:
        firsts = table.select(list(keys)).take(pa.array(np.flatnonzero(run_starts(table, keys)))).to_pylist()
        found = [tuple(row[k] for k in keys) for row in firsts]
        again = (set(found) & seen) if len(set(found)) == len(found) else set(found)
        if again:
            raise NotClustered(f"sequence {sorted(map(str, again))[0]} comes back after another one: the rows are "
                               f"not clustered by {', '.join(keys)}")
        seen.update(found)
        return table

    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(pa.Table.from_batches([batch]))
        rows += batch.num_rows
        if rows < min_rows:
            continue
        table = pa.concat_tables(pending)
        cut = int(np.flatnonzero(run_starts(table, keys))[-1])  # where the last row's sequence starts
        if cut:  # (else one sequence so far: read on)
            yield checked(table.slice(0, cut))
        pending = [table.slice(cut)]
        rows = table.num_rows - cut
    if rows:
        yield checked(pa.concat_tables(pending))
