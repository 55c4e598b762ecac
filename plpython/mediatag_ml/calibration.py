"""Zero-shot classifiers from text prompts, calibrated per model from labeled photos (ModelCalibration) or,
for a model nobody calibrated, on the unlabeled sample of the dataset (the EM fit below). Either gives posterior
log-odds; the intercept is then shifted so 0.5 flags the expected number of positives (mediatag_ml.decision).
With a model calibration, that expected number moves toward the count of the sample's own two-Gaussian mixture as
far as the mixture shows the tag as a separate mode (_mixture_prevalence_shift: a calibration fitted on one kind of
photos carries their prevalence), and the slope is flattened around the cut where scores would tie near 1
(_keep_spread).

Direction: u = unit(mean of unit positive prompts) - 0.5 * unit(mean of unit negative prompts). A negative
weight of 1 would be CLIP's softmax over {pos, neg}, which answers "pos or neg?" but not "pos or anything
else?": a user's negatives are usually hard ones ("dog" vs "wolf"), and subtracting them whole also removes
what makes a dog stand out from the rest of the library. Measured on synthetic CLIP-like data
(bench/bench_training.py): weight 1 halves the best F1 over all keyframes, weight 0.5 keeps it within 2 %
of no negatives while raising pos-vs-hard-negative AUC from 0.68 to 0.82. Without negatives a neutral
prompt ("a photo") may be passed as `baseline`: it cancels the offset every prompt shares (CLIP's
text/image modality gap) and raised best F1 by 6 % (CLIP-like) to 65 % (offline-like layout) there.

Fallback calibration (why a *linear* logit is principled): project on u, s = x·u, and standardise robustly on a
random sample, z = (s - median) / (1.4826 MAD). If negatives are N(mu0, sigma^2) along u and positives
N(mu0 + delta sigma, sigma^2) (equal variance), the Bayes posterior is exactly logistic and linear in x:

    log-odds(x) = delta * (s - mu0) / sigma - delta**2 / 2 + logit(pi)

with delta the separation of the classes and pi the tag's prevalence. A small MAP-EM on the 1-D sample
scores (four scalars; pi and delta shrunk toward pi = 3 %, delta = 2, typical of a CLIP zero-shot tag;
delta kept >= 1) fits them, started from the robust median/MAD fit, which is right for rare tags; letting
mu0 and sigma move fixes common tags (15-30 %), whose positives drag the median up and inflate the MAD
(F1 at 0.5 from 0.08 to 0.55 on one such synthetic tag). The posterior's 0.5 means "more likely than not"
(an accuracy threshold; the F1-optimal one is lower for rare tags, hence the shift) and the slope delta / sigma spreads
scores over [0, 1] as far as the classes actually separate along u. The sign of x·u is not used as the
boundary: with hard negatives, unrelated keyframes split about 50/50 around zero (it flagged ~10x the true
prevalence in the measurements); the fraction of the sample on the positive side is still recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .blas import single_threaded_blas
from .classifier import Classifier, logit, sigmoid
from .decision import count_matching_shift, spread_scale
from .jsonable import jsonable

# How much of the negative prompts' direction is subtracted (see the module docstring for the measurement).
NEGATIVE_WEIGHT = 0.5
# Priors for the tail fit: a CLIP zero-shot tag typically has AUC ~0.9 (delta ~ 2) and is rare.
SEPARATION_PRIOR = 2.0
PREVALENCE_PRIOR = 0.03
# Pseudo-counts of the priors: the prevalence prior is worth 30 % of the sample, the separation prior 10
# positives' worth. On the offline model's heavy-tailed scores (coco128, 49 classes) a weak prevalence prior
# (5 % of the sample) let the tail fit claim ~11 % positives at 0.5 against a true ~3 %; at 30 % it claims
# ~8.7 % and mean F1@0.5 rises 0.306 -> 0.316. Stronger priors (50 %+) fit rare tags a little better but
# collapse common ones (synthetic tags at 15 % prevalence, plpython/tests).
PREVALENCE_STRENGTH = 0.3
SEPARATION_STRENGTH = 10.0
SEPARATION_RANGE = (1.0, 6.0)
PREVALENCE_RANGE = (0.001, 0.5)


# Shipped per-model calibrations (see ModelCalibration), keyed by visual model name.
MODEL_CALIBRATION_FILE = Path(__file__).with_name("model_calibration.json")
# Upper quantile of the sample's z scores that describes how heavy a tag's tail is (see ModelCalibration).
TAIL_QUANTILE = 0.95
# Below this many sample rows the mixture of the sample's scores says too little to move a calibrated count.
MIXTURE_MIN_SAMPLE = 50
# The mixture's separation (in sigma units) below which its count is ignored and above which it is taken whole
# (see _mixture_prevalence_shift); 2 is fit_tail's separation prior, i.e. "no evidence of a separate mode".
MIXTURE_TRUST = (2.0, 3.0)


@dataclass(frozen=True)
class ModelCalibration:
    """Posterior log-odds of a zero-shot tag, learned once per model from labeled generic photos:

        log-odds(x) = temperature * z(x) + tail * q + bias,   z(x) = (x·u - median) / robust_sigma

    with u the prompt direction, median / robust_sigma taken on the dataset's random sample and q the sample's
    TAIL_QUANTILE quantile of z. temperature and bias are the zero-shot calibration literature's two scalars;
    `tail` lets a tag whose sample already has a heavy upper tail (many keyframes far along u, typical of a
    common or broadly matching prompt) need a larger z for the same posterior. All three are shared by every
    tag of the model; per tag only the sample statistics differ, so the result stays one linear w and b."""

    temperature: float
    bias: float
    tail: float = 0.0
    tail_quantile: float = TAIL_QUANTILE
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelCalibration:
        t = float(d["temperature"])
        if not t > 0:
            raise ValueError(f"model calibration temperature must be > 0, got {t}")
        return cls(
            temperature=t,
            bias=float(d["bias"]),
            tail=float(d.get("tail", 0.0)),
            tail_quantile=float(d.get("tail_quantile", TAIL_QUANTILE)),
            source=str(d.get("source", "")),
        )


def shipped_model_calibration(model: str | None, path: Path = MODEL_CALIBRATION_FILE) -> ModelCalibration | None:
    """The calibration shipped for `model`, or None for a model nobody calibrated (then zero_shot falls back to
    the unlabeled EM fit)."""
    if not model or not path.is_file():
        return None
    entry = json.loads(path.read_text()).get("models", {}).get(model)
    return ModelCalibration.from_dict(entry) if entry else None


def resolve_model_calibration(stored_json: str | None, model: str | None) -> ModelCalibration | None:
    """The calibration a dataset's visual model uses: the installation's own row (mediatag.model_calibration, as
    JSON) when an admin fitted one, else the one shipped with the extension, else None (unlabeled EM fit)."""
    if stored_json:
        return ModelCalibration.from_dict(json.loads(stored_json))
    return shipped_model_calibration(model)


def standardised_scores(u: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(z, median, robust_sigma) of the sample's projections on u (the statistics zero_shot uses)."""
    sample = np.asarray(sample)
    s = (sample @ u.astype(sample.dtype)).astype(np.float64)
    med, sigma = robust_location_scale(s)
    if sigma <= 0:
        sigma = 1.0 / np.sqrt(u.shape[0])
    return (s - med) / sigma, med, sigma


