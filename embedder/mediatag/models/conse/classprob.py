"""`conse-effnet-lite02-wn2` and `conse-effnet-lite02-wn`: images as ImageNet class probabilities of two
EfficientNet-Lite networks, prompts as weights over those classes (relevance.py). The two names give identical image
vectors; they differ in how a prompt is read (`PromptRules`, `CONFIGS`): wn2, the offline default, phrases a bare tag
name like the class names and picks the WordNet sense that covers ImageNet classes (bench/bench_zero_shot.py).

Vector layout (dim = 1000 + 1280 = 2280):
  [0, 1000)     class part. Image: sqrt(p), p the pooled class probabilities (unit L2 norm, since Σp = 1).
                Prompt: unit relevance weights r over the same classes. prompt·image = Σ_k r_k sqrt(p_k).
  [1000, 2280)  feature part. Image: EfficientNet-Lite2's global-average-pooled 1280 features, L2-normalised, times
                `feature_scale`; prompts: zeros. For classifiers trained from visual labels, as in the older model.
Every image vector has norm sqrt(1 + feature_scale²); prompts are unit vectors.

p = mean over the two networks (Lite0 at 352 px, Lite2 at 448 px; both are convolutional and see small objects
better above their training size) of ⅖ p(whole image) + ⅗ · the best window, where windows are read from the one
feature map (half-size windows on a 3×3 grid and third-size windows on a 5×5 grid, each class its own best window),
at softmax temperature 3. sqrt(p) instead of p: many classes with a little mass each count, as in the ConSE top-T.
The knobs were chosen on one half of the shared COCO photos and reported on the other half too
(bench/bench_offline_model.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..base import TextEncoder, batched, configure_torch_threads, l2_normalize, to_numpy
from .labels import class_embeddings, imagenet_class_offsets
from .network import FEATURE_DIM, to_array
from .relevance import ClassRelevance, PromptRules
from .runtime import Backbone, load_backbone
from .wordnet import load_hierarchy

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("mediatag.models")
N_CLASSES = 1000
NETWORKS = (("efficientnet-lite0", 352), ("efficientnet-lite2", 448))


@dataclass(frozen=True)
class ClassProbConfig:
    """Any field but batch_size and runtime changes the vectors: a dataset's stored vectors were made with the
    defaults."""

    networks: tuple[tuple[str, int], ...] = NETWORKS
    temperature: float = 3.0
    half_window_weight: float = 0.3
    third_window_weight: float = 0.3
    features_from: str = "efficientnet-lite2"
    feature_scale: float = 1.0
    class_template: str = "a photo of a {}"
    relevance_tau: float = 0.12
    wordnet_weight: float = 0.5  # 0: no WordNet (also what happens where wordnet-base is not installed)
    prompt_rules: PromptRules = PromptRules()  # how prompts are read (relevance.py); the default is lite02-wn's
    batch_size: int = 2
    runtime: str | None = None  # onnx | torch (runtime.py); None: MEDIATAG_CONSE_RUNTIME, else onnx. Same vectors


# Model name → its configuration (a name's vectors never change; a new reading of prompts is a new name).
CONFIGS = {
    "conse-effnet-lite02-wn": ClassProbConfig(),
    "conse-effnet-lite02-wn2": ClassProbConfig(prompt_rules=PromptRules(phrase=True, covering_sense=True)),
}


class ClassProbVisualEncoder:
    """`VisualEncoder` for the offline model; `text` is the MiniLM encoder shared with the transcript side."""

    def __init__(self, name: str, text: TextEncoder, config: ClassProbConfig | None = None) -> None:
        configure_torch_threads()
        self.name, self.text = name, text
        self.config = cfg = config or ClassProbConfig()
        if cfg.features_from not in {n for n, _ in cfg.networks}:
            raise ValueError(f"features_from {cfg.features_from!r} is not one of the networks {cfg.networks}")
        # ONNX Runtime where it loads, else PyTorch (runtime.py); MEDIATAG_CONSE_RUNTIME=torch forces PyTorch
        self.backbones: dict[str, Backbone] = {n: load_backbone(n, size, cfg.runtime) for n, size in cfg.networks}
        wordnet = load_hierarchy() if cfg.wordnet_weight else None
        if cfg.wordnet_weight and wordnet is None:
            log.warning("%s: WordNet not found (apt-get install wordnet-base): prompts use class names only", name)
        self.relevance = ClassRelevance(
            class_embeddings(text, cfg.class_template),
            imagenet_class_offsets(),
            wordnet,
            cfg.relevance_tau,
            cfg.wordnet_weight,
            cfg.prompt_rules,
        )
        self.class_dims, self.feature_dims = N_CLASSES, FEATURE_DIM
        self.dim = self.class_dims + self.feature_dims
        self.image_norm = float(np.sqrt(1.0 + cfg.feature_scale**2))
        self.runtime = "+".join(sorted({b.runtime for b in self.backbones.values()}))
        self.device = next(iter(self.backbones.values())).device
        log.info(
            "visual model %s loaded (dim %d = %d classes + %d features) on %s",
            name,
            self.dim,
            N_CLASSES,
            FEATURE_DIM,
            self.runtime,
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if texts:
            prompts = list(texts)
            vectors = self.text.embed_texts(self.relevance.texts_to_embed(prompts))
            out[:, : self.class_dims] = self.relevance.weights(prompts, vectors)
        return out

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        probs, feats = self.probabilities_and_features(images)
        out = np.empty((len(images), self.dim), np.float32)
        out[:, : self.class_dims] = np.sqrt(probs / probs.sum(1, keepdims=True))
        out[:, self.class_dims :] = l2_normalize(feats) * self.config.feature_scale
        return out

    def probabilities_and_features(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled class probabilities (n, 1000), averaged over the networks, and the chosen network's features."""
        import torch

        cfg = self.config
        probs, feats = [], []
        with torch.inference_mode():
            for chunk in batched(list(images), cfg.batch_size):
                p_sum = None
                for net_name, size in cfg.networks:
                    g, w2, w3, f = self.backbones[net_name].run(to_array(chunk, size))
                    p = self.pool(g, w2, w3)
                    p_sum = p if p_sum is None else p_sum + p
                    if net_name == cfg.features_from:
                        feats.append(to_numpy(f))
                probs.append(to_numpy(p_sum / len(cfg.networks)))
        return np.concatenate(probs).astype(np.float64), np.concatenate(feats)

    def pool(self, g, w2, w3):  # noqa: ANN001, ANN201 — torch tensors; torch is imported lazily
        import torch

        cfg = self.config
        t = cfg.temperature
        p = (1 - cfg.half_window_weight - cfg.third_window_weight) * torch.softmax(g / t, -1)
        if cfg.half_window_weight:
            p = p + cfg.half_window_weight * torch.softmax(w2 / t, -1).amax(1)
        if cfg.third_window_weight:
            p = p + cfg.third_window_weight * torch.softmax(w3 / t, -1).amax(1)
        return p
