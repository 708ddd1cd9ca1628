#!/usr/bin/env bash
# scripts/sample.sh: the main job, on a fresh Debian 12 machine, as root, from a clone.
#
# Installs the build dependencies, builds vm2oci, makes the fixture disks in build/fixtures, then
# converts the sample VM disk build/fixtures/debian-gpt.qcow2 into an OCI image layout in
# build/sample-oci (tag "sample") and prints how to run it.
set -euo pipefail

die() { printf 'sample.sh: %s\n' "$*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*" >&2; }

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
top=$PWD
t0=$SECONDS

step "dependencies"
scripts/install-deps.sh
step "build"
scripts/build.sh
step "fixtures (build/fixtures)"
fixtures/make-fixtures.sh build/fixtures

vm2oci=build/cli/vm2oci
[ -x "$vm2oci" ] || die "$vm2oci was not built"
disk=build/fixtures/debian-gpt.qcow2
image=build/sample-oci
step "convert $disk"
rm -rf "$image"
t1=$SECONDS
"$vm2oci" convert "$disk" --base scratch -o "$image" --tag sample || die "vm2oci convert failed"
t2=$SECONDS
[ -f "$image/index.json" ] || die "vm2oci convert wrote no $image/index.json"

ref="oci:$top/$image:sample"
cat <<TXT

The VM disk $disk is now an OCI image layout, tag "sample":
  $top/$image  ($(du -sh "$image" | cut -f1); convert took $((t2 - t1)) s, the whole job $((SECONDS - t0)) s)

Run it with podman (scripts/install-deps.sh --peers installs podman, runc, skopeo, umoci):
  podman --runtime runc --cgroup-manager=cgroupfs run --rm --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \\
    $ref cat /etc/os-release
podman bind-mounts its own /etc/hostname (the container id) over the image's in a running
container; the VM's own one (vm2oci-sample) is read from a created, not started, container:
  c=\$(podman --runtime runc --cgroup-manager=cgroupfs create $ref true) &&
    podman cp "\$c:/etc/hostname" - | tar -xO && podman rm "\$c"
To keep the image in podman's store:
  skopeo copy $ref containers-storage:localhost/vm2oci-sample:latest
TXT
