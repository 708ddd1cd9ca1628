#!/usr/bin/env bash
# scripts/build.sh [--asan] [CMAKE_ARGS...]
#
# Configures and builds vm2oci with CMake: into build/ (RelWithDebInfo), or with --asan into
# build-asan/ (Debug, -DVM2OCI_SANITIZE=ON: AddressSanitizer + UBSan). Other arguments go to
# the configure step. CMAKE_BUILD_TYPE in the environment overrides the build type.
set -euo pipefail

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

dir=build
type=${CMAKE_BUILD_TYPE:-RelWithDebInfo}
args=()
for arg in "$@"; do
    case $arg in
        --asan) dir=build-asan; type=${CMAKE_BUILD_TYPE:-Debug}; args+=(-DVM2OCI_SANITIZE=ON) ;;
        -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) args+=("$arg") ;;
    esac
done

command -v cmake >/dev/null || die "cmake is not installed (run scripts/install-deps.sh)"
[ -f CMakeLists.txt ] || die "no CMakeLists.txt at the repository root"

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "${args[@]}" || die "cmake configure failed ($dir)"
cmake --build "$dir" -j"$(nproc)" || die "build failed ($dir)"
printf 'build.sh: built in %s/\n' "$dir" >&2
