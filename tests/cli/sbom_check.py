#!/usr/bin/env python3
"""sbom_check.py FORMAT SBOM [SCHEMA_DIR]

Checks a vm2oci SBOM and prints its package list, one "name<TAB>version<TAB>arch"
line per package (arch from the purl's qualifier), for a test to compare with
dpkg-query or rpm -qa.

  FORMAT      spdx or cyclonedx
  SCHEMA_DIR  cyclonedx: the directory holding the official bom-1.5.schema.json,
              spdx.schema.json and jsf-0.82.schema.json; the document must
              validate against them (JSON Schema, with python3-jsonschema).
              spdx: a directory holding the official SPDX 2.3 spdx-schema.json,
              when one is at hand; the structural checks below run always.

Every purl must parse by the purl specification (scheme, type, namespace, name,
version, qualifiers sorted with lowercase keys, percent-encoding) and round-trip
to the same canonical string; its name and version must be the package's.
Exits 1 with one line per problem.
"""
import json
import os
import re
import sys
import warnings
from urllib.parse import quote, unquote

problems = []


def problem(msg):
    problems.append(msg)


# ---- purl -------------------------------------------------------------------

UNRESERVED = "-._~"


def enc(s):
    return quote(s, safe=UNRESERVED)


def parse_purl(p):
    """The purl's parts, or None (with a problem) when it is not one."""
    if not p.startswith("pkg:"):
        return problem(f"purl {p!r}: no 'pkg:' scheme")
    rest = p[4:]
    if "#" in rest:
        return problem(f"purl {p!r}: a subpath is not expected here")
    qualifiers = {}
    if "?" in rest:
        rest, q = rest.split("?", 1)
        keys = []
        for kv in q.split("&"):
            if "=" not in kv:
                return problem(f"purl {p!r}: qualifier {kv!r} has no '='")
            k, v = kv.split("=", 1)
            if not re.fullmatch(r"[a-z][a-z0-9.\-_]*", k):
                return problem(f"purl {p!r}: qualifier key {k!r} is not lowercase")
            if not v:
                return problem(f"purl {p!r}: qualifier {k!r} is empty")
            keys.append(k)
            qualifiers[k] = unquote(v)
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            return problem(f"purl {p!r}: qualifiers not sorted or repeated")
    version = None
    if "@" in rest:
        rest, v = rest.rsplit("@", 1)
        version = unquote(v)
        if not version:
            return problem(f"purl {p!r}: empty version")
    segs = rest.split("/")
    if len(segs) < 2:
        return problem(f"purl {p!r}: no type/name")
    ptype = segs[0]
    if not re.fullmatch(r"[a-z][a-z0-9.+\-]*", ptype):
        return problem(f"purl {p!r}: bad type {ptype!r}")
    name = unquote(segs[-1])
    namespace = [unquote(s) for s in segs[1:-1]]
    if not name or any(not s for s in namespace):
        return problem(f"purl {p!r}: empty name or namespace segment")
    canon = "pkg:" + ptype + "/" + "".join(enc(s) + "/" for s in namespace) + enc(name)
    if version is not None:
        canon += "@" + enc(version)
    if qualifiers:
        canon += "?" + "&".join(f"{k}={enc(v)}" for k, v in sorted(qualifiers.items()))
    if canon != p:
        return problem(f"purl {p!r}: not canonical (expected {canon!r})")
    return {"type": ptype, "namespace": namespace, "name": name, "version": version,
            "qualifiers": qualifiers}


# ---- schema validation ----------------------------------------------------------


def tolerate_old_jsonschema():
    """Debian 12's jsonschema 4.10 sorts the extra items of an array to word
    an error, which fails on objects; word it unsorted instead."""
    import jsonschema._utils as u

    orig = u.extras_msg

    def extras_msg(extras):
        try:
            return orig(extras)
        except TypeError:
            return ", ".join(repr(e) for e in extras), "was" if len(extras) == 1 else "were"

    for mod in ("jsonschema._utils", "jsonschema._validators", "jsonschema._legacy_validators"):
        m = sys.modules.get(mod)
        if m is not None and hasattr(m, "extras_msg"):
            m.extras_msg = extras_msg


