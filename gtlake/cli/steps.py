"""The pipeline's commands: ingest, workers, embed, quality, audit, validate, and run (all of them in order).

Each runs one job (`gtlake.jobs.<step>`, a `jobs.runner.Step`) on a local Spark session and prints what it did;
`run` runs the steps of `gtlake.pipeline.PIPELINE` in order, and a step run alone is followed by what the
pipeline says its output changes (`Stage.then`: embed re-ranks the review queue).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from gtlake import pipeline, storage
from gtlake.cli.common import (VALIDATED_TABLES, activity_args, catalog_arg, catalog_sync, check_input, checks,
                               json_config, on_failure_arg, pixels, unit, where, writer_lake)

if TYPE_CHECKING:
    from gtlake.udfs.config import QualityConfig


def add_commands(sub: argparse._SubParsersAction, commands: dict) -> None:
    """Add the pipeline's subcommands to `sub` (and to `commands`, name -> parser)."""
    q = sub.add_parser("quality", help="score every track, write box_metrics, track_summary and review_queue",
                       description="Compute per-box metrics and flags over every track of the lake, compare tracks "
                                   "with their class peers, and write a ranked review queue. Only jobs whose boxes "
                                   "changed since the last run are scored again.")
    q.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest`")
    q.add_argument("--config", help="JSON file of threshold overrides (see README: quality settings)")
    on_failure_arg(q)
    catalog_arg(q)
    q.set_defaults(handler=_quality_command)
    commands["quality"] = q

    e = sub.add_parser("embed", help="embed every box crop (ResNet-18), flag appearance changes into the review queue",
                       description="Crop every tracked box from its frame image, embed it with a ResNet-18 (weights "
                                   "from --weights: never downloaded, never random), write embedding_metrics (distance "
                                   "to the track's previous crop, robust outlier flags), then re-rank the review "
                                   "queue with the appearance_change reason. Only jobs whose boxes, weights or "
                                   "settings changed are embedded again.")
    e.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest`")
    e.add_argument("--weights", help="ResNet-18 state dict in torchvision format (e.g. resnet18-f37072fd.pth): "
                                     "file or s3:// URI; required")
    e.add_argument("--frames-root", help="read s3://<bucket>/<key> sequence files and frame images as "
                                         "FRAMES_ROOT/<key> (a local mirror of the input bucket, or another prefix)")
    e.add_argument("--config", help="JSON file of appearance-check overrides (see README: appearance check)")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (default auto: cuda when available)")
    on_failure_arg(e)
    catalog_arg(e)
    e.set_defaults(handler=_embed_command)
    commands["embed"] = e

    w = sub.add_parser("workers", help="ingest the WorkerActivity log into worker_events and worker_tasks",
                       description="Read what is new in the WorkerActivity log (an export, or CloudWatch Logs from a "
                                   "stored watermark) into worker_events, and match events with worker responses "
                                   "into worker_tasks (wall and active time, outcome).")
    w.add_argument("--lake", required=True, help="lake folder (worker_responses come from `gtlake ingest`)")
    activity_args(w, required=True)
    on_failure_arg(w)
    catalog_arg(w)
    w.set_defaults(handler=_workers_command)
    commands["workers"] = w

    au = sub.add_parser("audit", help="compare audit jobs with the jobs they audited: audit_changes, worker_quality",
                        description="Pair every adjustment (audit) job's labels with the audited job's, classify each "
                                    "box (unchanged, moved, resized, relabeled, reidentified, added, deleted), count "
                                    "CLEAR MOT and IDF1 per worker, and write audit_changes and worker_quality.")
    au.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest` (and `gtlake quality`)")
    au.add_argument("--match-iou", type=unit, default=0.5, help="overlap for two boxes to be the same box (default 0.5)")
    au.add_argument("--tolerance-px", type=pixels, default=0.5,
                    help="edge moves up to this many pixels count as unchanged (default 0.5)")
    on_failure_arg(au)
    catalog_arg(au)
    au.set_defaults(handler=_audit_command)
    commands["audit"] = au

    vd = sub.add_parser("verdicts", help="store reviewers' verdict files (saved from gtlake review) in review_verdicts",
                        description="Read verdict files saved from a `gtlake review` page (mistake / fine / unsure per "
                                    "queue entry, who and when) into the review_verdicts table: each checked, bad "
                                    "ones refused into rejected, merged with the job's earlier verdicts (a "
                                    "reviewer's latest verdict on an entry stands). A file imported before is "
                                    "skipped. The check_precision view says how often each reason was right.")
    vd.add_argument("--lake", required=True, help="lake folder (or s3:// prefix) with the reviewed jobs")
    vd.add_argument("files", nargs="+", metavar="FILE", help="verdicts file (local or s3://)")
    on_failure_arg(vd)
    catalog_arg(vd)
    vd.set_defaults(handler=_verdicts_command)
    commands["verdicts"] = vd

    pr = sub.add_parser("predictions", help="store a model's predictions for a job and what they say of its labels",
                        description="Read a model's predictions for a job's sequences (JSON lines, MOTChallenge or "
                                    "COCO; local or s3://) into the predictions table, bad ones refused into "
                                    "rejected, then match them with the labels frame by frame and write what they "
                                    "say into prediction_findings: overlooked (an object the model sees over several "
                                    "frames that nobody labeled), badly_located, class_disagrees. Confidence "
                                    "thresholds are calibrated per class from the lake. The job's predictions of "
                                    "that model are replaced; other models' stay. Then the quality job re-ranks "
                                    "the review queue with the findings (overlooked objects get entries of their "
                                    "own, with the model's box).")
    pr.add_argument("--lake", required=True, help="lake folder (or s3:// prefix) holding the job")
    pr.add_argument("--job", required=True, help="the labeling job the predictions are for")
    pr.add_argument("--input", required=True, help="predictions file or folder (local or s3://)")
    pr.add_argument("--format", choices=("jsonl", "mot", "coco"), default="jsonl", help="input format (default jsonl)")
    pr.add_argument("--model", default="model", help="the model's name, stored with each prediction (default model)")
    pr.add_argument("--label", help="the class of MOT rows whose class is -1 (a one-class detector)")
    pr.add_argument("--config", help="JSON file overriding the matching settings (README: Label quality)")
    on_failure_arg(pr)
    catalog_arg(pr)
    pr.set_defaults(handler=_predictions_command)
    commands["predictions"] = pr

    va = sub.add_parser("validate", help="check the lake's tables against their data-quality rules "
                                         "(Great Expectations) and record the findings",
                        description="Run the Great Expectations suite of each validated table (schema, keys, ranges, "
                                    "allowed values, references) on the committed lake, print every broken rule "
                                    "(table, column, rule, examples) and commit the findings to `validations`.")
    va.add_argument("--lake", required=True, help="lake folder or s3:// prefix")
    va.add_argument("--table", action="append", choices=VALIDATED_TABLES, dest="tables",
                    help="a table to check (repeatable; default: all of them)")
    on_failure_arg(va, gate=False)
    va.set_defaults(handler=_validate_command)
    commands["validate"] = va

    for name, help_ in (("ingest", "flatten Ground Truth output into the Parquet lake"),
                        ("run", "run every pipeline step in order: " + ", ".join(s.step for s in pipeline.PIPELINE))):
        c = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ". Reads every job "
                           "folder under --input (a local folder mirroring S3, or s3://bucket/prefix); only new or "
                           "changed jobs are processed.")
        c.add_argument("--input", required=True, help="Ground Truth output root: folder or s3:// prefix")
        c.add_argument("--lake", required=True, help="lake folder (created if missing)")
        if name == "run":
            c.add_argument("--config", help="JSON file of quality threshold overrides")
            activity_args(c, required=False)
            c.add_argument("--weights", help="ResNet-18 state dict for the appearance check (gtlake embed); "
                                             "without it that step is skipped")
            c.add_argument("--frames-root", help="where the frame images are (gtlake embed --frames-root)")
        else:
            c.add_argument("--labels-reader", choices=("arrow", "spark"), default="arrow",
                           help="arrow (default): clean labels files by pyarrow in Spark tasks, the others by "
                                "Spark's reader; spark: every file by Spark's reader (the same rows, slower)")
        on_failure_arg(c)
        catalog_arg(c)
        c.set_defaults(handler=_ingest_command if name == "ingest" else _run_command)
        commands[name] = c


def _validate(args: argparse.Namespace) -> int:
    from gtlake.jobs.validate import ValidateConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-validate")
    config = ValidateConfig(lake=args.lake, tables=tuple(args.tables or VALIDATED_TABLES), on_failure=args.on_failure)
    result = run(spark, config, log=lambda m: print(m, flush=True))
    broken = result.failed
    print(f"validate {result.run_id}: {len(result.tables)} tables, {len(result.findings)} rules, {len(broken)} broken, "
          f"{result.seconds:.1f}s; findings in {where(args.lake, 'validations')}")
    out = sys.stderr if result.status == "failed" else sys.stdout
    for f in broken:
        if f.rule == "files as committed":  # one line per damaged partition or file
            print(f"  {f.table}: {f.rule}: FAILED - {f.unexpected} findings", file=out)
            for part in f.detail.split("; "):
                print(f"    {part}", file=out)
        else:
            print(f"  {f.message()}", file=out)
    return 1 if result.status == "failed" else 0


def _ingest(args: argparse.Namespace) -> int:
    from gtlake.jobs.ingest import IngestConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-ingest")
    result = run(spark, IngestConfig(input=args.input, lake=args.lake, on_failure=args.on_failure,
                                     arrow_labels=getattr(args, "labels_reader", "arrow") == "arrow"),
                 log=lambda m: print(m, flush=True))
    n_in, n_out, n_rej = result.counts.totals()
    if result.status == "no_new_input":
        print(f"ingest {result.run_id}: nothing new under {args.input}; lake unchanged "
              f"({len(result.jobs_unchanged)} jobs already ingested) in {result.seconds:.1f}s")
    else:
        print(f"ingest {result.run_id}: {len(result.jobs_processed)} jobs, records in {n_in} = out {n_out} "
              f"+ rejected {n_rej}, {result.seconds:.1f}s")
        for kind, c in result.counts.as_dict().items():
            print(f"  {kind:<22} in {c['in']:>10}  out {c['out']:>10}  rejected {c['rejected']:>8}")
        if n_rej:
            print(f"  refused records and their reasons: {where(args.lake, 'rejected')}")
        checks(result)
    print(f"lake: {where(args.lake)}")
    return catalog_sync(args)


def _quality_config(parser: argparse.ArgumentParser, path: str | None):  # noqa: ANN202 - QualityConfig
    from gtlake.udfs.config import QualityConfig

    return json_config(parser, path, QualityConfig)


def _quality(args: argparse.Namespace, cfg: "QualityConfig") -> int:
    from gtlake.jobs.quality import QualityJobConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-quality")
    result = run(spark, QualityJobConfig(lake=args.lake, quality=cfg, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    if result.status == "no_new_input":
        print(f"quality {result.run_id}: every ingested job is already scored; lake unchanged")
    else:
        n_in, n_out, _ = result.counts.totals()
        print(f"quality {result.run_id}: {len(result.jobs_processed)} jobs, {n_in} tracked boxes scored, "
              f"{result.queued} (frame, object) entries in the review queue, {result.seconds:.1f}s")
        checks(result)
    print(f"review queue: {where(args.lake, 'review_queue')}")
    return catalog_sync(args)


def _appearance_config(parser: argparse.ArgumentParser, path: str | None):  # noqa: ANN202 - AppearanceConfig
    from gtlake.udfs.appearance import AppearanceConfig

    return json_config(parser, path, AppearanceConfig)


def _check_embed_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--weights given and readable, --frames-root there, torch importable: else one line and usage."""
    if not args.weights:
        parser.error("--weights is required: the appearance check needs a ResNet-18 state dict in torchvision "
                     "format (README: appearance check); nothing done (random weights are never used)")
    if not storage.is_s3(args.weights) and not os.path.isfile(args.weights):
        parser.error(f"--weights {args.weights}: no such file")
    if args.frames_root:
        check_input(parser, args.frames_root, "--frames-root")
    from importlib.util import find_spec

    missing = [name for name in ("torch", "PIL") if find_spec(name) is None]
    if missing:
        parser.error(f"the appearance check needs torch and Pillow ({', '.join(missing)} missing): "
                     "pip install 'gtlake[embed]' (torch==2.13.0)")


def _embed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.jobs.embed import EmbedJobConfig, run
    from gtlake.spark import get_spark
    from gtlake.udfs.embeddings import WeightsError

    cfg = _appearance_config(parser, args.config if args.command == "embed" else None)  # run's --config is quality's
    spark = get_spark("gtlake-embed")
    try:
        result = run(spark, EmbedJobConfig(lake=args.lake, weights=args.weights, frames_root=args.frames_root,
                                           appearance=cfg, device=getattr(args, "device", "auto"),
                                           on_failure=args.on_failure), log=lambda m: print(m, flush=True))
    except WeightsError as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        return 2
    if result.status == "no_new_input":
        print(f"embed {result.run_id}: every ingested job is already embedded with model {result.model}; "
              "lake unchanged")
    else:
        n_in, _, _ = result.counts.totals()
        crops = ", ".join(f"{k} {v}" for k, v in result.crops.items()) or "none"
        print(f"embed {result.run_id}: {len(result.jobs_processed)} jobs, {n_in} tracked boxes (crops: {crops}), "
              f"{result.flagged} appearance_change flags, model {result.model}, {result.seconds:.1f}s")
        if any(k != "ok" for k in result.crops):
            print(f"  boxes without a crop keep their row with its crop_status: {where(args.lake, 'embedding_metrics')}")
        checks(result)
    print(f"embedding metrics: {where(args.lake, 'embedding_metrics')}")
    return 0


def _workers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake.jobs.workers import WorkersConfig, run
    from gtlake.spark import get_spark

    if args.activity is not None:
        check_input(parser, args.activity, "--activity")
    spark = get_spark("gtlake-workers")
    try:
        result = run(spark, WorkersConfig(lake=args.lake, activity=args.activity, log_group=args.log_group,
                                          lookback_minutes=args.lookback_minutes, on_failure=args.on_failure),
                     log=lambda m: print(m, flush=True))
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake workers: cannot read log group {args.log_group}: {e}", file=sys.stderr)
        return 1
    c = result.counts.as_dict().get("worker_event", {"in": 0, "out": 0, "rejected": 0})
    print(f"workers {result.run_id}: events in {c['in']} = out {c['out']} + rejected {c['rejected']} "
          f"({result.new_events} new), {result.tasks} tasks in {len(result.jobs_processed)} jobs, {result.seconds:.1f}s")
    if c["rejected"]:
        print(f"  refused events and their reasons: {where(args.lake, 'rejected')}")
    checks(result)
    return catalog_sync(args)


def _audit(args: argparse.Namespace) -> int:
    from gtlake.jobs.audit import AuditJobConfig, run
    from gtlake.spark import get_spark
    from gtlake.udfs.matching import AuditConfig

    spark = get_spark("gtlake-audit")
    cfg = AuditConfig(match_iou=getattr(args, "match_iou", 0.5), tolerance_px=getattr(args, "tolerance_px", 0.5))
    result = run(spark, AuditJobConfig(lake=args.lake, audit=cfg, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    if result.status == "no_new_input":
        print(f"audit {result.run_id}: nothing changed since the last audit run; lake unchanged")
    else:
        seq = result.counts.as_dict().get("audit_sequence", {"in": 0, "out": 0, "rejected": 0})
        print(f"audit {result.run_id}: {len(result.audit_jobs)} audit jobs, {seq['out']} sequences compared "
              f"({seq['rejected']} without their audited labels), {result.changes} box rows; worker_quality of "
              f"{len(result.quality_jobs)} jobs, {result.seconds:.1f}s")
        checks(result)
    print(f"worker quality: {where(args.lake, 'worker_quality')}")
    return catalog_sync(args)


def _verdicts_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.jobs.verdicts import VerdictsConfig, run
    from gtlake.spark import get_spark

    _needs_table(writer_lake(args, parser), parser, args, "sequences")
    for f in args.files:
        if not storage.is_s3(f) and not os.path.isfile(f):
            parser.error(f"{f}: no such file")
    spark = get_spark("gtlake-verdicts")
    result = run(spark, VerdictsConfig(lake=args.lake, files=args.files, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    c = result.counts.as_dict()
    files = c.get("verdicts_file", {"in": 0, "out": 0, "rejected": 0})
    one = c.get("verdict", {"in": 0, "out": 0, "rejected": 0})
    if result.status == "no_new_input":
        print(f"verdicts {result.run_id}: every file was imported before; lake unchanged")
    else:
        print(f"verdicts {result.run_id}: files in {files['in']} = read {files['out']} + refused {files['rejected']}"
              f" ({result.already} imported before); verdicts in {one['in']} = stored {one['out']} + refused "
              f"{one['rejected']}; {result.stored} verdicts on {len(result.jobs_processed)} jobs, {result.seconds:.1f}s")
        if files["rejected"] or one["rejected"]:
            print(f"  refused files and verdicts, with their reasons: {where(args.lake, 'rejected')}")
        checks(result)
    print(f"review verdicts: {where(args.lake, 'review_verdicts')}; precision of each reason: gtlake sql --lake "
          f"{args.lake} --view check_precision")
    return catalog_sync(args)


def _predictions_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.jobs.predictions import PredictionsConfig, run
    from gtlake.spark import get_spark
    from gtlake.udfs.predictions import PredictionConfig

    settings = json_config(parser, args.config, PredictionConfig)
    lake = writer_lake(args, parser)
    _needs_table(lake, parser, args, "sequences")
    jobs = sorted(j for j in lake.ledger("ingest") if not j.startswith("_"))
    if args.job not in jobs:
        parser.error(f"--job {args.job}: no such job in the lake (jobs: {', '.join(jobs) or 'none'})")
    if storage.is_s3(args.input):
        check_input(parser, args.input)
    elif not os.path.exists(args.input):
        parser.error(f"--input {args.input}: no such file or folder")
    if not args.model.strip() or len(args.model) > 128:
        parser.error("--model: a name of 1-128 characters")
    spark = get_spark("gtlake-predictions")
    result = run(spark, PredictionsConfig(lake=args.lake, job=args.job, input=args.input, format=args.format,
                                          model=args.model, label=args.label, settings=settings,
                                          on_failure=args.on_failure), log=lambda m: print(m, flush=True))
    c = result.counts.as_dict()
    files = c.get("predictions_file", {"in": 0, "out": 0, "rejected": 0})
    one = c.get("prediction", {"in": 0, "out": 0, "rejected": 0})
    if result.status == "no_new_input":
        print(f"predictions {result.run_id}: {args.model}'s predictions for {args.job} are already in, read from the "
              f"same files with the same settings; lake unchanged")
    else:
        said = ", ".join(f"{n} {r}" for r, n in sorted(result.findings.items())) or "nothing"
        print(f"predictions {result.run_id}: files in {files['in']} = read {files['out']} + refused "
              f"{files['rejected']}; predictions in {one['in']} = stored {one['out']} + refused {one['rejected']}; "
              f"findings: {said}; {result.seconds:.1f}s")
        if result.thresholds:
            print("  confidence thresholds (calibrated): " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(result.thresholds.items())))
        if files["rejected"] or one["rejected"]:
            print(f"  refused files and predictions, with their reasons: {where(args.lake, 'rejected')}")
        checks(result)
    print(f"findings: {where(args.lake, 'prediction_findings')}; gtlake sql --lake {args.lake} --view model_findings")
    code = 1 if result.status == "failed" else 0
    for step in pipeline.followers("predictions"):  # quality, which syncs the catalog when asked
        code = code or _follow(args, step)
    return code


def _needs_table(lake, parser: argparse.ArgumentParser, args: argparse.Namespace, table: str) -> None:  # noqa: ANN001
    if not lake.isdir(lake.table_path(table)):
        parser.error(f"--lake {args.lake}: no {table} table here; run `gtlake ingest` first")


def _ingest_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    writer_lake(args, parser)
    check_input(parser, args.input)
    return _ingest(args)


def _workers_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _needs_table(writer_lake(args, parser), parser, args, "sequences")
    return _workers(args, parser)


def _audit_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _needs_table(writer_lake(args, parser), parser, args, "sequences")
    return _audit(args)


def _embed_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    lake = writer_lake(args, parser)
    _check_embed_args(parser, args)
    _needs_table(lake, parser, args, "boxes")
    code = _embed(args, parser)
    for step in pipeline.followers("embed"):
        code = code or _follow(args, step)
    return code


def _follow(args: argparse.Namespace, step: str) -> int:
    """A step that follows another run alone (`pipeline.followers`); quality runs with the settings it last ran
    with (the lake's quality ledger), so that a re-rank never changes the thresholds."""
    from gtlake.lake import Lake
    from gtlake.udfs.config import QualityConfig

    if step != "quality":
        raise ValueError(f"no command to follow with {step!r}")
    said = "the model's findings" if args.command == "predictions" else "the appearance flags"
    print(f"{args.command}: re-ranking the review queue with {said} (quality job)", flush=True)
    return _quality(args, QualityConfig.recorded(Lake(args.lake).ledger("quality").values()))


def _quality_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    lake = writer_lake(args, parser)
    cfg = _quality_config(parser, args.config)
    _needs_table(lake, parser, args, "boxes")
    return _quality(args, cfg)


def _validate_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    writer_lake(args, parser)
    return _validate(args)


def _run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Every step of the pipeline in order (`gtlake.pipeline`); the first that fails stops the rest."""
    writer_lake(args, parser)
    check_input(parser, args.input)
    cfg = _quality_config(parser, args.config)
    if args.activity is not None:
        check_input(parser, args.activity, "--activity")
    if args.weights or args.frames_root:
        _check_embed_args(parser, args)
    given = {need for need, present in ((pipeline.ACTIVITY, args.activity is not None or args.log_group is not None),
                                        (pipeline.WEIGHTS, bool(args.weights))) if present}
    for stage in pipeline.skipped(given):
        if stage.needs == pipeline.WEIGHTS:
            print(f"run: appearance check ({stage.step}) skipped: no --weights (README: appearance check)")
    commands = {"ingest": lambda: _ingest(args), "workers": lambda: _workers(args, parser),
                "embed": lambda: _embed(args, parser), "quality": lambda: _quality(args, cfg),
                "audit": lambda: _audit(args)}
    for stage in pipeline.steps(given):
        code = commands[stage.step]()
        if code:
            return code
    return 0
