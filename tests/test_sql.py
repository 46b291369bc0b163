"""The SQL layer: DDL from the schemas, every view against pandas over the same lake, the CLI, Athena deploy."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sqlglot

from gtlake import athena
from gtlake.lakesql import connect, table_ddl, views
from gtlake.schemas import TABLES
from tests.conftest import FAKE_AWS, REPO, read_table

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def db(pipeline_lake):
    """(DuckDB connection over the lake, the lake's tables as pandas frames)."""
    lake = pipeline_lake["lake"]
    tables = {t: read_table(lake, t) for t in TABLES}
    return connect(str(lake)), tables


def disc(values: pd.Series, p: float) -> float:
    """DuckDB's quantile_disc (what the views' approx_percentile runs as here): the inverted-CDF quantile."""
    v = values.dropna().to_numpy(float)
    return float(np.quantile(v, p, method="inverted_cdf")) if v.size else np.nan


def view(con, name: str, keys: list[str]) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {name}").df().sort_values(keys).reset_index(drop=True)


def same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], approx: tuple[str, ...] = (), tol: float = 1e-9):
    """Equal frames on want's columns; `approx` columns within `tol` (approx_percentile)."""
    want = want.sort_values(keys).reset_index(drop=True)
    assert len(got) == len(want) > 0
    for c in want.columns:
        g, w = got[c], want[c]
        if c in approx:
            assert np.allclose(g.astype(float), w.astype(float), atol=tol, equal_nan=True), c
        elif pd.api.types.is_numeric_dtype(w) and not pd.api.types.is_bool_dtype(w):
            assert np.allclose(g.astype(float), w.astype(float), rtol=1e-9, equal_nan=True), c
        else:
            assert g.astype(str).tolist() == w.astype(str).tolist(), c


def test_ddl_files_are_generated_from_the_schemas_and_parse_as_athena():
    for t in TABLES.values():
        text = (REPO / "sql" / "tables" / f"{t.name}.sql").read_text()
        assert text.split("\n", 1)[1] == table_ddl(t), "run: python -m gtlake.lakesql"
        sqlglot.parse_one(table_ddl(t, "s3://bucket/lake"), read="athena")
        for c in t.columns:
            assert f"`{c.name}` {c.type.ddl} COMMENT" in text
    for v in views().values():
        sqlglot.parse_one(v.athena(), read="athena")
        assert v.description and "date_diff" not in v.select.lower() and "format_datetime" not in v.select.lower()


def test_label_quality_by_class(db):
    con, t = db
    m = t["box_metrics"].assign(flagged=lambda d: d["flags"].map(len) > 0, track=lambda d: d.sequence_id + "/" + d.object_id)
    g = m.groupby(["job_name", "label"])
    want = pd.DataFrame({"boxes": g.size(), "tracks": g["track"].nunique(), "flagged_boxes": g["flagged"].sum(),
                         "iou_median": g["iou_prev"].agg(disc, 0.5), "iou_p10": g["iou_prev"].agg(disc, 0.1)}).reset_index()
    want["flagged_share"] = want["flagged_boxes"] / want["boxes"]
    got = view(con, "label_quality_by_class", ["job_name", "label"])
    same(got, want, ["job_name", "label"])


def test_track_quality(db):
    con, t = db
    ts = t["track_summary"]
    want = ts[["job_name", "sequence_id", "object_id", "n_boxes", "missing_frames", "flagged_boxes"]].assign(
        flagged_share=ts["flagged_boxes"] / ts["n_boxes"], flags=ts["flags"].map(lambda f: ",".join(f)),
        flagged=ts["flags"].map(len) > 0)
    same(view(con, "track_quality", ["job_name", "sequence_id", "object_id"]), want,
         ["job_name", "sequence_id", "object_id"])


def _job_created(t):
    s = t["sequences"]
    own = s[~s["inherited"].astype(bool)]
    return own.groupby("job_name")["creation_time"].min().dt.date.rename("job_created").reset_index()


