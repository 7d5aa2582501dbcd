"""Batching tensor models: stack requests' rows into one feed, and hand each request its own rows back.

Shared by the ONNX and PyTorch scorers. As in Triton (``max_batch_size > 0``), batching assumes
the model treats the first dimension of every input and output as independent rows: a request of
``n`` rows gets rows ``[start, start + n)`` of each output. A model whose outputs are not shaped
that way is detected at the first batch (:class:`NotBatchMajor`) and its requests are run alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shipyard.scoring.base import BatchItem

Outputs = dict[str, Any]  # output name -> array (or a list, e.g. ONNX ZipMap rows), rows first


class NotBatchMajor(ValueError):
    """An output's first dimension is not the batch's row count, so it cannot be split by request."""


def tensor_item(arrays: Mapping[str, np.ndarray]) -> BatchItem:
    """A request's checked arrays as a batch item: rows from the first axis, key from the rest.

    Inputs of different lengths, or scalars, have no common row axis: such a request runs alone.
    """
    rows = -1
    key = []
    for name, array in arrays.items():
        shape = array.shape
        if not shape or (rows != -1 and shape[0] != rows):
            return BatchItem(arrays, 1, None)
        rows = shape[0]
        key.append((name, array.dtype.str, shape[1:]))
    key.sort()
    return BatchItem(arrays, max(rows, 0), tuple(key))


def run_stacked(items: list[BatchItem], run: Callable[[dict[str, np.ndarray]], Outputs]) -> list[Outputs]:
    """Call ``run`` once on the items' inputs stacked along the first axis; split its outputs by item.

    Raises:
        NotBatchMajor: an output does not have one row per input row.
    """
    if len(items) == 1:
        return [run(dict(items[0].inputs))]
    first = items[0].inputs
    feed = {name: np.concatenate([item.inputs[name] for item in items]) for name in first}
    outputs = run(feed)
    total = sum(item.rows for item in items)
    for name, value in outputs.items():
        length = len(value) if not isinstance(value, np.ndarray) or value.ndim else -1
        if length != total:
            raise NotBatchMajor(f"output {name!r} has {length} rows for a batch of {total} input rows")
    results, start = [], 0
    for item in items:
        stop = start + item.rows
        results.append({name: value[start:stop] for name, value in outputs.items()})
        start = stop
    return results
