"""Flatten vectors of 576 numbers onto 2 or 3 axes so people can look at them.

All three methods see the same input: the vectors scaled to length 1, so that "close" on the
picture means what cosine similarity means everywhere else on the page.

- PCA (default): the 2 or 3 directions along which the vectors spread most. Linear, so straight
  lines and parallelograms stay straight; deterministic (an SVD, with a fixed sign convention).
- t-SNE (scikit-learn): keeps each point's nearest neighbours near; distances between far-apart
  clusters mean little. Fixed random_state, so the same input gives the same picture.
- UMAP (umap-learn): like t-SNE, often keeps more of the large-scale layout. umap-learn pulls in
  numba, whose first import compiles for a while, so it is imported only when asked for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

METHODS = ("pca", "tsne", "umap")
# t-SNE and UMAP learn from neighbourhoods; with fewer points they have nothing to learn from.
MIN_POINTS_NONLINEAR = 5
SEED = 0


@dataclass
class Projection:
    coords: np.ndarray                        # (n, dims)
    method: str
    explained: list[float] | None = None      # PCA only: share of the spread along each axis


def unit_rows(x: torch.Tensor) -> np.ndarray:
    """Rows scaled to length 1, in float64 (all-zero rows stay zero)."""
    x = x.detach().to(torch.float64)
    return torch.nn.functional.normalize(x, dim=1).numpy()


def pca(x: np.ndarray, dims: int) -> Projection:
    """Principal components by SVD of the centred rows.

    An SVD fixes each axis only up to its sign, which could flip the picture between runs or
    machines; like scikit-learn's svd_flip, we make each axis's largest loading positive."""
    centred = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    k = min(dims, vt.shape[0])
    coords = centred @ vt[:k].T                                           # (n, k)
    if k < dims:  # fewer points than axes: the missing axes carry no spread at all
        coords = np.pad(coords, ((0, 0), (0, dims - k)))
    total = float((s ** 2).sum())
    explained = [float(v) / total if total > 0 else 0.0 for v in (s[:dims] ** 2)]
    explained += [0.0] * (dims - len(explained))
    return Projection(coords, "pca", explained)


def tsne(x: np.ndarray, dims: int) -> Projection:
    from sklearn.manifold import TSNE

    n = x.shape[0]
    # Perplexity is roughly "how many neighbours each point cares about"; it must stay below n.
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    # At most a few dozen points: the exact gradient is cheap and needs no approximation.
    model = TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=SEED, method="exact")
    return Projection(model.fit_transform(x), "tsne")


def umap(x: np.ndarray, dims: int) -> Projection:
    import umap as umap_learn  # lazy: numba compiles on first import (see module docstring)

    n = x.shape[0]
    # A fixed random_state makes UMAP deterministic (and single-threaded); "random" init avoids
    # the spectral start, which fails on very small graphs.
    model = umap_learn.UMAP(n_components=dims, n_neighbors=max(2, min(15, n - 1)), min_dist=0.1,
                            metric="euclidean", init="random", random_state=SEED)
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": the price of determinism, known.
        warnings.simplefilter("ignore", UserWarning)
        coords = model.fit_transform(x)
    return Projection(np.asarray(coords, dtype=np.float64), "umap")


def project(vectors: torch.Tensor, method: str = "pca", dims: int = 2, unit: bool = True) -> Projection:
    """Place n vectors (n, d) on `dims` axes; the same input always gives the same picture.

    `unit=False` keeps the vectors' lengths (PCA only): an analogy's a - b + c is not of length 1,
    and only the raw vectors keep its parallelogram exact."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    if dims not in (2, 3):
        raise ValueError("dims must be 2 or 3")
    x = unit_rows(vectors) if unit else vectors.detach().to(torch.float64).numpy()
    if method != "pca" and x.shape[0] < MIN_POINTS_NONLINEAR:
        raise ValueError(f"{method} needs at least {MIN_POINTS_NONLINEAR} points; got {x.shape[0]}")
    # numpy's BLAS (OpenBLAS) on one thread: these are a few dozen points, and its worker threads would
    # compete for the cores with PyTorch's, still spinning from the model's last job (a 48-word PCA, 1-10 ms
    # alone, took 500-600 ms in one call of three that way). threadpoolctl comes with scikit-learn.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        result = {"pca": pca, "tsne": tsne, "umap": umap}[method](x, dims)
    # Rounded so last-bit noise never reaches the JSON; + 0.0 turns -0.0 into 0.0.
    result.coords = np.round(result.coords.astype(np.float64), 6) + 0.0
    return result
