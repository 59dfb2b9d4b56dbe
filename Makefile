# The two commands of the README. Both set up everything they need first.
.PHONY: bootstrap demo test unit lab bench clean-lab

PY := .venv/bin/python
# Start PostgreSQL and hand its URL to the suite; stop if it cannot start.
WITH_PG := pg_url="$$(scripts/pg-up)" && OP25B_TEST_PG_URL="$$pg_url"

bootstrap:
	scripts/bootstrap

## make demo: controller + Mininet lab + example subscribers -> traffic matrix
demo: bootstrap
	scripts/ovs-up
	$(PY) scripts/demo.py

## make test: the whole suite (unit, database on SQLite and PostgreSQL, lab)
test: bootstrap
	scripts/ovs-up
	$(WITH_PG) $(PY) -m pytest $(PYTEST_ARGS)

unit: bootstrap
	$(WITH_PG) $(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: bootstrap
	scripts/ovs-up
	$(PY) scripts/bench_policy.py