def test_review_queue_for_audit(db):
    con, t = db
    q = t["review_queue"].merge(_job_created(t), on="job_name", how="left")
    want = q[["job_name", "rank", "sequence_id", "frame_no", "frame_file", "object_id", "source_ref", "job_created"]].assign(
        reasons=q["reasons"].map(lambda r: ",".join(r)))
    same(view(con, "review_queue_for_audit", ["job_name", "rank"]), want, ["job_name", "rank"])


def test_flags_over_time(db):
    con, t = db
    m = t["box_metrics"].assign(flagged=lambda d: d["flags"].map(len) > 0).merge(_job_created(t), on="job_name")
    g = m.groupby(["job_created", "job_name"])
    want = pd.DataFrame({"boxes": g.size(), "flagged_boxes": g["flagged"].sum()}).reset_index()
    want["flagged_share"] = want["flagged_boxes"] / want["boxes"]
    same(view(con, "flags_over_time", ["job_created", "job_name"]), want, ["job_created", "job_name"])


def test_post_audit_check_and_jobs_by_role(db):
    con, t = db
    jobs, m = t["jobs"], t["box_metrics"].assign(flagged=lambda d: d["flags"].map(len) > 0)
    share = m.groupby("job_name")["flagged"].mean()
    audits = jobs[jobs.role == "audit"]
    want = pd.DataFrame({"audit_job": audits.job_name, "audited_job": audits.audited_job,
                         "boxes": audits.job_name.map(m.groupby("job_name").size()),
                         "flagged_share": audits.job_name.map(share),
                         "audited_flagged_share": audits.audited_job.map(share)})
    assert len(want) == 3 and want.audited_job.notna().all()
    same(view(con, "post_audit_check", ["audit_job"]), want, ["audit_job"])
    g = jobs.groupby("role")
    want = pd.DataFrame({"jobs": g.size(), "boxes": g["boxes"].sum(), "frames": g["frames"].sum(),
                         "sequences": g["sequences"].sum()}).reset_index()
    same(view(con, "jobs_by_role", ["role"]), want, ["role"])
    assert set(jobs.role) == {"labeling", "audit", "detection"}


def test_worker_daily_tasks(db):
    con, t = db
    w = t["worker_tasks"].dropna(subset=["finished_at"])
    w = w.assign(day=w["finished_at"].dt.tz_convert("UTC").dt.date)
    g = w.groupby(["worker_id", "day"])
    want = pd.DataFrame({"tasks": g.size(), "submitted": g["outcome"].apply(lambda o: (o == "submitted").sum()),
                         "returned": g["outcome"].apply(lambda o: (o == "returned").sum()),
                         "active_hours": g["active_seconds"].sum() / 3600}).reset_index()
    same(view(con, "worker_daily_tasks", ["worker_id", "day"]), want, ["worker_id", "day"])


def test_worker_task_times(db):
    con, t = db
    w = t["worker_tasks"][t["worker_tasks"]["outcome"] == "submitted"]
    g = w.groupby("worker_id")
    both = w.dropna(subset=["active_seconds"])
    want = pd.DataFrame({"tasks": g.size(), "wall_median_s": g["wall_seconds"].agg(disc, 0.5),
                         "active_p90_s": g["active_seconds"].agg(disc, 0.9),
                         "active_share": both.groupby("worker_id")["active_seconds"].sum()
                         / both.groupby("worker_id")["wall_seconds"].sum()}).reset_index()
    same(view(con, "worker_task_times", ["worker_id"]), want, ["worker_id"])


def test_worker_outcomes(db):
    con, t = db
    g = t["worker_tasks"].groupby(["worker_id", "job_name"])
    want = pd.DataFrame({"tasks": g.size(), "returned_rate": g["outcome"].apply(lambda o: (o == "returned").mean()),
                         "declined_rate": g["outcome"].apply(lambda o: (o == "declined").mean())}).reset_index()
    same(view(con, "worker_outcomes", ["worker_id", "job_name"]), want, ["worker_id", "job_name"])


