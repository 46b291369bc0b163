"""`gtlake review`: the crop geometry by hand, then the page in a real Chromium (Playwright driving Debian's
chromium, never a downloaded browser): images drawn with the box at the right pixels, the plain-canvas fallback,
keyboard navigation, filters, untrusted names as text, and a verdicts file saved from the page that `gtlake
verdicts` imports."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import FAKE_AWS
from gtlake.cli import main
from gtlake.lakesql import connect
from gtlake.review import MIN_WINDOW_PX, build, expected_box, plan, window_around

PAYLOAD = "<img src=x onerror=alert(1)>"


def test_the_window_pads_the_box_keeps_the_aspect_and_a_least_size():
    # A 20 x 10 box: padded by 0.8 x 20 = 16 a side -> 52 x 42, raised to 64 x 64, widened to 4:3 -> 85.33 x 64.
    x0, y0, x1, y1 = window_around([(100.0, 100.0, 20.0, 10.0)])
    assert (x1 - x0, y1 - y0) == pytest.approx((64 * 4 / 3, 64.0))
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((110.0, 105.0))  # centred on the box
    # Two boxes of a track: the union (100..240 x 50..110), padded by 0.8 x 60 = 48 -> 236 x 156 -> 4:3: 236 x 177.
    x0, y0, x1, y1 = window_around([(100.0, 50.0, 60.0, 40.0), (200.0, 70.0, 40.0, 40.0)])
    assert (x1 - x0, y1 - y0) == pytest.approx((236.0, 177.0))
    # At the image's corner the region moves inside it, its size kept; larger than the image, it is the image.
    assert window_around([(0.0, 0.0, 10.0, 10.0)], (1920, 1080))[:2] == (0.0, 0.0)
    assert window_around([(1910.0, 1070.0, 10.0, 10.0)], (1920, 1080))[2:] == (1920.0, 1080.0)
    assert window_around([(0.0, 0.0, 50.0, 50.0)], (40, 30)) == (0.0, 0.0, 40.0, 30.0)
    assert MIN_WINDOW_PX == 64.0


def test_a_missing_box_is_expected_between_its_neighbours():
    track = {1: (0.0, 0.0, 10.0, 10.0), 3: (10.0, 20.0, 14.0, 10.0)}
    assert expected_box(track, 2) == pytest.approx((5.0, 10.0, 12.0, 10.0))
    assert expected_box(track, 4) is None and expected_box(track, 0) is None


def test_plan_draws_the_object_the_others_and_the_missing_box():
    boxes = [{"sequence_id": "j:0", "frame_no": f, "frame_file": f"{f}.jpg", "object_id": "a", "left": 10.0 * f,
              "top": 5.0, "width": 20.0, "height": 20.0} for f in (0, 1, 3, 4)]
    boxes.append({"sequence_id": "j:0", "frame_no": 2, "frame_file": "2.jpg", "object_id": "b", "left": 25.0,
                  "top": 10.0, "width": 20.0, "height": 20.0})
    files = {("j:0", f): f"{f}.jpg" for f in range(5)}
    entry = {"sequence_id": "j:0", "frame_no": 2, "frame_file": "2.jpg", "object_id": "a", "object_name": "car:1",
             "label": "car", "reasons": ["missing_box"], "score": 3.0, "rank": 1, "source_ref": "s3://b/seq.json",
             "worker_id": "w"}
    (item,) = plan([entry], boxes, files)
    assert [p.frame_no for p in item["panels"]] == [0, 1, 2, 3, 4]
    main_panel = item["panels"][2]
    assert main_panel.longest > item["panels"][0].longest
    kinds = sorted(b[4] for b in main_panel.boxes)
    assert kinds == [1, 2]  # no box of `a` on frame 2: the other object, and where `a` is expected (dashed)
    assert [b for b in main_panel.boxes if b[4] == 2][0][:4] == pytest.approx([20.0, 5.0, 20.0, 20.0])
    assert [g for g, _, _ in item["path"]] == [0, 1, 3, 4]
    # The region holds every box of `a` on the filmstrip's frames.
    x0, y0, x1, y1 = main_panel.window
    assert x0 <= 0.0 and x1 >= 60.0 and y0 <= 5.0 and y1 >= 25.0


def test_plan_draws_an_overlooked_object_where_the_model_puts_it():
    """An overlooked entry has no object: every labeled box is another's, and the model's box is drawn (kind 3)."""
    boxes = [{"sequence_id": "j:0", "frame_no": f, "frame_file": f"{f}.jpg", "object_id": "a", "left": 300.0,
              "top": 5.0, "width": 20.0, "height": 20.0} for f in range(5)]
    boxes.append({"sequence_id": "j:0", "frame_no": 2, "frame_file": "2.jpg", "object_id": None, "left": 40.0,
                  "top": 40.0, "width": 8.0, "height": 8.0})  # an untracked box: never "this object"
    entry = {"sequence_id": "j:0", "frame_no": 2, "frame_file": "2.jpg", "object_id": None, "object_name": None,
             "label": "car", "reasons": ["overlooked"], "score": 3.0, "rank": 1, "source_ref": "s3://b/seq.json",
             "worker_id": "w", "model": "m", "model_left": 50.0, "model_top": 60.0, "model_width": 30.0,
             "model_height": 20.0}
    (item,) = plan([entry], boxes, {("j:0", f): f"{f}.jpg" for f in range(5)})
    main_panel = next(p for p in item["panels"] if p.frame_no == 2)
    assert sorted(b[4] for b in main_panel.boxes) == [1, 1, 3]
    assert [b for b in main_panel.boxes if b[4] == 3][0][:4] == [50.0, 60.0, 30.0, 20.0]
    x0, y0, x1, y1 = main_panel.window  # the region is around the model's box, not around another object
    assert x0 <= 50.0 and x1 >= 80.0 and y0 <= 60.0 and y1 >= 80.0 and x1 < 300.0
    assert item["path"] == []


def _gradient(w: int = 1920, h: int = 1080) -> Image.Image:
    """A frame whose colour says where a pixel is: red grows with x, green with y (JPEG keeps smooth ramps)."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 128)], axis=2).astype(np.uint8))


