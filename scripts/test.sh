#!/usr/bin/env bash
# scripts/test.sh: the test job, on a fresh Debian 12 machine, as root, from a clone.
#
# Installs the build set and the peers the tests compare against, builds vm2oci twice (build/,
# and build-asan/ with AddressSanitizer + UBSan), makes the fixture disks and base images in
# build/fixtures and checks the disks, then runs every CTest test in build/ and again in
# build-asan/. Stops at a failed install, build or fixture step; otherwise
# runs the fixture checks and both test sets, and exits non-zero if any of them failed.
set -euo pipefail

die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*" >&2; }

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
t0=$SECONDS

step "dependencies (with peers)"
scripts/install-deps.sh --peers
step "build"
scripts/build.sh
step "build with sanitizers"
scripts/build.sh --asan
step "fixtures (build/fixtures)"
fixtures/make-fixtures.sh build/fixtures
fixtures/make-services.sh build/fixtures
fixtures/make-layouts.sh build/fixtures
fixtures/make-bases.sh build/fixtures
fixtures/make-dirty.sh build/fixtures

VM2OCI_FIXTURES=$(readlink -f build/fixtures)
export VM2OCI_FIXTURES
export LIBGUESTFS_BACKEND_SETTINGS=force_tcg     # no KVM here: libguestfs' appliance runs on TCG
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

failed=()
step "fixture checks"
fixtures/verify-fixtures.sh build/fixtures >build/fixtures-verify.log 2>&1 || failed+=("fixture checks (build/fixtures-verify.log)")
grep -v '^ok ' build/fixtures-verify.log >&2 || true

step "tests (build)"
ctest --test-dir build --output-on-failure --no-tests=error -j2 || failed+=("ctest in build/")
step "tests (build-asan: the whole suite again, slow tests included)"
# Every parser of untrusted bytes runs under ASan/UBSan on every test input,
# the libguestfs comparisons included (their appliance time is not ASan's).
ctest --test-dir build-asan --output-on-failure --no-tests=error -j2 \
    || failed+=("ctest in build-asan/")

if [ ${#failed[@]} -ne 0 ]; then
    printf 'test.sh: FAILED after %d s: %s\n' $((SECONDS - t0)) "$(IFS=,; echo "${failed[*]}")" >&2
    exit 1
fi
printf 'test.sh: all passed in %d s\n' $((SECONDS - t0)) >&2
