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
meaning "more likely than not" for the fitted posterior. The stored intercept then moves 0.5 to the
count-matching cut on the sample, as for prompt-only tags (mediatag_ml.decision); the prior's own shift is
taken off first, so the labels refine its posterior, not its decision point. Labeled sample rows enter that cut
at their out-of-fold log-odds (the fit is sure of the rows it saw; unseen keyframes score like the held-out fold).
(Re-estimating the prevalence on the unlabeled sample with the EM of Saerens et al. assumes selection on y
instead; measured on stratified previews it under-estimated prevalence 3-5x and halved F1 at 0.5.)
"""

from __future__ import annotations

import time

import numpy as np

from .blas import single_threaded_blas
from .classifier import Classifier, sigmoid
from .decision import count_matching_shift, spread_scale
from .jsonable import jsonable
from .metrics import roc_auc

# Prior std of the change in log-odds that labels may make on a typical keyframe, before any label is seen
# (lam = trace(cov(sample)) / (2 s^2 m)); the bias gets its own prior std in log-odds. On synthetic CLIP-like
# data held-out AUC/F1 rose from s = 1 to s = 10 at every label count (5..1000) and, on the 512-d layout,
# fell again past s = 20 for 5..50 labels. On real photos labeled as the product proposes them (preview top,
# then uncertain_keyframes; bench/bench_label_efficiency.py, numpy replica) s = 10 beat 5 where labels are many:
# held-out AP gain at 25 / 50 labels +0.21 / +0.31 against +0.15 / +0.25 on 3,068 clothing photos, +0.05 / +0.10
# against +0.04 / +0.12 on 64 COCO photos; 3 and 20 were worse on clothing (+0.09, +0.12 at 25).
# Cross-validation moves it within 5.8..32.
LOGIT_CHANGE_STD = 10.0
BIAS_STD = 3.0
# Cross-validation picks a multiplier of the rule's lam when both classes have this many labels.
CV_MIN_PER_CLASS = 8
CV_FOLDS = 3  # 3 x 4 warm-started fits keep selection within the time budget at 300 labels
CV_GRID = (3.0, 1.0, 0.3, 0.1)  # strongest first: each fit warm-starts the next along the path
# Past this many labels cross-validation would break the time budget (well under 100 ms for 2,000 labels
# of 1,664 dims) and the rule's 1/m decay already lets the labels dominate; `cross_validate` gives the
# estimate on demand.
CV_MAX_LABELS = 300
# L-BFGS stopping: 1e-8 moves no logit on the sample by more than ~3e-3 from the exact optimum (measured);
# the CV fits only rank lam values and stop earlier.
FIT_FTOL = 1e-8
CV_FTOL = 1e-6
MAX_ITER = 300
# Solve in the span of the labels when they number at most this fraction of the dimensions (the QR costs
# about 2 d m^2, repaid by cheaper steps only when m is well below d).
SPAN_FRACTION = 0.5
# How many labels the prior's expected count of positives is worth when 0.5 is placed (mediatag_ml.decision).
# A logistic fit on tens of labels in 1,664 dims is sure about its labels and shy elsewhere: counted from its
# own posterior the cut flagged 0.25x the true count at 50 labels on COCO photos (held out); from the prompt
# calibration's count it stays at ~1x. With thousands of labels their own posterior takes over.
PRIOR_COUNT_LABELS = 100.0


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
    """Weighted, penalised logistic objective over theta = (v, b), where the weights are w_prior + B v for the
    basis B of a `_Space`; the penalty lam ||v||^2 equals lam ||w - w_prior||^2 because B is orthonormal."""

    def __init__(
        self, F: np.ndarray, offset: np.ndarray, f_prior: np.ndarray, y: np.ndarray, b0: float, lam: float, lam_b: float
    ):
        self.F, self.offset, self.f_prior = F, offset, f_prior
        self.y = y.astype(np.float64)
        self.c = class_weights(y)
        self.lam, self.lam_b, self.b0 = lam, lam_b, b0

    def logits(self, theta: np.ndarray) -> np.ndarray:
        v = theta[:-1]
        return self.f_prior + (self.F @ v.astype(np.float32)).astype(np.float64) - float(self.offset @ v) + theta[-1]

    def data_loss(self, theta: np.ndarray) -> float:
        f = self.logits(theta)
        return float(self.c @ (np.logaddexp(0.0, f) - self.y * f))

    def loss_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        v, b = theta[:-1], theta[-1]
        f = self.logits(theta)
        r = self.c * (sigmoid(f) - self.y)
        r_sum = float(r.sum())
        grad = np.empty_like(theta)
        grad[:-1] = (r.astype(np.float32) @ self.F).astype(np.float64) - r_sum * self.offset + 2.0 * self.lam * v
        grad[-1] = r_sum + 2.0 * self.lam_b * (b - self.b0)
        loss = float(self.c @ (np.logaddexp(0.0, f) - self.y * f))
        return loss + self.lam * float(v @ v) + self.lam_b * (b - self.b0) ** 2, grad

    def solve(self, theta0: np.ndarray | None = None, ftol: float = FIT_FTOL) -> tuple[np.ndarray, int]:
        if theta0 is None:
            theta0 = np.zeros(self.F.shape[1] + 1)
            theta0[-1] = self.b0
        from scipy.optimize import minimize  # on use: a backend that never gets here skips the import

        res = minimize(
            self.loss_grad,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": MAX_ITER, "maxcor": 20, "ftol": ftol, "gtol": 1e-7},
        )
        return res.x, int(res.nit)


class _Space:
    """Coordinates the optimiser works in, with features centred on `center` (the sample mean).

    Centring removes the large component all embeddings share (CLIP images point roughly the same way), which
    would otherwise act as a second, badly conditioned bias and cost L-BFGS many iterations.

    With fewer labels than half the dimensions, the optimum's w - w_prior lies in the span of the centred
    labels (representer theorem: the penalty is isotropic around w_prior), so the problem is solved exactly
    in an orthonormal basis Q of that span (QR of the centred labels): each step then costs O(m^2)
    instead of O(m d), which is what keeps cross-validation cheap at 1,664 dims. Otherwise the basis is the
    identity and centring is applied algebraically, (x - c)·v = x·v - c·v, so the labels are never copied.
    Features stay float32: the two mat-vecs per step are the whole cost and float32 halves it.
    """

    def __init__(self, X: np.ndarray, center: np.ndarray, w_prior: np.ndarray) -> None:
        m, d = X.shape
        self.f_prior = (X @ w_prior.astype(np.float32)).astype(np.float64) - float(center @ w_prior)
        if 0 < m <= d * SPAN_FRACTION:
            # float32 QR: twice as fast as float64 and orthonormal to ~1e-6, far below the fit's tolerance.
            q, r = np.linalg.qr((X - center.astype(np.float32)).T)  # (d, m) orthonormal, (m, m)
            self.basis: np.ndarray | None = q.astype(np.float64)
            self.F = np.ascontiguousarray(r.T, dtype=np.float32)  # centred labels in basis coordinates
            self.offset = np.zeros(m)
        else:
            self.basis = None
            self.F = X
            self.offset = center

    def weights(self, w_prior: np.ndarray, v: np.ndarray) -> np.ndarray:
        return w_prior + (self.basis @ v if self.basis is not None else v)

    def problem(self, rows: np.ndarray | slice, y: np.ndarray, b0: float, lam: float, lam_b: float) -> _Problem:
        F = self.F if isinstance(rows, slice) else self.F[rows]
        return _Problem(F, self.offset, self.f_prior[rows], y, b0, lam, lam_b)


def _folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold number per label, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.shape[0], dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        idx = idx[np.argsort(rng.random(idx.shape[0]), kind="stable")]
        fold[idx] = np.arange(idx.shape[0]) % k
    return fold


def _cross_validate(space: _Space, y, b_prior, lams, lam_b, k, seed) -> tuple[list[dict], np.ndarray]:
    """Held-out balanced log-loss, AUC and balanced accuracy for each lam in `lams` (a path: each fold's fit
    warm-starts from the previous lam's), and the out-of-fold posterior log-odds of every label per lam
    (len(lams), m): each label scored by the fit that did not see it, with that fit's balancing shift added back.
    The basis spans every label, so it serves every fold exactly."""
    fold = _folds(y, k, seed)
    f_out = np.empty((len(lams), y.shape[0]))
    fold_shift = np.empty(y.shape[0])
    for j in range(k):
        tr = fold != j
        held_out = space.problem(~tr, y[~tr], 0.0, 0.0, 0.0)
        shift = balancing_shift(y[tr])
        fold_shift[~tr] = shift
        start = None
        for li, lam in enumerate(lams):
            start, _ = space.problem(tr, y[tr], b_prior - shift, lam, lam_b).solve(start, CV_FTOL)
            f_out[li, ~tr] = held_out.logits(start)
    c = class_weights(y)
    yf = y.astype(np.float64)
    results = []
    for f in f_out:
        pred = f >= 0
        results.append(
            {
                "folds": k,
                "logloss": float(c @ (np.logaddexp(0.0, f) - yf * f)),
                "auc": roc_auc(f, y),
                "balanced_accuracy": float(0.5 * (pred[y].mean() + (~pred[~y]).mean())),
            }
        )
    return results, f_out + fold_shift


class _Setup:
    """Inputs shared by training and cross-validation: the optimisation space, the prior's intercept in
    centred coordinates and the rule's lam."""

    def __init__(self, X: np.ndarray, y: np.ndarray, prior: Classifier, sample: np.ndarray) -> None:
        d = prior.dim
        self.X = np.ascontiguousarray(np.asarray(X, dtype=np.float32).reshape(-1, d))
        self.y = np.asarray(y, dtype=bool).ravel()
        if self.X.shape[0] != self.y.shape[0]:
            raise ValueError(f"X has {self.X.shape[0]} rows but y has {self.y.shape[0]} labels")
        self.sample = np.asarray(sample, dtype=np.float32).reshape(-1, d)
        self.m = int(self.y.shape[0])
        self.n_pos = int(self.y.sum())
        self.n_neg = self.m - self.n_pos
        self.w_prior = prior.w
        rows = self.sample if self.sample.shape[0] >= 2 else self.X
        self.center = rows.mean(axis=0, dtype=np.float64) if rows.shape[0] else np.zeros(d)
        # trace(cov) = mean squared norm - squared norm of the mean; BLAS norm, no (n, d) temporary.
        trace = float(np.linalg.norm(rows)) ** 2 / max(rows.shape[0], 1) - float(self.center @ self.center)
        if rows.shape[0] < 2 or trace <= 0:
            trace = 1.0
        # The prior's intercept in centred coordinates, before any balancing shift.
        self.b_prior = prior.b + float(self.center @ self.w_prior)
        self.lam_b = bias_lambda(self.m)
        self.lam_rule = rule_lambda(trace, self.m)
        self.space = _Space(self.X, self.center, self.w_prior)

    def can_cross_validate(self) -> bool:
        return min(self.n_pos, self.n_neg) >= CV_MIN_PER_CLASS

    def cross_validate(self, lams: list[float], folds: int, seed: int) -> tuple[list[dict], np.ndarray]:
        k = min(folds, self.n_pos, self.n_neg)
        return _cross_validate(self.space, self.y, self.b_prior, lams, self.lam_b, k, seed)

    def out_of_fold_logits(self, lam: float, seed: int) -> np.ndarray | None:
        """Each label's posterior log-odds from a CV_FOLDS-fold fit at lam that did not see it (fewer folds when
        a class has fewer labels); None when a class has fewer than 2 labels or there are more than
        CV_MAX_LABELS (the time budget, as for cross-validation)."""
        if min(self.n_pos, self.n_neg) < 2 or self.m > CV_MAX_LABELS:
            return None
        return self.cross_validate([lam], CV_FOLDS, seed)[1][0]


@single_threaded_blas
def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    prior: Classifier,
    sample: np.ndarray,
    l2_to_prior: float | None = None,
    *,
    folds: int = CV_FOLDS,
    seed: int = 0,
) -> dict | None:
    """Stratified k-fold estimate (balanced log-loss, AUC, balanced accuracy) of `train_with_labels` at the
    rule's lam (or `l2_to_prior`), for any number of labels; None when a class has fewer than
    CV_MIN_PER_CLASS labels. For the evaluator, where train_with_labels skipped it to stay fast."""
    st = _Setup(X, y, prior, sample)
    if not st.can_cross_validate():
        return None
    lam = st.lam_rule if l2_to_prior is None else float(l2_to_prior)
    return {**st.cross_validate([lam], folds, seed)[0][0], "lambda": lam}


