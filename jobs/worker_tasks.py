"""Tasks a worker touched: activity events matched with worker responses (pure pandas).

The WorkerActivity log says who accepted, submitted, returned or declined a task of a job, but
not which data object it was; a worker response says which data object, with millisecond times
and the active time, but nothing about returned or declined tasks. A submitted event and a
response are the same task when they share the Cognito sub and their submission times agree
(the log's Java-style times have whole seconds). What matches neither side still counts:
the log is best-effort delivery, and older responses have no Cognito identity.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from gtlake.jobs.activity import OUTCOMES

MATCH_TOLERANCE_S = 2.0
EVENT_TIMES = ("accepted_at", "submitted_at", "returned_at", "declined_at", "event_time")
RESPONSE_TIMES = ("accepted_at", "submitted_at")
TASK_COLUMNS = ["worker_id", "cognito_sub", "data_object_index", "sequence_id", "workteam", "outcome", "accepted_at",
                "finished_at", "wall_seconds", "active_seconds", "source", "event_key", "job_name"]


def _outcome(event_type: pd.Series) -> pd.Series:
    known = event_type.map(OUTCOMES)
    other = event_type.str.replace(r"^Tasks", "", regex=True).str.lower()
    return known.fillna(other)


def _seconds(end: pd.Series, start: pd.Series) -> pd.Series:
    return (end - start).dt.total_seconds()


def build_tasks(events: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    """`worker_tasks` rows of one job from its `worker_events` and `worker_responses` rows.

    Each submitted event is paired with at most one response (nearest submission time within
    MATCH_TOLERANCE_S, same Cognito sub) and each response with at most one event.
    """
    ev = events.copy()
    resp = responses.reset_index(drop=True).copy()
    for frame, cols in ((ev, EVENT_TIMES), (resp, RESPONSE_TIMES)):  # empty groups may arrive untyped
        for c in cols:
            frame[c] = pd.to_datetime(frame[c], utc=True) if c in frame else pd.Series(pd.NaT, index=frame.index,
                                                                                       dtype="datetime64[ns, UTC]")
    ev["outcome"] = _outcome(ev["event_type"].astype("string"))
    ev["finished_at"] = ev["submitted_at"].where(ev["outcome"] == "submitted")
    for outcome, col in (("returned", "returned_at"), ("declined", "declined_at")):
        ev["finished_at"] = ev["finished_at"].where(ev["outcome"] != outcome, ev[col])
    ev["finished_at"] = ev["finished_at"].fillna(ev["event_time"])
    resp["_r"] = np.arange(len(resp))

    sub = ev[(ev["outcome"] == "submitted") & ev["cognito_sub"].notna()]
    pairs = sub[["event_key", "cognito_sub", "finished_at"]].merge(
        resp[["_r", "cognito_sub", "submitted_at"]].dropna(subset=["cognito_sub", "submitted_at"]), on="cognito_sub")
    pairs["_d"] = _seconds(pairs["submitted_at"], pairs["finished_at"]).abs()
    pairs = (pairs[pairs["_d"] <= MATCH_TOLERANCE_S].sort_values(["_d", "event_key", "_r"])
             .drop_duplicates("event_key").drop_duplicates("_r"))
    matched = dict(zip(pairs["event_key"], pairs["_r"]))

    ev["_r"] = ev["event_key"].map(matched)
    r = resp.set_index("_r")
    has = ev["_r"].notna()
    idx = ev.loc[has, "_r"].astype(int)
    ev["data_object_index"] = pd.Series(pd.NA, index=ev.index, dtype="Int32")
    ev["sequence_id"] = pd.Series(None, index=ev.index, dtype=object)
    ev["active_seconds"] = np.nan
    ev.loc[has, "data_object_index"] = r.loc[idx, "data_object_index"].to_numpy()
    ev.loc[has, "sequence_id"] = r.loc[idx, "sequence_id"].to_numpy()
    ev.loc[has, "active_seconds"] = r.loc[idx, "active_seconds"].to_numpy(float)
    # The response's millisecond times are the better measure where it has them.
    resp_wall = pd.Series(r.loc[idx, "wall_seconds"].to_numpy(float), index=idx.index)
    ev["wall_seconds"] = _seconds(ev["finished_at"], ev["accepted_at"])
    ev.loc[has, "wall_seconds"] = resp_wall.fillna(ev.loc[has, "wall_seconds"])
    for col, src in (("accepted_at", "accepted_at"), ("finished_at", "submitted_at")):
        resp_time = pd.Series(r.loc[idx, src].to_numpy(), index=idx.index)
        ev.loc[has, col] = resp_time.fillna(ev.loc[has, col])
    ev["source"] = np.where(has, "log+response", "log")

    rest = resp[~resp["_r"].isin(set(matched.values()))]
    from_resp = pd.DataFrame({
        "worker_id": rest["worker_id"], "cognito_sub": rest["cognito_sub"],
        "data_object_index": rest["data_object_index"].astype("Int32"), "sequence_id": rest["sequence_id"],
        "workteam": None, "outcome": "submitted", "accepted_at": rest["accepted_at"], "finished_at": rest["submitted_at"],
        "wall_seconds": rest["wall_seconds"], "active_seconds": rest["active_seconds"], "source": "response",
        "event_key": None, "job_name": rest["job_name"],
    })
    out = pd.concat([ev[TASK_COLUMNS], from_resp[TASK_COLUMNS]], ignore_index=True) if len(from_resp) else ev[TASK_COLUMNS]
    return out.sort_values(["finished_at", "worker_id"], kind="stable").reset_index(drop=True)
