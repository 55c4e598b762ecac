"""Refine a tag's prompt classifier with labeled keyframes.

Class-balanced logistic regression whose weights are pulled toward the prior (prompt) weights:

    minimise  sum_i c_i logloss_i + lam ||w - w_prior||^2 + lam_b (b - b_prior)^2

This is MAP estimation with a Gaussian prior centred on the prompts, so a handful of labels nudges the
prompt direction and thousands of labels override it. lam is the prior's strength divided by the number of
labels (`rule_lambda`), or a multiple of it picked by cross-validation when both classes have enough labels.

Calibration: labels come from previews, searches and uncertainty sampling, i.e. they are selected by what
the keyframe looks like (its embedding), not by its answer. Selection on x leaves p(y | x) unchanged, so a
logistic model fitted on the labels as they are is already calibrated for the whole dataset; class
balancing only shifts its intercept by log(n_neg / n_pos) (King & Zeng 2001, "prior correction"), which is
added back. The balancing keeps the optimiser's attention on the rare class; the correction keeps 0.5
meaning "more likely than not". (Re-estimating the prevalence on the unlabeled sample with the EM of
Saerens et al. assumes selection on y instead; measured on stratified previews it under-estimated
prevalence 3-5x and halved F1 at 0.5.)
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from .classifier import Classifier, logit, sigmoid
from .metrics import roc_auc

# Prior std of the change in log-odds that labels may make on a typical keyframe, before any label is seen
# (lam = trace(cov(sample)) / (2 s^2 m)); the bias gets its own prior std in log-odds.
LOGIT_CHANGE_STD = 1.5
BIAS_STD = 3.0
# Cross-validation picks a multiplier of the rule's lam when both classes have this many labels.
CV_MIN_PER_CLASS = 8
CV_FOLDS = 5
CV_GRID = (3.0, 1.0, 0.3, 0.1)  # strongest first: each fit warm-starts the next along the path
# Past this many labels the grid costs more than it helps (the rule's 1/m decay dominates); a 3-fold
# estimate is still reported.
CV_GRID_MAX_LABELS = 400


def rule_lambda(sample_trace: float, m: int) -> float:
    """lam for m labels: a Gaussian prior on w - w_prior whose effect on the log-odds of a typical keyframe
    has std LOGIT_CHANGE_STD. trace(cov) converts that into weight units, so the rule does not depend on how
    spread out a model's embeddings are (CLIP's sit in a narrow cone)."""
    return sample_trace / (2.0 * LOGIT_CHANGE_STD**2 * max(m, 1))


def bias_lambda(m: int) -> float:
    return 1.0 / (2.0 * BIAS_STD**2 * max(m, 1))


def class_weights(y: np.ndarray) -> np.ndarray:
    """Per-label weights summing to 1, each present class totalling one half (or all of it if alone)."""
    n_pos = int(y.sum())
    n_neg = int(y.shape[0] - n_pos)
    if n_pos and n_neg:
        return np.where(y, 0.5 / n_pos, 0.5 / n_neg)
    return np.full(y.shape[0], 1.0 / max(y.shape[0], 1))


def balancing_shift(y: np.ndarray) -> float:
    """log(n_pos / n_neg): what class balancing took off the intercept (0 when a class is missing, since
    then nothing was reweighted)."""
    n_pos = int(y.sum())
    n_neg = int(y.shape[0] - n_pos)
    return float(np.log(n_pos / n_neg)) if n_pos and n_neg else 0.0


class _Problem:
    """Weighted, penalised logistic objective over theta = (w - w_prior, b) on centred features.

    Centring on the sample mean removes the large component all embeddings share (CLIP images point roughly
    the same way), which would otherwise act as a second, badly conditioned bias and cost L-BFGS hundreds of
    iterations. X stays float32: the two mat-vecs per step are the whole cost and float32 halves it.
    """

    def __init__(self, Xc: np.ndarray, y: np.ndarray, w_prior: np.ndarray, b0: float, lam: float, lam_b: float):
        self.Xc = Xc
        self.y = y.astype(np.float64)
        self.c = class_weights(y)
        self.f_prior = (Xc @ w_prior.astype(np.float32)).astype(np.float64)
        self.lam, self.lam_b, self.b0 = lam, lam_b, b0

    def logits(self, theta: np.ndarray) -> np.ndarray:
        return self.f_prior + (self.Xc @ theta[:-1].astype(np.float32)).astype(np.float64) + theta[-1]

    def data_loss(self, theta: np.ndarray) -> float:
        f = self.logits(theta)
        return float(self.c @ (np.logaddexp(0.0, f) - self.y * f))

    def loss_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        dw, b = theta[:-1], theta[-1]
        f = self.logits(theta)
        r = self.c * (sigmoid(f) - self.y)
        grad = np.empty_like(theta)
        grad[:-1] = (r.astype(np.float32) @ self.Xc).astype(np.float64) + 2.0 * self.lam * dw
        grad[-1] = float(r.sum()) + 2.0 * self.lam_b * (b - self.b0)
        loss = float(self.c @ (np.logaddexp(0.0, f) - self.y * f))
        return loss + self.lam * float(dw @ dw) + self.lam_b * (b - self.b0) ** 2, grad

    def solve(self, theta0: np.ndarray | None = None, ftol: float = 1e-9) -> tuple[np.ndarray, int]:
        if theta0 is None:
            theta0 = np.zeros(self.Xc.shape[1] + 1)
            theta0[-1] = self.b0
        res = minimize(self.loss_grad, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 500, "maxcor": 20, "ftol": ftol, "gtol": 1e-7})
        return res.x, int(res.nit)


def _folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold number per label, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.shape[0], dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        idx = idx[np.argsort(rng.random(idx.shape[0]), kind="stable")]
        fold[idx] = np.arange(idx.shape[0]) % k
    return fold


def _cross_validate(Xc, y, w_prior, b_prior, lams, lam_b, k, seed, theta0=None) -> list[dict]:
    """Held-out balanced log-loss, AUC and balanced accuracy for each lam in `lams` (a path: each fold's fit
    warm-starts from the previous lam's)."""
    fold = _folds(y, k, seed)
    f_out = np.empty((len(lams), y.shape[0]))
    for j in range(k):
        tr = fold != j
        start = theta0
        for li, lam in enumerate(lams):
            prob = _Problem(Xc[tr], y[tr], w_prior, b_prior - balancing_shift(y[tr]), lam, lam_b)
            start, _ = prob.solve(start, ftol=1e-7)
            f_out[li, ~tr] = Xc[~tr] @ (w_prior + start[:-1]) + start[-1]
    c = class_weights(y)
    yf = y.astype(np.float64)
    results = []
    for f in f_out:
        pred = f >= 0
        results.append({
            "folds": k,
            "logloss": float(c @ (np.logaddexp(0.0, f) - yf * f)),
            "auc": roc_auc(f, y),
            "balanced_accuracy": float(0.5 * (pred[y].mean() + (~pred[~y]).mean())),
        })
    return results


def train_with_labels(
    X: np.ndarray,
    y: np.ndarray,
    prior: Classifier,
    sample: np.ndarray,
    l2_to_prior: float | None = None,
    *,
    seed: int = 0,
) -> Classifier:
    """Logistic regression on labeled keyframes X (m, d) / y (m,) bool, regularised toward `prior`.

    sample (n, d) is a random sample of the dataset's keyframes: its mean centres the features and its
    spread scales the regulariser. l2_to_prior fixes lam (the coefficient of ||w - w_prior||^2 next to the
    weighted mean log-loss) instead of the rule / cross-validation.
    """
    t0 = time.perf_counter()
    d = prior.dim
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32).reshape(-1, d))
    y = np.asarray(y, dtype=bool).ravel()
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    sample = np.asarray(sample, dtype=np.float32).reshape(-1, d)
    m = int(y.shape[0])
    n_pos = int(y.sum())
    n_neg = m - n_pos
    summary: dict = {"kind": "labels", "n_pos": n_pos, "n_neg": n_neg}
    if m == 0:
        summary.update({"note": "no labels: prior unchanged", "train_ms": 1e3 * (time.perf_counter() - t0)})
        return Classifier(w=prior.w.copy(), b=prior.b, summary={**prior.summary, **summary})

    w_prior = prior.w
    center = sample.mean(axis=0) if sample.shape[0] else X.mean(axis=0)
    spread_rows = sample if sample.shape[0] >= 2 else X
    sample_trace = float(((spread_rows - center) ** 2).sum() / spread_rows.shape[0]) if spread_rows.shape[0] >= 2 else 1.0
    # The prior's intercept in centred coordinates, before the balancing shift of this label set.
    b_prior = prior.b + float(center.astype(np.float64) @ w_prior)
    shift = balancing_shift(y)
    Xc = X - center
    lam_b = bias_lambda(m)
    base_lam = rule_lambda(sample_trace, m)

    cv: dict | None = None
    if l2_to_prior is not None:
        lam, lam_source = float(l2_to_prior), "given"
    else:
        lam, lam_source = base_lam, "rule"
        if min(n_pos, n_neg) >= CV_MIN_PER_CLASS and m <= CV_GRID_MAX_LABELS:
            k = min(CV_FOLDS, n_pos, n_neg)
            grid = _cross_validate(Xc, y, w_prior, b_prior, [g * base_lam for g in CV_GRID], lam_b, k, seed)
            best = min(range(len(CV_GRID)), key=lambda i: grid[i]["logloss"])
            lam, lam_source = CV_GRID[best] * base_lam, "cv"
            cv = {**grid[best], "multiplier": CV_GRID[best],
                  "grid_logloss": {str(g): r["logloss"] for g, r in zip(CV_GRID, grid, strict=True)}}

    prob = _Problem(Xc, y, w_prior, b_prior - shift, lam, lam_b)
    theta, nit = prob.solve()
    if cv is None and min(n_pos, n_neg) >= CV_MIN_PER_CLASS:
        # Large label sets: a cheaper 3-fold estimate, warm-started at the full solution.
        cv = _cross_validate(Xc, y, w_prior, b_prior, [lam], lam_b, 3, seed, theta0=theta)[0]

    w = w_prior + theta[:-1]
    b = float(theta[-1] - center.astype(np.float64) @ w + shift)
    clf = Classifier(w=w, b=b)
    f_balanced = prob.logits(theta)
    pred = f_balanced >= 0
    per_class = [pred[y].mean()] if n_pos else []
    per_class += [(~pred[~y]).mean()] if n_neg else []
    summary.update(
        {
            "lambda": lam,
            "lambda_source": lam_source,
            "lambda_rule": base_lam,
            "lambda_bias": lam_b,
            "balancing_shift": shift,
            "train_loss": prob.data_loss(theta),
            "train_balanced_accuracy": float(np.mean(per_class)),
            "train_accuracy": float(np.mean((f_balanced + shift >= 0) == y)),
            "iterations": nit,
            "cos_to_prior": float(w @ w_prior / (np.linalg.norm(w) * np.linalg.norm(w_prior) + 1e-300)),
            "cv": cv,
            "prior": {k: prior.summary[k] for k in ("kind", "n_pos_prompts", "n_neg_prompts", "n_pos", "n_neg")
                      if k in prior.summary},
        }
    )
    if sample.shape[0]:
        summary["prevalence"] = float(clf.score(sample).mean())
    summary["train_ms"] = 1e3 * (time.perf_counter() - t0)
    clf.summary = summary
    return clf
