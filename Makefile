# The front door. `make dev` and `make test` work on a fresh Debian 12 machine:
# they install what is missing (scripts/bootstrap.sh), build, then run.
BUILD   ?= build
JOBS    ?= $(shell nproc)
DATA_DIR ?= .rend/dev
PYTHON  ?= /usr/bin/python3

.PHONY: dev test check build deps deps-test configure unit integration ops-tests clean format check-format \
	asan asan-build asan-unit tsan tsan-build tsan-unit fuzz fuzz-build fuzz-ci

dev: deps configure
	ninja -C $(BUILD) -j $(JOBS) rend
	$(BUILD)/rend dev --data-dir $(DATA_DIR)

# Unit and integration tests run with Postgres, Redis, ClickHouse and s3rver up on
# free loopback ports, so every store backend's contract suite runs for real. The
# unit tests run again under ASan+UBSan, and every fuzz target for a short budget
# (`make fuzz` is the long run, on demand). The static checks run before any build.
test: deps-test check build asan-build fuzz-build
	docker-compose -f compose.yml config -q
	$(DEPLOY_COMPOSE_ENV) docker-compose -f deploy/compose.control-plane.yml config -q
	$(DEPLOY_COMPOSE_ENV) docker-compose -f deploy/compose.edge.yml config -q
	scripts/with-test-services $(MAKE) --no-print-directory unit asan-unit integration ops-tests
	$(MAKE) --no-print-directory fuzz-ci

# The production compose files take their images from a release manifest and their env
# files from the host (scripts/deploy-*-host.sh); `config -q` checks them with stand-ins.
DEPLOY_DIGEST = registry.example.com/rend/$(1)@sha256:0000000000000000000000000000000000000000000000000000000000000000
DEPLOY_COMPOSE_ENV = REND_API_IMAGE=$(call DEPLOY_DIGEST,rend-api) \
	REND_MEDIA_WORKER_IMAGE=$(call DEPLOY_DIGEST,rend-media-worker) REND_EDGE_IMAGE=$(call DEPLOY_DIGEST,rend-edge) \
	REND_API_ENV_FILE=$(CURDIR)/.env.docker.example REND_WORKER_ENV_FILE=$(CURDIR)/.env.docker.example \
	REND_EDGE_ENV_FILE=$(CURDIR)/.env.docker.example

# Static checks over the source, no build needed (seconds): the layering of src/
# folders (#include and CMake DEPS), log event names, the formatting, the topology
# (scripts/stack, compose.yml and rend dev against config/topology.json), and the
# tests that each check still catches what it is for.
check:
	$(PYTHON) scripts/check-layers
	$(PYTHON) scripts/check-log-events
	$(PYTHON) scripts/check-topology
	clang-format --dry-run -Werror $(FORMAT_FILES)
	$(PYTHON) -m pytest -q tests/scripts

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

# The operator scripts (tests/ops) with a stand-in docker, against rend and the real services.
ops-tests:
	REND_BIN=$(abspath $(BUILD))/rend $(PYTHON) -m pytest -q -p no:cacheprovider tests/ops

integration:
	REND_BIN=$(abspath $(BUILD))/rend REND_REQUIRE_BROWSER=1 $(PYTHON) -m pytest tests/integration -q

# .clang-format over every C++ file of src/ and fuzz/.
FORMAT_FILES = $$(git ls-files 'src/*.cpp' 'src/*.h' 'fuzz/*.cpp' 'fuzz/*.h')
format:
	clang-format -i $(FORMAT_FILES)
check-format:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

# ---- Sanitizers (cmake/sanitizers.cmake). Only the unit tests are built: none of
# them needs the rend binary, and it is the slowest link. `make asan` / `make tsan`
# start the test services themselves; `asan-unit` / `tsan-unit` expect them (or run
# the service-backed tests as skipped), which is how `make test` calls asan-unit.
SAN_UNIT_TESTS = $$(ninja -C $(1) -t targets all | sed -n 's/^\(rend_[a-z_]*_test\): phony$$/\1/p')
# halt_on_error: the first report fails the test; LSan stays on (ASan's default).
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

build-asan/build.ninja:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREND_SANITIZE=address,undefined
build-tsan/build.ninja:
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREND_SANITIZE=thread

asan-build: build-asan/build.ninja
	ninja -C build-asan -j $(JOBS) $(call SAN_UNIT_TESTS,build-asan)
asan-unit: asan-build
	cd build-asan && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS)
asan: deps-test asan-build
	scripts/with-test-services $(MAKE) --no-print-directory asan-unit

tsan-build: build-tsan/build.ninja
	ninja -C build-tsan -j $(JOBS) $(call SAN_UNIT_TESTS,build-tsan)
# setarch -R: TSan's fixed shadow layout cannot cope with the kernel's full mmap
# randomisation (vm.mmap_rnd_bits=32 on current kernels).
tsan-unit: tsan-build
	cd build-tsan && $(TSAN_ENV) setarch -R ctest --output-on-failure -j $(JOBS)
tsan: deps-test tsan-build
	scripts/with-test-services $(MAKE) --no-print-directory tsan-unit

# ---- libFuzzer targets (fuzz/, docs/fuzzing.md): clang with ASan+UBSan, its own
# build dir. fuzz-ci is the short run `make test` uses: every target for
# FUZZ_CI_SECONDS, failing on any finding.
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 10

build-fuzz/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREND_FUZZ=ON

fuzz-build: build-fuzz/build.ninja
	ninja -C build-fuzz -j $(JOBS) fuzzers
fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS)
fuzz-ci: fuzz-build
	fuzz/run.sh $(FUZZ_CI_SECONDS)
