#!/usr/bin/env python3
"""make-seeds.py FIXTURES_DIR - writes the image fuzzers' seed corpora here.

seeds-tar: small layers covering what the layer reader handles (files, dirs,
symlinks, hardlinks, devices, xattrs, whiteouts, opaque markers, a bare
".wh.", pax and gnu headers; plain, gzip and zstd when zstd is installed).
seeds-json: the base-oci fixture's index, manifests and config, each behind
the selector byte fuzz_oci_json.c reads (0 config, 1 index, 2 manifest).
Deterministic: fixed mtimes and names.
"""
import gzip, io, json, os, shutil, subprocess, sys, tarfile

here = os.path.dirname(os.path.abspath(__file__))
fixtures = sys.argv[1]


def tar(members, fmt=tarfile.PAX_FORMAT):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode='w', format=fmt) as t:
        for name, kind, arg in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == 'd':
                ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            elif kind == 's':
                ti.type = tarfile.SYMTYPE; ti.linkname = arg; t.addfile(ti)
            elif kind == 'h':
                ti.type = tarfile.LNKTYPE; ti.linkname = arg; t.addfile(ti)
            elif kind == 'c':
                ti.type = tarfile.CHRTYPE; ti.devmajor, ti.devminor = 1, 3; t.addfile(ti)
            elif kind == 'x':
                ti.pax_headers = {'SCHILY.xattr.user.k': 'v', 'SCHILY.xattr.security.capability': 'c'}
                ti.size = len(arg); t.addfile(ti, io.BytesIO(arg))
            else:
                ti.size = len(arg); t.addfile(ti, io.BytesIO(arg))
    return bio.getvalue()


layers = {
    'basic.tar': tar([('etc', 'd', None), ('etc/os-release', 'f', b'ID=debian\n'),
                      ('var/lib/dpkg/status', 'f', b'Package: a\nStatus: install ok installed\n'),
                      ('bin', 's', 'usr/bin'), ('usr/bin/a', 'f', b'#!/bin/sh\n'),
                      ('usr/bin/b', 'h', 'usr/bin/a'), ('dev/null', 'c', None),
                      ('usr/bin/cap', 'x', b'\x7fELF')]),
    'whiteouts.tar': tar([('etc/.wh.os-release', 'f', b''), ('var/.wh..wh..opq', 'f', b''),
                          ('var/lib/dpkg/status', 'f', b'Package: b\n'), ('.wh.bin', 'f', b'')]),
    'bare-wh.tar': tar([('etc/.wh.', 'f', b'')]),
    'gnu.tar': tar([('./a/' + 'x' * 120, 'f', b'long'), ('./a/l', 's', '../' + 'y' * 120)],
                   tarfile.GNU_FORMAT),
}
layers['basic.tar.gz'] = gzip.compress(layers['basic.tar'], mtime=0)
out = os.path.join(here, 'seeds-tar')
os.makedirs(out, exist_ok=True)
for name, data in layers.items():
    open(os.path.join(out, name), 'wb').write(data)
if shutil.which('zstd'):
    zst = subprocess.run(['zstd', '-q', '-c', '--no-check'], input=layers['whiteouts.tar'],
                         stdout=subprocess.PIPE, check=True).stdout
    open(os.path.join(out, 'whiteouts.tar.zst'), 'wb').write(zst)

out = os.path.join(here, 'seeds-json')
os.makedirs(out, exist_ok=True)
layout = os.path.join(fixtures, 'base-oci')
index = open(os.path.join(layout, 'index.json'), 'rb').read()
open(os.path.join(out, 'index'), 'wb').write(b'\x01' + index)
for i, m in enumerate(json.loads(index)['manifests']):
    blob = lambda d: open(os.path.join(layout, 'blobs', 'sha256', d.split(':')[1]), 'rb').read()
    man = blob(m['digest'])
    open(os.path.join(out, 'manifest-%d' % i), 'wb').write(b'\x02' + man)
    open(os.path.join(out, 'config-%d' % i), 'wb').write(b'\x00' + blob(json.loads(man)['config']['digest']))
