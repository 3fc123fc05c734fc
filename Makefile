# meshpipe developer commands. `make demo` and `make test` are the README's two set-up commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORE_STAMP := $(VENV)/.installed-core
PYTEST_WORKERS ?= 4

export TF_CLI_CONFIG_FILE :=
export CHECKPOINT_DISABLE := 1
export TF_IN_AUTOMATION := 1
export TF_INPUT := 0

.PHONY: venv demo test pytest lint render check bench browser clean

venv: $(STAMP)

# The demo needs meshpipe and its run-time dependencies only; the tests add the test extra (linters, PyGithub, ...).
$(CORE_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(CORE_STAMP)

$(STAMP): pyproject.toml $(CORE_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

## demo: run the whole loop (meshStack -> terraform -> GitHub -> reporter -> meshStack) on the embedded sandbox;
## TARGET=gitlab|azure_devops|webhook runs it through that target's fake instead
TARGET ?= github
demo: $(CORE_STAMP)
	$(BIN)/meshpipe demo --target $(TARGET)

## test: lint, type-check and run the whole test suite (real terraform against the fakes)
test: lint pytest

# The status page's screenshot tests need Debian's chromium: `browser` installs it when missing (a no-op otherwise).
pytest: $(STAMP) browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

## render: regenerate everything generated: the dispatcher's contract block, modules/ from generator/specs/, the reporter bundle, the examples (they pin the bundle's sha256), the README's command reference
render: $(STAMP)
	$(BIN)/python -m meshpipe.contract
	@for spec in generator/specs/*.yaml; do $(BIN)/meshpipe module render "$$spec" || exit 1; done
	$(BIN)/python -m meshpipe.report._bundle
	bash examples/regenerate.sh

## check: fail if a committed module differs from what its spec renders (drift check) or a workflow takes other inputs
check: $(STAMP)
	$(BIN)/python -m meshpipe.contract --check
	$(BIN)/meshpipe module check
	$(BIN)/meshpipe module check examples/team-bucket/spec.yaml -o examples/team-bucket/module
	$(BIN)/meshpipe workflow check examples/team-bucket/spec.yaml examples/team-bucket/.github/workflows/*.yml
	$(BIN)/meshpipe module check examples/gitlab-namespace/spec.yaml -o examples/gitlab-namespace/module
	$(BIN)/meshpipe module check examples/azure-sql-database/spec.yaml -o examples/azure-sql-database/module
	$(BIN)/meshpipe module check examples/webhook-jenkins-job/spec.yaml -o examples/webhook-jenkins-job/module
	$(BIN)/meshpipe workflow check examples/gitlab-namespace/spec.yaml examples/gitlab-namespace/.gitlab-ci.yml
	$(BIN)/meshpipe workflow check examples/azure-sql-database/spec.yaml examples/azure-sql-database/azure-pipelines.yml
	$(BIN)/python -m meshpipe.report._bundle --check

## browser: install Debian's chromium (and a font) for the status page's screenshot tests; a no-op when present
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then echo "browser: $(CHROMIUM) present"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "browser: $(CHROMIUM) is missing; install Debian's chromium (as root: apt-get install -y chromium fonts-dejavu-core)" >&2; exit 1; \
	else DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null && \
	    echo "browser: installed $$($(CHROMIUM) --version)"; fi

## bench: repeatable measurements (ratios against a baseline measured in the same run)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
