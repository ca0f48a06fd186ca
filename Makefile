# storyteller: `make install`, `make test`, `make demo`, `make bench`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared
DEMO_WS ?= workspace/demo

.PHONY: install test test-fast bench demo lint clean

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

ENCODER ?= $(DEMO_WS)/models/skipthought-uni-novels
CAPTION_INDEX ?= $(DEMO_WS)/index/vse-flickr8k_1000/flickr8k+coco+multi30k
PHOTOS := $(SHARED)/data/images/flickr8k_1000

bench: install
	$(BIN)/python bench/corpus.py --novels '$(SHARED)/data/novels/*/*.txt.gz'
	$(BIN)/python bench/encode.py --shared $(SHARED)/data
	$(BIN)/python bench/caption_retrieval.py --shared $(SHARED)/data $(if $(wildcard $(ENCODER)/config.json),--encoder $(ENCODER))
	$(if $(wildcard $(CAPTION_INDEX)/captions.faiss),$(BIN)/python bench/index.py --workspace $(DEMO_WS) --features efficientnet-lite0/flickr8k_1000 --images $(SHARED)/data/images/flickr8k_1000/images,$(BIN)/python bench/features.py --shared $(SHARED)/data)

demo: install
	$(BIN)/storyteller corpus novels --input '$(SHARED)/data/novels/*/*.txt.gz' --name novels --workspace $(DEMO_WS)
	$(BIN)/storyteller corpus captions --input $(SHARED)/data/captions/flickr8k/Flickr8k.token.txt.gz --format flickr8k --name flickr8k --workspace $(DEMO_WS)
	$(BIN)/storyteller corpus captions --input $(SHARED)/data/captions/coco2017/captions_val2017.json.gz --format coco --name coco --workspace $(DEMO_WS)
	$(BIN)/storyteller corpus captions --input '$(SHARED)/data/captions/multi30k/task2/raw/*.en.gz' --format multi30k --name multi30k --workspace $(DEMO_WS)
	$(BIN)/storyteller vocab --corpus novels --size 20000 --workspace $(DEMO_WS)
	$(BIN)/storyteller vocab --corpus flickr8k,coco,multi30k --size 20000 --name captions --workspace $(DEMO_WS)
	$(BIN)/storyteller train encoder --corpus novels --workspace $(DEMO_WS) --name demo-encoder --dim-word 128 --dim 256 --vocab-size 10000 --batch-size 128 --lr 0.002 --max-minutes 2
	$(BIN)/storyteller encode --encoder $(DEMO_WS)/models/demo-encoder --corpus flickr8k --kind captions --workspace $(DEMO_WS)
	$(BIN)/storyteller style --name captions --corpus flickr8k --kind captions --encoder demo-encoder --workspace $(DEMO_WS)
	$(BIN)/storyteller corpus captions --input $(PHOTOS)/captions.txt --format csv --name flickr8k_1000 --workspace $(DEMO_WS)
	$(BIN)/storyteller features --images $(PHOTOS)/images --name flickr8k_1000 --workspace $(DEMO_WS)
	$(BIN)/storyteller train vse --features flickr8k_1000 --captions flickr8k_1000 --workspace $(DEMO_WS) --dim 512 --max-minutes 3
	$(BIN)/storyteller index --vse vse-flickr8k_1000 --corpus flickr8k,coco,multi30k --workspace $(DEMO_WS)
	$(BIN)/storyteller retrieve --index flickr8k+coco+multi30k --workspace $(DEMO_WS) --images '$(PHOTOS)/images/10*.jpg' --k 3 --out $(DEMO_WS)/retrieved.parquet
	$(BIN)/python -m flows.summary --workspace $(DEMO_WS)

clean:
	rm -rf $(VENV) workspace
