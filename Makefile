# storyteller: `make install`, `make test`, `make demo`, `make bench`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared
DEMO_WS ?= workspace/demo
DEMO_PHOTOS ?= 96

.PHONY: install test test-fast bench bench-retrieval bench-scale demo models lint clean browser

install: $(STAMP)

# torch first and alone: any requirement that admits a newer torch pulls a multi-GB CUDA build.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

# Debian's Chromium for the gallery's browser test (Playwright drives it; it never downloads a browser of its
# own). apt-get only when /usr/bin/chromium is missing, so a second run does nothing; needs root, as in CI.
# Where apt-get cannot run it says so, and that one test skips with the reason.
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "make browser: could not install chromium; tests/pipelines/stories/test_gallery_browser.py will skip"

ENCODER ?= trained/skipthought-uni-novels
CAPTION_INDEX ?= $(DEMO_WS)/index/vse-flickr8k_1000/flickr8k+coco+multi30k
PHOTOS := $(SHARED)/data/images/flickr8k_1000
MODELS_WS ?= workspace/models
# The shipped VSE recipe with 200 photos held out, for measuring retrieval on photos it never saw.
HELD_OUT_VSE := $(MODELS_WS)/models/vse-flickr8k-800

bench: install
	$(BIN)/python bench/corpus.py --novels '$(SHARED)/data/novels/*/*.txt.gz'
	$(BIN)/python bench/encode.py --shared $(SHARED)/data
	$(BIN)/python bench/caption_retrieval.py --shared $(SHARED)/data $(if $(wildcard $(ENCODER)/config.json),--encoder $(ENCODER))
	$(if $(wildcard $(DEMO_WS)/stories/stories.jsonl),$(BIN)/python bench/stories.py --workspace $(DEMO_WS) --decoder trained/decoder-novels --style romance --images $(SHARED)/data/images/flickr8k_1000/images)
	$(if $(wildcard $(CAPTION_INDEX)/captions.faiss),$(BIN)/python bench/index.py --workspace $(DEMO_WS) --features efficientnet-lite0/flickr8k_1000 --images $(SHARED)/data/images/flickr8k_1000/images,$(BIN)/python bench/features.py --shared $(SHARED)/data)
	$(BIN)/python bench/pipeline_rerun.py --shared $(SHARED)/data
	$(if $(wildcard $(MODELS_WS)/models/words-novels-captions/config.json),$(MAKE) bench-retrieval,@echo "bench/retrieval.py skipped: it needs the words model, features and corpora make models leaves in $(MODELS_WS)")

# VSE (trained here with 200 photos held out), zero-shot and fused retrieval on those photos.
bench-retrieval: install
	$(BIN)/storyteller train vse --features flickr8k_1000 --captions flickr8k_1000 --workspace $(MODELS_WS) --recipe vse-flickr8k-800 --name vse-flickr8k-800
	$(BIN)/python bench/retrieval.py --vse $(HELD_OUT_VSE) --zero-shot trained/zero-shot-efficientnet-lite0 --workspace $(MODELS_WS)

# Encode and stories jobs: local runner vs a local Dask cluster, disk vs an S3 workspace (a moto server here);
# the stories half uses the styles `make demo` leaves in $(DEMO_WS).
bench-scale: install
	$(BIN)/python bench/scale.py --shared $(SHARED)/data --demo $(DEMO_WS)

# The end-to-end flow on the shared data with the shipped models (trained/): under 15 minutes on 2 cores.
demo: install
	$(BIN)/storyteller demo --shared $(SHARED) --workspace $(DEMO_WS) --photos $(DEMO_PHOTOS)
	$(BIN)/python -m flows.cli.summary --workspace $(DEMO_WS)

