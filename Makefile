# The front door. `make dev` and `make test` work on a fresh Debian 12 machine:
# they install what is missing (scripts/bootstrap.sh), build, then run.
BUILD   ?= build
JOBS    ?= $(shell nproc)
DATA_DIR ?= .rend/dev
PYTHON  ?= /usr/bin/python3

.PHONY: dev test build deps deps-test configure unit integration clean format

dev: deps configure
	ninja -C $(BUILD) -j $(JOBS) rend
	$(BUILD)/rend dev --data-dir $(DATA_DIR)

# Unit and integration tests run with Postgres, Redis, ClickHouse and s3rver up on
# free loopback ports, so every store backend's contract suite runs for real.
test: deps-test build
	docker-compose -f compose.yml config -q
	scripts/with-test-services $(MAKE) --no-print-directory unit integration

deps:
	scripts/bootstrap.sh

deps-test:
	scripts/bootstrap.sh --test

configure:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Builds the binary and every unit test.
build: configure
	ninja -C $(BUILD) -j $(JOBS)

unit:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

integration:
	REND_BIN=$(abspath $(BUILD))/rend REND_REQUIRE_BROWSER=1 $(PYTHON) -m pytest tests/integration -q

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h')

clean:
	rm -rf $(BUILD)
