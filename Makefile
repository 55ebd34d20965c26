# One-command set-up: `make demo` and `make test` install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TEST_STAMP = $(VENV)/.installed-test
DEMO   ?= demo_run
BACKBONE ?= tiny-mert

.PHONY: install install-test browser compiler demo test clean

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
	    accelerate huggingface_hub demucs soundfile scikit-learn matplotlib tensorboard "setuptools>=77.0.3,<82" pytest
	$(BIN)/pip install -q --no-deps unsilence==1.0.9
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# What only the tests need: the web app's extra (gradio; `pip install singerid[app]`),
# selenium, which drives Debian's chromium through chromedriver in tests/test_app.py, and the
# C++ compiler and Python headers inductor builds its CPU kernels with (tests/test_model.py).
install-test: $(TEST_STAMP) browser compiler

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints-cpu.txt gradio selenium
	@touch $(TEST_STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing chromium and chromium-driver (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium chromium-driver >/dev/null; \
	  else \
	    echo "error: chromium or chromedriver is missing (the app's browser tests need both); install them" \
	      "as root: apt-get install -y --no-install-recommends chromium chromium-driver" >&2; exit 1; \
	  fi; }

compiler: $(STAMP)
	@command -v g++ >/dev/null 2>&1 && \
	  test -f "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("include"))')/Python.h" || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing g++ and python3-dev (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ python3-dev >/dev/null; \
	  else \
	    echo "error: g++ or Python.h is missing (torch.compile's inductor builds C++ with them); install them" \
	      "as root: apt-get install -y g++ python3-dev" >&2; exit 1; \
	  fi; }

demo: install
	$(BIN)/python -m singerid demo --output $(DEMO) --backbone $(BACKBONE)

test: install install-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(DEMO)
