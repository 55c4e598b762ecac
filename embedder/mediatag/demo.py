"""`make demo`: start the embedded Postgres, ingest sample media, tag it, show results. Idempotent."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from .media.lavfi import concat_sources
from .sample_data import demo_media_dir as coco_dir

GROUP = "Everyday objects"
TAGS = ["dog", "cat", "car", "pizza", "bus", "train", "elephant", "giraffe"]


def _ensure_service(conn: psycopg.Connection) -> None:
    """Serve the models from this process for the demo's duration, registered in the database with its token.
    Its media roots: the sample photos and the default roots, where the UI that follows keeps uploaded images."""
    from .service.http import default_media_roots, serve_in_background

    serve_in_background(conn, media_roots=[coco_dir(), *default_media_roots()])


def _demo_video(folder: Path) -> Path:
    """A short clip with three shots and a subtitle file, made with ffmpeg."""
    video = folder / "demo_clip.mp4"
    if not video.exists():
        sources = [
            "testsrc=size=640x360:rate=25",
            "color=c=0x2060c0:size=640x360:rate=25",
            "mandelbrot=size=640x360:rate=25",
        ]
        concat_sources(video, sources, 3)
        (folder / "demo_clip.srt").write_text(
            "1\n00:00:00,200 --> 00:00:02,500\nA dog runs across the test card.\n\n"
            "2\n00:00:03,100 --> 00:00:05,800\nThe bus is late again.\n\n"
            "3\n00:00:06,200 --> 00:00:08,800\nA pizza with extra cheese, please.\n"
        )
        (folder / "demo_clip.mp4.json").write_text('{"SeriesName": "Demo Series", "EpisodeName": "Pilot"}')
    return video


def _evaluate_dog(client) -> None:
    """The tag evaluator on 'dog', with COCO's labels standing in for a person's ground truth."""
    import csv

    with (coco_dir() / "labels.csv").open() as f:
        truth = {r["file"]: "dog" in r["classes"].split(";") for r in csv.DictReader(f)}
    eid = client.start_evaluation(GROUP, "dog", size=60)
    items = client.evaluation_items(eid)
    for value in (True, False):
        ids = [i["keyframe_id"] for i in items if truth.get(Path(i["path"]).name) == value]
        if ids:
            client.set_ground_truth(eid, ids, value)
    at = {round(m["threshold"], 2): m for m in client.evaluation_metrics(eid)}
    best = client.suggest_threshold(eid, "f1")
    m = at[0.5]
    print(f"\nevaluator, tag 'dog' ({len(items)} stratified keyframes, COCO labels as ground truth):")
    print(
        f"  at 0.50: precision {m['precision']:.2f} recall {m['recall']:.2f} F1 {m['f1']:.2f} "
        f"accuracy {m['accuracy']:.2f}"
    )
    print(f"  suggested threshold {best['threshold']:.2f} (F1 {best['value']:.2f}); saved")
    client.save_threshold(eid, "f1")


def run_demo() -> int:
    from .db import connect
    from .ingest import IngestOptions, ingest
    from .sdk import Client

    client = Client()
    print(f"database: {client.url}")
    with connect(client.url) as conn:
        _ensure_service(conn)
        s = ingest(conn, "photos", sorted((coco_dir() / "images").glob("*.jpg")), IngestOptions(progress=True))
        print(s.render())
        clips = Path(tempfile.gettempdir()) / "mediatag-demo"
        clips.mkdir(exist_ok=True)
        s = ingest(conn, "clips", [_demo_video(clips)], IngestOptions(progress=False))
        print(s.render())

    if not any(g["name"] == GROUP for g in client.list_tag_groups()):
        client.create_tag_group("photos", GROUP, "\n".join(TAGS), visibility="shareable")
        client.add_prompt(GROUP, "dog", "a photo of a dog")
        client.add_prompt(GROUP, "car", "a cat", polarity="negative", modality="visual")
        client.publish_tag_group(GROUP)
    if not any(r["dataset"] == "clips" for r in client.tag_group_status(GROUP)):
        client.apply_tag_group(GROUP, "clips")
    ran = client.run_jobs()
    print(f"\nscoring jobs run: {ran}")
    print("\nstatus per dataset:")
    for r in client.tag_group_status(GROUP):
        print(f"  {r['dataset']:8} {r['role']:8} v{r['applied_version']} {r['status']:8} {r['error'] or ''}")
    slug = client.query("SELECT slug FROM mediatag.tag_group WHERE name = :n", n=GROUP)[0]["slug"]
    print(f"\nkeyframes above threshold per tag (mediatag_data.dt_{slug}_visual):")
    for r in client.query(f"""SELECT tag, count(*) FILTER (WHERE threshold_decision) AS hits, count(*) AS scored,
                                     round(max(score)::numeric, 3) AS best
                              FROM mediatag_data.dt_{slug}_visual v JOIN mediatag.dataset d ON d.id = v.dataset_id
                              WHERE d.name = 'photos' GROUP BY tag ORDER BY tag"""):
        print(f"  {r['tag']:10} {r['hits']:4} / {r['scored']}   best score {r['best']}")
    print("\ntop photo per tag:")
    for r in client.query(f"""SELECT DISTINCT ON (tag) tag, score, k.image_path FROM mediatag_data.dt_{slug}_visual v
                              JOIN mediatag.keyframe k ON k.id = v.keyframe_id ORDER BY tag, score DESC"""):
        print(f"  {r['tag']:10} {r['score']:.3f}  {r['image_path']}")
    _evaluate_dog(client)
    print(
        f'\nexplore in psql:\n  psql "{client.url}"\n  SET search_path = mediatag_data, mediatag, public;\n'
        f"  SELECT * FROM dt_{slug}_visual WHERE threshold_decision ORDER BY score DESC LIMIT 10;"
    )
    return 0