# Retrains the shipped models with their recipes (model/training/recipes/NAME.json) and exports them, fp16
# and without checkpoints, into trained/: word vectors (gensim, Flickr8k test captions left out), the
# skip-thought encoder (then its vocabulary expanded to every word of the word vectors), the decoder on
# every novel's passages, the VSE on all 1,000 photos, the zero-shot space (built in seconds). About 100 minutes on 2 cores, printed at the end; each trainer stops at
# its time budget, which the *_MINUTES variables override, so weights differ run to run.
MODELS_OUT ?= trained
ENCODER_MINUTES ?= 24
DECODER_MINUTES ?= 50
VSE_MINUTES ?= 6
CAPTIONS := $(SHARED)/data/captions
LABELS := $(SHARED)/data/weights/imagenet_labels/imagenet_labels.txt
models: install
	mkdir -p $(MODELS_WS) && date +%s > $(MODELS_WS)/.models-started
	$(BIN)/storyteller corpus novels --input '$(SHARED)/data/novels/*/*.txt.gz' --name novels --workspace $(MODELS_WS)
	$(BIN)/storyteller corpus captions --input $(CAPTIONS)/flickr8k/Flickr8k.token.txt.gz --format flickr8k --name flickr8k --workspace $(MODELS_WS)
	$(BIN)/storyteller corpus captions --input $(CAPTIONS)/coco2017/captions_val2017.json.gz --format coco --name coco --workspace $(MODELS_WS)
	$(BIN)/storyteller corpus captions --input '$(CAPTIONS)/multi30k/task2/raw/*.en.gz' --format multi30k --name multi30k --workspace $(MODELS_WS)
	$(BIN)/storyteller corpus captions --input $(PHOTOS)/captions.txt --format csv --name flickr8k_1000 --workspace $(MODELS_WS)
	$(BIN)/storyteller train words --corpus novels,flickr8k,coco,multi30k --exclude-split test --workspace $(MODELS_WS) --name words-novels-captions --recipe words-novels-captions
	$(BIN)/storyteller train encoder --corpus novels --workspace $(MODELS_WS) --name skipthought-uni-novels-8k --recipe skipthought-uni-novels --max-minutes $(ENCODER_MINUTES)
	rm -rf $(MODELS_WS)/models/skipthought-uni-novels
	$(BIN)/storyteller expand-vocab --encoder skipthought-uni-novels-8k --words words-novels-captions --out $(MODELS_WS)/models/skipthought-uni-novels --workspace $(MODELS_WS)
	$(BIN)/storyteller encode --encoder $(MODELS_WS)/models/skipthought-uni-novels --corpus novels --kind passages --workspace $(MODELS_WS)
	$(BIN)/storyteller train decoder --corpus novels --encoder skipthought-uni-novels --workspace $(MODELS_WS) --name decoder-novels --recipe decoder-novels --max-minutes $(DECODER_MINUTES)
	$(BIN)/storyteller features --images $(PHOTOS)/images --name flickr8k_1000 --workspace $(MODELS_WS)
	$(BIN)/storyteller train vse --features flickr8k_1000 --captions flickr8k_1000 --workspace $(MODELS_WS) --name vse-flickr8k-1000 --recipe vse-flickr8k-1000 --max-minutes $(VSE_MINUTES)
	rm -rf $(MODELS_WS)/models/zero-shot-efficientnet-lite0
	$(BIN)/storyteller build zero-shot --words words-novels-captions --captions flickr8k,coco,multi30k --labels $(LABELS) --workspace $(MODELS_WS)
	rm -rf $(MODELS_OUT).new && mkdir $(MODELS_OUT).new
	for model in skipthought-uni-novels vse-flickr8k-1000 zero-shot-efficientnet-lite0 decoder-novels; do \
		$(BIN)/storyteller export --model $(MODELS_WS)/models/$$model --out $(MODELS_OUT).new/$$model || exit 1; done
	rm -rf $(MODELS_OUT) && mv $(MODELS_OUT).new $(MODELS_OUT)
	@echo "make models: $$(( $$(date +%s) - $$(cat $(MODELS_WS)/.models-started) )) s in all; $$(du -sh $(MODELS_OUT) | cut -f1) in $(MODELS_OUT)/"

clean:
	rm -rf $(VENV) workspace
