# gtlake: `make demo` runs the pipeline on sample data, `make test` runs every test.
# Both set everything up on a fresh machine that has Python 3.11 and Java 17.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := .jars
DEMO   := demo

export GTLAKE_JARS    := $(abspath $(JARS))
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup browser demo lint test test-shuffled fuzz bench clean

setup: $(VENV)/.installed $(JARS)/.installed

$(VENV)/.installed: setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "gtlake needs Python 3.11 (Glue 5.0)"'
	@java -version 2>&1 | grep -q '"17' || (echo "gtlake needs Java 17 on PATH (Spark 3.5 / Glue 5.0)"; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(JARS)/.installed: scripts/fetch-s3a-jars.sh | $(VENV)/.installed
	PIP=$(BIN)/pip scripts/fetch-s3a-jars.sh $(JARS)
	@touch $@

# The dashboard test opens the page in a real browser: Debian's chromium (needs root for apt-get, as on CI).
browser:
	@command -v chromium >/dev/null || (echo "installing Debian's chromium for the dashboard test" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

demo: setup
	rm -rf $(DEMO)
	$(BIN)/gtlake sample --out $(DEMO)/sample --frames-images
	$(BIN)/gtlake run --input $(DEMO)/sample/output --activity $(DEMO)/sample/worker-activity --lake $(DEMO)/lake
	$(BIN)/python -m gtlake.sample.predictions --lake $(DEMO)/lake --job street-tracking-b2 --sample $(DEMO)/sample \
		--out $(DEMO)/predictions.jsonl
	$(BIN)/gtlake predictions --lake $(DEMO)/lake --job street-tracking-b2 --input $(DEMO)/predictions.jsonl --model simulated
	$(BIN)/gtlake sql --lake $(DEMO)/lake --view model_findings --limit 10
	$(BIN)/gtlake audit-request --lake $(DEMO)/lake --job vehicles-day-2026-10 --out $(DEMO)/audit-request
	$(BIN)/gtlake audit-request --lake $(DEMO)/lake --job street-tracking-b2 --out $(DEMO)/audit-request-street
	$(BIN)/gtlake review --lake $(DEMO)/lake --job street-tracking-b2 --frames-root $(DEMO)/sample/input \
		--out $(DEMO)/review.html
	$(BIN)/python -m gtlake.sample.reviewer --lake $(DEMO)/lake --sample $(DEMO)/sample --job street-tracking-b2 \
		--out $(DEMO)/verdicts-street-tracking-b2.json
	$(BIN)/gtlake verdicts --lake $(DEMO)/lake $(DEMO)/verdicts-street-tracking-b2.json
	$(BIN)/gtlake sql --lake $(DEMO)/lake --view worker_leaderboard
	$(BIN)/gtlake dashboard --lake $(DEMO)/lake --out $(DEMO)/report.html
	$(BIN)/gtlake export --lake $(DEMO)/lake --job street-tracking-b2 --format mot --out $(DEMO)/export-mot
	$(BIN)/gtlake export --lake $(DEMO)/lake --job street-tracking-b2 --format coco --audited --out $(DEMO)/export-coco
	@echo
	@echo "demo: Ground Truth sample output in $(abspath $(DEMO))/sample/output"
	@echo "demo: lake in $(abspath $(DEMO))/lake (tables: sequences frames boxes shapes worker_responses rejected runs"
	@echo "      worker_events worker_tasks box_metrics track_summary review_queue review_verdicts audit_changes"
	@echo "      worker_quality validations predictions prediction_findings;"
	@echo "      embedding_metrics comes from gtlake embed --weights, see README: appearance check)"
	@echo "demo: review queue in $(abspath $(DEMO))/lake/review_queue; audit job request in $(abspath $(DEMO))/audit-request"
	@echo "demo: query it, e.g. $(BIN)/gtlake sql --lake $(DEMO)/lake --view worker_leaderboard"
	@echo "demo: dashboards (open in a browser, works offline): $(abspath $(DEMO))/report.html"
	@echo "demo: review page of a job's queue, frames drawn: $(abspath $(DEMO))/review.html (verdicts saved from it:"
	@echo "      gtlake verdicts --lake $(DEMO)/lake FILE; a simulated reviewer's are in already)"
	@echo "demo: a simulated model's second opinion: gtlake sql --lake $(DEMO)/lake --view model_findings (its"
	@echo "      overlooked objects are in the review queue, on the review page, and in $(DEMO)/audit-request-street)"
	@echo "demo: labels exported as MOTChallenge $(abspath $(DEMO))/export-mot, audited labels as COCO $(abspath $(DEMO))/export-coco"

# ruff, configured in ruff.toml: every noqa marker names a rule it runs (RUF100 fails on one that suppresses nothing).
lint: setup
	$(BIN)/ruff check --no-cache .

# Two test processes (pytest-xdist), each test file whole in one of them (its module fixtures built once): the
# suite waits on JVM starts, spark-submit and CLI subprocesses, moto and the browser much of the time, so two
# processes on 2 cores take about 18 minutes where one takes 24. `pytest tests/x.py` by hand runs in one.
test: setup browser lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The test files in a random order, and the tests of each file in a random order (the seed is printed;
# --random-order-seed=N repeats one): no test relies on another. (One global shuffle would set up each
# module-scoped fixture again at every switch of file.)
test-shuffled: setup browser
	$(BIN)/python -m pytest --random-order-bucket=module

# Longer fuzzing of every parser of untrusted input and of whole ingest runs (make test runs a few examples).
fuzz: setup
	GTLAKE_FUZZ_EXAMPLES=5000 GTLAKE_FUZZ_INGEST_EXAMPLES=60 $(BIN)/python -m pytest tests/test_untrusted.py tests/test_fuzz_ingest.py

bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_quality.py
	$(BIN)/python bench/bench_accuracy.py
	$(BIN)/python bench/bench_udf_shape.py
	$(BIN)/python bench/bench_audit.py
	$(BIN)/python bench/bench_embed.py
	$(BIN)/python bench/bench_review.py

clean:
	rm -rf $(VENV) $(JARS) $(DEMO) bench-data .pytest_cache
