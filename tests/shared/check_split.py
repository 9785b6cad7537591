#!/usr/bin/env python3
"""The split shared libraries export the public API and the core's internal interface, and
nothing else.

    check_split.py INCLUDE_DIR GRAPH_DIR CORE_LIB [PART_LIB]... [--optional-header H]...

Reads every library's defined dynamic symbols with their versions (`nm -D --defined-only`)
and checks: the symbols under SKIM_0.1, over all the libraries, are exactly the functions the
public headers declare SKIM_API (check_exports.py reads them); the core library exports,
under SKIM_INTERNAL_0.1, exactly the functions graph/skim-impl.h and graph/skim-platform.h
declare SKIM_INTERNAL, and no other library exports any of them; no symbol is defined by two
libraries (a core object linked into a backend's library twice); every skim_ symbol a backend
library needs from outside is one of those two sets.
"""
import glob
import os
import re
import subprocess
import sys

from check_exports import declared


def internal(graph_dir):
    names = set()
    for h in ('skim-impl.h', 'skim-platform.h'):
        text = open(os.path.join(graph_dir, h), encoding='utf-8').read()
        for m in re.finditer(r'^SKIM_INTERNAL [^(;]*?\b(skim_\w+)\s*\(', text, flags=re.M):
            names.add(m.group(1))
    return names


def nm(lib, flag):
    out = subprocess.run(['nm', '-D', flag, lib], check=True, capture_output=True,
                         text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        name = parts[-1]
        base, _, ver = name.partition('@')
        syms[base] = ver.lstrip('@')
    return syms


def main():
    args = sys.argv[1:]
    skip = set()
    while '--optional-header' in args:
        k = args.index('--optional-header')
        skip.add(args[k + 1])
        del args[k:k + 2]
    include_dir, graph_dir, core, *parts = args
    public, inner = declared(include_dir, skip), internal(graph_dir)
    bad = []
    seen = {}
    pub_have = set()
    for lib in [core] + parts:
        defined = nm(lib, '--defined-only')
        for n, ver in defined.items():
            if not n.startswith('skim_') and ver in ('', 'SKIM_0.1', 'SKIM_INTERNAL_0.1'):
                if ver:
                    bad.append(f'{lib}: {n}@{ver} is not a skim_ function')
                continue
            if n in seen:
                bad.append(f'{n} defined by {seen[n]} and {lib}')
            seen[n] = lib
            if ver == 'SKIM_0.1':
                pub_have.add(n)
            elif ver == 'SKIM_INTERNAL_0.1':
                if lib != core:
                    bad.append(f'{lib}: exports the internal {n}')
            elif ver:
                pass  # the version node names themselves
            else:
                bad.append(f'{lib}: {n} exported without a version')
        core_int = {n for n, v in defined.items() if v == 'SKIM_INTERNAL_0.1'}
        if lib == core:
            for n in sorted(inner - core_int):
                bad.append(f'{core}: does not export the internal {n}')
            for n in sorted(core_int - inner):
                bad.append(f'{core}: exports {n} as internal, not declared SKIM_INTERNAL')
        else:
            for n in sorted(nm(lib, '--undefined-only')):
                if n.startswith('skim_') and n not in public | inner:
                    bad.append(f'{lib}: needs {n}, neither public nor internal')
    for n in sorted(pub_have - public):
        bad.append(f'exported under SKIM_0.1 but not declared SKIM_API: {n}')
    for n in sorted(public - pub_have):
        bad.append(f'declared SKIM_API but exported by no library: {n}')
    print(f'{len(pub_have)} public functions over {1 + len(parts)} libraries '
          f'({len(public)} declared), {len(inner)} internal functions from the core')
    for b in bad:
        print('  ' + b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
