"""How the planner's constraint rows are written: variable labels gathered with numpy.

A constraint family is a set of rows over some of the network's axes (``site x period``, ...);
each row's terms are variable labels gathered from label arrays by index and lag
(:func:`gather`), padded with -1 where a row has fewer terms (linopy ignores label -1). The
pieces are handed to linopy as a :class:`linopy.Constraint` (:func:`add_rows`), so no
Python loop runs per aircraft, arc or period.
"""

from __future__ import annotations

from collections.abc import Sequence

import linopy
import numpy as np
import xarray as xr
from linopy.constants import TERM_DIM

from evacops.network import Network

Part = tuple[np.ndarray, "np.ndarray | float"]
"""Labels ``(*dims, K)`` of K terms per row and their coefficient (broadcast to the labels)."""


def coords(net: Network) -> dict[str, list | np.ndarray]:
    """The coordinates of every axis of the model, named as in tables (``leg@fleet``...): the
    network's own, one object each, so xarray need not align what is the same."""
    return net.axes


def data_array(net: Network, arr: np.ndarray, dims: list[str]) -> xr.DataArray:
    """``arr`` with the model's coordinates on ``dims``."""
    c = coords(net)
    return xr.DataArray(arr, coords={d: c[d] for d in dims}, dims=dims)


def per_period(net: Network, values: np.ndarray) -> np.ndarray:
    """A per-entity limit as (entity, period)."""
    return np.broadcast_to(values[:, None], (values.shape[0], net.T))


def gather(labels: np.ndarray, idx: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Labels ``labels[..., idx[r, k], t - lag[r, k]]`` as an array ``(..., R, T, K)``.

    ``labels`` is ``(..., X, T)``; ``idx`` and ``lag`` are ``(R, K)``; a padded (``idx < 0``) or
    out-of-horizon term gives label -1, which linopy ignores.
    """
    T = labels.shape[-1]
    t = np.arange(T)[None, :, None] - lag[:, None, :]  # (R, T, K)
    ok = (t >= 0) & (idx[:, None, :] >= 0)
    ii = np.broadcast_to(np.where(idx >= 0, idx, 0)[:, None, :], t.shape)
    out = labels[..., ii, np.where(ok, t, 0)]
    return np.where(ok, out, -1)


def window(base: np.ndarray, lag0: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Index/lag arrays covering lags lag0 .. lag0 + w - 1 for each entry of base."""
    idx = np.repeat(base, w, axis=1)
    lag = np.repeat(lag0, w, axis=1) + np.tile(np.arange(w), base.shape[1])[None, :]
    return idx, np.where(idx >= 0, lag, 0)


def terms(parts: Sequence[Part]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, coeffs) of the parts concatenated on the terms."""
    shape = np.broadcast_shapes(*[p[0].shape[:-1] for p in parts])
    vs, cs = [], []
    for labels, coeff in parts:
        labels = np.broadcast_to(labels, (*shape, labels.shape[-1]))
        vs.append(labels)
        cs.append(np.where(labels >= 0, coeff, 0.0))
    return np.concatenate(vs, axis=-1), np.concatenate(cs, axis=-1, dtype=float)


def flat_expression(
    m: linopy.Model, labels: np.ndarray, coeffs: np.ndarray
) -> linopy.LinearExpression:
    """One expression (a sum) of 1-D ``labels`` times ``coeffs``, as an objective is."""
    return linopy.LinearExpression(
        xr.Dataset({"coeffs": ([TERM_DIM], coeffs), "vars": ([TERM_DIM], labels)}), m
    )


SIGNS = {"<=": "<=", ">=": ">=", "=": "=", "==": "="}
"""The signs a family may have, as linopy writes them."""


def add_rows(
    m: linopy.Model,
    net: Network,
    name: str,
    parts: Sequence[Part],
    dims: list[str],
    sign: str,
    rhs: np.ndarray,
    mask: np.ndarray | None = None,
) -> None:
    """Add the family ``name``: rows over ``dims`` of the parts' terms ``sign`` ``rhs``. A row
    with an infinite right-hand side, no term or a False ``mask`` is left out.

    The rows go to linopy as a :class:`linopy.Constraint` made from their arrays, not as
    ``expression <= rhs``: that way linopy aligns nothing (the terms, the right-hand side and
    the mask share one set of coordinates already), which took a third of the model's build
    (Kabul at 1-hour periods, a re-plan's model: 1.4 s to build, of which 0.5 s there)."""
    v, c = terms(parts)
    rhs = np.broadcast_to(rhs, v.shape[:-1])
    keep = np.isfinite(rhs) & (v.max(axis=-1) >= 0)
    if mask is not None:
        keep &= mask
    if not keep.any():
        return
    at = {d: coords(net)[d] for d in dims}
    data = xr.Dataset(
        {
            "coeffs": ([*dims, TERM_DIM], c),
            "vars": ([*dims, TERM_DIM], v),
            "sign": (dims, np.full(v.shape[:-1], SIGNS[sign])),
            "rhs": (dims, np.where(keep, rhs, 0.0)),
        },
        coords=at,
    )
    m.add_constraints(linopy.Constraint(data, m), name=name, mask=data_array(net, keep, dims))
