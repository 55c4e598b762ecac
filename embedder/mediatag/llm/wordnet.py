"""Offline prompt suggestions from WordNet 3.0 (Debian's `wordnet-base` in /usr/share/wordnet).

nltk reads the WordNet database files directly; the Debian package lacks the small `lexnames` table nltk also wants,
so it is supplied from memory (the 45 lexicographer file names in the order of the lexnames(5WN) man page).
From the tag's words: synonyms and hyponyms (kinds of it) become positive prompts, hypernyms give a context
phrase, and co-hyponyms (siblings under the same hypernym) and antonyms become negatives — near misses, which
is what a negative prompt is for. Each is phrased with templates for keyframes and for speech.
"""

from __future__ import annotations

import difflib
import io
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from .suggest import Suggestion, dedupe

# lexnames(5WN): file number = position; syntactic category 1 noun, 2 verb, 3 adjective, 4 adverb.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition "
    "noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape "
    "noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl"
).split()
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
SEARCH_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/WordNet-3.0/dict")
SOURCE = "wordnet"

# Words never suggested: insults and slurs WordNet lists without a usage mark (its "bitch" and "cur" are a female
# dog and a mongrel, but nobody wants "a photo of a bitch" among a tag's prompts).
OFFENSIVE = frozenset(
    "bitch bitches cur bastard whore slut harlot wench hag crone tramp retard midget cripple spastic mongoloid "
    "moron imbecile idiot cretin savage negro coon jap chink gook dyke fag faggot squaw gyp half-breed".split()
)
# WordNet's usage domains that mark a word's sense as slang, insulting, vulgar or out of use: such a word is
# dropped whichever of its senses is meant (a reader sees the word, not the sense).
MARKED_USAGE = frozenset(
    "slang.n.02 disparagement.n.01 obscenity.n.02 vulgarism.n.01 ethnic_slur.n.01 archaism.n.01 "
    "colloquialism.n.01 euphemism.n.01".split()
)


class WordNetUnavailable(RuntimeError):
    pass


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES))


def find_wordnet_dir() -> Path:
    env = os.environ.get("MEDIATAG_WORDNET_DIR") or os.environ.get("WNSEARCHDIR")
    for d in ([env] if env else []) + list(SEARCH_DIRS):
        if d and (Path(d) / "data.noun").is_file() and (Path(d) / "index.noun").is_file():
            return Path(d)
    raise WordNetUnavailable(
        "WordNet is not installed: install Debian's wordnet-base (apt-get install wordnet-base) "
        "or set MEDIATAG_WORDNET_DIR to a directory holding data.noun and index.noun"
    )


_reader: Any = None
_lock = threading.Lock()


def reader() -> Any:
    """The nltk WordNet reader over the system's database files (loaded once per process, a few seconds)."""
    global _reader
    with _lock:
        if _reader is None:
            root = find_wordnet_dir()
            import nltk
            from nltk.corpus.reader.wordnet import WordNetCorpusReader

            class _DebianWordNet(WordNetCorpusReader):
                def open(self, file: str) -> Any:  # noqa: A003 — nltk's method name
                    if file == "lexnames":
                        return io.StringIO(lexnames_text())
                    return super().open(file)

                def map_wn(self, version: str = "wordnet") -> None:
                    return None  # the mapping to other WordNet versions (for multilingual data) is not used

            # nltk only opens files under its data roots.
            if str(root) not in nltk.data.path:
                nltk.data.path.append(str(root))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "multilingual functions are not available": not needed here
                _reader = _DebianWordNet(str(root), None)
        return _reader


def _words(lemma: Any) -> str:
    return lemma.name().replace("_", " ")


def suitable(wn: Any, lemma: Any) -> bool:
    """Whether a lemma makes a prompt a person would write: not offensive, slang or archaic in any sense, not a
    scientific or proper name ("Canis familiaris", "Newfoundland"), and the word's most frequent sense is the one
    meant (WordNet's first "wildcat" is an oil well, so it is no kind of cat to a reader)."""
    w = lemma.name()
    if w[:1].isupper() or any(part.lower() in OFFENSIVE for part in w.replace("-", "_").split("_")):
        return False
    senses = wn.synsets(w, lemma.synset().pos())
    if any(u.name() in MARKED_USAGE for s in senses for u in s.usage_domains()):
        return False
    return bool(senses) and senses[0] == lemma.synset()


def _names(synsets: list[Any], skip: set[str], limit: int, wn: Any = None) -> list[str]:
    out: list[str] = []
    # Most frequent senses first (SemCor counts in cntlist.rev); nltk's order of related synsets is not stable.
    synsets = sorted(synsets, key=lambda s: (-sum(lm.count() for lm in s.lemmas()), s.name()))
    for s in synsets:
        for lemma in s.lemmas():
            w = _words(lemma)
            if wn is not None and not suitable(wn, lemma):
                continue
            if w.lower() not in skip and w.lower() not in {o.lower() for o in out}:
                out.append(w)
                break  # one name per synset: the most common one
        if len(out) >= limit:
            break
    return out


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _noun_synsets(wn: Any, words: list[str]) -> tuple[list[Any], list[str], str]:
    """Senses of the longest noun phrase WordNet knows (whole tag, then its tail), the modifiers before it, and its
    base form. Only senses in the first sense's lexicographer file are kept ("dog" the animal, not the person)."""
    for start in range(len(words)):
        phrase = "_".join(words[start:])
        base = wn.morphy(phrase, "n") or phrase
        found = wn.synsets(base, "n")
        if found:
            return [s for s in found if s.lexname() == found[0].lexname()], words[:start], base.replace("_", " ")
    return [], words, " ".join(words)


