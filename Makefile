# `make run` and `make test` do all the set-up on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_TALK := build/demo-talk.wav
# Browser code from npm, pinned by web/vendor/package-lock.json and served by the app (no CDN).
OPUS_DECODER := web/vendor/opus-decoder.min.js
HLS_PLAYER := web/vendor/hls.min.js
HOST ?= 127.0.0.1
PORT ?= 8000
TARGETS ?= es fr it

.PHONY: install base-ear system-deps vendor run test lint bench soak demo clean

install: $(STAMP)

# Reinstalled only when pyproject.toml changes; an editable install picks up code changes by itself.
# uv resolves and installs the same packages as pip in a quarter of the time (38 s → 10 s here); it
# is pinned, and reads the system's certificates as pip does. The packages are compiled to bytecode
# as they are installed: where PYTHONDONTWRITEBYTECODE is set (CI's machines set it) every process
# would otherwise compile what it imports, every time (the server: 3 s of its 5 s start-up).
UV_VERSION := 0.13.9
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --system-certs --compile-bytecode --python $(PY) -e ".[dev]"
	touch $(STAMP)

# The offline engine's better ear (`local.asr_model = "base"`): a noisy hall, a floor of several languages.
base-ear: install
	$(VENV)/bin/uv pip install -q --system-certs --python $(PY) -e ".[base]"

system-deps:
	@scripts/system-deps

vendor: $(OPUS_DECODER) $(HLS_PLAYER)

# Installed under build/ so that nothing but the files named here is served: the WebAssembly Opus
# decoder for pages that have no WebCodecs (an http:// origin on a phone), and hls.js for the HLS
# page on browsers that do not play HLS themselves.
$(OPUS_DECODER) $(HLS_PLAYER) &: web/vendor/package.json web/vendor/package-lock.json
	mkdir -p build/npm
	cp web/vendor/package.json web/vendor/package-lock.json build/npm/
	cd build/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp build/npm/node_modules/opus-decoder/dist/opus-decoder.min.js $(OPUS_DECODER)
	cp build/npm/node_modules/hls.js/dist/hls.min.js $(HLS_PLAYER)

$(DEMO_TALK): harness/talk.py | $(STAMP)
	$(PY) -m harness.talk --demo $@

demo: $(DEMO_TALK)

run: install system-deps vendor $(DEMO_TALK)
	$(VENV)/bin/translator serve --input $(DEMO_TALK) --loop --host $(HOST) --port $(PORT) \
		$(foreach t,$(TARGETS),--target $(t))

# Three at a time, then the tests marked `alone` one at a time. Run as two lanes at once (the alone
# ones at normal priority beside four at nice 19) CI took ~8.5 min, but 4 runs in 11 failed on
# timing tests (the delay page, the floor panel, ask-aloud, a page restart): not landed until those
# are root-caused.
TEST_WORKERS ?= 3

test: install system-deps vendor
	$(PY) -m compileall -q translator harness tests bench
	$(VENV)/bin/pytest -n $(TEST_WORKERS) -m "not alone" --durations=20
	$(VENV)/bin/pytest -m alone --durations=10

lint: install
	$(VENV)/bin/ruff check translator harness tests bench
	$(VENV)/bin/ruff format --check translator harness tests bench
	$(VENV)/bin/mypy

bench: install system-deps vendor $(DEMO_TALK)
	$(PY) -m bench.latency --out bench/results/latency.md
	$(PY) -m bench.early_captions --out bench/results/early-captions.md
	$(PY) -m bench.voices --out bench/results/voices.md
	$(PY) -m bench.translations --out bench/results/translations.md
	$(PY) -m harness.talk --demo build/bench-talk.wav --reference build/bench-talk.json
	$(VENV)/bin/translator eval build/bench-talk.wav --reference build/bench-talk.json \
		--target es --target fr --target it --out bench/results
	$(PY) -m bench.integrity --out bench/results/integrity.md
	$(PY) -m bench.floor --out bench/results/floor.md
	$(PY) -m bench.venue --out bench/results/venue.md
	$(PY) -m bench.voicelive_turns --out bench/results/voicelive.md
	$(PY) -m bench.long_talk --out bench/results/long-talk.md
	$(PY) -m bench.fanout --out bench/results/fanout.md
	$(PY) -m bench.event --out bench/results/event.md
	$(PY) -m bench.outputs --out bench/results/outputs.md
	$(PY) -m bench.inputs --out bench/results/inputs.md
	$(PY) -m bench.busy_box --talk $(DEMO_TALK) --minutes 10 --out bench/results/busy-box.md
	$(PY) -m bench.busy_box --talk $(DEMO_TALK) --minutes 5 --target ca --target it \
		--out bench/results/busy-box-festival.md
	$(PY) -m bench.export_stall --out bench/results/export-stall.md
	$(MAKE) soak

soak: install system-deps $(DEMO_TALK)
	$(PY) -m bench.soak --talk $(DEMO_TALK) --minutes 3 --out bench/results/soak.md

clean:
	rm -rf $(VENV) build bench/results $(OPUS_DECODER)
