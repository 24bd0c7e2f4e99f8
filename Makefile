# `make run` and `make test` do all the set-up on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_TALK := build/demo-talk.wav
HOST ?= 127.0.0.1
PORT ?= 8000
TARGETS ?= es fr it

.PHONY: install system-deps run test lint bench soak demo clean

install: $(STAMP)

# Reinstalled only when pyproject.toml changes; an editable install picks up code changes by itself.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

system-deps:
	@scripts/system-deps

$(DEMO_TALK): harness/talk.py | $(STAMP)
	$(PY) -m harness.talk --demo $@

demo: $(DEMO_TALK)

run: install system-deps $(DEMO_TALK)
	$(VENV)/bin/translator serve --input $(DEMO_TALK) --loop --host $(HOST) --port $(PORT) \
		$(foreach t,$(TARGETS),--target $(t))

test: install system-deps
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check translator harness tests bench
	$(VENV)/bin/ruff format --check translator harness tests bench
	$(VENV)/bin/mypy

bench: install system-deps $(DEMO_TALK)
	$(PY) -m bench.latency --out bench/results/latency.md
	$(PY) -m harness.talk --demo build/bench-talk.wav --reference build/bench-talk.json
	$(VENV)/bin/translator eval build/bench-talk.wav --reference build/bench-talk.json \
		--target es --target fr --target it --out bench/results
	$(PY) -m bench.integrity --out bench/results/integrity.md
	$(PY) -m bench.floor --out bench/results/floor.md
	$(PY) -m bench.voicelive_turns --out bench/results/voicelive.md
	$(PY) -m bench.fanout --out bench/results/fanout.md
	$(MAKE) soak

soak: install system-deps $(DEMO_TALK)
	$(PY) -m bench.soak --talk $(DEMO_TALK) --minutes 3 --out bench/results/soak.md

clean:
	rm -rf $(VENV) build bench/results
