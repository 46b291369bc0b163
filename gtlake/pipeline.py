"""The pipeline, declared once: its steps in order, when each runs, and what a step run alone is followed by.

`gtlake run` runs `steps(...)` in order; the Glue workflow of glue/gtlake.yaml chains the `on_glue` steps in the
same order (a trigger per step on the previous one's success, tested against this declaration), and `gtlake
deploy` uploads their entry scripts (`glue/<step>.py`). Each step is a `gtlake <step>` command and a job module
`gtlake.jobs.<step>` whose `STEP` (`jobs.runner.Step`) declares its tables. Plain data: nothing here imports
anything, so every layer may read it.
"""
from __future__ import annotations

from dataclasses import dataclass

ACTIVITY, WEIGHTS = "activity", "weights"  # what a step needs given to `gtlake run`


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    `needs`: what `gtlake run` must be given for the step to run (`activity`: an activity export or a log group;
    `weights`: the appearance model's weights), else it is skipped with a line saying so. `on_glue`: a job of the
    Glue workflow (embed needs torch, which Glue 5.0 does not ship). `then`: the steps that follow it when it runs
    alone, because its output changes theirs (embed's flags re-rank the review queue); within the pipeline those
    steps come later anyway."""

    step: str
    needs: str | None = None
    on_glue: bool = True
    then: tuple[str, ...] = ()


PIPELINE: tuple[Stage, ...] = (
    Stage("ingest"),
    Stage("workers", needs=ACTIVITY),
    Stage("embed", needs=WEIGHTS, on_glue=False, then=("quality",)),
    Stage("quality"),
    Stage("audit"),
)


def stage(step: str) -> Stage:
    """The declaration of `step`; KeyError for a step that is not in the pipeline."""
    for s in PIPELINE:
        if s.step == step:
            return s
    raise KeyError(step)


def steps(given: set[str]) -> list[Stage]:
    """The stages `gtlake run` runs, in order, given what it was given (`ACTIVITY`, `WEIGHTS`)."""
    return [s for s in PIPELINE if s.needs is None or s.needs in given]


def skipped(given: set[str]) -> list[Stage]:
    """The stages `gtlake run` skips for want of what they need."""
    return [s for s in PIPELINE if s.needs is not None and s.needs not in given]


def glue_steps() -> list[str]:
    """The steps of the Glue workflow, in the order its triggers chain them."""
    return [s.step for s in PIPELINE if s.on_glue]


# Steps outside the pipeline (they need what only a person gives: a model's predictions for one job) and what
# follows each: its findings re-rank the review queue.
OUTSIDE: dict[str, tuple[str, ...]] = {"predictions": ("quality",)}


def followers(step: str) -> tuple[str, ...]:
    """What runs after `step` when it is run alone (`Stage.then`, or `OUTSIDE` for a step outside the pipeline)."""
    return OUTSIDE[step] if step in OUTSIDE else stage(step).then
