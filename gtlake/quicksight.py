"""QuickSight as code: the Athena data source, one dataset per view used, and the analysis and dashboard
(`Definition`) with the sheets of the HTML page (Label quality, Worker performance, Audits, Refused records, Data
quality) and its filters: job, date range, worker and class, one control on each sheet, applied to every dataset
that has the column (QuickSight's cross-dataset filters match columns by name).

    python -m gtlake.quicksight        # rewrite dashboards/quicksight/*.json (placeholders for account and region)

Every request is plain data built here; `deploy` sends them with boto3, creating what is missing and updating
what exists (describe first), then publishes the dashboard's new version. Tests validate every request
against botocore's QuickSight service model.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Callable

PREFIX = "gtlake"
ACCOUNT = re.compile(r"^\d{12}$")
PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/[\w+=,.@/-]+$")
_QS_TYPES = {"VARCHAR": "STRING", "INTEGER": "INTEGER", "BIGINT": "INTEGER", "HUGEINT": "INTEGER", "DOUBLE": "DECIMAL",
             "DATE": "DATETIME", "TIMESTAMP WITH TIME ZONE": "DATETIME", "BOOLEAN": "BOOLEAN"}
DATASETS = ("label_quality_kpis", "label_quality_by_class", "flags_over_time", "review_queue_for_audit", "box_metrics",
            "worker_kpis", "worker_daily_tasks", "worker_task_times", "worker_quality_summary", "worker_leaderboard",
            "worker_outcomes", "validation_status", "validation_findings", "post_audit_check", "rubric_scores",
            "check_precision", "audit_change_kinds", "audit_adjustment_by_class", "track_quality", "refused_records")
SHEETS = ("label-quality", "worker-performance", "audits", "refused", "data-quality")
# The page's filters: (id, title, dataset and column the filter is declared on). Cross-dataset, they apply to every
# dataset with a column of that name and type; the date range is the job's creation date.
FILTERS = (("job", "Job", "review_queue_for_audit", "job_name"), ("worker", "Worker", "worker_leaderboard", "worker_id"),
           ("class", "Class", "label_quality_by_class", "label"))
DATE_FILTER = ("date", "Job created", "flags_over_time", "job_created")
READ_ACTIONS = {
    "data_source": ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
                    "quicksight:PassDataSource"],
    "dataset": ["quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions", "quicksight:PassDataSet",
                "quicksight:DescribeIngestion", "quicksight:ListIngestions"],
    "analysis": ["quicksight:DescribeAnalysis", "quicksight:QueryAnalysis"],
    "dashboard": ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions", "quicksight:QueryDashboard"],
}


def columns(name: str) -> list[dict]:
    """InputColumns of a view or table: names and QuickSight types, read from DuckDB on an empty lake."""
    from gtlake.lakesql import connect

    with tempfile.TemporaryDirectory() as empty:
        rows = connect(empty).execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
    out = []
    for col, typ, *_ in rows:
        if typ.endswith("[]") or typ.startswith(("MAP", "STRUCT")):
            continue  # lists and maps: not a QuickSight column type
        out.append({"Name": col, "Type": _QS_TYPES.get(typ, "DECIMAL" if typ.startswith("DECIMAL") else "STRING")})
    return out


def _col(ds: str, name: str) -> dict:
    return {"DataSetIdentifier": ds, "ColumnName": name}


def _dim(ds: str, name: str, fid: str, date: bool = False) -> dict:
    if date:
        return {"DateDimensionField": {"FieldId": fid, "Column": _col(ds, name), "DateGranularity": "DAY"}}
    return {"CategoricalDimensionField": {"FieldId": fid, "Column": _col(ds, name)}}


def _measure(ds: str, name: str, fid: str, agg: str = "SUM") -> dict:
    return {"NumericalMeasureField": {"FieldId": fid, "Column": _col(ds, name),
                                      "AggregationFunction": {"SimpleNumericalAggregation": agg}}}


def _title(text: str) -> dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def _kpi(vid: str, ds: str, col: str, title: str, agg: str = "SUM") -> dict:
    return {"KPIVisual": {"VisualId": vid, "Title": _title(title), "ChartConfiguration": {
        "FieldWells": {"Values": [_measure(ds, col, f"{vid}-v", agg)]}}}}


def _bar(vid: str, title: str, ds: str, category: str, values: list[tuple[str, str]], color: str | None = None,
         stacked: bool = False, date: bool = False) -> dict:
    wells = {"Category": [_dim(ds, category, f"{vid}-c", date)],
             "Values": [_measure(ds, c, f"{vid}-v{k}", agg) for k, (c, agg) in enumerate(values)]}
    if color:
        wells["Colors"] = [_dim(ds, color, f"{vid}-color")]
    return {"BarChartVisual": {"VisualId": vid, "Title": _title(title), "ChartConfiguration": {
        "FieldWells": {"BarChartAggregatedFieldWells": wells}, "Orientation": "VERTICAL",
        "BarsArrangement": "STACKED" if stacked else "CLUSTERED"}}}


def definition(database: str) -> dict:
    """The analysis/dashboard Definition: five sheets (SHEETS), every visual on a dataset of the views, and the
    page's filters (FILTERS, DATE_FILTER) with a control on every sheet."""
    decl = [{"Identifier": d, "DataSetArn": f"arn:aws:quicksight:${{region}}:${{account}}:dataset/{PREFIX}-{d}"}
            for d in DATASETS]
    quality = [
        _kpi("kpi-boxes", "label_quality_kpis", "boxes", "Boxes scored"),
        _kpi("kpi-sequences", "label_quality_kpis", "sequences", "Sequences"),
        _kpi("kpi-flagged", "label_quality_kpis", "flagged_share", "Share of boxes flagged", "MAX"),
        _kpi("kpi-iou", "label_quality_kpis", "iou_median", "Median frame-to-frame IoU", "MAX"),
        _bar("iou-by-class", "Frame-to-frame IoU by class: median and 10th percentile", "label_quality_by_class", "label",
             [("iou_median", "AVERAGE"), ("iou_p10", "AVERAGE")]),
        _bar("flagged-per-job", "Share of boxes flagged, per job (by role; sort by job date)", "flags_over_time",
             "job_name", [("flagged_share", "MAX")], color="job_role"),
        _bar("check-precision", "Checks as reviewers judged them: mistakes per judged entry, per reason",
             "check_precision", "reason", [("mistakes", "SUM"), ("fine", "SUM"), ("unsure", "SUM")], stacked=True),
        {"TableVisual": {"VisualId": "review-queue", "Title": _title("Review queue, most suspect first"),
                         "ChartConfiguration": {"FieldWells": {"TableUnaggregatedFieldWells": {"Values": [
                             {"FieldId": f"rq-{c}", "Column": _col("review_queue_for_audit", c)}
                             for c in ("job_name", "rank", "score", "reasons", "sequence_id", "frame_no", "frame_file",
                                       "object_name", "label")]}}}}},
        {"HeatMapVisual": {"VisualId": "iou-heatmap", "Title": _title("IoU over frames, per object (pick a sequence)"),
                           "ChartConfiguration": {"FieldWells": {"HeatMapAggregatedFieldWells": {
                               "Rows": [_dim("box_metrics", "object_name", "hm-r")],
                               "Columns": [{"NumericalDimensionField": {"FieldId": "hm-c",
                                                                        "Column": _col("box_metrics", "frame_no")}}],
                               "Values": [_measure("box_metrics", "iou_prev", "hm-v", "MIN")]}}}}},
    ]
    workers = [
        _kpi("kpi-workers", "worker_kpis", "workers", "Workers"),
        _kpi("kpi-tasks", "worker_kpis", "tasks", "Tasks"),
        _kpi("kpi-wall", "worker_kpis", "wall_median_s", "Median wall seconds per task", "MAX"),
        _kpi("kpi-adjusted", "worker_kpis", "adjustment_rate", "Share of boxes auditors touched", "MAX"),
        _bar("tasks-per-day", "Tasks per worker per day", "worker_daily_tasks", "day", [("tasks", "SUM")],
             color="worker_id", stacked=True, date=True),
        _bar("wall-vs-active", "Time per submitted task: wall vs active (median seconds)", "worker_task_times",
             "worker_id", [("wall_median_s", "MAX"), ("active_median_s", "MAX")]),
        _bar("adjustment-per-worker", "Adjustment rate and identity switches per worker", "worker_quality_summary",
             "worker_id", [("adjustment_rate", "MAX"), ("id_switches", "SUM")]),
        {"ScatterPlotVisual": {"VisualId": "speed-vs-quality", "Title": _title("Speed vs quality"),
                               "ChartConfiguration": {"FieldWells": {"ScatterPlotCategoricallyAggregatedFieldWells": {
                                   "XAxis": [_measure("worker_leaderboard", "boxes_per_hour", "sq-x", "MAX")],
                                   "YAxis": [_measure("worker_leaderboard", "adjustment_rate", "sq-y", "MAX")],
                                   "Category": [_dim("worker_leaderboard", "worker_id", "sq-c")]}}}}},
        _bar("returned-declined", "Returned and declined rates per worker", "worker_outcomes", "worker_id",
             [("returned_rate", "AVERAGE"), ("declined_rate", "AVERAGE")]),
        _bar("rubric-per-worker", "Rubric score per worker (penalties per box: omission and inaccurate 100%, wrong "
             "label and tracking 20%, attributes 5%)", "rubric_scores", "worker_id", [("rubric_score", "MIN")]),
    ]
    def table(vid: str, title: str, ds: str, cols: tuple[str, ...]) -> dict:
        return {"TableVisual": {"VisualId": vid, "Title": _title(title), "ChartConfiguration": {"FieldWells": {
            "TableUnaggregatedFieldWells": {"Values": [{"FieldId": f"{vid}-{c}", "Column": _col(ds, c)}
                                                       for c in cols]}}}}}

    audits = [
        _bar("audit-change-kinds", "What auditors did to the boxes, per audit job", "audit_change_kinds", "audit_job",
             [("boxes", "SUM")], color="change", stacked=True),
        _bar("audit-adjustment-by-class", "Share of worker boxes auditors touched, per class",
             "audit_adjustment_by_class", "label", [("adjustment_rate", "AVERAGE")]),
        table("post-audit-check", "Post-audit check: audit jobs' corrected labels still flagged", "post_audit_check",
              ("audit_job", "audited_job", "boxes", "flagged_share", "audited_flagged_share")),
        table("track-quality", "Tracks, worst first within a job", "track_quality",
              ("job_name", "sequence_id", "object_name", "label", "n_boxes", "missing_frames", "iou_median", "peer_z",
               "flagged_boxes")),
    ]
    refused = [
        _kpi("kpi-refused", "refused_records", "records", "Records refused"),
        _bar("refused-by-reason", "Records refused, by step and reason", "refused_records", "reason_code",
             [("records", "SUM")], color="step", stacked=True),
        table("refused-records", "Refused records per step, kind, reason and job, with an example", "refused_records",
              ("step", "record_kind", "reason_code", "job_name", "records", "files", "example_file",
               "example_locator")),
    ]
    checks = [
        table("validation-status", "Last data-quality check of each step (gate: passed, failed, warned)",
              "validation_status", ("step", "gate", "validated_at", "tables", "rules", "broken", "run_status", "run_id")),
        table("validation-findings", "Rules broken in those checks", "validation_findings",
              ("step", "scope", "table_name", "column_name", "rule", "unexpected_count", "detail")),
    ]
    seq_filter = {"FilterGroupId": "fg-sequence", "CrossDataset": "SINGLE_DATASET", "Status": "ENABLED",
                  "Filters": [{"CategoryFilter": {
                      "FilterId": "f-sequence", "Column": _col("box_metrics", "sequence_id"),
                      "Configuration": {"FilterListConfiguration": {"MatchOperator": "CONTAINS",
                                                                    "SelectAllOptions": "FILTER_ALL_VALUES"}}}}],
                  "ScopeConfiguration": {"SelectedSheets": {"SheetVisualScopingConfigurations": [
                      {"SheetId": "label-quality", "Scope": "SELECTED_VISUALS", "VisualIds": ["iou-heatmap"]}]}}}
    # The label-quality KPIs are the labeling jobs': audit jobs' corrected labels are a post-audit check apart.
    role_filter = {"FilterGroupId": "fg-kpi-role", "CrossDataset": "SINGLE_DATASET", "Status": "ENABLED",
                   "Filters": [{"CategoryFilter": {
                       "FilterId": "f-kpi-role", "Column": _col("label_quality_kpis", "job_role"),
                       "Configuration": {"FilterListConfiguration": {"MatchOperator": "CONTAINS",
                                                                     "CategoryValues": ["labeling"]}}}}],
                   "ScopeConfiguration": {"SelectedSheets": {"SheetVisualScopingConfigurations": [
                       {"SheetId": "label-quality", "Scope": "SELECTED_VISUALS",
                        "VisualIds": ["kpi-boxes", "kpi-sequences", "kpi-flagged", "kpi-iou"]}]}}}
    # The rubric chart shows the worker rows of its view (it also has sequence and job rows).
    rubric_filter = {"FilterGroupId": "fg-rubric-level", "CrossDataset": "SINGLE_DATASET", "Status": "ENABLED",
                     "Filters": [{"CategoryFilter": {
                         "FilterId": "f-rubric-level", "Column": _col("rubric_scores", "level"),
                         "Configuration": {"FilterListConfiguration": {"MatchOperator": "CONTAINS",
                                                                       "CategoryValues": ["worker"]}}}}],
                     "ScopeConfiguration": {"SelectedSheets": {"SheetVisualScopingConfigurations": [
                         {"SheetId": "worker-performance", "Scope": "SELECTED_VISUALS",
                          "VisualIds": ["rubric-per-worker"]}]}}}
    page_filters = [{"FilterGroupId": f"fg-{fid}", "CrossDataset": "ALL_DATASETS", "Status": "ENABLED",
                     "ScopeConfiguration": {"AllSheets": {}}, "Filters": [{"CategoryFilter": {
                         "FilterId": f"f-{fid}", "Column": _col(ds, col),
                         "Configuration": {"FilterListConfiguration": {"MatchOperator": "CONTAINS",
                                                                       "SelectAllOptions": "FILTER_ALL_VALUES"}}}}]}
                    for fid, _, ds, col in FILTERS]
    fid, _, ds, col = DATE_FILTER
    page_filters.append({"FilterGroupId": f"fg-{fid}", "CrossDataset": "ALL_DATASETS", "Status": "ENABLED",
                         "ScopeConfiguration": {"AllSheets": {}}, "Filters": [{"TimeRangeFilter": {
                             "FilterId": f"f-{fid}", "Column": _col(ds, col), "NullOption": "NON_NULLS_ONLY",
                             "IncludeMinimum": True, "IncludeMaximum": True, "TimeGranularity": "DAY"}}]})
    # Each filter has its control on the first sheet and a cross-sheet control on the others.
    def controls(sheet: str) -> list[dict]:
        if sheet != SHEETS[0]:
            return [{"CrossSheet": {"FilterControlId": f"fc-{fid}-{sheet}", "SourceFilterId": f"f-{fid}"}}
                    for fid, *_ in (*FILTERS, DATE_FILTER)]
        return ([{"Dropdown": {"FilterControlId": f"fc-{fid}", "Title": title, "SourceFilterId": f"f-{fid}",
                               "Type": "MULTI_SELECT"}} for fid, title, *_ in FILTERS]
                + [{"DateTimePicker": {"FilterControlId": f"fc-{DATE_FILTER[0]}", "Title": DATE_FILTER[1],
                                       "SourceFilterId": f"f-{DATE_FILTER[0]}", "Type": "DATE_RANGE"}}])

    return {
        "DataSetIdentifierDeclarations": decl,
        "Sheets": [
            {"SheetId": "label-quality", "Name": "Label quality", "Visuals": quality,
             "FilterControls": [*controls("label-quality"),
                                {"Dropdown": {"FilterControlId": "fc-sequence", "Title": "Sequence (heat map)",
                                              "SourceFilterId": "f-sequence", "Type": "SINGLE_SELECT"}}]},
            {"SheetId": "worker-performance", "Name": "Worker performance", "Visuals": workers,
             "FilterControls": controls("worker-performance")},
            {"SheetId": "audits", "Name": "Audits", "Visuals": audits, "FilterControls": controls("audits")},
            {"SheetId": "refused", "Name": "Refused records", "Visuals": refused, "FilterControls": controls("refused")},
            {"SheetId": "data-quality", "Name": "Data quality", "Visuals": checks,
             "FilterControls": controls("data-quality")},
        ],
        "FilterGroups": [seq_filter, role_filter, rubric_filter, *page_filters],
    }


