"""`conse-effnet-lite0` images: ConSE over pooled EfficientNet-Lite0 probabilities, plus its penultimate features.

Vector layout (dim = 384 + 1280 = 1664):
  [0, text_dims)            ConSE part: normalise(Σ_top-T p_k · s_k), unit norm, in MiniLM space.
  [text_dims, dim)          feature part: the classifier's global-average-pooled 1280 features, L2-normalised and
                            multiplied by `feature_scale` (1.0).
Every image vector has the same norm, sqrt(1 + feature_scale²); prompt vectors (textual.py) are unit with a zero
feature part, so prompt·image == ConSE part·prompt, a cosine in [-1, 1].
The feature part is for classifiers trained from visual labels: a cross-validated linear probe on the shared photos
went from 0.44 mAP (ConSE part alone) to 0.48 (whole vector). It is kept whole: a fixed random projection to 256 or
512 dims cost ~0.03 of that gain. Scale 1.0 weighs both parts equally under a plain L2 penalty.

Probabilities p (choices measured in bench/bench_offline_model.py on the shared COCO photos):
  - one forward pass at 352×352 instead of 224 (the network is convolutional; objects in scene photos are small);
  - softmax at temperature 2: the classifier is over-confident, and a softer p lets related classes vote;
  - p = ½ p(whole image) + ½ max over a 3×3 grid of half-size windows of p(window), each window's prediction read
    from the same feature map: an object filling one quarter of the photo still gets its class mass;
  - the 20 most probable classes, each class embedded as "a photo of a {name}" (matching how prompts read).
Together: mAP 0.50 on the 31 COCO classes, against 0.40 for plain ConSE (224, T=1, bare class names) and 0.47 for
the best crop-pooling + WordNet recipe measured before. WordNet hyponym mass is not used: it is not an inner product
of fixed vectors, and added ≤ 0.005 mAP on top of this configuration; its linear, query-side approximation (a prompt
vector whose inner products with the class embeddings reproduce the hyponym indicator) added ≤ 0.004.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..base import TextEncoder, batched, configure_torch_threads, l2_normalize, to_numpy
from .labels import class_embeddings
from .network import DEFAULT_NETWORK, FEATURE_DIM, to_array
from .runtime import load_backbone
from .textual import ConseTextEncoder

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger("mediatag.models")


@dataclass(frozen=True)
class ConseConfig:
    """Knobs of the model. Any of them but batch_size and runtime changes the vectors, and a dataset's stored vectors
    were made with the defaults: only the benchmark builds other configurations."""

    input_size: int = 352
    temperature: float = 2.0
    top_t: int = 20
    window_weight: float = 0.5  # 0: whole image only
    class_template: str = "a photo of a {}"
    feature_scale: float = 1.0
    # Small batches are fastest on CPU here (activations stay in cache): 2 → ~25 images/s, 16 → ~15 on 2 cores.
    batch_size: int = 2
    runtime: str | None = None  # onnx | torch (runtime.py); None: MEDIATAG_CONSE_RUNTIME, else onnx. Same vectors


class ConseVisualEncoder:
    """`VisualEncoder` for the offline model; `text` is the MiniLM encoder shared with the transcript side."""

    def __init__(self, name: str, text: TextEncoder, config: ConseConfig | None = None) -> None:
        configure_torch_threads()
        self.name = name
        self.config = config or ConseConfig()
        self.backbone = load_backbone(
            DEFAULT_NETWORK, self.config.input_size, self.config.runtime
        )  # ONNX Runtime, else PyTorch
        self.runtime, self.device = self.backbone.runtime, self.backbone.device
        self.class_vectors = class_embeddings(text, self.config.class_template)  # (1000, text_dims)
        self.prompts = ConseTextEncoder(name, text, FEATURE_DIM)
        self.text_dims = self.prompts.text_dims
        self.feature_dims = FEATURE_DIM
        self.dim = self.text_dims + self.feature_dims
        self.feature_scale = self.config.feature_scale
        self.image_norm = float(np.sqrt(1.0 + self.feature_scale**2))
        log.info(
            "visual model %s loaded (dim %d = %d ConSE + %d features)",
            name,
            self.dim,
            self.text_dims,
            self.feature_dims,
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.prompts.embed_texts(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        probs, feats = self.probabilities_and_features(images)
        return self.assemble(probs, feats)

    def probabilities_and_features(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled class probabilities (n, 1000) and global features (n, 1280), batch by batch."""
        import torch

        cfg = self.config
        probs, feats = [], []
        with torch.inference_mode():
            for chunk in batched(list(images), cfg.batch_size):
                g, w, _, f = self.backbone.run(to_array(chunk, cfg.input_size))  # half windows, as network.forward
                p = torch.softmax(g / cfg.temperature, -1)
                if cfg.window_weight > 0:
                    pw = torch.softmax(w / cfg.temperature, -1).amax(1)
                    p = (1 - cfg.window_weight) * p + cfg.window_weight * pw
                probs.append(to_numpy(p))
                feats.append(to_numpy(f))
        return np.concatenate(probs), np.concatenate(feats)

    def conse_part(self, probs: np.ndarray) -> np.ndarray:
        """Unit ConSE vectors: the top-T probabilities weight their classes' text embeddings."""
        t = min(self.config.top_t, probs.shape[1])
        top = np.argpartition(-probs, t - 1, axis=1)[:, :t]
        weights = np.take_along_axis(probs, top, 1)
        mixed = np.einsum("nt,ntd->nd", weights, self.class_vectors[top])
        return l2_normalize(mixed)

    def assemble(self, probs: np.ndarray, feats: np.ndarray) -> np.ndarray:
        out = np.empty((len(probs), self.dim), np.float32)
        out[:, : self.text_dims] = self.conse_part(probs)
        out[:, self.text_dims :] = l2_normalize(feats) * self.feature_scale
        return out
