# The two commands a newcomer needs: `make demo` and `make test`.
# Both install everything they need into .venv and the server cache (Kafka, S3Proxy) first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint typecheck bench compose-check clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed
	$(BIN)/tracelake kafka install >/dev/null
	$(BIN)/tracelake s3 install >/dev/null
	$(BIN)/tracelake spark install >/dev/null

demo: install
	$(BIN)/tracelake demo $(ARGS)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/pytest $(ARGS)

bench: install
	$(BIN)/python bench/sdk_emit.py

compose-check:
	bash scripts/compose-check.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
