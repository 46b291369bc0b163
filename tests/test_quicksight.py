"""QuickSight as code: the committed definitions, botocore's service model, references, and the deploy flow."""
from __future__ import annotations

import json
import subprocess
import sys

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from gtlake import quicksight
from tests.conftest import REPO

OPS = {"create_data_source": "CreateDataSource", "create_data_set": "CreateDataSet",
       "create_analysis": "CreateAnalysis", "create_dashboard": "CreateDashboard",
       "update_data_source": "UpdateDataSource", "update_data_set": "UpdateDataSet",
       "update_analysis": "UpdateAnalysis", "update_dashboard": "UpdateDashboard"}
PRINCIPAL = "arn:aws:quicksight:eu-west-1:123456789012:group/default/qa-leads"


def model():
    return botocore.session.get_session().get_service_model("quicksight")


def test_committed_definitions_are_the_generated_ones(tmp_path):
    for path in quicksight.write_files(str(tmp_path)):
        name = path.rsplit("/", 1)[-1]
        assert (REPO / "dashboards" / "quicksight" / name).read_text() == open(path).read(), \
            "run: python -m gtlake.quicksight"
    assert len(list((REPO / "dashboards" / "quicksight").glob("*.json"))) == len(quicksight.DATASETS) + 3


@pytest.mark.parametrize("principal", [None, PRINCIPAL])
def test_every_request_validates_against_botocore(principal):
    m = model()
    for op, params in quicksight.requests("123456789012", "eu-west-1", "gtlake", "primary", principal):
        for name, body in ((op, params), (op.replace("create_", "update_"), quicksight.update_request(op, params))):
            report = ParamValidator().validate(body, m.operation_model(OPS[name]).input_shape)
            assert not report.has_errors(), (name, report.generate_report())


def test_visuals_use_declared_datasets_and_existing_columns():
    reqs = dict((p.get("DataSetId"), p) for op, p in quicksight.requests("123456789012", "eu-west-1", "gtlake", "primary")
                if op == "create_data_set")
    cols = {k.removeprefix("gtlake-"): {c["Name"] for t in p["PhysicalTableMap"].values()
                                        for c in t["RelationalTable"]["InputColumns"]} for k, p in reqs.items()}
    defn = quicksight.definition("gtlake")
    declared = {d["Identifier"] for d in defn["DataSetIdentifierDeclarations"]}
    assert declared == set(cols)
    used = []

    def walk(node):  # every {"DataSetIdentifier", "ColumnName"} in the definition
        if isinstance(node, dict):
            if set(node) == {"DataSetIdentifier", "ColumnName"}:
                used.append((node["DataSetIdentifier"], node["ColumnName"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(defn)
    assert len(used) > 30
    for ds, col in used:
        assert ds in declared and col in cols[ds], (ds, col)
    sheets = [s["Name"] for s in defn["Sheets"]]
    assert sheets == ["Label quality", "Worker performance", "Audits", "Refused records", "Data quality"]
    kinds = {next(iter(v)) for s in defn["Sheets"] for v in s["Visuals"]}
    assert {"KPIVisual", "BarChartVisual", "TableVisual", "HeatMapVisual", "ScatterPlotVisual"} <= kinds
    assert "LineChartVisual" not in kinds  # jobs are not a series: flagged share is one bar per job


def test_every_sheet_has_the_job_date_worker_and_class_filters():
    defn = quicksight.definition("gtlake")
    cols = {d: {c["Name"]: c["Type"] for c in quicksight.columns(d)} for d in quicksight.DATASETS}
    groups = {f["FilterGroupId"]: f for f in defn["FilterGroups"]}
    filters = {}
    for g in groups.values():
        for f in g["Filters"]:
            (kind, body), = f.items()
            filters[body["FilterId"]] = (g, kind, body)
    for fid, _, ds, col in (*quicksight.FILTERS, quicksight.DATE_FILTER):
        g, kind, body = filters[f"f-{fid}"]
        assert g["CrossDataset"] == "ALL_DATASETS" and g["ScopeConfiguration"] == {"AllSheets": {}}
        assert body["Column"] == {"DataSetIdentifier": ds, "ColumnName": col}
        # cross-dataset: it reaches every dataset with a column of that name and type, more than the one it names
        assert sum(cols[d].get(col) == cols[ds][col] for d in cols) >= 2, col
        for sheet in defn["Sheets"]:
            sources = [next(iter(c.values()))["SourceFilterId"] for c in sheet["FilterControls"]]
            assert f"f-{fid}" in sources, (sheet["Name"], fid)
    assert filters["f-date"][1] == "TimeRangeFilter"
    ids = [next(iter(c.values()))["FilterControlId"] for s in defn["Sheets"] for c in s["FilterControls"]]
    assert len(ids) == len(set(ids))


def test_deploy_creates_what_is_missing_and_updates_what_exists():
    reqs = quicksight.requests("123456789012", "eu-west-1", "gtlake", "primary", PRINCIPAL)
    client = boto3.client("quicksight", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:  # each call checked against the service model
        for op, params in reqs:
            describe, key, _ = quicksight._DESCRIBE[op]
            stub.add_client_error(describe, "ResourceNotFoundException", expected_params={
                "AwsAccountId": "123456789012", key: params[key]})
            stub.add_response(op, {"Status": 201}, params)
        log = []
        quicksight.deploy(client, reqs, log=log.append)
        stub.assert_no_pending_responses()
    assert all(line.startswith("  created ") for line in log) and len(log) == len(reqs)

    with Stubber(client) as stub:
        for op, params in reqs:
            describe, key, update = quicksight._DESCRIBE[op]
            stub.add_response(describe, {"Status": 200}, {"AwsAccountId": "123456789012", key: params[key]})
            resp = {"Status": 200}
            if op == "create_dashboard":
                resp["VersionArn"] = "arn:aws:quicksight:eu-west-1:123456789012:dashboard/gtlake-dashboard/version/4"
            stub.add_response(update, resp, quicksight.update_request(op, params))
        stub.add_response("update_dashboard_published_version", {"Status": 200},
                          {"AwsAccountId": "123456789012", "DashboardId": "gtlake-dashboard", "VersionNumber": 4})
        log = []
        quicksight.deploy(client, reqs, log=log.append)
        stub.assert_no_pending_responses()
    assert log[-1] == "  published version 4 of gtlake-dashboard"


def test_cli_quicksight_arguments():
    cmd = [sys.executable, "-m", "gtlake.cli", "quicksight", "deploy", "--region", "eu-west-1"]
    bad = subprocess.run(cmd + ["--account-id", "12345"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "12 digits" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run(cmd + ["--account-id", "123456789012", "--principal-arn", "root"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "principal" in bad.stderr
    dry = subprocess.run(cmd + ["--account-id", "123456789012", "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "nothing was sent" in dry.stdout
    assert json.loads(dry.stdout.split("-- create_dashboard\n")[1].split("\n\n")[0])["DashboardId"] == "gtlake-dashboard"
