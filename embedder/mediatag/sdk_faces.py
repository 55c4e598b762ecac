"""Face methods of `mediatag.Client` that work with photo files (mixed into the Client; every other face and
person method is its SQL function): the faces of a local photo are found here, in this process, with the same dlib
models as ingest (mediatag.faces.photos), and only their descriptors go to the database (SQL alone does the same
through the service: mediatag.photo_faces). So a person is searched for, or taught to a tag or concept, from
photos that are never ingested."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .faces.photos import photo_face


class FacePhotos:
    call: Callable[..., Any]  # the Client's (sdk_calls.CatalogCalls)
    rows: Callable[..., list[dict[str, Any]]]

    def search_face_photo(
        self, dataset: str, path: str | Path, k: int | None = None, max_distance: float | None = None
    ) -> list[dict[str, Any]]:
        """Find the person of a photo across a dataset: the photo's largest face (found here) against every face
        of the dataset (mediatag.search_faces), nearest first; the rows of search_faces."""
        face = photo_face(path)
        return self.rows("search_faces", dataset=dataset, descriptor=face.descriptor, k=k, max_distance=max_distance)

    def add_face_example_photos(
        self, tag_group: str, tag: str, paths: Sequence[str | Path], dataset: str | None = None
    ) -> int:
        """Make a tag a person tag from example photos of that person: each photo's largest face becomes an
        example (mediatag.add_face_example_descriptors); returns the number of face examples the tag has."""
        faces = [photo_face(p) for p in paths]
        return self.call(
            "add_face_example_descriptors", tag_group=tag_group, tag=tag, descriptors=[f.descriptor for f in faces],
            sources=[Path(p).name for p in paths], dataset=dataset,
        )  # fmt: skip

    def add_concept_face_photos(self, concept: str, paths: Sequence[str | Path]) -> int:
        """Make a concept a person concept from example photos: each photo's largest face becomes an example
        (mediatag.add_concept_face_descriptors); returns the concept's new version."""
        faces = [photo_face(p) for p in paths]
        return self.call(
            "add_concept_face_descriptors", concept=concept, descriptors=[f.descriptor for f in faces],
            sources=[Path(p).name for p in paths],
        )  # fmt: skip