def fit_model_calibration(
    z_per_tag: list[np.ndarray],
    y_per_tag: list[np.ndarray],
    *,
    tails: list[float] | None = None,
    tail_quantile: float = TAIL_QUANTILE,
    source: str = "",
) -> ModelCalibration:
    """Maximum-likelihood (temperature, tail, bias) over the pooled (tag, photo) pairs of a labeled set.

    z_per_tag[i] are the standardised scores of the labeled photos for tag i (`standardised_scores`), y_per_tag[i]
    the truth, tails[i] the tag's sample quantile q (default: the quantile of z_per_tag[i] itself, i.e. when the
    labeled photos are the whole sample). A weak ridge (1e-3) keeps tiny sets finite."""
    if not z_per_tag or len(z_per_tag) != len(y_per_tag):
        raise ValueError("need the same, non-zero number of score and truth arrays")
    if tails is not None and len(tails) != len(z_per_tag):
        raise ValueError("need one tail quantile per tag")
    zs, qs, ys = [], [], []
    for i, (z, y) in enumerate(zip(z_per_tag, y_per_tag, strict=True)):
        z = np.asarray(z, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=bool).ravel()
        if z.shape != y.shape or z.shape[0] < 2:
            raise ValueError("each tag needs at least two photos with one truth value each")
        zs.append(z)
        qs.append(np.full(z.shape, np.quantile(z, tail_quantile) if tails is None else float(tails[i])))
        ys.append(y.astype(np.float64))
    z, q, y = np.concatenate(zs), np.concatenate(qs), np.concatenate(ys)
    if not 0 < y.sum() < y.shape[0]:
        raise ValueError("the labeled set needs both positives and negatives")

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        f = p[0] * z + p[1] * q + p[2]
        r = sigmoid(f) - y
        g = np.array([r @ z, r @ q, r.sum()]) / y.shape[0] + 2e-3 * p
        return float(np.mean(np.logaddexp(0.0, f) - y * f) + 1e-3 * p @ p), g

    from scipy.optimize import minimize  # on use: a backend that never gets here skips the import

    p = minimize(loss, np.array([1.0, 0.0, logit(max(y.mean(), 1e-3))]), jac=True, method="L-BFGS-B").x
    if not p[0] > 0:
        raise ValueError("the labeled set does not rank positives above negatives: no calibration to learn")
    return ModelCalibration(
        temperature=float(p[0]), tail=float(p[1]), bias=float(p[2]), tail_quantile=tail_quantile, source=source
    )


