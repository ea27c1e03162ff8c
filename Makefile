# The targets people use. Everything runs from .venv, made by `make install`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install services demo test test-unit lint bench image push clean

$(BIN)/flowimg: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# An editable install has no bytecode until a module is imported without PYTHONDONTWRITEBYTECODE, and
# compiling flowimg's modules costs a command more than running it: compile them (only what changed).
install: $(BIN)/flowimg
	$(BIN)/python -m compileall -q builder/flowimg

services:
	bash scripts/services.sh start

demo: install services
	$(MAKE) -C examples/docker-script demo FLOWIMG=$(abspath $(BIN))/flowimg

test: install services
	$(BIN)/pytest -q

# Unit tests only: no engine, database or server needed; runs in seconds.
test-unit: install
	$(BIN)/pytest -q -m "not services"

lint: install
	$(BIN)/python -m compileall -q builder/flowimg tests
	$(BIN)/ruff check builder tests bench
	$(BIN)/mypy

bench: install services
	$(BIN)/python bench/run.py

image: install services
	$(BIN)/flowimg build -p examples/docker-script/flows/my_flow.py --no-push

push: install services
	$(BIN)/flowimg build -p examples/docker-script/flows/my_flow.py

clean:
	rm -rf $(VENV) build dist *.egg-info
