# The two commands in the README:
#   make demo   set up everything, then run the whole loop on the bundled model and sample data
#   make test   set up everything, then run the test suite
.PHONY: setup demo test bench leaderboard

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/autorerank demo

test:
	@scripts/setup.sh --browser --infinity
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	@scripts/setup.sh --infinity
	.venv/bin/python -m bench

leaderboard: setup
	.venv/bin/autorerank leaderboard
