# One-command set-up: `make demo` and `make test` install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DEMO   ?= demo_run
BACKBONE ?= tiny-mert

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing ffmpeg (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else \
	    echo "error: ffmpeg is missing; install it as root: apt-get install -y ffmpeg" >&2; exit 1; \
	  fi; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints-cpu.txt torch torchcodec transformers datasets evaluate \
	    accelerate huggingface_hub demucs soundfile scikit-learn matplotlib "setuptools>=77.0.3,<82" pytest
	$(BIN)/pip install -q --no-deps unsilence==1.0.9
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: install
	$(BIN)/python -m singerid demo --output $(DEMO) --backbone $(BACKBONE)

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(DEMO)
