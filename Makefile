# Thin wrapper over ./dev for people who type `make`; ./dev is what the README and CI use.
.DEFAULT_GOAL := help
.PHONY: help setup demo test test-all lint

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
setup:  ## system packages, .venv, Python packages
	./dev setup
demo:  ## the pipeline on built-in sample media
	./dev demo
test:  ## the suite CI runs
	./dev test
test-all:  ## plus the slow suites
	./dev test-all
lint:  ## ruff
	./dev lint
