# Two commands for everyone: `make lab` and `make test`.
# Both create .venv on first use; later runs reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test test-quick test-class lint format release clean-venv

# Two pytest workers share the two cores; a torch that also starts two threads
# per process oversubscribes them, and small ops then run tens of times slower.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# Re-install when the pinned dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, by exact version: on a machine with a local CPU wheel this
	# takes it, elsewhere it takes the normal build for the platform.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	# hf: transformers, for the tests that load HuggingFace GPT-2/BERT models
	# into ours (built locally from random weights; nothing is downloaded)
	$(BIN)/python -m pip install --quiet -e ".[dev,hf]"
	# The course is shared through git, not an nbgrader exchange: switch off
	# the student extensions that need one (they log errors without it).
	$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.assignment_list >/dev/null 2>&1
	$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.course_list >/dev/null 2>&1
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:assignment-list >/dev/null 2>&1
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:course-list >/dev/null 2>&1
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/course lab

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax tests solutions

# The fast tiers (a few minutes): the library, the visible checks and the grader's parts;
# no notebook is executed and no class graded (tests/e2e and solutions/ are `make test`'s).
test-quick: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile tests

# A simulated class of >= 30 submissions per chapter through `course grade` (tests/e2e/full_class.py):
# about an hour of CPU, so not part of `make test`, which grades the same cases packed together.
test-class: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist load tests/e2e/full_class.py

# ruff, configured in pyproject.toml (CI runs this before the tests).
lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

release: $(STAMP)
	$(BIN)/course release

clean-venv:
	rm -rf $(VENV)
