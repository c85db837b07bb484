# The entry points of the README. Everything else is CMake + CTest.
#   make run      install deps, build, start the server with deploy/ringcast.json
#   make package  build/ringcast_<version>_amd64.deb
#   make test     install deps, build the normal, ASan/UBSan, TSan and fuzz trees, run every suite
JOBS ?= $(shell nproc)
CONFIG ?= deploy/ringcast.json

.PHONY: deps build run test bench clean build-asan build-tsan build-fuzz package

deps:
	./deploy/install-deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$(JOBS)

run: build
	./build/bin/ringcast --config $(CONFIG)

# build/ringcast_<version>_amd64.deb (deploy/package.cmake)
package: build
	cd build && cpack -G DEB

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRINGCAST_SANITIZE=address,undefined -DRINGCAST_BENCH=OFF
	cmake --build build-asan -j$(JOBS)

build-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGCAST_SANITIZE=thread -DRINGCAST_BENCH=OFF
	cmake --build build-tsan -j$(JOBS)

build-fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGCAST_FUZZ=ON -DRINGCAST_BENCH=OFF
	cmake --build build-fuzz -j$(JOBS)

# One ctest run reports everything: the sanitizer and fuzz suites appear as suite_* tests.
test: build build-asan build-tsan build-fuzz
	ctest --test-dir build --output-on-failure -j2

bench: build
	./deploy/install-deps.sh --bench
	./bench/run.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz
