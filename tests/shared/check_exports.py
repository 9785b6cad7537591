#!/usr/bin/env python3
"""The shared library exports exactly the functions the public headers declare SKIM_API.

    check_exports.py LIBRARY INCLUDE_DIR [--optional-header H]... [--soname NAME]

Lists the library's defined dynamic symbols with `nm -D --defined-only` and compares them
with every `SKIM_API ... skim_name(` declaration under INCLUDE_DIR: a symbol the headers do
not declare (an internal that leaked, a static library's symbol) fails, and so does a
declared function the library lacks (one left hidden or not built in). Functions of a
component the build left out (e.g. skim-vulkan.h without the Vulkan backend) are named
with --optional-header.
"""
import glob
import os
import re
import subprocess
import sys


def declared(include_dir, skip):
    names = set()
    for path in sorted(glob.glob(os.path.join(include_dir, '*.h'))):
        if os.path.basename(path) in skip:
            continue
        text = open(path, encoding='utf-8').read()
        text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
        for m in re.finditer(r'\bSKIM_API\b[^;{]*?\b(skim_\w+)\s*\(', text, flags=re.S):
            names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True, capture_output=True,
                         text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in 'TtWwDdBbRrVvi':
            names.add(parts[2].split('@')[0])
    return names


def main():
    args = sys.argv[1:]
    skip, soname = set(), None
    if '--soname' in args:
        k = args.index('--soname')
        soname = args[k + 1]
        del args[k:k + 2]
    while '--optional-header' in args:
        k = args.index('--optional-header')
        skip.add(args[k + 1])
        del args[k:k + 2]
    lib, include_dir = args
    want, have = declared(include_dir, skip), exported(lib)
    extra, missing = sorted(have - want), sorted(want - have)
    print(f'{lib}: {len(have)} dynamic symbols, {len(want)} SKIM_API functions declared')
    for n in extra:
        print(f'  exported but not declared SKIM_API: {n}')
    for n in missing:
        print(f'  declared SKIM_API but not exported: {n}')
    bad = bool(extra or missing)
    if soname:
        dyn = subprocess.run(['readelf', '-d', lib], check=True, capture_output=True,
                             text=True).stdout
        m = re.search(r'\(SONAME\)\s+Library soname: \[([^\]]+)\]', dyn)
        got = m.group(1) if m else None
        print(f'  soname {got}, expected {soname}')
        bad = bad or got != soname
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
