import numpy as np
import pytest

from mediatag_ml.metrics import average_precision, best_threshold, roc_auc, threshold_metrics


def _brute(scores, truth, thresholds):
    rows = {k: [] for k in ("tp", "fp", "fn", "tn", "precision", "recall", "f1", "f05", "accuracy")}
    for t in thresholds:
        pred = scores >= t
        tp = int(np.sum(pred & truth))
        fp = int(np.sum(pred & ~truth))
        fn = int(np.sum(~pred & truth))
        tn = int(np.sum(~pred & ~truth))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 0.0
        rows["tp"].append(tp)
        rows["fp"].append(fp)
        rows["fn"].append(fn)
        rows["tn"].append(tn)
        rows["precision"].append(p)
        rows["recall"].append(r)
        rows["f1"].append(2 * p * r / (p + r) if p + r else 0.0)
        rows["f05"].append(1.25 * p * r / (0.25 * p + r) if p + r else 0.0)
        rows["accuracy"].append((tp + tn) / len(scores))
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    # Rounded scores create ties, including exactly on thresholds.
    scores = np.round(rng.random(n), 2)
    truth = rng.random(n) < rng.random()
    got = threshold_metrics(scores, truth)
    want = _brute(scores, truth, np.round(np.linspace(0, 1, 101), 2))
    for key, values in want.items():
        np.testing.assert_allclose(got[key], values, rtol=1e-12, atol=1e-12, err_msg=key)
    assert got["n"] == n and got["n_pos"] == int(truth.sum())


def test_custom_thresholds_and_empty_classes():
    scores = np.array([0.1, 0.9, 0.4])
    got = threshold_metrics(scores, np.zeros(3, bool), thresholds=np.array([0.0, 0.5, 2.0]))
    assert got["recall"] == [0.0, 0.0, 0.0]
    assert got["precision"][-1] == 1.0 and got["predicted"] == [3, 1, 0]
    assert got["auc"] is None and got["average_precision"] is None


def test_auc_and_average_precision_match_definitions():
    rng = np.random.default_rng(1)
    s = np.round(rng.random(300), 1)
    t = rng.random(300) < 0.3
    pos, neg = s[t], s[~t]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert roc_auc(s, t) == pytest.approx(pairs)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert average_precision(s, t) == pytest.approx(sklearn_metrics.average_precision_score(t, s))


def test_best_threshold_constructed_optimum():
    # Positives at 0.7-0.8, negatives spread below 0.6 and one at 0.75: best F1 needs t in (0.6, 0.7].
    scores = np.array([0.7, 0.72, 0.8, 0.78, 0.75, 0.1, 0.2, 0.3, 0.55, 0.6])
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    t, value = best_threshold(scores, truth, "f1")
    assert value == pytest.approx(2 * 4 / (2 * 4 + 1))
    # Every threshold in (0.60, 0.70] ties; the one nearest 0.5 wins.
    assert t == pytest.approx(0.61)
    t_acc, acc = best_threshold(scores, truth, "accuracy")
    assert acc == pytest.approx(0.9) and t_acc == pytest.approx(0.61)


def test_best_threshold_tie_break_toward_half():
    scores = np.array([0.05, 0.95])
    truth = np.array([False, True])
    t, value = best_threshold(scores, truth, "f1")
    assert value == 1.0 and t == pytest.approx(0.5)


def test_best_threshold_precision_needs_enough_predictions():
    rng = np.random.default_rng(2)
    scores = np.r_[0.99, rng.uniform(0.0, 0.9, 200)]
    truth = np.r_[True, rng.random(200) < 0.3]
    truth[scores > 0.8] = True  # a reliable high band with many keyframes
    t, value = best_threshold(scores, truth, "precision")
    # Not the 0.99 singleton: the chosen threshold keeps at least five predictions.
    assert threshold_metrics(scores, truth, np.array([t]))["predicted"][0] >= 5
    assert value == 1.0
    assert best_threshold(scores, truth, "precision", min_predicted=1)[0] >= t


def test_recall_prefers_highest_threshold_nearest_half():
    scores = np.array([0.2, 0.3, 0.45, 0.9])
    truth = np.array([False, False, True, True])
    t, value = best_threshold(scores, truth, "recall")
    assert value == 1.0 and t == pytest.approx(0.45)


def test_bad_metric_and_lengths():
    with pytest.raises(ValueError):
        best_threshold(np.zeros(2), np.zeros(2, bool), "auc")
    with pytest.raises(ValueError):
        threshold_metrics(np.zeros(3), np.zeros(2, bool))