@pytest.fixture(scope="module")
def page(pipeline_lake, tmp_path_factory):
    """The review page of the pipeline lake's busiest job, on a copy where rank 1's name is an HTML payload; every
    frame of its sequences but one has an image (gradient frames under a frames root), that one has none."""
    tmp = tmp_path_factory.mktemp("review")
    lake = tmp / "lake"
    shutil.copytree(pipeline_lake["lake"], lake, ignore=shutil.ignore_patterns("_gtlake"))
    shutil.copytree(pipeline_lake["lake"] / "_gtlake" / "ledger", lake / "_gtlake" / "ledger")
    con = connect(str(lake))
    job = con.execute("SELECT job_name FROM review_queue GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    part = next((lake / "review_queue" / f"job_name={job}").glob("*.parquet"))
    t = pq.read_table(part)
    names = t.column("object_name").to_pylist()
    ranks, objects = t.column("rank").to_pylist(), t.column("object_id").to_pylist()
    named = min(r for r, o in zip(ranks, objects) if o is not None)  # the first entry of a labeled object
    names[ranks.index(named)] = PAYLOAD
    pq.write_table(t.set_column(t.schema.get_field_index("object_name"), "object_name", pa.array(names)), part)
    refs = con.execute("""SELECT sequence_id, any_value(source_ref) FROM review_queue WHERE job_name = ?
                          GROUP BY 1 ORDER BY min(rank)""", [job]).fetchall()
    root = tmp / "frames"
    shutil.copytree(pipeline_lake["sample"] / "input", root)
    frame = _gradient()
    without = refs[-1][0] if len(refs) > 1 else None
    for seq, ref in refs:
        if seq == without:
            continue
        folder = root / ref.split("/", 3)[3].rsplit("/", 1)[0]
        for (f,) in con.execute("SELECT DISTINCT frame_file FROM frames WHERE job_name = ? AND sequence_id = ?",
                                [job, seq]).fetchall():
            frame.save(folder / f, quality=92)
    text, stats = build(str(lake), job, top=40, frames_root=str(root))
    out = tmp / "review.html"
    out.write_text(text, encoding="utf-8")
    data = json.loads(text.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    return {"lake": lake, "job": job, "path": out, "data": data, "stats": stats, "without": without, "tmp": tmp,
            "named": [e["rank"] for e in data["entries"]].index(named)}


@pytest.fixture
def opened(browser, page):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    tab = ctx.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(page["path"].as_uri())
    tab.wait_for_selector("body[data-ready='1']")
    tab.wait_for_function("[...document.querySelectorAll('canvas')].every(c => c.dataset.drawn === '1')")
    yield tab, errors
    ctx.close()


def _pixel(tab, index: int, x: float, y: float) -> list[int]:
    return tab.evaluate("""([i, x, y]) => Array.from(document.querySelector('#entry-' + i + ' canvas.main-canvas')
        .getContext('2d').getImageData(Math.round(x), Math.round(y), 1, 1).data)""", [index, x, y])


def _main(entry: dict) -> dict:
    return next(p for p in entry["panels"] if p["frame_no"] == entry["frame_no"])


def test_the_page_shows_the_queue_top_and_each_box_at_its_pixels(opened, page):
    tab, errors = opened
    data, stats = page["data"], page["stats"]
    assert not errors
    con = connect(str(page["lake"]))
    total = con.execute("SELECT count(*) FROM review_queue WHERE job_name = ?", [page["job"]]).fetchone()[0]
    assert len(data["entries"]) == min(40, total) == stats["entries"]
    assert tab.locator("section.entry").count() == len(data["entries"])
    assert [e["rank"] for e in data["entries"]] == sorted(e["rank"] for e in data["entries"])
    assert all(e["score"] == round(e["score"], 2) for e in data["entries"])
    checked_image = checked_plain = 0
    for e in data["entries"]:  # a model's box (kind 3) on every entry a model gave a reason, as the queue has it
        model = [b[:4] for b in _main(e)["boxes"] if b[4] == 3]
        assert (model == [e["model_box"]]) if e["model_box"] else not model
        assert e["object_id"] is not None or ("overlooked" in e["reasons"] and e["model_box"])
    for i, e in enumerate(data["entries"]):
        p = _main(e)
        own = [b for b in p["boxes"] if b[4] == 0]
        if not own:
            continue
        # The page's box is the lake's box.
        lake_box = con.execute("""SELECT "left", "top", width, height FROM boxes WHERE job_name = ? AND sequence_id = ?
                                  AND frame_no = ? AND object_id = ?""",
                               [page["job"], e["sequence_id"], e["frame_no"], e["object_id"]]).fetchone()
        assert own[0][:4] == pytest.approx(list(lake_box), abs=0.01)
        w = p["window"]
        s = p["w"] / (w[2] - w[0])
        left, top, bw, bh = own[0][:4]
        edge_x, mid_y = (left - w[0]) * s, (top + bh / 2 - w[1]) * s
        if not (2 <= edge_x <= p["w"] - 3 and 2 <= mid_y <= p["h"] - 3):
            continue
        r, g, b, _ = _pixel(tab, i, edge_x, mid_y)
        assert r > 200 and g < 90 and b < 90, (e["rank"], (r, g, b))  # the suspect box's red edge
        if p["image"]:
            # Inside the region, away from the boxes, the canvas shows the frame at that place: the gradient's
            # colour at the frame pixel the canvas pixel stands for.
            for x, y in ((4.0, 4.0), (p["w"] - 5.0, 4.0), (4.0, p["h"] - 5.0), (p["w"] - 5.0, p["h"] - 5.0)):
                fx, fy = w[0] + x / s, w[1] + y / s
                if any(bx[0] - 4 <= fx <= bx[0] + bx[2] + 4 and bx[1] - 4 <= fy <= bx[1] + bx[3] + 4 for bx in p["boxes"]):
                    continue
                if any(abs(cx - fx) * s < 12 and abs(cy - fy) * s < 12 for _, cx, cy in e["path"]):
                    continue
                r, g, _, _ = _pixel(tab, i, x, y)
                assert abs(r - fx / 1919 * 255) < 12 and abs(g - fy / 1079 * 255) < 12, (e["rank"], r, g, fx, fy)
                checked_image += 1
                break
        else:
            assert tab.locator(f"#entry-{i} canvas.main-canvas").get_attribute("data-plain") == "1"
            checked_plain += 1
    assert checked_image >= 2
    assert checked_plain >= 1 or page["without"] is None
    assert stats["drawn"] < stats["panels"]  # the sequence without images is drawn on a plain canvas
    shown = tab.locator("#shown").text_content()
    assert (f"top {len(data['entries'])} of {total}" in shown) if total > 40 else (f"all {total}" in shown)
    tab.screenshot(path=str(page["tmp"] / "review.png"))


def test_untrusted_names_stay_text(opened, page):
    tab, _ = opened
    first = tab.locator(f"#entry-{page['named']} .name")
    assert first.text_content() == PAYLOAD
    assert tab.locator(f"#entry-{page['named']} img").count() == 0 and tab.locator("img").count() == 0
    assert PAYLOAD not in page["path"].read_text(encoding="utf-8")  # escaped in the page's data


def test_keys_move_through_the_entries_and_mark_them(opened, page):
    tab, _ = opened
    assert tab.locator("section.entry.current").get_attribute("id") == "entry-0"
    tab.keyboard.press("j")
    tab.keyboard.press("j")
    assert tab.locator("section.entry.current").get_attribute("id") == "entry-2"
    tab.keyboard.press("k")
    assert tab.locator("section.entry.current").get_attribute("id") == "entry-1"
    tab.keyboard.press("m")
    assert tab.locator("#entry-1").get_attribute("data-verdict") == "mistake"
    tab.keyboard.press("ArrowDown")
    tab.keyboard.press("f")
    assert tab.locator("#entry-2").get_attribute("data-verdict") == "fine"
    tab.keyboard.press("f")  # a second press takes the verdict back
    assert tab.locator("#entry-2").get_attribute("data-verdict") == ""
    assert "2 judged" not in tab.locator("#count").text_content()


def test_filters_change_what_is_shown(opened, page):
    tab, _ = opened
    entries = page["data"]["entries"]
    reasons = sorted({r for e in entries for r in e["reasons"]}, key=lambda r: sum(r in e["reasons"] for e in entries))
    reason = reasons[0]  # the rarest
    tab.select_option("#f-reason", reason)
    shown = tab.locator("section.entry:not([hidden])")
    expected = [i for i, e in enumerate(entries) if reason in e["reasons"]]
    assert shown.count() == len(expected) < len(entries)
    assert [int(x) for x in shown.evaluate_all("els => els.map(e => e.dataset.index)")] == expected
    assert tab.locator("#count").text_content().startswith(f"showing {len(expected)} of {len(entries)}")
    tab.keyboard.press("Escape")
    tab.locator("body").click(position={"x": 5, "y": 5})
    tab.keyboard.press("j")  # navigation keeps to the entries shown
    assert int(tab.locator("section.entry.current").get_attribute("data-index")) in expected
    tab.select_option("#f-reason", "")
    cut = sorted(e["score"] for e in entries)[len(entries) // 2]
    tab.fill("#f-score", str(cut))
    assert shown.count() == sum(e["score"] >= cut for e in entries)
    tab.fill("#f-score", "0")
    label = entries[-1]["label"]
    tab.select_option("#f-class", label)
    assert shown.count() == sum(e["label"] == label for e in entries)
    tab.select_option("#f-class", "")
    worker = entries[0]["worker_id"]
    tab.select_option("#f-worker", worker)
    assert shown.count() == sum(e["worker_id"] == worker for e in entries)


def test_verdicts_saved_from_the_page_go_into_the_lake(opened, page, spark):
    from gtlake.jobs.verdicts import VerdictsConfig, run

    tab, _ = opened
    tab.click("#save")  # without a name nothing is saved
    assert "name" in tab.locator("#saved").text_content()
    tab.fill("#reviewer", "Dana <QA>")
    tab.locator("#entry-0 button[data-verdict=mistake]").click()
    tab.locator("#entry-1 button[data-verdict=fine]").click()
    tab.locator("#entry-2 button[data-verdict=unsure]").click()
    with tab.expect_download() as dl:
        tab.click("#save")
    saved = page["tmp"] / "verdicts.json"
    dl.value.save_as(saved)
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert doc["reviewer"] == "Dana <QA>" and doc["job_name"] == page["job"] and len(doc["verdicts"]) == 3
    lake = page["tmp"] / "verdict-lake"
    shutil.copytree(page["lake"], lake)
    before = connect(str(lake)).execute("SELECT count(*) FROM review_verdicts WHERE job_name = ?",
                                        [page["job"]]).fetchone()[0]
    result = run(spark, VerdictsConfig(lake=str(lake), files=[str(saved)]), log=lambda m: None)
    assert result.status == "succeeded" and result.stored == before + 3  # beside the simulated reviewer's
    con = connect(str(lake))
    got = con.execute("""SELECT sequence_id, frame_no, object_id, verdict, reviewer FROM review_verdicts
                         WHERE reviewer = 'Dana <QA>' ORDER BY queue_rank""").fetchall()
    entries = page["data"]["entries"]
    assert got == [(e["sequence_id"], e["frame_no"], e["object_id"], v, "Dana <QA>")
                   for e, v in zip(entries[:3], ("mistake", "fine", "unsure"))]
    again = run(spark, VerdictsConfig(lake=str(lake), files=[str(saved)]), log=lambda m: None)
    assert again.status == "no_new_input" and again.already == 1


def test_the_review_command_writes_the_page_and_refuses_an_unknown_job(pipeline_lake, tmp_path, capsys):
    con = connect(str(pipeline_lake["lake"]))
    job = con.execute("SELECT job_name FROM review_queue LIMIT 1").fetchone()[0]
    out, empty = tmp_path / "r.html", tmp_path / "mirror"
    empty.mkdir()
    assert main(["review", "--lake", str(pipeline_lake["lake"]), "--job", job, "--top", "5", "--out", str(out),
                 "--frames-root", str(empty)]) == 0
    said = capsys.readouterr()
    assert " 0 of " in said.out and "frames drawn" in said.out  # no images in the mirror: plain canvases
    assert "frame images missing, drawn on a plain canvas" in said.err
    assert out.stat().st_size > 0 and "<canvas" not in out.read_text(encoding="utf-8")  # canvases come from script
    with pytest.raises(SystemExit) as e:
        main(["review", "--lake", str(pipeline_lake["lake"]), "--job", "no-such-job", "--out", str(tmp_path / "x.html")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--job no-such-job: no review queue" in err and "usage:" in err and "Traceback" not in err


def test_frames_are_read_from_s3_through_boto3(page, s3_endpoint, monkeypatch):
    """The frames root on S3 (a local S3 server): images read through boto3; a missing key and an object that is
    not an image are drawn on a plain canvas and said."""
    import boto3

    from gtlake import storage

    con = connect(str(page["lake"]))
    e = next(e for e in page["data"]["entries"] if _main(e)["image"])
    ref = con.execute("SELECT source_ref FROM review_queue WHERE job_name = ? AND sequence_id = ? LIMIT 1",
                      [page["job"], e["sequence_id"]]).fetchone()[0]
    after = con.execute("SELECT frame_file FROM frames WHERE job_name = ? AND sequence_id = ? AND frame_no = ?",
                        [page["job"], e["sequence_id"], e["frame_no"] + 1]).fetchone()[0]
    folder = ref.split("/", 3)[3].rsplit("/", 1)[0]
    missing, broken = f"{folder}/{e['frame_file']}", f"{folder}/{after}"
    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    storage.s3_client.cache_clear()
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="frames-mirror")
        root = page["tmp"] / "frames"
        for p in sorted(p for p in root.rglob("*") if p.is_file()):
            key = p.relative_to(root).as_posix()
            if key != missing:
                s3.put_object(Bucket="frames-mirror", Key="copy/" + key,
                              Body=b"not a jpeg" if key == broken else p.read_bytes())
        problems: list[str] = []
        text, stats = build(str(page["lake"]), page["job"], top=40, frames_root="s3://frames-mirror/copy",
                            problems=problems)
    finally:
        storage.s3_client.cache_clear()
    assert stats["images"] == page["stats"]["images"] and stats["read"] == page["stats"]["read"] - 2
    before = page["stats"]["images"] - page["stats"]["read"]  # the sequence without images
    assert any(p.startswith(f"{before + 1} of {stats['images']} frame images missing") for p in problems)
    assert any(p.startswith(f"1 of {stats['images']} frame images unreadable") and broken in p
               for p in problems)
    data = json.loads(text.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    again = next(x for x in data["entries"] if (x["sequence_id"], x["frame_no"]) == (e["sequence_id"], e["frame_no"]))
    assert _main(again)["image"] is None and _main(again)["problem"] == "image missing"
    assert next(p for p in again["panels"] if p["frame_no"] == e["frame_no"] + 1)["problem"] == "image unreadable"
    assert stats["drawn"] == page["stats"]["drawn"] - sum(
        p["frame_no"] in (e["frame_no"], e["frame_no"] + 1) for x in data["entries"] if x["sequence_id"] == e["sequence_id"]
        for p in x["panels"])


NAMES = ["frame_1.jpg", "sub/f.jpg", "f..jpg", "12:30.jpg", "../x.jpg", "a/../b.jpg", "/etc/passwd", "s3://x/y",
         "C:\\x", "./f.jpg", "..", "a/..", "a\\b", "x\x00y", "file:///etc", ""]


def test_a_frame_file_name_cannot_leave_its_prefix():
    from gtlake.frames import frame_path

    assert [frame_path("/root/p/", n) for n in NAMES] == [
        "/root/p/frame_1.jpg", "/root/p/sub/f.jpg", "/root/p/f..jpg", "/root/p/12:30.jpg"] + [None] * 12


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_frame_file_name_stays_under_its_prefix(name):
    import os

    from gtlake.frames import frame_path

    got = frame_path("/root/p/", name)
    assert got is None or (os.path.normpath(got).startswith("/root/p/") and "\x00" not in got)


def test_the_embed_job_refuses_the_same_names_in_spark(spark):
    from pyspark.sql import functions as F

    from gtlake.frames import UNSAFE_FRAME_FILE, frame_path

    df = spark.createDataFrame([(n,) for n in NAMES], "name string")
    got = [r[0] for r in df.select(F.col("name").rlike(UNSAFE_FRAME_FILE)).collect()]
    assert got == [frame_path("/p/", n) is None and n != "" for n in NAMES]
