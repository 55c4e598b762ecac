"""The `mediatag` command line. Every data operation goes through the SDK / SQL functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_sdk import NAMES as FUNCTION_WORDS
from .cli_sdk import add_function_commands
from .cluster import Cluster, ClusterError, database_url, default_cluster
from .db import ExtensionVersionMismatch

if TYPE_CHECKING:
    import psycopg

    from .sdk import Client
    from .service.backfill_queue import QueuedJob


def _parse_meta(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs:
        if "=" not in p:
            raise SystemExit(f"--meta expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        if not k.strip():
            raise SystemExit(f"--meta key is empty in {p!r}")
        out[k.strip()] = v
    return out


def cmd_db(args: argparse.Namespace) -> int:
    if os.environ.get("MEDIATAG_DATABASE_URL") and args.action != "url":
        print("MEDIATAG_DATABASE_URL is set: mediatag uses that server and manages no local cluster")
        return 0
    given = [f for f in ("status", "stop", "remove", "url", "restart_primary") if getattr(args, f)]
    if given and args.action != "replica":
        raise SystemExit(f"--{given[0].replace('_', '-')} belongs to `mediatag db replica`, not `db {args.action}`")
    c = default_cluster()
    if args.action == "prepare":
        c.prepare()
    elif args.action == "start":
        c.start()
        print(f"PostgreSQL running: {c.url()}")
    elif args.action == "stop":
        c.stop()
        print("PostgreSQL stopped")
    elif args.action == "remove":
        c.remove()
        print(f"PostgreSQL stopped; removed {c.home}" + (f" and {c.state}" if c.state != c.home else ""))
    elif args.action == "replica":
        return cmd_replica(c, args)
    elif args.action == "status":
        running = c.is_running()
        print(f"{'running' if running else 'stopped'}: {c.pgdata} (port {c.port}, socket {c.socket_dir})")
        return 0 if running else 3
    else:
        print(os.environ.get("MEDIATAG_DATABASE_URL") or c.url())
    return 0


def cmd_replica(c: Cluster, args: argparse.Namespace) -> int:
    from .replica import Replica, describe

    r = Replica(c)
    if args.status:
        if not r.is_running():
            print(f"no replica running ({r.pgdata} {'exists' if r.exists() else 'does not exist'})")
            return 3
        print(f"replica on port {r.port}: {describe(r.lag())}")
    elif args.stop:
        r.stop()
        print("replica stopped")
    elif args.remove:
        r.remove()
        print(f"replica removed ({r.state}); its replication slot on the primary dropped")
        if args.restart_primary:
            print(r.restore_primary())
        elif c.is_running() and not r.primary_ready():
            print("the primary still runs with wal_level = replica: `mediatag db replica --remove --restart-primary`")
            print("puts it back to minimal (faster scoring jobs)")
    elif args.url:
        print(r.url())
    else:
        for line in r.create(restart_primary=args.restart_primary):
            print(line)
        print(f"read from it with: export MEDIATAG_READ_URL='{r.url()}'")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from .db import connect
    from .ingest import IngestOptions, IngestRefused, ingest

    opts = IngestOptions(
        visual_model=args.visual_model,
        text_model=args.text_model,
        metadata=_parse_meta(args.meta),
        keyframe_every_s=args.keyframe_every,
        progress=not args.quiet,
        retry_errors=args.retry_errors,
        max_image_pixels=args.max_image_pixels or None,
        max_video_seconds=args.max_video_seconds or None,
        max_subtitle_bytes=args.max_subtitle_bytes,
        max_sidecar_bytes=args.max_sidecar_bytes,
        asr=args.asr,
        asr_language=args.asr_language,
        subtitle_lang=args.subtitle_lang,
        faces=args.faces,
        defer_keyframes=args.ray,
    )
    with connect() as conn:
        try:
            summary = ingest(conn, args.dataset, args.paths, opts)
        except IngestRefused as e:
            print(f"mediatag ingest: refused: {e}" + (f"\nhint: {e.hint}" if e.hint else ""), file=sys.stderr)
            return 2
    print(summary.render())
    if args.ray:  # the keyframes were stored without vectors: the back-fill embeds them on Ray
        from .backfill import BackfillOptions, backfill

        embedded = backfill(
            database_url(),
            args.dataset,
            BackfillOptions(
                ray_address=args.ray_address or "local", workers=args.workers, faces=args.faces, progress=not args.quiet
            ),
        )
        print(embedded.render())
        summary.scoring_jobs += embedded.scoring_jobs
    if args.score_now and summary.scoring_jobs:
        from .service.worker import run_pending

        print(f"ran {run_pending(database_url())} scoring job(s)")
    return 1 if summary.missing and not summary.ingested and not summary.skipped_known else 0


def _run_queued(conn: psycopg.Connection, what: str, dataset: str, job: int, wait: bool) -> int:
    """A back-fill this login queued for the service's worker (service/backfill_queue.py): say so and, with
    --wait, follow the job until it ends. 1 when it failed."""
    from .service.backfill_queue import no_worker_warning, queued_line, wait_for

    print(queued_line(what, job, dataset))
    warning = no_worker_warning(conn)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if not wait:
        return 0

    def shown(j: QueuedJob) -> None:
        print(f"job {j.job_id}: {j.state}" + (f" {json.dumps(j.result)}" if j.result else ""), flush=True)

    job_now = wait_for(conn, job, on_change=shown)
    if job_now.state != "done":
        print(f"job {job}: {job_now.state}: {job_now.error or ''}", file=sys.stderr)
        return 1
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .db import connect
    from .ingest.backfill import transcribe_dataset
    from .ingest.rights import is_superuser
    from .service.backfill_queue import queue_transcription

    with connect() as conn:
        if not is_superuser(conn):
            if args.limit is not None or args.asr_language:
                print("mediatag transcribe: --limit and --asr-language run in-process only (the operator's login);"
                      " the worker's job takes every pending file", file=sys.stderr)  # fmt: skip
                return 2
            job = queue_transcription(conn, args.dataset, args.asr)
            return _run_queued(conn, "speech to text", args.dataset, job, args.wait)
        summary = transcribe_dataset(
            conn, args.dataset, asr=args.asr, language=args.asr_language, progress=not args.quiet, limit=args.limit
        )
    print(summary.render())
    if args.score_now and summary.scoring_jobs:
        from .service.worker import run_pending

        print(f"ran {run_pending(database_url())} scoring job(s)")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """`mediatag backfill DATASET`: embeds the rows lacking a vector of the model, here or on Ray."""
    from .backfill import BackfillOptions, backfill

    summary = backfill(
        database_url(),
        args.dataset,
        BackfillOptions(
            modality=args.modality,
            model=args.model,
            ray_address=args.ray_address,
            workers=args.workers,
            gpus_per_worker=args.gpus_per_worker,
            unit_rows=args.unit_rows,
            progress=not args.quiet,
            switch=args.switch,
        ),
    )
    print(summary.render())
    if args.score_now and summary.scoring_jobs:
        from .service.worker import run_pending

        print(f"ran {run_pending(database_url())} scoring job(s)")
    return 1 if summary.failed else 0


def _add_ray_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS") or None,
        metavar="ADDR",
        help=f"{what} on Ray: 'local' starts one on this machine, else a cluster's address "
        "(ray://host:10001, auto); default $RAY_ADDRESS",
    )
    p.add_argument("--workers", type=int, default=2, metavar="N", help="Ray actors, each loading the model once (2)")


def cmd_faces(args: argparse.Namespace) -> int:
    """`mediatag faces scan DATASET`: the back-fill of a dataset's keyframes not scanned for faces yet."""
    from .db import connect
    from .faces.scan import scan_faces
    from .ingest.rights import is_superuser
    from .service.backfill_queue import queue_face_scan

    with connect() as conn:
        if not is_superuser(conn):
            if args.limit is not None:
                print("mediatag faces scan: --limit runs in-process only (the operator's login); the worker's job"
                      " scans every pending keyframe", file=sys.stderr)  # fmt: skip
                return 2
            return _run_queued(conn, "face scan", args.dataset, queue_face_scan(conn, args.dataset), args.wait)
        summary = scan_faces(conn, args.dataset, progress=not args.quiet, limit=args.limit)
    print(summary.render())
    return 1 if summary.off else 0