def validate(doc, schema_path, others):
    import jsonschema

    tolerate_old_jsonschema()

    with open(schema_path) as f:
        schema = json.load(f)
    store = {}
    for o in others:
        with open(o) as f:
            s = json.load(f)
        store[s.get("$id", os.path.basename(o))] = s
        store[os.path.basename(o)] = s
    cls = jsonschema.validators.validator_for(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver(schema.get("$id", ""), schema, store=store)
        v = cls(schema, resolver=resolver)
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors[:20]:
        problem(f"schema {os.path.basename(schema_path)}: /{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    return len(errors)


# ---- SPDX 2.3 -----------------------------------------------------------------

SPDX_RELS = {
    "DESCRIBES", "DESCRIBED_BY", "CONTAINS", "CONTAINED_BY", "DEPENDS_ON", "DEPENDENCY_OF",
    "DEPENDENCY_MANIFEST_OF", "BUILD_DEPENDENCY_OF", "DEV_DEPENDENCY_OF", "OPTIONAL_DEPENDENCY_OF",
    "PROVIDED_DEPENDENCY_OF", "TEST_DEPENDENCY_OF", "RUNTIME_DEPENDENCY_OF", "EXAMPLE_OF",
    "GENERATES", "GENERATED_FROM", "ANCESTOR_OF", "DESCENDANT_OF", "VARIANT_OF", "DISTRIBUTION_ARTIFACT",
    "PATCH_FOR", "PATCH_APPLIED", "COPY_OF", "FILE_ADDED", "FILE_DELETED", "FILE_MODIFIED",
    "EXPANDED_FROM_ARCHIVE", "DYNAMIC_LINK", "STATIC_LINK", "DATA_FILE_OF", "TEST_CASE_OF",
    "BUILD_TOOL_OF", "DEV_TOOL_OF", "TEST_OF", "TEST_TOOL_OF", "DOCUMENTATION_OF",
    "OPTIONAL_COMPONENT_OF", "METAFILE_OF", "PACKAGE_OF", "AMENDS", "PREREQUISITE_FOR",
    "HAS_PREREQUISITE", "REQUIREMENT_DESCRIPTION_FOR", "SPECIFICATION_FOR", "OTHER"}
# As the SPDX 2.3 JSON schema spells them (the tag-value form has "OPERATING-SYSTEM").
SPDX_PURPOSES = {"APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING_SYSTEM", "DEVICE",
                 "FIRMWARE", "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"}
SPDX_ID = re.compile(r"SPDXRef-[A-Za-z0-9.\-]+")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def spdx_structure(d):
    """SPDX 2.3's required fields and value spaces, clause by clause."""
    for k, want in (("spdxVersion", "SPDX-2.3"), ("dataLicense", "CC0-1.0"),
                    ("SPDXID", "SPDXRef-DOCUMENT")):
        if d.get(k) != want:
            problem(f"spdx: {k} is {d.get(k)!r}, not {want!r}")
    if not isinstance(d.get("name"), str) or not d["name"]:
        problem("spdx: no document name")
    ns = d.get("documentNamespace", "")
    if not re.fullmatch(r"[a-z][a-z0-9+.\-]*:[^#\s]+", ns):
        problem(f"spdx: documentNamespace {ns!r} is no URI without '#'")
    ci = d.get("creationInfo", {})
    if not TIME.fullmatch(ci.get("created", "")):
        problem("spdx: creationInfo.created is not YYYY-MM-DDThh:mm:ssZ")
    if not ci.get("creators") or not all(re.match(r"(Tool|Person|Organization): ", c) for c in ci["creators"]):
        problem("spdx: creationInfo.creators missing or malformed")
    ids = {"SPDXRef-DOCUMENT"}
    refs = {e["licenseId"] for e in d.get("hasExtractedLicensingInfos", [])}
    for e in d.get("hasExtractedLicensingInfos", []):
        if not re.fullmatch(r"LicenseRef-[A-Za-z0-9.\-]+", e.get("licenseId", "")) or not e.get("extractedText"):
            problem(f"spdx: extracted license {e!r} malformed")
    for p in d.get("packages", []):
        sid = p.get("SPDXID", "")
        if not SPDX_ID.fullmatch(sid):
            problem(f"spdx: package SPDXID {sid!r} malformed")
        if sid in ids:
            problem(f"spdx: SPDXID {sid} repeated")
        ids.add(sid)
        for k in ("name", "downloadLocation"):
            if not isinstance(p.get(k), str) or not p[k]:
                problem(f"spdx: package {sid} has no {k}")
        if p.get("filesAnalyzed") is not False and "packageVerificationCode" not in p:
            problem(f"spdx: package {sid}: filesAnalyzed without a verification code")
        sup = p.get("supplier")
        if sup is not None and not re.match(r"(NOASSERTION$|Person: |Organization: )", sup):
            problem(f"spdx: package {sid} supplier {sup!r}")
        for k in ("licenseConcluded", "licenseDeclared"):
            for ref in re.findall(r"LicenseRef-[A-Za-z0-9.\-]+", p.get(k, "")):
                if ref not in refs:
                    problem(f"spdx: {sid} {k} names {ref}, not in hasExtractedLicensingInfos")
        if "primaryPackagePurpose" in p and p["primaryPackagePurpose"] not in SPDX_PURPOSES:
            problem(f"spdx: {sid} primaryPackagePurpose {p['primaryPackagePurpose']!r}")
        for r in p.get("externalRefs", []):
            if r.get("referenceCategory") not in ("SECURITY", "PACKAGE-MANAGER", "PERSISTENT-ID", "OTHER"):
                problem(f"spdx: {sid} externalRef category {r.get('referenceCategory')!r}")
        for a in p.get("annotations", []):
            if a.get("annotationType") not in ("REVIEW", "OTHER") or not TIME.fullmatch(a.get("annotationDate", "")) \
                    or not a.get("annotator") or not a.get("comment"):
                problem(f"spdx: {sid} annotation {a!r} malformed")
    for r in d.get("relationships", []):
        if r.get("relationshipType") not in SPDX_RELS:
            problem(f"spdx: relationship type {r.get('relationshipType')!r}")
        for k in ("spdxElementId", "relatedSpdxElement"):
            if r.get(k) not in ids:
                problem(f"spdx: relationship names {r.get(k)!r}, no element of the document")
    if not any(r.get("relationshipType") == "DESCRIBES" and r.get("spdxElementId") == "SPDXRef-DOCUMENT"
               for r in d.get("relationships", [])):
        problem("spdx: the document DESCRIBES nothing")


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("spdx", "cyclonedx"):
        sys.exit(__doc__)
    fmt, path = sys.argv[1], sys.argv[2]
    sdir = sys.argv[3] if len(sys.argv) == 4 else None
    with open(path) as f:
        d = json.load(f)
    rows = []
    if fmt == "cyclonedx":
        if not sdir:
            problem("cyclonedx: no schema directory given")
        else:
            validate(d, os.path.join(sdir, "bom-1.5.schema.json"),
                     [os.path.join(sdir, n) for n in ("spdx.schema.json", "jsf-0.82.schema.json")])
        if d.get("specVersion") != "1.5":
            problem("cyclonedx: specVersion is not 1.5")
        refs = set()
        for c in d.get("components", []):
            refs.add(c.get("bom-ref"))
            if c.get("type") == "operating-system":
                continue
            pu = parse_purl(c.get("purl", ""))
            if pu is None:
                continue
            if pu["name"] != c.get("name") or pu["version"] != c.get("version"):
                problem(f"cyclonedx: purl {c['purl']} disagrees with {c.get('name')} {c.get('version')}")
            rows.append((c["name"], c["version"], pu["qualifiers"].get("arch", "")))
        for dep in d.get("dependencies", []):
            for r in [dep.get("ref")] + dep.get("dependsOn", []):
                if r not in refs and r != d.get("metadata", {}).get("component", {}).get("bom-ref"):
                    problem(f"cyclonedx: dependency names {r!r}, no component")
    else:
        spdx_structure(d)
        if sdir and os.path.exists(os.path.join(sdir, "spdx-schema.json")):
            validate(d, os.path.join(sdir, "spdx-schema.json"), [])
        for p in d.get("packages", []):
            if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM":
                continue
            purls = [r["referenceLocator"] for r in p.get("externalRefs", []) if r.get("referenceType") == "purl"]
            if len(purls) != 1:
                problem(f"spdx: {p.get('SPDXID')} has {len(purls)} purls")
                continue
            pu = parse_purl(purls[0])
            if pu is None:
                continue
            if pu["name"] != p.get("name") or pu["version"] != p.get("versionInfo"):
                problem(f"spdx: purl {purls[0]} disagrees with {p.get('name')} {p.get('versionInfo')}")
            rows.append((p["name"], p["versionInfo"], pu["qualifiers"].get("arch", "")))
    for r in sorted(rows):
        print("\t".join(r))
    if problems:
        for p in problems[:40]:
            print(f"sbom_check: {path}: {p}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
