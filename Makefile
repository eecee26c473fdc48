# Yunbao's two commands: `make run` and `make test` (see README). Everything they need is
# installed here, from the locked requirements, so a fresh machine of this kind works.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin
PYTHON ?= python3
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test install dev messages lint typecheck pytest pytest-sqlite pytest-postgres bench browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PY) -m pip install -q uv==0.13.9

$(VENV)/.installed: requirements/base.lock pyproject.toml | $(UV)
	$(UV) pip install -q --python $(PY) -r requirements/base.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements/dev.lock pyproject.toml | $(UV)
	$(UV) pip install -q --python $(PY) -r requirements/dev.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $(VENV)/.installed $@

install: $(VENV)/.installed messages
dev: $(VENV)/.dev-installed messages browser

# Compiled message catalogues (zh-Hans, en); msgfmt comes from Debian's gettext.
messages:
	@command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext >/dev/null)
	@for po in yunbao/locale/*/LC_MESSAGES/django.po; do \
	  [ -e "$$po" ] || continue; mo="$${po%.po}.mo"; \
	  [ "$$mo" -nt "$$po" ] || msgfmt --check -o "$$mo" "$$po" || exit 1; done

# Debian's Chromium for the browser tests (no browser download from elsewhere).
browser:
	@dpkg -s chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null)

run: install
	YUNBAO_DEMO=true $(BIN)/yunbao migrate --noinput -v 0
	YUNBAO_DEMO=true $(BIN)/yunbao demo
	YUNBAO_DEMO=true exec $(BIN)/yunbao serve --with-worker --with-gateway

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev
	$(BIN)/mypy

pytest-sqlite: dev
	DATABASE_URL=sqlite:///var/test.sqlite3 $(BIN)/pytest -p no:cacheprovider -q

pytest-postgres: dev
	CI=$${CI:-} TEST_DATABASE_URL=$(TEST_DATABASE_URL) bash scripts/pytest-postgres.sh

test: lint typecheck pytest-sqlite pytest-postgres

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) var/test.sqlite3