def _add_wait_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--wait",
        action="store_true",
        help=f"logins without superuser: {what} is queued for the service's worker; wait until the job ends",
    )


def _add_asr_options(p: argparse.ArgumentParser, *, off: bool) -> None:
    from .media.transcription import ASR_CHOICES

    p.add_argument(
        "--asr",
        default="auto",
        choices=[c for c in ASR_CHOICES if off or c != "off"],
        help="speech to text for files with no subtitles: auto = the best engine available (faster-whisper with "
        "MEDIATAG_ASR_MODEL_DIR, an endpoint with MEDIATAG_ASR_URL, else PocketSphinx); default auto",
    )
    p.add_argument("--asr-language", metavar="CODE", help="the spoken language, for engines that take one (en, de)")


def cmd_serve(args: argparse.Namespace) -> int:
    from .db import connect
    from .models.registry import default_text_model, default_visual_model, get_text_encoder, get_visual_encoder
    from .service import worker
    from .service.http import (
        Handler,
        ServiceConfig,
        default_media_roots,
        make_server,
        new_token,
        register_with_database,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.preload:
        get_visual_encoder(default_visual_model())
        get_text_encoder(default_text_model())
    # A fresh token each start unless one is configured; the database gets it with the URL (an admin's setting).
    token = os.environ.get("MEDIATAG_SERVICE_TOKEN") or new_token()
    server = make_server(args.host, args.port, ServiceConfig(token=token, media_roots=default_media_roots()))
    port = server.server_address[1]
    url = database_url()
    with connect(url, autocommit=True) as conn:
        register_with_database(conn, os.environ.get("MEDIATAG_SERVICE_URL") or f"http://127.0.0.1:{port}", token)
    if not args.preload:
        # The datasets' models load while the service already answers: the first new group or concept no longer
        # waits seconds for a model load (service/warmup.py).
        from .service.warmup import warm_in_background

        warm_in_background(url)
    stop = threading.Event()
    thread = None
    if not args.no_worker:
        thread = threading.Thread(target=worker.run_forever, args=(url, stop), daemon=True, name="worker")
        thread.start()
        Handler.worker_alive = staticmethod(thread.is_alive)
    print(f"mediatag service on http://{args.host}:{port} (worker {'on' if thread else 'off'})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .service import worker

    url = database_url()
    if args.once:
        print(f"ran {worker.run_pending(url)} job(s)")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker.run_forever(url, threading.Event())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models.registry import default_text_model, default_visual_model, list_models

    print(f"default visual model: {default_visual_model()}\ndefault text model:   {default_text_model()}")
    for m in list_models():
        state = "available" if m.available else f"unavailable: {m.reason}"
        print(f"  {m.kind:6} {m.name:45} dim={m.dim or '?':<5} {state}")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from .sdk import Client

    print(json.dumps(Client().version(), indent=2))
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .db import connect, upgrade_extension

    with connect(setup=False) as conn:
        before, after = upgrade_extension(conn)
    print(f"mediatag {before} → {after}" if before != after else f"mediatag {after}: already up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    rc = run_demo()
    if rc or os.environ.get("CI") or os.environ.get("MEDIATAG_DEMO_NO_UI"):
        return rc
    # The UI over the demo database, in this process (whose embedding service the demo started): Ctrl-C stops both.
    ui_args = argparse.Namespace(
        host="127.0.0.1",
        port=int(os.environ.get("MEDIATAG_UI_PORT", 8001)),
        no_login=True,
        thumb_dir=None,
        upload_dir=None,
        allowed_host=None,
    )
    try:
        return cmd_ui(ui_args)
    except KeyboardInterrupt:
        return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import psycopg
    from datasette_mediatag.app import login_url_for, make_datasette, serve
    from psycopg.conninfo import make_conninfo

    from .db import connect
    from .users import UI_LOCAL, UI_QUERY, ensure_ui_login, ui_password

    url = database_url()
    login_url = login_url_for(url)
    # MEDIATAG_READ_URL, a streaming replica (`mediatag db replica`): the Query page and the pages' reads run there,
    # as the same logins (replicated with everything else); writes go to `url`.
    read_env = os.environ.get("MEDIATAG_READ_URL")
    read_url = login_url_for(read_env) if read_env else None
    # The UI's own logins, made on the operator's connection (which also creates the extension if missing): the
    # Query page's mediatag_query login in both modes and, with --no-login, the editor every visitor acts as. Pages
    # connect over them, never as the operator, so a visitor gets what those roles give and no more.
    wanted = {UI_QUERY: ("query",), **({UI_LOCAL: ("editor", "query")} if args.no_login else {})}
    urls: dict[str, str] = {}
    with connect(url, autocommit=True) as conn:
        for name, roles in wanted.items():
            password = ui_password(name)
            try:
                ensure_ui_login(conn, name, roles, password)
            except psycopg.errors.InsufficientPrivilege as e:
                if args.no_login:
                    raise SystemExit(f"mediatag ui --no-login needs a connection that may create logins: {e}") from e
                print(f"the Query page is off: cannot create its login {name} ({e})", file=sys.stderr)
                continue
            except PermissionError as e:
                raise SystemExit(str(e)) from e
            on = read_url if read_url and name == UI_QUERY else login_url
            urls[name] = make_conninfo(on, user=name, password=password)
    env_hosts = os.environ.get("MEDIATAG_UI_ALLOWED_HOSTS", "").replace(",", " ").split()
    # Uploaded example images go where the embedding service may read them (the database asks it to embed them).
    from .service.http import default_media_roots

    uploads = args.upload_dir or str(default_media_roots()[0] / "uploads")
    app = make_datasette(
        login_url,
        local_url=urls.get(UI_LOCAL),
        thumb_dir=args.thumb_dir,
        upload_dir=uploads,
        query_url=urls.get(UI_QUERY),
        allowed_hosts=[*(args.allowed_host or []), *env_hosts],
        read_url=read_url,
    )
    who = f"every visitor acts as login {UI_LOCAL}, an editor" if args.no_login else "log in with your PostgreSQL login"
    print(f"mediatag UI on http://{args.host}:{args.port}/mediatag/ ({who}; Ctrl-C stops it)", flush=True)
    serve(app, args.host, args.port)
    return 0


def _add_size_cap(
    parser: argparse.ArgumentParser,
    flag: str,
    default: int | float,
    metavar: str,
    what: str,
    *,
    zero_disables: bool = False,
) -> None:
    """An input-size cap option: its type and the default shown in its help both come from the media.limits value."""
    shown = f"{default:,}" if isinstance(default, int) else f"{default:g}"
    no_cap = "; 0: no cap" if zero_disables else ""
    parser.add_argument(
        flag, type=type(default), default=default, metavar=metavar, help=f"{what} (default {shown}{no_cap})"
    )


def build_parser(client: Client | None = None) -> argparse.ArgumentParser:
    """The whole command line; the SQL-function commands (cli_table.py) get their arguments from `client`'s
    catalog, or only their names without one."""
    from .media import limits

    p = argparse.ArgumentParser(prog="mediatag", description="Custom tags for image and video libraries, in Postgres")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the embedded PostgreSQL cluster")
    db.add_argument("action", choices=["prepare", "start", "stop", "status", "url", "remove", "replica"])
    rep = db.add_argument_group("replica", "`db replica`: a streaming hot-standby copy of the cluster to read from")
    what = rep.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="the replica's lag behind the primary (bytes, seconds)")
    what.add_argument("--stop", action="store_true", help="stop the replica (start it again with `db replica`)")
    what.add_argument("--remove", action="store_true", help="stop the replica, delete it and drop its slot")
    what.add_argument("--url", action="store_true", help="the replica's URL, for MEDIATAG_READ_URL")
    rep.add_argument(
        "--restart-primary",
        action="store_true",
        help="allow restarting the primary to switch wal_level to replica (closes open connections); with --remove: "
        "back to minimal",
    )
    db.set_defaults(func=cmd_db)

    ing = sub.add_parser("ingest", help="ingest images and videos into a dataset")
    ing.add_argument("dataset")
    ing.add_argument("paths", nargs="+", type=Path)
    ing.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="user metadata for every file")
    ing.add_argument("--visual-model", help="visual model for a new dataset (see `mediatag models`)")
    ing.add_argument("--text-model", help="transcript model for a new dataset")
    ing.add_argument(
        "--keyframe-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="at least one keyframe this often within a long shot",
    )
    ing.add_argument("--score-now", action="store_true", help="run queued scoring jobs in this process afterwards")
    ing.add_argument(
        "--retry-errors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="try files that an earlier run stored as errors again (default: on)",
    )
    _add_size_cap(ing, "--max-image-pixels", limits.MAX_IMAGE_PIXELS, "N", "refuse larger images", zero_disables=True)
    _add_size_cap(ing, "--max-video-seconds", limits.MAX_VIDEO_SECONDS, "S", "refuse longer videos", zero_disables=True)
    _add_size_cap(ing, "--max-subtitle-bytes", limits.MAX_SUBTITLE_BYTES, "N", "skip larger subtitle files")
    _add_size_cap(
        ing, "--max-sidecar-bytes", limits.MAX_SIDECAR_BYTES, "N", "refuse larger metadata.csv / JSON sidecars"
    )
    _add_asr_options(ing, off=True)
    ing.add_argument(
        "--subtitle-lang",
        metavar="CODES",
        help="embedded subtitle track to take, by language in order of preference (de,en); "
        "default: the dataset's setting, else the default-flagged track, else the first",
    )
    ing.add_argument(
        "--faces", action="store_true", help="turn faces on for the dataset (off by default) and find them now"
    )
    ing.add_argument(
        "--ray",
        action="store_true",
        help="large folders: decode and store here, embed the keyframes on Ray (`mediatag backfill`'s path)",
    )
    _add_ray_options(ing, "with --ray, embed")
    ing.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ing.set_defaults(func=cmd_ingest)

    bf = sub.add_parser(
        "backfill", help="embed a dataset's rows lacking a vector of its model (or of --model), here or on Ray"
    )
    bf.add_argument("dataset")
    bf.add_argument("--model", help="re-embed into this model, kept beside the dataset's own (default: its own)")
    bf.add_argument("--modality", choices=["visual", "transcript"], default="visual", help="keyframes or transcripts")
    bf.add_argument("--switch", action="store_true", help="then make --model the dataset's own (admins)")
    _add_ray_options(bf, "run")
    bf.add_argument("--gpus-per-worker", type=float, metavar="G", help="default: 1 where the cluster has GPUs")
    bf.add_argument("--unit-rows", type=int, default=256, metavar="N", help="rows per work unit and commit (256)")
    bf.add_argument("--score-now", action="store_true", help="run queued scoring jobs in this process afterwards")
    bf.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    bf.set_defaults(func=cmd_backfill)

    fc = sub.add_parser("faces", help="faces and people: scan a dataset's keyframes for faces (resumable)")
    fc.add_argument("action", choices=["scan"])
    fc.add_argument("dataset")
    fc.add_argument("--limit", type=int, metavar="N", help="at most N keyframes this run (the rest stay pending)")
    _add_wait_option(fc, "the face scan")
    fc.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fc.set_defaults(func=cmd_faces)

    tr = sub.add_parser("transcribe", help="speech to text for a dataset's videos and audio without a transcript")
    tr.add_argument("dataset")
    _add_asr_options(tr, off=False)
    tr.add_argument("--limit", type=int, metavar="N", help="at most N files this run (the rest stay pending)")
    _add_wait_option(tr, "speech to text")
    tr.add_argument("--score-now", action="store_true", help="run the queued scoring jobs in this process afterwards")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_transcribe)

    srv = sub.add_parser("serve", help="embedding service (loopback HTTP) and job worker")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=int(os.environ.get("MEDIATAG_SERVICE_PORT", 8765)))
    srv.add_argument("--no-worker", action="store_true")
    srv.add_argument("--preload", action="store_true", help="load the default models before serving")
    srv.set_defaults(func=cmd_serve)

    wk = sub.add_parser("worker", help="run queued jobs (scoring)")
    wk.add_argument("--once", action="store_true", help="drain the queue and exit")
    wk.set_defaults(func=cmd_worker)

    sub.add_parser("models", help="configured models and whether they are available").set_defaults(func=cmd_models)
    sub.add_parser("version", help="extension, pgvector, Python and library versions").set_defaults(func=cmd_version)
    sub.add_parser("demo", help="ingest sample media, tag it and show results").set_defaults(func=cmd_demo)
    sub.add_parser(
        "upgrade", help="ALTER EXTENSION mediatag UPDATE (after `make -C sql install`; back up first)"
    ).set_defaults(func=cmd_upgrade)
    from .users_cli import add_user_commands

    add_user_commands(sub)
    from .cli_export import add_export_command
    from .cli_reel import add_reel_command

    add_export_command(sub)
    add_reel_command(sub)

    ui = sub.add_parser("ui", help="the web UI (Datasette with the datasette-mediatag plugin)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8001)
    ui.add_argument(
        "--no-login",
        action="store_true",
        help="no login page: every visitor acts as login mediatag_ui_local, an editor made for it, never a superuser "
        "(one-person laptop only)",
    )
    ui.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME[:PORT]",
        help="a Host name to answer besides the address served (a proxy's name); repeatable, "
        "also MEDIATAG_UI_ALLOWED_HOSTS (comma-separated)",
    )
    ui.add_argument("--thumb-dir", help="where thumbnails are cached (default ~/.cache/mediatag/thumbs)")
    ui.add_argument(
        "--upload-dir",
        help="where uploaded example images are kept: under the embedding service's media roots "
        "(default: the first of MEDIATAG_MEDIA_ROOTS / the media folder, then uploads/)",
    )
    ui.set_defaults(func=cmd_ui)

    add_function_commands(sub, client)
    return p


def _function_client(argv: list[str]) -> Client | None:
    """The SDK client whose catalog builds the SQL-function commands, when `argv` names one (others, like `db
    start`, must work with no database). `--help` without a reachable database still lists them, argument-less."""
    word = next((a for a in argv if not a.startswith("-")), None)
    if word not in FUNCTION_WORDS:
        return None
    from .sdk import Client

    try:
        return Client()
    except Exception:
        if "-h" in argv or "--help" in argv:
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(_function_client(argv)).parse_args(argv)
        return args.func(args) or 0
    except (ClusterError, ExtensionVersionMismatch) as e:
        print(f"mediatag: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        import psycopg

        e = getattr(e, "orig", e)  # SQLAlchemy wraps driver errors
        if isinstance(e, psycopg.Error):
            diag = e.diag
            msg = diag.message_primary or str(e)
            hint = f"\nhint: {diag.message_hint}" if diag.message_hint else ""
            print(f"mediatag: {msg}{hint}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
