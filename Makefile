# HaarFace: the two commands a newcomer needs are `make run` and `make test`.
# Both install what they need on a fresh Debian machine (idempotent) and build.

SWIFT      ?= swift
APT_PACKAGES := libdnnl-dev libturbojpeg0-dev zlib1g-dev pkg-config libopenmpi-dev openmpi-bin
# The tests check files against NumPy and PyTorch (Debian's, under /usr/bin/python3) where the format is theirs.
TEST_PACKAGES := python3-numpy python3-torch python3-venv
# ONNX Runtime, onnx and TensorBoard come from the Python registry, pinned, into a project-local folder.
INTEROP_VENV := .venv-interop
INTEROP_REQUIREMENTS := scripts/interop/requirements.txt
# The fixture generators need these too (the tests read committed fixtures).
REFERENCE_PACKAGES := $(TEST_PACKAGES) python3-torchvision python3-sklearn python3-skimage python3-opencv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
OUT ?= out

.PHONY: run compare replay-example test test-deps interop-deps deps build release fixtures reference-deps bench bench-trainer clean fuzz-smoke fuzz fuzz-minimise drills

# Installs the Debian packages in $(1) that are not installed yet; does nothing when all are.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(APT_PACKAGES))

test-deps: deps
	$(call apt_install,$(TEST_PACKAGES))

# The virtual environment is made once and refreshed only when the pinned requirements change.
interop-deps: test-deps $(INTEROP_VENV)/installed

$(INTEROP_VENV)/installed: $(INTEROP_REQUIREMENTS)
	/usr/bin/python3 -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/pip install --quiet --disable-pip-version-check --only-binary=:all: -r $(INTEROP_REQUIREMENTS)
	cp $(INTEROP_REQUIREMENTS) $@

reference-deps: deps
	$(call apt_install,$(REFERENCE_PACKAGES))

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product haarface

# The main job on the embedded default (no data needed): trains a small IResNet on synthetic identities
# (generated once into $(OUT)/train/synthetic) with MHLR, verifies it on held-out synthetic pairs, and
# writes training.log, metrics.csv, checkpoints, model.safetensors and report.md + report.svg.
run: release
	.build/release/haarface train --output $(OUT)/train
	@echo "report: $(OUT)/train/report.md"

# The paper's study at small scale (docs/mhlr-study.md): 8 arms x 3 seeds on a synthetic set, about an hour on
# 2 cores. Interrupted, it continues where it stopped (finished runs are kept).
compare: release
	.build/release/haarface compare --output $(OUT)/compare --resume
	@echo "table: $(OUT)/compare/compare.md"

# Replays the bundled example log (examples/arcface_multistep.log) through MHLR and draws the run.
replay-example: release
	@mkdir -p $(OUT)
	.build/release/haarface replay examples/arcface_multistep.log --scheduler mhlr --plot $(OUT)/replay.svg \
		| tee $(OUT)/replay.csv

# Benchmarks (not tests): scheduler ns/step, end-to-end replay time, verification/IJB evaluation maths, parsing a
# WebFace12M-sized .idx.
bench: release
	$(SWIFT) run -c release MHLRBenchmark
	$(SWIFT) run -c release FaceEvalBenchmark
	$(SWIFT) run -c release FaceDataBenchmark
	python3 scripts/bench/replay_bench.py .build/release/haarface

# The full trainer (`haarface train --rec`) against arcface_torch's loop in PyTorch on the same RecordIO data:
# images/s of each and their ratio. Needs reference-deps; e.g. BENCH_TRAINER_ARGS="--rounds 1".
bench-trainer: release
	/usr/bin/python3 scripts/bench/compare_trainer.py $(BENCH_TRAINER_ARGS)

test: interop-deps fuzz-smoke
	$(SWIFT) test --disable-swift-testing

# libFuzzer runs of every reader of untrusted bytes (Fuzz/run.sh, Fuzz/README.md): about 1 s each on its committed
# corpus in `make test`; `make fuzz` runs each for FUZZ_SECONDS (default 300; FUZZ_TARGETS picks some) and keeps
# what it finds in .build-fuzz/corpus; `make fuzz-minimise` merges that into the committed Fuzz/corpus.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?=
FUZZ_RUNS ?=
fuzz-smoke: deps
	Fuzz/run.sh smoke

fuzz: deps
	FUZZ_RUNS=$(FUZZ_RUNS) Fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-minimise: deps
	Fuzz/run.sh minimise $(FUZZ_TARGETS)

# Reliability drills (scripts/drills/drills.py) on the release binary: killed with SIGKILL 20 times and resumed,
# out of disk space (injected, and a real tmpfs as root), handed damaged checkpoints, fed NaNs; each drill says
# what it tried and what held. Minutes on 2 cores; DRILLS_QUICK=1 runs the quick versions `make test` runs.
drills: release test-deps
	/usr/bin/python3 scripts/drills/drills.py $(if $(filter 1,$(DRILLS_QUICK)),--quick)

# Regenerates every committed test fixture from its reference script (needs PyTorch, NumPy).
fixtures: reference-deps
	@for s in scripts/reference/*.py; do echo "== $$s"; /usr/bin/python3 $$s || exit 1; done

clean:
	rm -rf .build $(OUT) $(INTEROP_VENV)