def _sub(obj, account: str, region: str):  # noqa: ANN001, ANN202
    text = json.dumps(obj).replace("${account}", account).replace("${region}", region)
    return json.loads(text)


def requests(account: str, region: str, database: str, workgroup: str, principal: str | None = None) -> list[tuple[str, dict]]:
    """(operation, parameters) of every create call, in dependency order."""
    from gtlake.athena import WORKGROUP
    from gtlake.lakesql import identifier

    if not ACCOUNT.match(account):
        raise ValueError(f"account id {account!r} must be 12 digits")
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", region):
        raise ValueError(f"region {region!r} is not an AWS region name")
    if not WORKGROUP.match(workgroup):
        raise ValueError(f"workgroup {workgroup!r} must be 1-128 letters, digits, '.', '_' or '-'")
    db = identifier(database, "database")
    if principal is not None and not PRINCIPAL.match(principal):
        raise ValueError(f"principal {principal!r} must be a QuickSight user or group ARN")

    def perms(kind: str) -> dict:
        return {"Permissions": [{"Principal": principal, "Actions": READ_ACTIONS[kind]}]} if principal else {}

    source_arn = f"arn:aws:quicksight:{region}:{account}:datasource/{PREFIX}-athena"
    out = [("create_data_source", {
        "AwsAccountId": account, "DataSourceId": f"{PREFIX}-athena", "Name": "gtlake (Athena)", "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": workgroup}}, "SslProperties": {"DisableSsl": False},
        **perms("data_source")})]
    for d in DATASETS:
        out.append(("create_data_set", {
            "AwsAccountId": account, "DataSetId": f"{PREFIX}-{d}", "Name": f"gtlake {d}", "ImportMode": "DIRECT_QUERY",
            "PhysicalTableMap": {d: {"RelationalTable": {"DataSourceArn": source_arn, "Schema": db, "Name": d,
                                                         "InputColumns": columns(d)}}},
            **perms("dataset")}))
    defn = _sub(definition(db), account, region)
    out.append(("create_analysis", {"AwsAccountId": account, "AnalysisId": f"{PREFIX}-analysis",
                                    "Name": "gtlake: label quality and workers", "Definition": defn, **perms("analysis")}))
    out.append(("create_dashboard", {"AwsAccountId": account, "DashboardId": f"{PREFIX}-dashboard",
                                     "Name": "gtlake: label quality and workers", "Definition": defn,
                                     **perms("dashboard")}))
    return out


