"""Search end to end on real photos and a real video with the offline model: text-to-image, more-like-this,
filters (metadata, concepts, tags), per-video grouping, paging, transcript search, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediatag.db import connect

from .conftest import unique

COLUMNS = {"keyframe_id", "asset_id", "video_id", "keyframe_time_ms", "path", "score"}


@pytest.fixture(scope="module")
def series_dataset(db_url, service, coco_files, media_dir) -> str:
    """20 photos in two 'series' (metadata), for filter tests."""
    from mediatag.ingest import IngestOptions, ingest

    name = unique("series")
    with connect(db_url) as c:
        ingest(
            c, name, coco_files[:10], IngestOptions(progress=False, media_dir=media_dir, metadata={"SeriesName": "A"})
        )
        ingest(
            c, name, coco_files[10:20], IngestOptions(progress=False, media_dir=media_dir, metadata={"SeriesName": "B"})
        )
    return name


def _series(conn, dataset: str) -> dict[int, str]:
    rows = conn.execute(
        "SELECT k.id, a.metadata ->> 'SeriesName' FROM mediatag.keyframe k JOIN mediatag.asset a ON a.id = k.asset_id "
        "WHERE k.dataset_id = mediatag.dataset_id(%s)",
        (dataset,),
    ).fetchall()
    return dict(rows)


def test_text_search_finds_the_query(client, coco_dataset, labels):
    rows = client.search(coco_dataset, query="a pizza on a plate", k=5)
    assert len(rows) == 5 and COLUMNS <= set(rows[0])
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(rows[i]["score"] >= rows[i + 1]["score"] for i in range(4))
    assert any("pizza" in labels[Path(r["path"]).name] for r in rows)


def test_more_like_this_matches_exact_search(client, conn, coco_dataset):
    kf = conn.execute(
        "SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s) ORDER BY id LIMIT 1",
        (coco_dataset,),
    ).fetchone()[0]
    rows = client.search(coco_dataset, keyframe=kf, k=10)
    exact = conn.execute(
        "SELECT k.id FROM mediatag.keyframe k, mediatag.keyframe q WHERE q.id = %s AND k.dataset_id = q.dataset_id "
        "AND k.id <> q.id ORDER BY k.embedding <#> q.embedding, k.id LIMIT 10",
        (kf,),
    ).fetchall()
    assert [r["keyframe_id"] for r in rows] == [e[0] for e in exact]
    assert kf not in {r["keyframe_id"] for r in rows}


def test_paging_with_offset(client, coco_dataset):
    full = [r["keyframe_id"] for r in client.search(coco_dataset, query="a dog", k=10)]
    second = [r["keyframe_id"] for r in client.search(coco_dataset, query="a dog", k=5, offset=5)]
    assert second == full[5:]


def test_metadata_filter(client, conn, series_dataset):
    series = _series(conn, series_dataset)
    rows = client.search(series_dataset, query="a photo", k=50, metadata={"SeriesName": "B"})
    assert len(rows) == 10 and all(series[r["keyframe_id"]] == "B" for r in rows)
    assert client.search(series_dataset, query="a photo", k=5, metadata={"SeriesName": "nope"}) == []
    with pytest.raises(Exception, match="metadata filter must be a JSON object"):
        client.search(series_dataset, query="a photo", metadata=["B"])


def test_concept_filter_keeps_only_decisions(client, conn, coco_dataset, labels):
    concept = unique("food")
    client.create_concept(coco_dataset, concept, "a photo of food on a plate")
    kf = {
        Path(p).name: i
        for p, i in conn.execute(
            "SELECT image_path, id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (coco_dataset,)
        )
    }
    food = {"pizza", "sandwich", "broccoli", "cake", "donut", "banana", "bowl"}
    client.label_concept(concept, [kf[f] for f in kf if labels[f] & food], "yes")
    client.label_concept(concept, [kf[f] for f in kf if not labels[f] & food][:12], "no")
    yes = {r["keyframe_id"] for r in client.concept_scores(concept) if r["decision"]}
    assert 0 < len(yes) < len(kf)
    rows = client.search(coco_dataset, query="a photo", k=50, concepts=[concept])
    assert {r["keyframe_id"] for r in rows} == yes  # all of them: fewer than k, so the exact fallback finds every one
    with pytest.raises(Exception, match='unknown concept "nope"'):
        client.search(coco_dataset, query="a photo", concepts=["nope"])


def test_concept_of_another_dataset_cannot_filter(client, coco_dataset, video_dataset):
    concept = unique("red")
    client.create_concept(video_dataset, concept, "a red screen")
    with pytest.raises(Exception, match=f'concept "{concept}" is on dataset "{video_dataset}"'):
        client.search(coco_dataset, query="a photo", concepts=[concept])


def test_tag_filter(client, conn, coco_dataset):
    group = unique("Animals")
    client.create_tag_group(coco_dataset, group, ["dog", "person"])
    client.publish_tag_group(group)
    client.score_tag_group(group)
    slug = conn.execute("SELECT slug FROM mediatag.tag_group WHERE name = %s", (group,)).fetchone()[0]
    decided = {
        r[0]
        for r in conn.execute(
            f"SELECT keyframe_id FROM mediatag_data.dt_{slug}_visual WHERE tag = 'person' AND threshold_decision"
        )
    }
    assert decided
    rows = client.search(coco_dataset, query="a photo", k=100, tags=[f"{group}:person"])
    assert {r["keyframe_id"] for r in rows} == decided
    with pytest.raises(Exception, match="must be written 'group:tag'"):
        client.search(coco_dataset, query="a photo", tags=["person"])
    with pytest.raises(Exception, match='unknown tag "cat"'):
        client.search(coco_dataset, query="a photo", tags=[f"{group}:cat"])


def test_group_by_video(client, conn, video_dataset):
    n_kf = conn.execute(
        "SELECT count(*) FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s)", (video_dataset,)
    ).fetchone()[0]
    assert n_kf > 1
    flat = client.search(video_dataset, query="a red screen", k=50)
    grouped = client.search(video_dataset, query="a red screen", k=50, group_by_video=True)
    assert len(flat) == n_kf and len(grouped) == 1
    g = grouped[0]
    assert g["video_id"] == g["asset_id"] and g["matches"] == n_kf
    assert g["keyframe_id"] == flat[0]["keyframe_id"] and g["keyframe_time_ms"] == flat[0]["keyframe_time_ms"]


def test_transcript_search_keyword_and_semantic_with_time_ranges(client, video_dataset):
    rows = client.search_transcripts(video_dataset, "fractals", mode="keyword")
    assert [(r["text"], r["start_ms"], r["end_ms"]) for r in rows] == [("Fractals are beautiful.", 4200, 5800)]
    assert client.search_transcripts(video_dataset, "fractals", mode="keyword", from_ms=0, to_ms=2000) == []
    sem = client.search_transcripts(video_dataset, "a red colour on the screen", k=3)
    assert len(sem) == 3 and sem[0]["score"] >= sem[-1]["score"]
    early = client.search_transcripts(video_dataset, "hello", k=3, from_ms=0, to_ms=1000)
    assert [r["start_ms"] for r in early] == [200]
    grouped = client.search_transcripts(video_dataset, "screen", k=3, group_by_video=True)
    assert len(grouped) == 1 and grouped[0]["matches"] == 3
    with pytest.raises(Exception, match="has no letters or digits"):
        client.search_transcripts(video_dataset, "!!! ???", mode="keyword")
    with pytest.raises(Exception, match="invalid search mode .* use semantic or keyword"):
        client.search_transcripts(video_dataset, "hello", mode="fuzzy")
    with pytest.raises(Exception, match="invalid time range"):
        client.search_transcripts(video_dataset, "hello", from_ms=500, to_ms=100)


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_empty_query(client, coco_dataset, query):
    with pytest.raises(Exception, match="empty search query"):
        client.search(coco_dataset, query=query)


def test_absurd_queries(client, coco_dataset):
    with pytest.raises(Exception, match="has no letters or digits"):
        client.search(coco_dataset, query="?!?! ...")
    with pytest.raises(Exception, match="at most 1000"):
        client.search(coco_dataset, query="dog " * 400)
    with pytest.raises(Exception, match="exactly one of query"):
        client.search(coco_dataset)
    with pytest.raises(Exception, match="exactly one of query"):
        client.search(coco_dataset, query="dog", keyframe=1)
    with pytest.raises(Exception, match="the query vector has 3 dimensions"):
        client.search(coco_dataset, embedding=[1.0, 0.0, 0.0])


@pytest.mark.parametrize("k", [0, -1, 100_000])
def test_k_out_of_range(client, coco_dataset, k):
    with pytest.raises(Exception, match=rf"k must be between 1 and 1000 \(got {k}\)"):
        client.search(coco_dataset, query="a dog", k=k)


def test_offset_out_of_range(client, coco_dataset):
    with pytest.raises(Exception, match="offset must be between 0 and 10000"):
        client.search(coco_dataset, query="a dog", offset=-3)


def test_unknown_dataset_and_foreign_keyframe(client, conn, coco_dataset, video_dataset):
    with pytest.raises(Exception, match='unknown dataset "no_such_dataset"'):
        client.search("no_such_dataset", query="a dog")
    other = conn.execute(
        "SELECT id FROM mediatag.keyframe WHERE dataset_id = mediatag.dataset_id(%s) LIMIT 1", (video_dataset,)
    ).fetchone()[0]
    with pytest.raises(Exception, match=f'keyframe {other} is not in dataset "{coco_dataset}"'):
        client.search(coco_dataset, keyframe=other)


def test_search_for_concept_shows_current_labels(client, conn, coco_dataset):
    concept = unique("plates")
    client.create_concept(coco_dataset, concept, "food on a plate")
    rows = client.search_for_concept(concept, "a pizza", k=5)
    assert len(rows) == 5 and all(r["current_label"] is None for r in rows)
    client.label_concept(concept, [rows[0]["keyframe_id"]], "yes", origin="search")
    again = client.search_for_concept(concept, "a pizza", k=5)
    assert again[0]["current_label"] == "yes"


def test_a_graph_walk_that_misses_a_sample_keyframe_is_rerun(db_url, series_dataset):
    """search() checks an unfiltered walk against the dataset's sample: a sample keyframe that scores above the
    last candidate without being one proves the walk incomplete, and it reruns at the widest beam."""
    with connect(db_url) as c:  # one transaction, rolled back: the tampered sample row never lands
        did = c.execute("SELECT mediatag.dataset_id(%s)", (series_dataset,)).fetchone()[0]
        assert c.execute("SELECT mediatag.refresh_samples(%s)", (series_dataset,)).fetchone()[0] == 20
        q = c.execute(
            "SELECT embedding::vector::text FROM mediatag.keyframe WHERE dataset_id = %s ORDER BY id LIMIT 1", (did,)
        ).fetchone()[0]
        notices: list[str] = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        c.execute("SET LOCAL client_min_messages = debug1")

        def search() -> list[int]:
            notices.clear()
            sql = "SELECT keyframe_id FROM mediatag.search(dataset => %s, embedding => %s::vector, k => 1)"
            return [r[0] for r in c.execute(sql, (series_dataset, q))]

        honest = search()
        assert len(honest) == 1 and not any("missed a sample keyframe" in n for n in notices)
        # The sample row of the keyframe least like the query now claims the query's own vector: it scores 1.0,
        # above every candidate, and the walk (rightly) does not return that keyframe.
        far = c.execute(
            "SELECT s.keyframe_id FROM mediatag.keyframe_sample s JOIN mediatag.keyframe k ON k.id = s.keyframe_id "
            "WHERE s.dataset_id = %s ORDER BY k.embedding <#> %s::vector::halfvec DESC LIMIT 1",
            (did, q),
        ).fetchone()[0]
        c.execute(
            "UPDATE mediatag.keyframe_sample SET embedding = %s::vector::halfvec "
            "WHERE dataset_id = %s AND keyframe_id = %s",
            (q, did, far),
        )
        assert search() == honest
        assert any("missed a sample keyframe" in n for n in notices)
        c.rollback()


def test_a_text_query_also_walks_toward_its_best_probes(db_url, series_dataset):
    """A text query lies away from the image embeddings, where one greedy walk settles in a single region: search()
    adds walks toward its best-scoring sample keyframes, and the union, re-scored exactly, is still the exact top
    list (no duplicates, the true order)."""
    query = "a dog lying on a sofa"
    with connect(db_url) as c:  # one transaction, rolled back
        did = c.execute("SELECT mediatag.dataset_id(%s)", (series_dataset,)).fetchone()[0]
        c.execute("SELECT mediatag.refresh_samples(%s)", (series_dataset,))
        notices: list[str] = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        c.execute("SET LOCAL client_min_messages = debug1")
        got = c.execute(
            "SELECT keyframe_id, score FROM mediatag.search(dataset => %s, query => %s, k => 5)",
            (series_dataset, query),
        ).fetchall()
        assert any("walking again toward the 3 best-scoring sample keyframes" in n for n in notices)
        exact = c.execute(
            "SELECT k.id, (-(k.embedding <#> mediatag.embed_text(%s, d.visual_model)::halfvec))::real FROM "
            "mediatag.keyframe k JOIN mediatag.dataset d ON d.id = k.dataset_id WHERE k.dataset_id = %s "
            "ORDER BY 2 DESC, 1 LIMIT 5",
            (query, did),
        ).fetchall()
        assert [r[0] for r in got] == [r[0] for r in exact]
        assert [r[1] for r in got] == pytest.approx([r[1] for r in exact], abs=1e-4)
        # An image query ("more like this") never takes the extra walks: its walk is only checked.
        notices.clear()
        kf = exact[0][0]
        c.execute("SELECT count(*) FROM mediatag.search(dataset => %s, keyframe => %s, k => 8)", (series_dataset, kf))
        assert not any("walking again toward" in n for n in notices)
        c.rollback()


def test_seeded_walks_keep_the_first_candidates_and_score_against_the_query(conn, series_dataset):
    """mediatag._search_seeded: each seed's walk goes toward the midpoint of the query and the seed; its rows are
    scored exactly against the query itself, merged with the first walk's (no duplicates) and sorted."""
    did = conn.execute("SELECT mediatag.dataset_id(%s)", (series_dataset,)).fetchone()[0]
    ids = [r[0] for r in conn.execute("SELECT id FROM mediatag.keyframe WHERE dataset_id = %s ORDER BY id", (did,))]
    q_id, seed_id = ids[0], ids[-1]
    far = conn.execute(  # the keyframe least like the query: no walk toward the query would return it
        "SELECT k.id FROM mediatag.keyframe k, mediatag.keyframe q WHERE q.id = %s AND k.dataset_id = %s "
        "ORDER BY k.embedding <#> q.embedding DESC LIMIT 1",
        (q_id, did),
    ).fetchone()[0]
    got_ids, got_scores = conn.execute(
        "SELECT s.ids, s.scores FROM mediatag.dataset d, mediatag.keyframe q, mediatag.keyframe seed, "
        "mediatag.keyframe f, LATERAL mediatag._search_seeded(d, q.embedding::vector, ARRAY[f.id], "
        "ARRAY[(-(f.embedding <#> q.embedding))::real], ARRAY[seed.embedding], 20, 3) s "
        "WHERE d.id = %s AND q.id = %s AND seed.id = %s AND f.id = %s",
        (did, q_id, seed_id, far),
    ).fetchone()
    toward_midpoint = [
        r[0]
        for r in conn.execute(
            "SELECT k.id FROM mediatag.keyframe k, mediatag.keyframe q, mediatag.keyframe s "
            "WHERE k.dataset_id = %s AND q.id = %s AND s.id = %s "
            "ORDER BY k.embedding <#> l2_normalize(q.embedding + s.embedding), k.id LIMIT 3",
            (did, q_id, seed_id),
        )
    ]
    assert far in got_ids and set(toward_midpoint) <= set(got_ids)
    assert len(got_ids) == len(set(got_ids)) == len({far, *toward_midpoint})
    exact = dict(
        conn.execute(
            "SELECT k.id, (-(k.embedding <#> q.embedding))::real FROM mediatag.keyframe k, mediatag.keyframe q "
            "WHERE q.id = %s AND k.id = ANY(%s)",
            (q_id, got_ids),
        ).fetchall()
    )
    assert got_scores == pytest.approx([exact[i] for i in got_ids], abs=1e-4)
    assert got_scores == sorted(got_scores, reverse=True)


def test_the_recall_target_sets_how_many_probe_walks_a_text_query_takes(conn):
    seeds = [
        conn.execute("SELECT mediatag._search_seeds(%s::real)", (r,)).fetchone()[0] for r in (0.8, 0.9, 0.97, 0.99)
    ]
    assert seeds == [2, 2, 3, 5]