def _quality_sums(t):
    q = t["worker_quality"].dropna(subset=["worker_id"]).groupby("worker_id")
    s = q[["boxes", "flagged_boxes", "audited_boxes", "adjusted_boxes", "added", "id_switches", "misses",
           "false_positives", "gt_boxes", "idtp"]].sum()
    return pd.DataFrame({"boxes": s["boxes"], "flagged_rate": s["flagged_boxes"] / s["boxes"],
                         "adjustment_rate": (s["adjusted_boxes"] + s["added"]) / (s["audited_boxes"] + s["added"]),
                         "id_switches": s["id_switches"],
                         "mota": 1 - (s["misses"] + s["false_positives"] + s["id_switches"]) / s["gt_boxes"],
                         "idf1": 2 * s["idtp"] / (s["gt_boxes"] + s["audited_boxes"])}).reset_index()


def test_worker_quality_summary(db):
    con, t = db
    same(view(con, "worker_quality_summary", ["worker_id"]), _quality_sums(t), ["worker_id"])


def test_worker_leaderboard(db):
    con, t = db
    q = _quality_sums(t)[["worker_id", "boxes", "adjustment_rate", "idf1"]]
    w = t["worker_tasks"][t["worker_tasks"]["outcome"] == "submitted"].groupby("worker_id")["active_seconds"].sum()
    want = q.merge(w.rename("active").reset_index(), on="worker_id", how="left")
    want["boxes_per_hour"] = want["boxes"] / (want["active"] / 3600)
    want = want.drop(columns=["active"])
    want["quality_rank"] = want.sort_values(["adjustment_rate", "worker_id"]).reset_index().index.to_series().pipe(
        lambda r: pd.Series(r.to_numpy() + 1, index=want.sort_values(["adjustment_rate", "worker_id"]).index))
    same(view(con, "worker_leaderboard", ["worker_id"]), want, ["worker_id"])


def test_audit_views(db):
    con, t = db
    c = t["audit_changes"].assign(cls=lambda d: d["label"].fillna(d["audit_label"]),
                                  touched=lambda d: d["change"] != "unchanged")
    g = c.groupby(["source_job", "cls"])
    want = pd.DataFrame({"worker_boxes": g["object_id"].count(), "touched": g["touched"].sum(),
                         "adjustment_rate": g["touched"].mean()}).reset_index().rename(
        columns={"source_job": "job_name", "cls": "label"})
    same(view(con, "audit_adjustment_by_class", ["job_name", "label"]), want, ["job_name", "label"])
    k = c.groupby(["audit_job", "source_job", "change"]).size().rename("boxes").reset_index()
    k["share"] = k["boxes"] / k.groupby("audit_job")["boxes"].transform("sum")
    same(view(con, "audit_change_kinds", ["audit_job", "change"]), k, ["audit_job", "change"])


def test_validation_views(db):
    con, t = db
    checked, runs = t["validations"], t["runs"]
    last = checked[checked.validated_at == checked.groupby("step").validated_at.transform("max")]
    want = last.groupby(["step", "run_id"]).agg(
        tables=("table_name", "nunique"), rules=("rule", "size"), broken=("success", lambda s: int((~s).sum())),
    ).reset_index().merge(runs[["run_id", "status"]].rename(columns={"status": "run_status"}), on="run_id", how="left")
    want["gate"] = np.where(want.broken == 0, "passed", np.where(want.run_status == "failed", "failed", "warned"))
    got = view(con, "validation_status", ["step"])
    assert set(got.step) == {"ingest", "workers", "embed", "quality", "audit", "verdicts", "predictions"} and \
        set(got.gate) == {"passed"}
    same(got, want, ["step"])
    assert con.execute("SELECT count(*) FROM validation_findings").fetchone()[0] == int((~last.success).sum()) == 0