@dataclass(frozen=True)
class TailFit:
    """Result of fitting the two-Gaussian (equal variance) model to standardised sample scores."""

    prevalence: float
    separation: float
    iterations: int
    location: float = 0.0  # negatives' mean, in robust z units
    scale: float = 1.0  # shared std, in robust z units


def unit_rows(V: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm; all-zero rows stay zero instead of becoming NaN."""
    V = np.asarray(V, dtype=np.float64)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return np.divide(V, norms, out=np.zeros_like(V), where=norms > 0)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def as_matrix(V: np.ndarray | None, d: int) -> np.ndarray:
    """(k, d) float64 view of prompts/samples; None or an empty array means k = 0."""
    if V is None:
        return np.zeros((0, d))
    V = np.asarray(V, dtype=np.float64)
    if V.size == 0:
        return np.zeros((0, d))
    return V.reshape(-1, d) if V.ndim == 1 else V


def prompt_direction(pos: np.ndarray, neg: np.ndarray | None, negative_weight: float = NEGATIVE_WEIGHT) -> np.ndarray:
    """unit(mean of unit positive prompts) - negative_weight * unit(mean of unit negative prompts), as a
    unit vector. Each prompt is normalised first so none dominates by its norm; the result is normalised so
    raw scores have the same scale whatever the number of prompts. Dims where every prompt is zero (the
    offline layout's image-only features) stay zero."""
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[None, :]
    if pos.shape[0] == 0:
        raise ValueError("zero-shot needs at least one positive prompt")
    neg = as_matrix(neg, pos.shape[1])
    direction = _unit(unit_rows(pos).mean(axis=0))
    if neg.shape[0]:
        direction = direction - negative_weight * _unit(unit_rows(neg).mean(axis=0))
    direction = _unit(direction)
    if not np.any(direction):
        raise ValueError("positive and negative prompts cancel out: no direction left")
    return direction


def robust_location_scale(s: np.ndarray) -> tuple[float, float]:
    """Median and a MAD-based sigma, falling back to IQR then std when the MAD is zero (ties, tiny samples)."""
    s = np.asarray(s, dtype=np.float64)
    med = float(np.median(s))
    sigma = 1.4826 * float(np.median(np.abs(s - med)))
    if sigma <= 0:
        q75, q25 = np.percentile(s, [75, 25])
        sigma = float(q75 - q25) / 1.349
    if sigma <= 0:
        sigma = float(np.std(s))
    return med, sigma


def fit_tail(
    z: np.ndarray,
    *,
    prevalence: float | None = None,
    separation: float | None = None,
    max_iter: int = 200,
) -> TailFit:
    """MAP-EM for z ~ (1-pi) N(mu0, sigma^2) + pi N(mu0 + delta sigma, sigma^2), z robustly standardised.

    Started at the robust fit (mu0 = 0, sigma = 1), which is right for rare tags; letting mu0 and sigma move
    too matters for common ones (15-30 %), whose positives drag the median up and inflate the MAD. pi and
    delta are shrunk toward their priors by pseudo-counts and delta is kept in SEPARATION_RANGE: below 1 the
    "positive" component would just be the negatives' shoulder, which would otherwise let a unimodal sample
    split itself in half. Returns pi, delta and the fitted (mu0, sigma) in z units.
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[0]
    pi = PREVALENCE_PRIOR if prevalence is None else float(prevalence)
    delta = SEPARATION_PRIOR if separation is None else float(separation)
    mu0, sigma = 0.0, 1.0
    a_pi = PREVALENCE_STRENGTH * n
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        t = (z - mu0) / sigma
        r = sigmoid(delta * t - 0.5 * delta * delta + logit(pi))
        r_sum = float(r.sum())
        new_pi = pi
        if prevalence is None:
            new_pi = float(np.clip((r_sum + a_pi * PREVALENCE_PRIOR) / (n + a_pi), *PREVALENCE_RANGE))
        q = 1.0 - r
        new_mu0 = float(q @ z) / max(float(q.sum()), 1e-12)
        mu1 = new_mu0 + delta * sigma
        if separation is None:
            prior_mu1 = new_mu0 + SEPARATION_PRIOR * sigma
            mu1 = (float(r @ z) + SEPARATION_STRENGTH * prior_mu1) / (r_sum + SEPARATION_STRENGTH)
        var = (float(q @ (z - new_mu0) ** 2) + float(r @ (z - mu1) ** 2)) / n
        new_sigma = float(np.sqrt(max(var, 1e-12)))
        new_delta = delta if separation is not None else float(np.clip((mu1 - new_mu0) / new_sigma, *SEPARATION_RANGE))
        converged = max(abs(new_pi - pi), abs(new_delta - delta), abs(new_mu0 - mu0), abs(new_sigma - sigma)) < 1e-7
        pi, delta, mu0, sigma = new_pi, new_delta, new_mu0, new_sigma
        if converged:
            break
    return TailFit(prevalence=pi, separation=delta, iterations=iterations, location=mu0, scale=sigma)


@single_threaded_blas
def zero_shot(
    pos: np.ndarray,
    neg: np.ndarray | None,
    sample: np.ndarray,
    *,
    baseline: np.ndarray | None = None,
    prevalence: float | None = None,
    separation: float | None = None,
    model_calibration: ModelCalibration | None = None,
    shift_decision: bool = True,
) -> Classifier:
    """Zero-shot classifier from prompt embeddings, calibrated on a random sample of keyframe embeddings.

    pos (p, d) positive prompts, neg (q, d) negative prompts (q may be 0 or None), sample (n, d) random
    keyframes of the dataset (a few thousand rows). baseline (d,) is a neutral prompt's embedding, used as
    the negative when there are no negative prompts. prevalence / separation fix the model's pi / delta
    instead of estimating them (e.g. when a user states how common a tag is). model_calibration (learned on
    labeled photos for the dataset's model) replaces the EM fit when given. shift_decision moves 0.5 to the
    count-matching cut (mediatag_ml.decision); the posterior's intercept stays in the summary.
    """
    pos = np.asarray(pos, dtype=np.float64)
    d = pos.shape[-1]
    neg = as_matrix(neg, d)
    # The sample stays float32 when it comes as float32: a float64 copy of 2,000 x 1,664 costs more than
    # everything else here.
    sample = np.asarray(sample)
    sample = sample.reshape(-1, d) if sample.dtype == np.float32 else as_matrix(sample, d)
    baseline_used = neg.shape[0] == 0 and baseline is not None and bool(np.any(baseline))
    u = prompt_direction(pos, as_matrix(baseline, d) if baseline_used else neg)
    summary: dict = {
        "kind": "zero_shot",
        "n_pos_prompts": int(pos.reshape(-1, d).shape[0]),
        "n_neg_prompts": int(neg.shape[0]),
        "baseline_used": baseline_used,
        "negative_weight": NEGATIVE_WEIGHT,
        "n_sample": int(sample.shape[0]),
    }
    s = (sample @ u.astype(sample.dtype)).astype(np.float64)
    if s.shape[0] >= 2:
        med, sigma = robust_location_scale(s)
    else:
        # No keyframes yet: a unit vector against random unit vectors gives s ~ N(0, 1/d).
        med, sigma = 0.0, 1.0 / np.sqrt(d)
        summary["warning"] = "no sample to calibrate on; assumed s ~ N(0, 1/d)"
    if sigma <= 0:
        sigma = 1.0 / np.sqrt(d)
        summary["warning"] = "sample scores are constant along the prompt direction"
    z = (s - med) / sigma
    if model_calibration is not None and prevalence is None and separation is None:
        mc = model_calibration
        q = float(np.quantile(z, mc.tail_quantile)) if z.shape[0] >= 2 else 0.0
        w = (mc.temperature / sigma) * u
        b = -mc.temperature * med / sigma + mc.tail * q + mc.bias
        summary.update(
            {
                "calibration": "model",
                "model_calibration": mc.to_dict(),
                "median": med,
                "robust_sigma": sigma,
                "tail_z": q,
            }
        )
    else:
        w, b = _em_calibration(z, med, sigma, u, summary, prevalence, separation)
    clf = Classifier(w=w, b=b, summary=summary)
    if model_calibration is not None and summary.get("calibration") == "model" and z.shape[0] >= MIXTURE_MIN_SAMPLE:
        clf.b += _mixture_prevalence_shift(clf.decision(sample), z, summary)
    if s.shape[0]:
        summary["expected_prevalence"] = float(clf.score(sample).mean())
        if shift_decision:
            tau = count_matching_shift(clf.decision(sample))
            if summary.get("calibration") == "model":
                _keep_spread(clf, sample, tau, summary)
            clf.b -= tau
            summary["decision_shift"] = tau
        scores = clf.score(sample)
        summary["sample_frac_above_half"] = float(np.mean(scores >= 0.5))
        summary["sample_score_quantiles"] = {
            str(q): float(v) for q, v in zip((0.5, 0.9, 0.99), np.quantile(scores, [0.5, 0.9, 0.99]), strict=True)
        }
        if neg.shape[0]:
            summary["sample_frac_closer_to_pos"] = float(np.mean(s > 0))
    clf.summary = jsonable(summary)
    return clf


def _keep_spread(clf: Classifier, sample: np.ndarray, tau: float, summary: dict) -> None:
    """Flatten the posterior's slope around the decision point tau where more than decision.SPREAD_TOP_SHARE of the
    sample would score >= decision.SPREAD_SCORE: scores stay spread (a tag whose prompt matches a few keyframes very
    strongly no longer ties them at 1.000) while the keyframes flagged at 0.5 (those with log-odds >= tau) and the
    ranking stay as they are. posterior' = tau + scale * (posterior - tau), so decision_shift keeps meaning the
    posterior's shift."""
    scale = spread_scale(clf.decision(sample) - tau)  # decision.py: the one rule for labeled and prompt-only tags
    if scale < 1.0:
        clf.w = clf.w * scale
        clf.b = tau + scale * (clf.b - tau)
    summary["spread_scale"] = scale


def _mixture_prevalence_shift(f: np.ndarray, z: np.ndarray, summary: dict) -> float:
    """The log-odds to add to a model-calibrated posterior so that its expected count on the sample moves toward
    the count the mixture of the sample's own scores shows (fit_tail), as far as that mixture is clear.

    A calibration learned on one kind of photos carries that kind's typical prevalence: fitted on COCO photos
    (every class rare) it says "rare" for every tag: on a shop's product photos, where a quarter are t-shirts, its
    posterior counts 3 % t-shirts; fitted on product photos (10 classes, one per photo) it says
    "one in ten" and over-counts rare COCO classes. The two-Gaussian mixture of the sample's z sees a tag with a
    separate upper mode (separation delta near 3 and more) and counts it whatever its prevalence; where there is
    no such mode (delta near its prior 2) the mixture knows nothing and the calibration's count stays. In between
    the two counts are mixed on the log scale with weight (delta - 2) / (3 - 2). Moving the posterior's intercept
    (the prior-shift correction of Saerens et al. 2002, with that count as the new prior) keeps its slope, so the
    ranking and the labels' starting point keep their meaning. Measured in docs/tag-quality.md (calibration fitted
    on COCO photos, reported on clothing photos, and the other way round).
    """
    fit = fit_tail(z)
    n = z.shape[0]
    expected = float(sigmoid(f).sum())
    weight = float(np.clip((fit.separation - MIXTURE_TRUST[0]) / (MIXTURE_TRUST[1] - MIXTURE_TRUST[0]), 0.0, 1.0))
    tiny = 1e-9  # log of a count of zero
    target = float(np.exp(weight * np.log(max(fit.prevalence * n, tiny)) + (1 - weight) * np.log(max(expected, tiny))))
    shift = 0.0
    if abs(target - expected) > 1e-6 * n:
        lo, hi = (0.0, 50.0) if target > expected else (-50.0, 0.0)
        for _ in range(60):  # bisection: sum(sigmoid(f + shift)) rises monotonically with shift
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float(sigmoid(f + mid).sum()) < target else (lo, mid)
        shift = 0.5 * (lo + hi)
    summary.update(
        {
            "posterior_prevalence": expected / n,
            "mixture_prevalence": fit.prevalence,
            "mixture_separation": fit.separation,
            "mixture_weight": weight,
            "prevalence_shift": shift,
        }
    )
    return shift


def _em_calibration(z, med, sigma, u, summary, prevalence, separation) -> tuple[np.ndarray, float]:
    """Fallback for models without a learned calibration: the two-Gaussian MAP-EM on the unlabeled sample."""
    fit = (
        fit_tail(z, prevalence=prevalence, separation=separation)
        if z.shape[0] >= 2
        else TailFit(
            prevalence=PREVALENCE_PRIOR if prevalence is None else prevalence,
            separation=SEPARATION_PRIOR if separation is None else separation,
            iterations=0,
        )
    )
    delta, pi = fit.separation, fit.prevalence
    # Back from z units to raw scores: negatives ~ N(mu0, s^2) with mu0 = med + sigma * location.
    mu0 = med + sigma * fit.location
    s_neg = sigma * fit.scale
    w = (delta / s_neg) * u
    b = -delta * mu0 / s_neg - 0.5 * delta * delta + logit(pi)
    z_threshold = 0.5 * delta - logit(pi) / delta
    summary.update(
        {
            "calibration": "gaussian_mixture_em",
            "median": med,
            "robust_sigma": sigma,
            "negative_mean": mu0,
            "negative_sigma": s_neg,
            "separation": delta,
            "prevalence": pi,
            "em_iterations": fit.iterations,
            "z_threshold": z_threshold,
            "raw_threshold": mu0 + s_neg * z_threshold,
        }
    )
    return w, b
