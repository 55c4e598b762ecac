"""How `conse-effnet-lite02-wn2` reads a prompt (models/conse/relevance.py): the phrasing MiniLM sees and the WordNet
sense whose ImageNet classes a tag name covers, on the real WordNet 3.0 database and ImageNet-1k class list. The
earlier model name keeps its reading (its stored prompts and calibration were made with it)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mediatag.models.conse.classprob import CONFIGS, ClassProbConfig
from mediatag.models.conse.labels import class_embeddings, imagenet_class_names, imagenet_class_offsets
from mediatag.models.conse.relevance import ClassRelevance, PromptRules, phrase_prompt, prompt_sense
from mediatag.models.conse.wordnet import load_hierarchy
from mediatag.models.registry import (
    OFFLINE_TEXT,
    OFFLINE_VISUAL,
    PREVIOUS_OFFLINE_VISUAL,
    STRONG_OFFLINE_VISUAL,
    get_text_encoder,
)

NAMES = imagenet_class_names()


@pytest.fixture(scope="module")
def wordnet():
    found = load_hierarchy()
    assert found is not None, "WordNet is installed by scripts/install_system.sh (wordnet-base)"
    return found


@pytest.fixture(scope="module")
def covering(wordnet):
    return wordnet.above(imagenet_class_offsets())


def classes_of(wordnet, synset: int | None) -> set[str]:
    index = {o: i for i, o in enumerate(imagenet_class_offsets())}
    return set() if synset is None else {NAMES[index[o]] for o in wordnet.below(synset) if o in index}


def test_base_forms_list_every_lemma_a_word_can_be(wordnet):
    assert wordnet.base_forms("shoes") == ["shoes", "shoe"]  # "shoes" is itself a lemma: "place, shoes"
    assert wordnet.base_forms("Pants") == ["pants", "pant"]
    assert wordnet.base_forms("mice") == ["mouse"]
    assert wordnet.base_forms("qwxzvb") == []
    assert wordnet.base_form("shoes") == "shoes"  # the earlier rule, unchanged for conse-effnet-lite02-wn


def test_covering_synsets_are_the_imagenet_classes_and_their_hypernyms(wordnet, covering):
    offsets = imagenet_class_offsets()
    assert set(offsets) <= covering and 1000 < len(covering) < 3000
    shoe = wordnet.senses["shoe"][0]
    assert shoe in covering and wordnet.senses["shoes"][0] not in covering  # the idiom covers no class


@pytest.mark.parametrize(
    "prompt, lemma, must_cover",
    [
        ("shoes", "shoe", {"sneaker", "sandal"}),  # not the first sense of "shoes" (an idiom)
        ("pants", "trouser", {"jeans"}),  # "pants" covers nothing; its base form "pant" has the garment sense
        ("skirt", "skirt", {"miniskirt", "hoop skirt"}),  # the garment, not the first sense (a flap)
        ("t shirt", "t-shirt", {"T-shirt"}),  # the words joined by "-" name the lemma
        ("long sleeve shirt", "shirt", {"T-shirt"}),  # a compound WordNet lacks: its head noun
        ("a photo of two dogs in a park", "dog", {"Leonberger", "Dalmatian"}),
        ("hot dog", "hot_dog", {"hot dog"}),  # a known compound stays itself, not a dog
    ],
)
def test_prompt_sense_covers_the_classes_a_tag_means(wordnet, covering, prompt, lemma, must_cover):
    synset = prompt_sense(prompt, wordnet, covering.__contains__)
    assert synset is not None and lemma in wordnet.lemmas[synset], (prompt, synset and wordnet.lemmas[synset])
    found = classes_of(wordnet, synset)
    assert must_cover <= found, (prompt, sorted(found))
    if prompt == "hot dog":
        assert "Leonberger" not in found


def test_prompt_sense_none_for_unknown_words_or_senses_without_classes(wordnet, covering):
    assert prompt_sense("qwxzvb", wordnet, covering.__contains__) is None
    assert prompt_sense("a photo of a qwxzvb", wordnet, covering.__contains__) is None
    assert prompt_sense("happiness", wordnet, covering.__contains__) is None  # a noun no ImageNet class is below


@pytest.mark.parametrize(
    "prompt, phrased",
    [
        ("dog", "a photo of a dog"),
        ("  t  shirt ", "a photo of a t shirt"),
        ("two dogs", "a photo of two dogs"),
        ("the red car", "a photo of the red car"),
        ("A photo of a cat", "A photo of a cat"),
        ("close-up picture of a red car", "close-up picture of a red car"),
    ],
)
def test_phrase_prompt_words_a_tag_like_the_class_names(prompt, phrased):
    assert phrase_prompt(prompt) == phrased


def test_default_reads_prompts_the_new_way_and_the_previous_name_keeps_its_vectors():
    assert OFFLINE_VISUAL == STRONG_OFFLINE_VISUAL == "conse-effnet-lite02-wn2"
    new, old = CONFIGS[STRONG_OFFLINE_VISUAL], CONFIGS[PREVIOUS_OFFLINE_VISUAL]
    assert old == ClassProbConfig()  # the stored vectors of conse-effnet-lite02-wn datasets were made with these
    assert new.prompt_rules == PromptRules(phrase=True, covering_sense=True)
    # Only the prompt side differs, so both names give the same image vectors.
    assert dataclasses.replace(new, prompt_rules=old.prompt_rules) == old


def test_new_reading_weighs_the_shoe_classes_for_shoes(wordnet):
    text = get_text_encoder(OFFLINE_TEXT)
    classes = class_embeddings(text, ClassProbConfig().class_template)
    rows = {}
    for rules in (PromptRules(), PromptRules(phrase=True, covering_sense=True)):
        rel = ClassRelevance(classes, imagenet_class_offsets(), wordnet, 0.12, 0.5, rules)
        prompts = ["shoes", "skirt"]
        rows[rules.phrase] = rel.weights(prompts, text.embed_texts(rel.texts_to_embed(prompts)))
    np.testing.assert_allclose(np.linalg.norm(rows[True], axis=1), 1.0, atol=1e-6)
    sneaker, miniskirt = NAMES.index("sneaker"), NAMES.index("miniskirt")
    assert rows[True][0, sneaker] > rows[False][0, sneaker] + 0.05, (rows[True][0, sneaker], rows[False][0, sneaker])
    assert rows[True][1, miniskirt] > rows[False][1, miniskirt] + 0.05