def test_views_bind_on_an_empty_lake(tmp_path):
    con = connect(str(tmp_path))
    for name in views():
        df = con.execute(f"SELECT * FROM {name}").df()
        if name == "label_quality_kpis":  # one row per job role: no role yet
            assert df.empty, name
        elif name.endswith("_kpis"):  # one row of totals: zero or unknown
            assert len(df) == 1 and all(v == 0 or v != v or v is None for v in df.iloc[0]), name
        else:
            assert df.empty, name


def test_cli_sql(pipeline_lake, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "gtlake.cli", "sql", "--lake", str(pipeline_lake["lake"])]
    for name in views():
        r = subprocess.run(cmd + ["--view", name, "--format", "csv"], capture_output=True, text=True, env=env, timeout=120)
        # a clean lake breaks no rule, the sample boxes no object twice and nothing of it is refused: the header only
        rows = 1 if name in ("validation_findings", "untracked_duplicates", "refused_records") else 2
        assert r.returncode == 0 and r.stdout.count("\n") >= rows, (name, r.stderr)
        if views()[name].order and r.stdout.count("\n") > 1:  # rows in the view's declared order
            import io

            got = pd.read_csv(io.StringIO(r.stdout))
            by = [t.split()[0] for t in views()[name].order]
            desc = [not t.endswith(" DESC") for t in views()[name].order]
            want = got.sort_values(by, ascending=desc, na_position="last", kind="stable")
            assert got[by].astype(str).values.tolist() == want[by].astype(str).values.tolist(), name
    r = subprocess.run(cmd + ["--query", "SELECT count(*) AS n FROM boxes", "--format", "json"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0 and '"n":' in r.stdout
    bad = subprocess.run(cmd + ["--view", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "no such view" in bad.stderr and "Traceback" not in bad.stderr
    wrong = subprocess.run(cmd + ["--query", "SELECT nope FROM boxes"], capture_output=True, text=True, env=env, timeout=120)
    assert wrong.returncode == 1 and wrong.stderr.startswith("gtlake sql: ") and "Traceback" not in wrong.stderr


def test_athena_plan_refuses_bad_identifiers_before_any_sql():
    statements = athena.plan("gtlake", "s3://my-lake-bucket/lake")
    assert len(statements) == 1 + len(TABLES) + sum(bool(t.partition_by) for t in TABLES.values()) + len(views())
    for bad in (("Gtlake", "s3://b-1/l"), ("gt;drop", "s3://b-1/l"), ("gtlake", "https://x"), ("gtlake", "s3://B/x")):
        with pytest.raises(ValueError):
            athena.plan(*bad)
    with pytest.raises(ValueError):
        athena.check_workgroup("work group")


WORKGROUP = "gtlake-sql-tests"  # its own: the session's moto server also holds the deploy test's stack's "gtlake"


def _athena_env(s3_endpoint, monkeypatch):
    """The moto endpoint in this process's environment, and a workgroup that enforces its result location."""
    import boto3

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("athena")
    if WORKGROUP not in {w["Name"] for w in client.list_work_groups()["WorkGroups"]}:
        boto3.client("s3").create_bucket(Bucket="gtlake-athena-results")
        client.create_work_group(Name=WORKGROUP, Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://gtlake-athena-results/q/",
                                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
            "EnforceWorkGroupConfiguration": True})
    return client


@pytest.mark.s3
def test_athena_failed_statement_stops_with_its_reason(s3_endpoint, monkeypatch):
    """Athena's answer that the second statement failed (moto runs every statement: the reply is Athena's,
    given at botocore's boundary) stops the deployment with its reason; nothing after it is sent."""
    import json

    import boto3
    from botocore.awsrequest import AWSResponse

    client = _athena_env(s3_endpoint, monkeypatch)
    session = boto3.Session()
    started = []

    def fail_second(params, **_):
        qid = json.loads(params["body"])["QueryExecutionId"]
        if len(started) >= 2 and qid == started[1]:
            return AWSResponse("", 200, {}, None), {"QueryExecution": {"QueryExecutionId": qid, "Status": {
                "State": "FAILED", "StateChangeReason": "line 1:8: mismatched input"}}}
        return None

    session.events.register("before-call.athena.GetQueryExecution", fail_second)
    session.events.register("after-call.athena.StartQueryExecution",
                            lambda parsed, **_: started.append(parsed["QueryExecutionId"]))
    statements = athena.plan("gtlake_fail", "s3://my-lake-bucket/lake")[:4]
    logged = []
    with pytest.raises(athena.AthenaError, match="table jobs failed .*: line 1:8: mismatched input"):
        athena.run_statements(statements, "gtlake_fail", WORKGROUP, session=session, log=logged.append, poll_s=0.0)
    assert len(started) == 2 and len(logged) == 1
    sent = [client.get_query_execution(QueryExecutionId=q)["QueryExecution"] for q in started]
    assert [q["Query"] for q in sent] == [s.sql for s in statements[:2]]
    assert "QueryExecutionContext" not in sent[0] or not sent[0]["QueryExecutionContext"].get("Database")
    assert sent[1]["QueryExecutionContext"]["Database"] == "gtlake_fail"
    assert sent[1]["ResultConfiguration"]["OutputLocation"].startswith("s3://gtlake-athena-results/q/")


@pytest.mark.s3
def test_athena_deploy_against_a_local_endpoint(s3_endpoint, monkeypatch):
    client = _athena_env(s3_endpoint, monkeypatch)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    before = set(client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"])
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "athena", "deploy", "--database", "gtlake_test",
                        "--workgroup", WORKGROUP, "--lake", "s3://my-lake-bucket/lake"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    ids = [i for i in client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] if i not in before]
    sent = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    expected = [s.sql for s in athena.plan("gtlake_test", "s3://my-lake-bucket/lake")]
    assert sorted(sent) == sorted(expected)
    # a workgroup without a result location: refused in one line (awswrangler would create a bucket for it)
    bare = subprocess.run([sys.executable, "-m", "gtlake.cli", "athena", "deploy", "--database", "gtlake_test",
                           "--workgroup", "primary", "--lake", "s3://my-lake-bucket/lake"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert bare.returncode == 1 and "has no query result location" in bare.stderr and "Traceback" not in bare.stderr
    dry = subprocess.run([sys.executable, "-m", "gtlake.cli", "athena", "deploy", "--database", "gtlake_test",
                          "--workgroup", "primary", "--lake", "s3://my-lake-bucket/lake", "--dry-run"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert dry.returncode == 0 and "nothing was sent" in dry.stdout and "CREATE OR REPLACE VIEW" in dry.stdout


def test_read_a_view_filtered_and_in_its_order(pipeline_lake, db):
    import gtlake

    con, _ = db
    lake = str(pipeline_lake["lake"])
    everything = gtlake.read("review_queue_for_audit", lake=lake)
    assert len(everything) > 0 and str(everything["rank"].dtype) == "Int64"
    keys = list(zip(everything["job_name"], everything["rank"]))
    assert keys == sorted(keys)  # the view's declared order, on every engine
    job = everything["job_name"].iloc[-1]
    got = gtlake.read("review_queue_for_audit", lake=lake, filters=[("job_name", "=", job), ("score", ">=", 0.3),
                                                                     ("reasons", "not in", ["x"])], limit=5)
    want = con.execute("SELECT * FROM review_queue_for_audit WHERE job_name = ? AND score >= 0.3 "
                       "ORDER BY job_name, rank LIMIT 5", [job]).df()
    assert len(got) == min(5, len(want)) > 0
    assert got.astype(str).values.tolist() == want.astype(str).values.tolist()
    boxes = gtlake.read("boxes", lake=lake, columns=["job_name", "left", "top"], filters={"job_name": [job]})
    assert list(boxes.columns) == ["job_name", "left", "top"] and len(boxes) > 0 and set(boxes.job_name) == {job}
    # a value travels as a parameter: it cannot change the statement
    assert len(gtlake.read("boxes", lake=lake, filters={"job_name": "x' OR '1'='1"})) == 0
    for bad in ({"name": "nope"}, {"name": "boxes", "filters": {"job_name; drop": 1}},
                {"name": "boxes", "filters": [("job_name", "like", "%")]}, {"name": "boxes", "engine": "spark"},
                {"name": "boxes", "columns": ["left)"]}, {"name": "boxes", "filters": {"job_name": None}},
                {"name": "boxes", "filters": {"job_name": []}}, {"name": "boxes", "limit": -1}):
        with pytest.raises(ValueError):
            gtlake.read(lake=lake, **bad)
    with pytest.raises(ValueError, match="engine='athena'"):
        gtlake.read("boxes", lake="s3://bucket/lake")


def _athena_text(v) -> str:
    """A value as Athena's CSV result writes it (a double in full, a date as YYYY-MM-DD)."""
    if isinstance(v, pd.Timestamp):
        return str(v.date())
    return repr(float(v)) if isinstance(v, float) else str(v)


_ATHENA_TYPES = {"object": "varchar", "string": "varchar", "Int64": "bigint", "int64": "bigint", "float64": "double",
                 "datetime64[us]": "date", "bool": "boolean"}


@pytest.mark.s3
def test_read_from_athena_sends_the_same_statement_and_reads_its_result(pipeline_lake, s3_endpoint, monkeypatch):
    """gtlake.read on Athena, through awswrangler's calls against moto: the statement and parameters it sends are
    the ones DuckDB runs, and the result Athena writes (here the rows DuckDB computed, handed to moto as Athena's
    answer) comes back as the same frame."""
    import json
    import urllib.request

    import gtlake
    from gtlake.reader import athena_literal, statement

    client = _athena_env(s3_endpoint, monkeypatch)
    lake = str(pipeline_lake["lake"])
    filters = [("score", ">=", 0.3), ("label", "in", ["Vehicle", "Pedestrian", "it's"])]
    columns = ["job_name", "rank", "score", "label", "frame_no", "job_created"]
    local = gtlake.read("review_queue_for_audit", lake=lake, filters=filters, columns=columns)
    assert len(local) > 0
    rows = [{"Data": [{"VarCharValue": c} for c in local.columns]}]
    for rec in local.itertuples(index=False):
        rows.append({"Data": [{} if pd.isna(v) else {"VarCharValue": _athena_text(v)} for v in rec]})
    info = [{"Name": c, "Label": c, "Type": _ATHENA_TYPES[str(local[c].dtype)], "CatalogName": "hive",
             "SchemaName": "", "TableName": "", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
             "CaseSensitive": False} for c in local.columns]
    urllib.request.urlopen(urllib.request.Request(
        f"{s3_endpoint}/moto-api/static/athena/query-results", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"results": [{"rows": rows, "column_info": info}]}).encode()))
    before = set(client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"])
    remote = gtlake.read("review_queue_for_audit", engine="athena", database="gtlake_test", workgroup=WORKGROUP,
                         filters=filters, columns=columns)
    (qid,) = [i for i in client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] if i not in before]
    sent = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    sql, params = statement("review_queue_for_audit", columns, filters)
    assert sent["Query"] == sql and "ORDER BY" in sql
    assert sent["ExecutionParameters"] == [athena_literal(p) for p in params] == ["0.3", "'Vehicle'", "'Pedestrian'", "'it''s'"]
    assert sent["QueryExecutionContext"]["Database"] == "gtlake_test"
    assert list(remote.columns) == columns and len(remote) == len(local)
    for c in columns:
        g, w = remote[c], local[c]
        if c == "job_created":
            g, w = pd.to_datetime(g), pd.to_datetime(w)
        if c == "score":  # pandas' CSV parser (awswrangler's) may differ from the text in the last bit
            assert np.allclose(g.to_numpy(float), w.to_numpy(float), rtol=1e-15, atol=0)
            continue
        assert g.astype(str).tolist() == w.astype(str).tolist(), c


def test_kpi_views(db):
    con, t = db
    roles = t["jobs"].set_index("job_name")["role"]
    by_role = con.execute("SELECT * FROM label_quality_kpis").df().set_index("job_role")
    assert sorted(by_role.index) == ["audit", "labeling"]  # the sample audits its tracking jobs: counted apart
    for role, got in by_role.iterrows():
        m = t["box_metrics"][t["box_metrics"]["job_name"].map(roles) == role]
        assert got["boxes"] == len(m) > 0 and got["sequences"] == m.groupby(["job_name", "sequence_id"]).ngroups
        assert got["tracks"] == m.groupby(["job_name", "sequence_id", "object_id"]).ngroups
        assert got["flagged_share"] == pytest.approx((m["flags"].map(len) > 0).mean())
        assert got["iou_median"] == pytest.approx(disc(m["iou_prev"], 0.5))
    w, q = t["worker_tasks"], t["worker_quality"]
    got = con.execute("SELECT * FROM worker_kpis").df().iloc[0]
    assert got["workers"] == w["worker_id"].nunique() and got["tasks"] == len(w)
    assert got["wall_median_s"] == pytest.approx(disc(w[w["outcome"] == "submitted"]["wall_seconds"], 0.5))
    assert got["adjustment_rate"] == pytest.approx((q["adjusted_boxes"].sum() + q["added"].sum())
                                                   / (q["audited_boxes"].sum() + q["added"].sum()))


def test_rubric_scores(db):
    from tests.conftest import rubric_reference

    con, t = db
    want = rubric_reference(t)
    assert set(want.source) == {"audit"}  # the sample audits every tracking job: audits decide
    got = con.execute("SELECT * FROM rubric_scores WHERE level = 'sequence'").df()
    same(got.sort_values(["job_name", "sequence_id"]).reset_index(drop=True), want.drop(columns=[]),
         ["job_name", "sequence_id"])
    jobs = con.execute("SELECT * FROM rubric_scores WHERE level = 'job'").df().set_index("job_name")
    per_job = want.groupby("job_name")[["boxes", "penalty"]].sum()
    assert np.allclose(jobs.loc[per_job.index, "penalty"], per_job["penalty"])
    assert np.allclose(jobs.loc[per_job.index, "rubric_score"], (1 - per_job.penalty / per_job.boxes).clip(lower=0))
    workers = con.execute("SELECT * FROM rubric_scores WHERE level = 'worker'").df()
    assert len(workers) and workers.worker_id.notna().all() and workers.rubric_score.between(0, 1).all()


def test_check_precision(db):
    con, t = db
    v = t["review_verdicts"]
    assert len(v)  # the pipeline lake holds a simulated reviewer's verdicts
    rows = v.explode("reasons").rename(columns={"reasons": "reason"})
    rows["decided_day"] = pd.to_datetime(rows["decided_at"], utc=True).dt.date
    want = rows.groupby(["job_name", "reason", "decided_day"]).agg(
        judged=("verdict", "size"), mistakes=("verdict", lambda s: int((s == "mistake").sum())),
        fine=("verdict", lambda s: int((s == "fine").sum())), unsure=("verdict", lambda s: int((s == "unsure").sum())),
    ).reset_index()
    want["measured_precision"] = want.mistakes / (want.mistakes + want.fine).replace(0, np.nan)
    got = con.execute("SELECT * FROM check_precision").df()
    assert got[["job_name", "reason", "decided_day"]].values.tolist() == sorted(
        got[["job_name", "reason", "decided_day"]].values.tolist())  # ordered
    same(got.sort_values(["job_name", "reason", "decided_day"]).reset_index(drop=True), want,
         ["job_name", "reason", "decided_day"])


def test_refused_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gtlake.schemas import REJECTED

    rows = [("ingest", "box", "invalid_box_size", "job-a", "s3://b/a1.json", "frame 3 box 0"),
            ("ingest", "box", "invalid_box_size", "job-a", "s3://b/a2.json", "frame 1 box 2"),
            ("ingest", "box", "invalid_box_size", "job-a", "s3://b/a1.json", "frame 9 box 1"),
            ("ingest", "job_folder", "empty_manifest", "_input", "s3://b/x/", "manifest"),
            ("verdicts", "verdict", "invalid_verdict", "job-a", "/v.json", "verdicts[2]")]
    schema = pa.schema([f for f in REJECTED.arrow_schema() if f.name not in ("job_name", "step")])
    for step, kind, reason, job, uri, loc in rows:
        folder = tmp_path / "rejected" / f"job_name={job}" / f"step={step}"
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.iterdir()))
        pq.write_table(pa.Table.from_pylist([{"run_id": "r", "source_uri": uri, "locator": loc, "record_kind": kind,
                                              "reason_code": reason, "detail": "d", "record": None}], schema=schema),
                       folder / f"part-{n}.parquet")
    got = connect(str(tmp_path)).execute("SELECT * FROM refused_records").fetchall()
    assert got == [("ingest", "box", "invalid_box_size", "job-a", 3, 2, "s3://b/a1.json", "frame 3 box 0"),
                   ("ingest", "job_folder", "empty_manifest", "_input", 1, 1, "s3://b/x/", "manifest"),
                   ("verdicts", "verdict", "invalid_verdict", "job-a", 1, 1, "/v.json", "verdicts[2]")]


def test_views_have_athenas_column_types(tmp_path):
    """Counts are bigint and weighted sums double, as on Athena: DuckDB's HUGEINT sums would print as 1467.0."""
    con = connect(str(tmp_path))
    for name in views():
        types = {c: t for c, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()}
        assert not [c for c, t in types.items() if t == "HUGEINT" or t.startswith("DECIMAL")], name
    assert {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM jobs_by_role").fetchall()}["boxes"] == "BIGINT"


def test_gtlake_sql_prints_integers_as_integers(pipeline_lake, capsys):
    from gtlake.cli import main

    lake = str(pipeline_lake["lake"])
    assert main(["sql", "--lake", lake, "--query", "SELECT rank, CASE WHEN rank = 1 THEN NULL ELSE rank END AS r, "
                 "0.5 AS x FROM review_queue ORDER BY job_name, rank LIMIT 2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rank", "r", "x"] and lines[1].split() == ["1", "NULL", "0.5"]
    assert lines[2].split() == ["2", "2", "0.5"]
    assert main(["sql", "--lake", lake, "--view", "jobs_by_role", "--format", "csv"]) == 0
    assert ".0," not in capsys.readouterr().out


def test_ddl_comments_read_back_as_written():
    """Apostrophes and backslashes in a column's comment survive Athena's (Hive's) DDL literal."""
    import re

    from gtlake.lakesql import _comment
    from gtlake.schemas import BOXES

    line = next(x for x in table_ddl(BOXES).splitlines() if x.strip().startswith("`box_index`"))
    literal = re.search(r"COMMENT ('(?:[^'\\]|\\.)*')", line).group(1)
    assert re.sub(r"\\(.)", r"\1", literal[1:-1]) == "Position of the box in the frame's list"
    for text in ("it's", "a \\ b", "'\\'"):
        parsed = sqlglot.parse_one(f"CREATE EXTERNAL TABLE t (a string COMMENT {_comment(text)})", read="athena")
        assert parsed.find(sqlglot.exp.Literal).this == text