def _variant(a: str, b: str) -> bool:
    """Spelling variants ("scarey"/"scary", "icecream"/"ice cream") are not new prompts."""
    return difflib.SequenceMatcher(None, a.lower().replace(" ", ""), b.lower().replace(" ", "")).ratio() >= 0.8


def _name_suggestions(tag: str, per_list: int) -> list[Suggestion]:
    # A proper name WordNet does not know (a person, a brand): templates only, no negatives to guess.
    visual = [f"a photo of {tag}", f"a close-up portrait of {tag}", f"{tag} on stage", f"{tag} in a crowd"]
    speech = [f"this is {tag}", f"did you see {tag}?", f"{tag} said", f"an interview with {tag}"]
    return [Suggestion("positive", "visual", t, SOURCE) for t in visual[:per_list]] + [
        Suggestion("positive", "transcript", t, SOURCE) for t in speech[:per_list]
    ]


def wordnet_suggestions(tag: str, existing: list[tuple[str, str, str]] = (), per_list: int = 5) -> list[Suggestion]:
    """Suggestions for `tag`; `existing` holds (polarity, modality, text) already on the tag, which are dropped."""
    wn = reader()
    words = [w for w in tag.lower().split() if w]
    if not words:
        return []
    if not wn.synsets("_".join(words)) and any(w[:1].isupper() for w in tag.split()):
        return dedupe(_name_suggestions(tag, per_list), existing)
    nouns, modifiers, head = _noun_synsets(wn, words)
    skip = {tag.lower(), head}

    # Modifiers (e.g. "scary" in "scary scenes"): their synonyms restyle the head noun, their antonyms (found
    # through similar adjectives for satellites like "scary") make the negatives.
    mod_syn: list[str] = []
    mod_ant: list[str] = []
    for m in modifiers:
        for s in wn.synsets(m, "a")[:2] + wn.synsets(m, "s")[:2]:
            for lemma in s.lemmas():
                w = _words(lemma)
                if not _variant(w, m) and w not in mod_syn:
                    mod_syn.append(w)
            for sim in [s, *s.similar_tos()]:
                for lemma in sim.lemmas():
                    mod_ant += [_words(a) for a in lemma.antonyms() if _words(a) not in mod_ant]
    prefix = " ".join(modifiers)
    styled = [f"{w} {head}" for w in mod_syn]

    synonyms: list[str] = []
    hypernyms: list[str] = []
    hyponyms: list[str] = []
    siblings: list[str] = []
    for s in nouns[: 1 if modifiers else 2]:
        synonyms += [
            _words(lm)
            for lm in s.lemmas()
            if suitable(wn, lm) and not any(_variant(_words(lm), x) for x in [*skip, *synonyms])
        ]
        # The most specific parent ("canine" rather than "domestic animal" for dog) has the nearest siblings.
        for h in sorted(s.hypernyms(), key=lambda h: (-h.min_depth(), h.name()))[:1]:
            hypernyms += _names([h], skip, 1, wn)
            siblings += _names([x for x in h.hyponyms() if x != s], skip | {x.lower() for x in siblings}, per_list, wn)
        if not modifiers:  # kinds of "scene" are not kinds of "scary scene"
            hyponyms += _names(s.hyponyms(), skip | {x.lower() for x in hyponyms}, per_list, wn)
    # A sibling named after the tag ("wild dog" for dog, "big cat" for cat) looks like it: no near miss to push
    # away. Nor is anything also suggested as a positive.
    positives = {x.lower() for x in synonyms + hyponyms}
    siblings = [w for w in siblings if head.lower() not in w.lower().split() and w.lower() not in positives]
    if prefix:
        synonyms = [f"{prefix} {w}" for w in synonyms]
        hyponyms = [f"{prefix} {w}" for w in hyponyms]

    visual_pos: list[str] = []
    speech_pos: list[str] = []
    for w in styled[:3]:
        visual_pos.append(f"a photo of {_article(w)}")
        speech_pos.append(f"this is so {w.split()[0]}")
    for w in synonyms[:3]:
        visual_pos.append(f"a photo of {_article(w)}")
        speech_pos.append(f"look at that {w}")
    for w in hyponyms[:3]:
        visual_pos.append(f"a close-up photo of {_article(w)}")
        speech_pos.append(f"did you see the {w}?")
    if hypernyms:
        visual_pos.append(f"a photo of {_article(f'{prefix} {head}'.strip())}, a kind of {hypernyms[0]}")
        speech_pos.append(f"talking about {_article(f'{prefix} {head}'.strip())}")

    visual_neg: list[str] = []
    speech_neg: list[str] = []
    for a in mod_ant[:3]:
        visual_neg.append(f"a photo of {_article(f'{a} {head}')}")
        speech_neg.append(f"this is so {a}")
    # Siblings are near misses of a plain noun ("wolf" for "dog"); with a modifier the near miss is the antonym.
    for w in siblings[: 0 if mod_ant else 4]:
        visual_neg.append(f"a photo of {_article(w)}")
        speech_neg.append(f"talking about {_article(w)}")

    out = (
        [Suggestion("positive", "visual", t, SOURCE) for t in visual_pos[:per_list]]
        + [Suggestion("negative", "visual", t, SOURCE) for t in visual_neg[:per_list]]
        + [Suggestion("positive", "transcript", t, SOURCE) for t in speech_pos[:per_list]]
        + [Suggestion("negative", "transcript", t, SOURCE) for t in speech_neg[:per_list]]
    )
    return dedupe(out, existing)
