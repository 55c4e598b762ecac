"""Synthetic CLIP-like embeddings for tests and benchmarks (no model weights needed).

What it imitates, because calibration depends on it: images and prompts sit in two separate cones (CLIP's
modality gap: image·prompt cosines of ~0.15-0.35, never near 1), concepts come in related pairs (so hard
negative prompts exist), an image can show several concepts, prevalence is long-tailed (30 % down to
0.5 %), and images share a low-rank "style" variation unrelated to any tag. layout="offline" mimics the
offline model's 1664-d vectors: prompts live in the first 384 dims only, images carry extra feature dims
that prompts have as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OFFLINE_PROMPT_DIMS = 384
OFFLINE_DIMS = 1664


@dataclass
class SyntheticSet:
    X: np.ndarray  # (n, d) float32 unit image embeddings
    Y: np.ndarray  # (n, K) bool, concept present in image
    prompts: np.ndarray  # (K, d) unit prompt embeddings, one per concept
    related: np.ndarray  # (K,) index of each concept's related concept (a natural hard negative)
    generic_prompt: np.ndarray  # (d,) "a photo": close to the text cone, no concept


class ConceptWorld:
    """Fixed concepts and prompts; draw as many image sets from it as needed (train / held-out)."""

    def __init__(self, *, d: int = 512, n_concepts: int = 24, layout: str = "clip", seed: int = 0) -> None:
        if layout not in ("clip", "offline"):
            raise ValueError("layout is 'clip' or 'offline'")
        self.layout = layout
        self.d = OFFLINE_DIMS if layout == "offline" else d
        self.d_text = OFFLINE_PROMPT_DIMS if layout == "offline" else d
        rng = np.random.default_rng(seed)
        dt = self.d_text
        self.g_img = _unit(rng.standard_normal(dt))
        self.g_txt = _unit(0.4 * self.g_img + _unit(rng.standard_normal(dt)))
        self.n_concepts = n_concepts
        base = rng.standard_normal((n_concepts, dt))
        # Concepts in pairs (2j, 2j+1) with cosine ~0.6: "dog"/"wolf".
        for j in range(0, n_concepts - 1, 2):
            base[j + 1] = 0.75 * base[j] + 0.66 * base[j + 1]
        self.concepts = base / np.linalg.norm(base, axis=1, keepdims=True)
        self.related = np.array([k + 1 if k % 2 == 0 else k - 1 for k in range(n_concepts)])
        self.related[self.related >= n_concepts] = n_concepts - 2 if n_concepts > 1 else 0
        self.prevalence = np.geomspace(0.3, 0.005, n_concepts)
        rng.shuffle(self.prevalence)
        self.style = np.linalg.qr(rng.standard_normal((dt, 32)))[0]
        prompts = self.g_txt + 0.9 * self.concepts + 0.25 * rng.standard_normal((n_concepts, dt)) / np.sqrt(dt) * 4
        self.prompts_text = prompts / np.linalg.norm(prompts, axis=1, keepdims=True)
        self.generic_text = _unit(self.g_txt + 0.1 * rng.standard_normal(dt) / np.sqrt(dt) * 4)
        # Offline layout: extra image-only features that also (weakly) encode the concepts.
        self.extra_proj = rng.standard_normal((n_concepts, self.d - dt)) if layout == "offline" else None

    def draw(self, n: int, seed: int) -> SyntheticSet:
        rng = np.random.default_rng(seed)
        dt = self.d_text
        Y = rng.random((n, self.n_concepts)) < self.prevalence
        strength = rng.uniform(0.2, 0.8, size=Y.shape) * Y
        X = (
            1.8 * self.g_img
            + strength @ self.concepts
            + rng.standard_normal((n, 32)) @ self.style.T * 0.3
            + rng.standard_normal((n, dt)) * (0.55 / np.sqrt(dt))
        )
        if self.extra_proj is not None:
            extra = strength @ self.extra_proj * 0.05 + rng.standard_normal((n, self.d - dt)) * 0.03
            X = np.hstack([X / np.linalg.norm(X, axis=1, keepdims=True), extra])
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        return SyntheticSet(
            X=X.astype(np.float32),
            Y=Y,
            prompts=self._pad(self.prompts_text),
            related=self.related.copy(),
            generic_prompt=self._pad(self.generic_text[None, :])[0],
        )

    def _pad(self, P: np.ndarray) -> np.ndarray:
        if self.d == self.d_text:
            return P.astype(np.float32)
        return np.hstack([P, np.zeros((P.shape[0], self.d - self.d_text))]).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
