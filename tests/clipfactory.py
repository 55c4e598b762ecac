"""A real, tiny CLIP checkpoint on disk: transformers' CLIPModel with random weights, a byte-level BPE vocabulary
learned here from a few sentences, and CLIP's image preprocessing, all written by `save_pretrained` in the layout of
a hub snapshot. Loading it exercises the same code as loading real weights; only the numbers are meaningless."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

CORPUS = (
    "a photo of a dog. a photo of a cat. a photo of a red car on a street. a picture of people at a table. "
    "two dogs playing in the park. a cat sleeping on a sofa. a bus and a car in traffic. a photo of a pizza."
)
SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def byte_alphabet() -> list[str]:
    """CLIP's byte-level alphabet: one printable character per byte value, in byte order. Printable Latin-1
    bytes stand for themselves; the rest (controls, space, ...) take the code points from 256 upwards."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def learn_merges(text: str, n_merges: int) -> list[tuple[str, str]]:
    """Plain BPE: start from characters (the last one of a word carries '</w>'), merge the most frequent pair."""
    words = Counter(re.findall(r"[a-z]+", text.lower()))
    spelled = {w: [*w[:-1], w[-1] + "</w>"] for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for w, parts in spelled.items():
            for pair in zip(parts, parts[1:], strict=False):
                pairs[pair] += words[w]
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        for w, parts in spelled.items():
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    out.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            spelled[w] = out
    return merges


def write_tokenizer_files(folder: Path, n_merges: int = 60) -> dict[str, int]:
    """vocab.json and merges.txt as CLIP ships them: bytes, bytes with '</w>', merged symbols, the two specials."""
    alphabet = byte_alphabet()
    merges = learn_merges(CORPUS, n_merges)
    tokens = [*alphabet, *(c + "</w>" for c in alphabet), *("".join(m) for m in merges), *SPECIALS]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab


def make_tiny_clip(folder: Path, *, projection_dim: int = 24, image_size: int = 32, seed: int = 0) -> Path:
    """Write a complete random-weight CLIP checkpoint to `folder` and return it."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor

    vocab = write_tokenizer_files(folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    ).save_pretrained(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": vocab[SPECIALS[0]],
            "eos_token_id": vocab[SPECIALS[1]],
            "pad_token_id": vocab[SPECIALS[1]],
        },
        vision_config={
            "image_size": image_size,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=projection_dim,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    return folder
