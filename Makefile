# The two set-up commands of the README. Each creates .venv on first use.
VENV ?= .venv
STAMP := $(VENV)/.lightseg-installed

.PHONY: demo test models

$(STAMP): setup.py scripts/setup_venv.sh
	VENV=$(VENV) bash scripts/setup_venv.sh

demo: $(STAMP)
	$(VENV)/bin/lightseg demo --out outputs/demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

models: $(STAMP)
	$(VENV)/bin/lightseg models
