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

.PHONY: all deps deps-apt deps-npm configure build test test-asan test-tsan demo bench format \
  format-check clean

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

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

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
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
