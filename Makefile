# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-gpu install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first with the pinned spec (a CPU wheel on these machines), then the package.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/compas_torch.py --out reports/compas.html
	$(BIN)/python examples/adult_sklearn.py --out reports/adult.html
	$(BIN)/python examples/digits_cnn.py --out reports/digits.html
	$(BIN)/python examples/german_credit_amount.py --out reports/german_amount.html
	$(BIN)/python examples/compas_charges_text.py --out reports/compas_text.html --out-torch reports/compas_text_torch.html

test: $(STAMP)
	$(BIN)/python -m pytest

# CPU/CUDA parity of every check (tests/test_gpu.py): needs a GPU and a CUDA build of torch (set
# TORCH_SPEC to one); without CUDA the tests skip, as they do in `make test`.
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu tests/test_gpu.py

bench: $(STAMP)
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/gap_simulation.py --unequal
	$(BIN)/python bench/robustness.py
	$(BIN)/python bench/blackbox.py
	$(BIN)/python bench/explain.py
	$(BIN)/python bench/tree_shap.py --sizes 10000
	$(BIN)/python bench/health.py

clean:
	rm -rf $(VENV) build *.egg-info