_DESCRIBE = {"create_data_source": ("describe_data_source", "DataSourceId", "update_data_source"),
             "create_data_set": ("describe_data_set", "DataSetId", "update_data_set"),
             "create_analysis": ("describe_analysis", "AnalysisId", "update_analysis"),
             "create_dashboard": ("describe_dashboard", "DashboardId", "update_dashboard")}


_UPDATE_OPS = {"create_data_source": "UpdateDataSource", "create_data_set": "UpdateDataSet",
               "create_analysis": "UpdateAnalysis", "create_dashboard": "UpdateDashboard"}


def update_request(op: str, params: dict, service_model=None) -> dict:  # noqa: ANN001
    """The update_* parameters for a create_* request: the members the update operation takes (no Type,
    Permissions or Tags; permissions of existing resources are left as they are)."""
    if service_model is None:
        import botocore.session

        service_model = botocore.session.get_session().get_service_model("quicksight")
    members = service_model.operation_model(_UPDATE_OPS[op]).input_shape.members
    return {k: v for k, v in params.items() if k in members}


def deploy(client, reqs: list[tuple[str, dict]], log: Callable[[str], None] = print) -> None:  # noqa: ANN001
    """Create what is missing, update what exists, publish the dashboard's new version."""
    for op, params in reqs:
        describe, key, update = _DESCRIBE[op]
        try:
            getattr(client, describe)(AwsAccountId=params["AwsAccountId"], **{key: params[key]})
            exists = True
        except client.exceptions.ResourceNotFoundException:
            exists = False
        body = update_request(op, params, client.meta.service_model) if exists else params
        resp = getattr(client, update if exists else op)(**body)
        log(f"  {'updated' if exists else 'created'} {params[key]}")
        if op == "create_dashboard" and exists and resp.get("VersionArn"):
            version = int(resp["VersionArn"].rsplit("/", 1)[-1])
            client.update_dashboard_published_version(AwsAccountId=params["AwsAccountId"], DashboardId=params[key],
                                                      VersionNumber=version)
            log(f"  published version {version} of {params[key]}")


def write_files(folder: str) -> list[str]:
    """dashboards/quicksight/*.json with ${account} and ${region} placeholders."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for op, params in requests("111122223333", "us-east-1", "gtlake", "gtlake"):
        key = _DESCRIBE[op][1]
        path = os.path.join(folder, f"{params[key]}.json")
        text = json.dumps(params, indent=1, sort_keys=True).replace("111122223333", "${account}").replace(
            "us-east-1", "${region}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dashboards", "quicksight")
    for p in write_files(here):
        print(p)
