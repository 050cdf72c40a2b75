# Two commands matter: `make demo` and `make test`. Everything else is a building block.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

APT_PACKAGES := build-essential cmake ninja-build pkg-config libcpprest-dev libssl-dev \
  libboost-system-dev zlib1g-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev \
  nlohmann-json3-dev libgtest-dev libgmock-dev python3 python3-jsonschema python3-yaml curl \
  openssl skopeo docker-registry apache2-utils prometheus faketime clang libclang-rt-14-dev \
  libasan8 libubsan1 libtsan2

.PHONY: all deps deps-apt deps-npm configure build test test-main test-fuzz build-fuzz-targets \
  test-asan test-tsan demo bench format format-check clean

all: build

# Installs only what is missing, so a second run costs a second.
deps: deps-apt deps-npm

deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Node and kubectl may come from other repositories than Debian's (nodesource): check the
	@# commands, not the package names, so apt never replaces a newer Node with Debian's.
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	@command -v kubectl >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq kubectl; }

# The contract tests drive the emulator with Stoplight Prism and IONOS's own Node SDK.
deps-npm:
	@if [ -f tests/contract/package.json ] && [ ! -d tests/contract/node_modules ]; then \
	  echo "make deps: npm ci in tests/contract"; \
	  cd tests/contract && npm ci --no-audit --no-fund --loglevel=error; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Everything CI runs: the main suite (units, end to end, the chaos test, fuzz regressions), then
# the libFuzzer targets and the two sanitizer suites, each in its own build directory.
test: test-main
	$(MAKE) test-fuzz
	$(MAKE) test-tsan
	$(MAKE) test-asan

test-main: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The libFuzzer targets (tests/fuzz/README.md): a clang build of the fuzzers and the libraries
# they need only, each fuzzed for CRTOKEN_FUZZ_SECONDS (default 20) from its seed corpus.
FUZZ_DIR ?= build-fuzz
FUZZ_CXX ?= clang++-14

$(FUZZ_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCRTOKEN_BUILD_FUZZERS=ON -DCRTOKEN_BUILD_TESTS=OFF \
	  -DCRTOKEN_BUILD_BENCH=OFF

build-fuzz-targets: deps-apt $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) --target crtoken_fuzzers -j $(JOBS)

test-fuzz: build-fuzz-targets
	cd $(FUZZ_DIR) && ctest -R '^fuzz_' --output-on-failure -j $(JOBS) --timeout 600

# The sanitizer suites (docs/sanitizers.md): each its own build dir (-O1, instrumented), building
# only crtoken, crtoken-emulator and the test programs its suite covers (tests/sanitizers/).
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
SANITIZER_CONFIGURE := cmake -S . -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRTOKEN_BUILD_BENCH=OFF

$(ASAN_DIR)/build.ninja:
	$(SANITIZER_CONFIGURE) -B $(ASAN_DIR) -DCRTOKEN_SANITIZE=address,undefined

$(TSAN_DIR)/build.ninja:
	$(SANITIZER_CONFIGURE) -B $(TSAN_DIR) -DCRTOKEN_SANITIZE=thread

test-asan: deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) --target crtoken_sanitizer_suite -j $(JOBS)
	cd $(ASAN_DIR) && ctest -L sanitized --output-on-failure -j $(JOBS) --timeout 600

test-tsan: deps $(TSAN_DIR)/build.ninja
	cmake --build $(TSAN_DIR) --target crtoken_sanitizer_suite -j $(JOBS)
	cd $(TSAN_DIR) && ctest -L sanitized --output-on-failure -j $(JOBS) --timeout 600

demo: build
	./deploy/demo.sh $(BUILD_DIR)

bench: build
	./bench/run.sh $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR) $(TSAN_DIR)
