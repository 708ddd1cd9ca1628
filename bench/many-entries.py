#!/usr/bin/env python3
"""many-entries.py DIR N - writes DIR, an OCI layout tagged "many" whose one
gzip layer holds N empty files (1000 per folder, srv/many/dNNNN/fNNNN) and
their folders: a base with N entries for bench/many-entries.sh.
Deterministic (mtime 0, root owner), written under a temporary name.
"""
import gzip, hashlib, json, os, shutil, sys

out, n = sys.argv[1], int(sys.argv[2])
tmp = out + '.tmp-make'
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp + '/blobs/sha256')


def header(name, typeflag, mode):
    h = bytearray(512)
    nb = name.encode()
    h[0:len(nb)] = nb
    for off, val in ((100, mode), (108, 0), (116, 0)):
        h[off:off + 8] = b'%07o\0' % val
    h[124:136] = b'%011o\0' % 0
    h[136:148] = b'%011o\0' % 0
    h[148:156] = b' ' * 8
    h[156] = ord(typeflag)
    h[257:265] = b'ustar\x0000'
    h[148:156] = b'%06o\0 ' % sum(h)
    return bytes(h)


tar_h = hashlib.sha256()
raw = tmp + '/layer.tar.gz'
with open(raw, 'wb') as f, gzip.GzipFile(fileobj=f, mode='wb', compresslevel=1, mtime=0) as z:
    buf = []
    for name in ('srv/', 'srv/many/'):
        buf.append(header(name, '5', 0o755))
    for i in range(n):
        if i % 1000 == 0:
            buf.append(header('srv/many/d%04d/' % (i // 1000), '5', 0o755))
        buf.append(header('srv/many/d%04d/f%04d' % (i // 1000, i % 1000), '0', 0o644))
        if len(buf) >= 4096:
            data = b''.join(buf); tar_h.update(data); z.write(data); buf = []
    buf.append(b'\0' * 1024)
    data = b''.join(buf); tar_h.update(data); z.write(data)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    open('%s/blobs/sha256/%s' % (tmp, d), 'wb').write(data)
    return {'digest': 'sha256:' + d, 'size': len(data)}


lh = hashlib.sha256(open(raw, 'rb').read()).hexdigest()
lsize = os.path.getsize(raw)
os.rename(raw, '%s/blobs/sha256/%s' % (tmp, lh))
cfg = put(json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {},
                      'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + tar_h.hexdigest()]},
                      'history': [{'created_by': 'many-entries.py'}]}, sort_keys=True).encode())
man = put(json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                      'config': dict(cfg, mediaType='application/vnd.oci.image.config.v1+json'),
                      'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip',
                                  'digest': 'sha256:' + lh, 'size': lsize}]}, sort_keys=True).encode())
index = {'schemaVersion': 2, 'manifests': [dict(man, mediaType='application/vnd.oci.image.manifest.v1+json',
                                                annotations={'org.opencontainers.image.ref.name': 'many'})]}
open(tmp + '/index.json', 'w').write(json.dumps(index))
open(tmp + '/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
shutil.rmtree(out, ignore_errors=True)
os.rename(tmp, out)