def _label_rows_in_sample(sample: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Per sample row: the index of the labeled row of X it is (bit for bit), -1 where it is not labeled."""
    row = {r.tobytes(): i for i, r in enumerate(np.asarray(X, dtype=np.float32))}
    return np.fromiter((row.get(r.tobytes(), -1) for r in sample), dtype=np.int64, count=sample.shape[0])


@single_threaded_blas
def train_with_labels(
    X: np.ndarray,
    y: np.ndarray,
    prior: Classifier,
    sample: np.ndarray,
    l2_to_prior: float | None = None,
    *,
    seed: int = 0,
    shift_decision: bool = True,
) -> Classifier:
    """Logistic regression on labeled keyframes X (m, d) / y (m,) bool, regularised toward `prior`.

    sample (n, d) is a random sample of the dataset's keyframes: its mean centres the features and its
    spread scales the regulariser. l2_to_prior fixes lam (the coefficient of ||w - w_prior||^2 next to the
    weighted mean log-loss) instead of the rule / cross-validation.
    """
    t0 = time.perf_counter()
    prior_shift = float(prior.summary.get("decision_shift", 0.0))
    prior = Classifier(w=prior.w, b=prior.b + prior_shift, summary=prior.summary)  # back to its posterior
    st = _Setup(X, y, prior, sample)
    summary: dict = {"kind": "labels", "n_pos": st.n_pos, "n_neg": st.n_neg}
    if st.m == 0:
        summary.update({"note": "no labels: prior unchanged", "train_ms": 1e3 * (time.perf_counter() - t0)})
        return Classifier(w=prior.w.copy(), b=prior.b - prior_shift, summary={**prior.summary, **summary})

    cv: dict | None = None
    oof: np.ndarray | None = None  # out-of-fold posterior log-odds of the labels, from cross-validation
    if l2_to_prior is not None:
        lam, lam_source = float(l2_to_prior), "given"
    else:
        lam, lam_source = st.lam_rule, "rule"
        if st.can_cross_validate() and st.m <= CV_MAX_LABELS:
            grid, f_oof = st.cross_validate([g * st.lam_rule for g in CV_GRID], CV_FOLDS, seed)
            best = min(range(len(CV_GRID)), key=lambda i: grid[i]["logloss"])
            lam, lam_source, oof = CV_GRID[best] * st.lam_rule, "cv", f_oof[best]
            cv = {
                **grid[best],
                "multiplier": CV_GRID[best],
                "grid_logloss": {str(g): r["logloss"] for g, r in zip(CV_GRID, grid, strict=True)},
            }
    if cv is None:
        summary["cv_note"] = (
            f"needs >= {CV_MIN_PER_CLASS} labels of each class"
            if not st.can_cross_validate()
            else f"skipped above {CV_MAX_LABELS} labels to stay fast (or lam given); see cross_validate()"
        )

    shift = balancing_shift(st.y)
    prob = st.space.problem(slice(None), st.y, st.b_prior - shift, lam, st.lam_b)
    theta, nit = prob.solve()
    w = st.space.weights(st.w_prior, theta[:-1])
    clf = Classifier(w=w, b=float(theta[-1] - st.center @ w + shift))

    f_balanced = prob.logits(theta)
    pred = f_balanced >= 0
    per_class = [pred[st.y].mean()] if st.n_pos else []
    per_class += [(~pred[~st.y]).mean()] if st.n_neg else []
    summary.update(
        {
            "lambda": lam,
            "lambda_source": lam_source,
            "lambda_rule": st.lam_rule,
            "lambda_bias": st.lam_b,
            "balancing_shift": shift,
            "train_loss": prob.data_loss(theta),
            "train_balanced_accuracy": float(np.mean(per_class)),
            "train_accuracy": float(np.mean((f_balanced + shift >= 0) == st.y)),
            "iterations": nit,
            "solved_in": "label span" if st.space.basis is not None else "full space",
            "cos_to_prior": float(w @ st.w_prior / (np.linalg.norm(w) * np.linalg.norm(st.w_prior) + 1e-300)),
            "cv": cv,
            "prior": {
                k: prior.summary[k]
                for k in ("kind", "n_pos_prompts", "n_neg_prompts", "n_pos", "n_neg")
                if k in prior.summary
            },
        }
    )
    if st.sample.shape[0]:
        summary["prevalence"] = float(clf.score(st.sample).mean())
        if shift_decision:
            # The expected count of the sample: the labeled rows count as what they were labeled, the others as the
            # prior's expected positives mixed with the label model's. The cut is placed on every row. (Counting on
            # the unlabeled rows alone was noisy once labels were most of a small sample: 50 labels of a 64-photo
            # dataset left 14 rows, mostly the confident negatives the proposals had passed over, and the cut
            # flagged almost nothing.)
            label_row = _label_rows_in_sample(st.sample, st.X)
            known = label_row >= 0
            rest = st.sample[~known]
            mix = PRIOR_COUNT_LABELS / (PRIOR_COUNT_LABELS + st.m)
            expected = float(st.y[label_row[known]].sum())
            if rest.shape[0]:
                expected += mix * float(prior.score(rest).sum()) + (1.0 - mix) * float(clf.score(rest).sum())
            # The labeled rows are ranked by their out-of-fold log-odds: the fit is sure of the photos it saw, and
            # a cut placed among those flags too few unseen ones (COCO, 50 labels of a 64-photo dataset: F1 at 0.5
            # on held-out photos 0.21 -> 0.44, flagged/true 0.07 -> 0.39; docs/tag-quality.md).
            f = clf.decision(st.sample)
            if known.any():
                oof = oof if oof is not None else st.out_of_fold_logits(lam, seed)
            if known.any() and oof is not None:
                f[known] = oof[label_row[known]]
                summary["labels_in_cut"] = "out-of-fold log-odds"
            else:
                summary["labels_in_cut"] = "fitted log-odds" if known.any() else "none in the sample"
            tau = count_matching_shift(f, expected=expected)
            summary["expected_positives_in_sample"] = expected
            clf.b -= tau
            # Tempered where labels made it sure of too many keyframes (ranking and the 0.5 cut unchanged).
            a = spread_scale(clf.decision(st.sample))
            clf.w, clf.b, tau = clf.w * a, clf.b * a, tau * a
            summary["decision_shift"] = tau
            summary["spread_scale"] = a
    summary["train_ms"] = 1e3 * (time.perf_counter() - t0)
    clf.summary = jsonable(summary)
    return clf
