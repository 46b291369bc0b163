"""Write a realistic Ground Truth output tree with planted mistakes (`gtlake sample`).

Layout under OUT (each folder mirrors one S3 bucket):

    OUT/input/                 s3://gtlake-sample-input/   sequence files, input manifests, label configs
                                                           (and, with --frames-images, the frame JPEGs)
    OUT/output/<job>/...       s3://gtlake-sample-output/  what Ground Truth writes per labeling job
    OUT/worker-activity/...    s3://gtlake-sample-logs/    a CloudWatch Logs export of WorkerActivity
    OUT/planted.jsonl          the truth: every planted mistake (beside the tree, not inside a job)
    OUT/sample.json            the parameters and counts of this sample

Every sequence is generated from its own random stream (seed, job, sequence), so output is
deterministic for a seed and nothing but one sequence is held in memory at a time.
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import IO

import numpy as np

from gtlake.sample.annotate import Worker, annotate
from gtlake.sample.frames import render_video
from gtlake.sample.plants import Boxes, Plant, correct, plant_mistakes, plant_omissions, refine
from gtlake.sample.scene import (IMAGE_HEIGHT, IMAGE_WIDTH, REGIME_NAMES, REGIMES, Regime, Track, camera_path,
                                 simulate_track)

INPUT_BUCKET = "gtlake-sample-input"
OUTPUT_BUCKET = "gtlake-sample-output"
ACCOUNT = "111122223333"
REGION = "us-east-1"
USER_POOL = f"{REGION}_gtlakeSMP"
WORKTEAM_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/gtlake-sample-team"
START = datetime(2026, 10, 5, 7, 30, tzinfo=timezone.utc)
MEAN_CARELESSNESS = 0.2  # about the mean of the labelers' (0.03 + 0.45 q^1.5 over q in [0, 1])
GENERATOR_VERSION = 9  # bump when the same parameters give a different tree (cached benchmark samples are redone)
FREE_TEXT_NOTES = (
    "wet road, glare from headlights",
    "Straße nass — Blendung",
    "brouillard léger, visibilité réduite",
    "<b>camera shake</b> at the start",
    "雨天、視界不良",
    "sun low <img src=x onerror=alert(1)>",
    "",
)


@dataclass(frozen=True)
class SampleParams:
    """Size and seed of a sample tree."""

    sequences: int = 12
    frames: int = 120
    objects: int = 10
    workers: int = 6
    seed: int = 7
    frames_images: bool = False  # also render every frame as a JPEG beside its sequence file
    regime: str = "mixed"  # kind of footage (scene.REGIMES), or "mixed": each video one of them in turn
    omissions: float = 0.6  # objects left out of a tracking video's labels (whole or in part), on average (a
    # careless labeler more, a careful one fewer)


def regime_of(p: SampleParams, video: int) -> Regime:
    """The kind of footage of one video of the sample."""
    if p.regime == "mixed":
        return REGIMES[REGIME_NAMES[video % len(REGIME_NAMES)]]
    if p.regime not in REGIMES:
        raise ValueError(f"regime must be mixed or one of {', '.join(REGIME_NAMES)}, not {p.regime!r}")
    return REGIMES[p.regime]


@dataclass(frozen=True)
class JobSpec:
    """One labeling job of the sample."""

    name: str
    attribute: str  # label attribute name (differs across jobs, as in real projects)
    task_type: str
    class_map: dict[str, str]
    sequences: tuple[int, ...]  # global video numbers labeled by this job
    audit_of: str | None = None


def _job_specs(p: SampleParams) -> list[JobSpec]:
    """The sample's jobs: three tracking jobs, one adjustment (audit) job, one detection job."""
    videos = list(range(p.sequences))
    split = [videos[i::3] for i in range(3)]
    std = {"0": "Vehicle", "1": "Pedestrian", "2": "Cyclist", "3": "Helmet"}  # helmets: the sports footage's
    tracking = "groundtruth/video-object-tracking"
    first = [
        JobSpec("vehicles-day-2026-10", "vehicles-ref", tracking, std, tuple(split[0])),
        JobSpec("street-tracking-b2", "street-objects", tracking,
                {"0": "Pedestrian", "1": "Vehicle", "2": "Cyclist", "3": "Helmet"}, tuple(split[1])),
        JobSpec("urban-mot-night", "tracking-2026-ref", tracking,
                {"2": "Vehicle", "5": "Pedestrian", "7": "Cyclist", "9": "Helmet"}, tuple(split[2])),
    ]
    # Every tracking job is audited by a chained adjustment job (its own attribute name, as teams do).
    audits = [JobSpec(f"{j.name}-audit", f"{j.attribute.removesuffix('-ref')}-audit-ref", tracking, j.class_map,
                      j.sequences, audit_of=j.name) for j in first]
    return first[:1] + audits[:1] + first[1:] + audits[1:] + [
        JobSpec("road-signs-detect", "signs-ref", "groundtruth/video-object-detection",
                {"0": "Vehicle", "1": "Pedestrian", "2": "Cyclist", "3": "Helmet"},
                tuple(videos[: max(1, p.sequences // 4)])),
    ]


def _hex(rng: np.random.Generator, n_bytes: int) -> str:
    return rng.bytes(n_bytes).hex()


def _uuid(rng: np.random.Generator) -> str:
    h = _hex(rng, 16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def make_workers(p: SampleParams) -> tuple[list[Worker], list[Worker]]:
    """Labelers, from careful and slow to hasty and careless, and two expert auditors."""
    rng = np.random.default_rng([p.seed, 1])
    labelers = []
    for k in range(p.workers):
        q = k / max(1, p.workers - 1)  # 0 = most careful, 1 = most careless
        labelers.append(Worker(
            worker_id=f"private.{REGION}.{_hex(rng, 8)}",
            cognito_sub=_uuid(rng),
            keyframe_every=int(round(3 + 9 * q)),
            jitter_px=0.6 + 2.4 * q,
            seconds_per_box=float(rng.uniform(2.5, 4.5) - 1.6 * q),
            carelessness=0.03 + 0.45 * q ** 1.5,
        ))
    auditors = [Worker(f"private.{REGION}.{_hex(rng, 8)}", _uuid(rng), 2, 0.4, 6.0, 0.0) for _ in range(2)]
    return labelers, auditors


def _java_date(t: datetime) -> str:
    """Java's Date.toString() form, as the WorkerActivity log writes times."""
    return t.strftime("%a %b %d %H:%M:%S UTC %Y")


def _iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def true_tracks(p: SampleParams, video: int) -> tuple[list[Track], np.random.Generator]:
    """The true objects of one video (as its camera shows them), and the stream that goes on to describe the
    scene."""
    regime = regime_of(p, video)
    camera = camera_path(np.random.default_rng([p.seed, 8, video]), p.frames, regime)
    rng = np.random.default_rng([p.seed, 2, video])
    return [t for t in (simulate_track(rng, p.frames, regime, camera) for _ in range(p.objects))
            if t is not None], rng


class _Scene:
    """The true objects of one video and the clean labels of one worker (before mistakes)."""

    def __init__(self, p: SampleParams, video: int, worker: Worker):
        tracks, rng = true_tracks(p, video)
        self.regime = regime_of(p, video)
        # Annotators key low-frame-rate video almost every frame, and some footage sparsely.
        worker = replace(worker, keyframe_every=max(1, int(round(worker.keyframe_every * self.regime.keyframe_factor))))
        self.tracks = tracks
        self.weather = str(rng.choice(["Clear", "Clear", "Rain", "Fog", "Snow"]))
        self.time_of_day = str(rng.choice(["Day", "Day", "Dusk", "Night"]))
        self.note = str(rng.choice(FREE_TEXT_NOTES))
        self.object_ids = [_uuid(rng) for _ in tracks]
        ann_rng = np.random.default_rng([p.seed, 3, video])
        parts = []
        for i, t in enumerate(tracks):
            lab = annotate(t, worker, ann_rng)
            n = lab.frame_no.size
            parts.append(Boxes(lab.frame_no, np.full(n, i), np.zeros(n, np.int64), lab.left, lab.top,
                               lab.width, lab.height, t.occluded.astype(object)))
        self.boxes = parts[0] if parts else None
        for b in parts[1:]:
            self.boxes = self.boxes.append(b)


def _seq_label(job: JobSpec, scene: _Scene, boxes: Boxes, names: list[str], ids: list[str],
               rng: np.random.Generator, n_frames: int) -> dict:
    """SeqLabel.json content for `boxes`: frames with their shapes, attributes per box."""
    tracking = job.task_type.endswith("tracking")
    by_frame: dict[int, list[dict]] = {}
    order = rng.permutation(len(boxes))  # boxes within a frame come in no fixed order
    for r in order.tolist():
        ident = int(boxes.ident[r])
        track = scene.tracks[ident] if ident < len(scene.tracks) else None
        attrs = {"Occlusion": str(boxes.occluded[r]).capitalize()}
        if track is not None and track.vehicle_type is not None:
            attrs["Vehicle_Type"] = track.vehicle_type
        box = {"height": int(boxes.height[r]), "width": int(boxes.width[r]), "top": int(boxes.top[r]),
               "left": int(boxes.left[r]), "class-id": str(int(boxes.cls[r])), "label-category-attributes": attrs}
        if tracking:
            box["object-id"] = ids[ident]
            box["object-name"] = names[ident]
        by_frame.setdefault(int(boxes.frame_no[r]), []).append(box)
    keep_empty = rng.random() < 0.5  # some exports list frames without shapes, some leave them out
    frames = []
    for f in range(n_frames):
        if f not in by_frame and not keep_empty:
            continue
        attrs = {"Weather": scene.weather, "Time_Of_Day": scene.time_of_day}
        if scene.note and f == 0:
            attrs["Notes"] = scene.note
        frames.append({"frame-no": str(f), "frame": f"frame_{f + 1:06d}.jpg", "frame-attributes": attrs,
                       "annotations": by_frame.get(f, [])})
    if rng.random() < 0.15:  # frames may come out of order
        frames = [frames[i] for i in rng.permutation(len(frames))]
    key = "tracking-annotations" if tracking else "detection-annotations"
    return {key: frames}


def _truth(scene: _Scene) -> dict[int, Boxes]:
    """The true box of every identity on every frame it is labelable, clipped to the image as labels are."""
    out = {}
    for i, t in enumerate(scene.tracks):
        x1 = np.clip(t.left, 0, IMAGE_WIDTH - 2)
        y1 = np.clip(t.top, 0, IMAGE_HEIGHT - 2)
        x2 = np.clip(t.left + t.width, x1 + 2, IMAGE_WIDTH)
        y2 = np.clip(t.top + t.height, y1 + 2, IMAGE_HEIGHT)
        n = t.frame_no.size
        out[i] = Boxes(t.frame_no, np.full(n, i), np.zeros(n, np.int64), x1, y1, x2 - x1, y2 - y1, np.zeros(n, object))
    return out


def _class_ids(job: JobSpec, scene: _Scene, boxes: Boxes) -> np.ndarray:
    """Each box's class-id under the job's class map (class maps differ across jobs)."""
    by_label = {v: int(k) for k, v in job.class_map.items()}
    track_cls = np.array([by_label[t.label] for t in scene.tracks] + [0], dtype=np.int64)
    return track_cls[np.minimum(boxes.ident, len(scene.tracks))]


class _Writer:
    """Streams one sample tree to disk."""

    def __init__(self, out: str, p: SampleParams):
        self.out, self.p = out, p
        self.labelers, self.auditors = make_workers(p)
        self.jobs = _job_specs(p)
        self.planted: IO[str] = open(os.path.join(out, "planted.jsonl"), "w", encoding="utf-8")
        self.events: list[dict] = []
        self.counts = {"jobs": 0, "sequences": 0, "boxes": 0, "planted": 0, "frame_images": 0}

    def _write_json(self, rel: str, obj: object) -> None:
        path = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))

    def _first_level_index(self, job: JobSpec) -> int:
        """Index of the job whose labeler labeled this job's videos (an audit's parent)."""
        name = job.audit_of or job.name
        return next(k for k, j in enumerate(self.jobs) if j.name == name)

    def write_inputs(self, jobs: list[JobSpec]) -> None:
        """Sequence files and input manifests, as a team would prepare them for Ground Truth."""
        for v in range(self.p.sequences):
            fps = regime_of(self.p, v).fps
            frames = [{"frame-no": f + 1, "frame": f"frame_{f + 1:06d}.jpg",
                       "unix-timestamp": 1791000000 + v * 3600 + f / fps} for f in range(self.p.frames)]
            self._write_json(f"input/videos/drive-{v:04d}/seq.json", {
                "version": "2020-07-01", "seq-no": v, "prefix": f"s3://{INPUT_BUCKET}/videos/drive-{v:04d}/",
                "number-of-frames": self.p.frames, "frames": frames})
            if self.p.frames_images:  # images show the truth; labels (and their mistakes) come from the workers
                tracks, _ = true_tracks(self.p, v)
                self.counts["frame_images"] += render_video(
                    tracks, self.p.frames, np.random.default_rng([self.p.seed, 7, v]),
                    os.path.join(self.out, "input", "videos", f"drive-{v:04d}"))
        for job in jobs:
            if job.audit_of:
                continue
            path = os.path.join(self.out, "input", "manifests", f"{job.name}.manifest")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                for v in job.sequences:
                    f.write(json.dumps({"source-ref": f"s3://{INPUT_BUCKET}/videos/drive-{v:04d}/seq.json"}) + "\n")

    def write_job(self, job: JobSpec, job_index: int) -> None:
        """One job folder: output manifest, SeqLabel files, worker responses; queue its activity events."""
        created = START + timedelta(days=job_index)
        root = f"output/{job.name}"
        manifest_path = os.path.join(self.out, root, "manifests", "output", "output.manifest")
        os.makedirs(os.path.dirname(manifest_path), exist_ok=True)
        clock: dict[str, datetime] = {}
        with open(manifest_path, "w", encoding="utf-8") as manifest:
            for i, video in enumerate(job.sequences):
                line = self._write_sequence(job, job_index, i, video, created, clock)
                manifest.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.counts["jobs"] += 1

    def _write_sequence(self, job: JobSpec, job_index: int, i: int, video: int, created: datetime,
                        clock: dict[str, datetime]) -> dict:
        p = self.p
        # Tracking videos are shared out evenly (each is in one tracking job); detection work goes round differently.
        turn = video if job.task_type.endswith("tracking") else video * 7 + job_index
        labeler = self.labelers[turn % len(self.labelers)]
        scene = _Scene(p, video, labeler)
        rng = np.random.default_rng([p.seed, 4, job_index, video])
        names = [f"{t.label}:{k + 1}" for k, t in enumerate(scene.tracks)]
        ids = list(scene.object_ids)
        boxes = scene.boxes if scene.boxes is not None else Boxes(*(np.zeros(0, np.int64),) * 7, np.zeros(0, object))
        boxes.cls = _class_ids(job, scene, boxes)
        worker = labeler
        status = None
        if job.task_type.endswith("tracking"):
            # Mistakes come from the labeler's stream, so a first-level job and its audit share them.
            plant_rng = np.random.default_rng([p.seed, 5, video])
            n_mistakes = int(plant_rng.poisson(labeler.carelessness * max(1, len(scene.tracks))))
            planted, plants, n_ids = plant_mistakes(
                boxes, n_mistakes, np.array(sorted(int(k) for k in job.class_map)), len(ids), plant_rng)
            for k in range(len(ids), n_ids):
                names.append(f"{job.class_map[str(int(planted.cls[planted.ident == k][0]))]}:{k + 1}")
                ids.append(_uuid(plant_rng))
            audit = next((a for a in self.jobs if a.audit_of == job.name), None)
            fix_rng = np.random.default_rng([p.seed, 6, video])
            keep = [bool(fix_rng.random() < 0.9) for _ in plants]  # the auditor fixes most mistakes
            # Objects the labeler never saw (whole or in part), from a stream of their own: the other plants and
            # the auditor's choices stay as they were without them. Careless labelers leave out more.
            omit_rng = np.random.default_rng([p.seed, 8, video])
            rate = p.omissions * labeler.carelessness / MEAN_CARELESSNESS
            planted, omitted = plant_omissions(planted, int(omit_rng.poisson(rate)),
                                               {x for plant in plants for x in plant.idents}, omit_rng)
            plants, keep = plants + omitted, keep + [bool(omit_rng.random() < 0.9) for _ in omitted]
            boxes = planted
            if job.audit_of:
                boxes = correct(planted, plants, keep)
                left_alone = {x for plant, k in zip(plants, keep) if not k for x in plant.idents}
                boxes = refine(boxes, _truth(scene), left_alone, fix_rng)
                changed = len(boxes) != len(planted) or any(
                    not np.array_equal(getattr(boxes, c), getattr(planted, c))
                    for c in ("frame_no", "ident", "cls", "left", "top", "width", "height"))
                status = "adjusted" if changed else "unadjusted"
                worker = self.auditors[video % len(self.auditors)]
            else:
                self._plants(job, i, video, plants, ids, names, keep if audit else None, audit)
        labels = _seq_label(job, scene, boxes, names, ids, rng, p.frames)
        rel = f"output/{job.name}/annotations/consolidated-annotation/output/{i}/SeqLabel.json"
        self._write_json(rel, labels)
        self.counts["sequences"] += 1
        self.counts["boxes"] += len(boxes)
        self._worker_response(job, i, worker, len(boxes), created, clock, rng)

        meta = {"class-map": job.class_map, "job-name": f"labeling-job/{job.name}", "human-annotated": "yes",
                "creation-date": (created + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "type": job.task_type}
        line: dict = {"source-ref": f"s3://{INPUT_BUCKET}/videos/drive-{video:04d}/seq.json"}
        if job.audit_of:
            parent = f"s3://{OUTPUT_BUCKET}/{job.audit_of}/annotations/consolidated-annotation/output/{i}/SeqLabel.json"
            parent_attr = self.jobs[self._first_level_index(job)].attribute
            line[parent_attr] = parent
            parent_created = START + timedelta(days=self._first_level_index(job), hours=8)
            line[f"{parent_attr}-metadata"] = dict(meta, **{"job-name": f"labeling-job/{job.audit_of}",
                                                          "creation-date": parent_created.strftime("%Y-%m-%dT%H:%M:%S.%f")})
            meta["adjustment-status"] = status
        line[job.attribute] = f"s3://{OUTPUT_BUCKET}/{job.name}/annotations/consolidated-annotation/output/{i}/SeqLabel.json"
        line[f"{job.attribute}-metadata"] = meta
        return line

    def _plants(self, job: JobSpec, i: int, video: int, plants: list[Plant], ids: list[str], names: list[str],
                fixed: list[bool] | None, audit: JobSpec | None) -> None:
        for k, plant in enumerate(plants):
            rec = {"job_name": job.name, "data_object_index": i, "sequence_id": f"{job.name}:{i}",
                   "video": f"drive-{video:04d}", "regime": regime_of(self.p, video).name, "kind": plant.kind,
                   "object_ids": [ids[x] for x in plant.idents], "object_names": [names[x] for x in plant.idents],
                   "frames": list(plant.frames), "detail": plant.detail}
            if audit is not None and fixed is not None:
                rec["audit_job"] = audit.name
                rec["corrected_by_audit"] = fixed[k]
            self.planted.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.counts["planted"] += 1

    def _worker_response(self, job: JobSpec, i: int, worker: Worker, n_boxes: int, created: datetime,
                         clock: dict[str, datetime], rng: np.random.Generator) -> None:
        """One worker-response file with timings, and the activity events around that task."""
        start = max(clock.get(worker.worker_id, created), created) + timedelta(seconds=float(rng.uniform(20, 900)))
        # Some tasks are first returned (or declined) by another labeler before this one takes them.
        if job.audit_of is None and (i == 0 or rng.random() < 0.12):  # every job sees at least one
            other = self.labelers[int(rng.integers(len(self.labelers)))]
            kind = "TasksReturned" if rng.random() < 0.6 else "TasksDeclined"
            t0 = start - timedelta(minutes=float(rng.uniform(5, 40)))
            t1 = t0 + timedelta(minutes=float(rng.uniform(0.2, 15)))
            self.events.append(self._event(job, other, kind, t0 if kind == "TasksReturned" else None, None,
                                           t1 if kind == "TasksReturned" else None, t1 if kind == "TasksDeclined" else None))
        active = max(30.0, n_boxes * worker.seconds_per_box * float(rng.lognormal(0.0, 0.25)))
        wall = active * float(rng.uniform(1.05, 1.8))
        end = start + timedelta(seconds=wall)
        clock[worker.worker_id] = end
        answer = {"acceptanceTime": _iso_ms(start),
                  "answerContent": {"trackingAnnotationsS3Uri": f"s3://{OUTPUT_BUCKET}/{job.name}/annotations/"
                                    f"worker-response/iteration-1/{i}/labels.json", "boxCount": n_boxes},
                  "submissionTime": _iso_ms(end), "timeSpentInSeconds": round(active, 3), "workerId": worker.worker_id,
                  "workerMetadata": {"identityData": {"identityProviderType": "Cognito",
                                                      "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{USER_POOL}",
                                                      "sub": worker.cognito_sub}}}
        name = end.strftime("%Y-%m-%d_%H:%M:%S") + ".json"
        self._write_json(f"output/{job.name}/annotations/worker-response/iteration-1/{i}/{name}", {"answers": [answer]})
        if rng.random() >= 0.03:  # the activity log is best-effort delivery: a few events never arrive
            self.events.append(self._event(job, worker, "TasksSubmitted", start, end, None, None))

    def _event(self, job: JobSpec, w: Worker, kind: str, accepted: datetime | None, submitted: datetime | None,
               returned: datetime | None, declined: datetime | None) -> dict:
        at = submitted or returned or declined or accepted
        return {"worker_id": w.worker_id.rsplit(".", 1)[-1], "cognito_user_pool_id": USER_POOL,
                "cognito_sub_id": w.cognito_sub,
                "task_accepted_time": _java_date(accepted) if accepted else "",
                "task_submitted_time": _java_date(submitted) if submitted else "",
                "task_returned_time": _java_date(returned) if returned else "",
                "task_declined_time": _java_date(declined) if declined else "",
                "workteam_arn": WORKTEAM_ARN,
                "labeling_job_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{job.name}",
                "work_requester_account_id": ACCOUNT, "job_reference_code": "gtlake-sample",
                "job_type": "Private", "event_type": kind, "event_timestamp": str(int(at.timestamp()))}

    def write_activity_log(self) -> None:
        """A CloudWatch Logs export: gzip files of `<ISO timestamp> <json message>` lines, per log stream."""
        self.events.sort(key=lambda e: int(e["event_timestamp"]))
        by_day: dict[str, list[dict]] = {}
        for e in self.events:
            day = datetime.fromtimestamp(int(e["event_timestamp"]), timezone.utc).strftime("%Y-%m-%d")
            by_day.setdefault(day, []).append(e)
        for day, events in by_day.items():
            stream = f"aws/sagemaker/groundtruth/worker-activity/{ACCOUNT}-{REGION}/{day}"
            path = os.path.join(self.out, "worker-activity", "exportTask-gtlake-sample", stream, "000000.gz")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            lines = "".join(f"{_iso_ms(datetime.fromtimestamp(int(e['event_timestamp']), timezone.utc))} "
                            f"{json.dumps(e)}\n" for e in events)
            with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:  # mtime=0: same bytes
                f.write(lines.encode("utf-8"))

    def close(self) -> None:
        self.planted.close()


def generate(out: str, p: SampleParams) -> dict:
    """Write a sample tree under `out`; returns counts (jobs, sequences, boxes, planted mistakes)."""
    os.makedirs(out, exist_ok=True)
    writer = _Writer(out, p)
    try:
        jobs = writer.jobs
        writer.write_inputs(jobs)
        for k, job in enumerate(jobs):
            if job.sequences:  # a job given no videos has no output folder
                writer.write_job(job, k)
        writer.write_activity_log()
    finally:
        writer.close()
    summary = {"params": p.__dict__, "generator": GENERATOR_VERSION, "image": [IMAGE_WIDTH, IMAGE_HEIGHT],
               "jobs": [j.name for j in jobs], **writer.counts,
               # Each video's kind of footage, and each sequence's (for accuracy per regime).
               "regimes": {f"drive-{v:04d}": regime_of(p, v).name for v in range(p.sequences)},
               "sequence_regimes": {f"{j.name}:{i}": regime_of(p, v).name for j in jobs
                                    for i, v in enumerate(j.sequences)},
               # The truth about the labelers, for measuring worker metrics (not part of Ground Truth's output).
               "labelers": [{"worker_id": w.worker_id, "cognito_sub": w.cognito_sub, "carelessness": w.carelessness,
                             "keyframe_every": w.keyframe_every, "jitter_px": w.jitter_px} for w in writer.labelers]}
    with open(os.path.join(out, "sample.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary
