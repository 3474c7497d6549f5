#!/usr/bin/env python3
"""Order files for the box build (scripts/build-box.sh, scripts/order-file.sh).

The order files store mangled symbol names. A name survives edits of the function's body, but
its hash changes with the crate's build metadata (version, features) or with a generic
argument's type. A name missing from this build is then looked up by its key, the name without
what such a change moves (the legacy mangling's trailing hash 17h<16 hex>E, v0 crate
disambiguators Cs<base62>_, LLVM's .llvm.<n> suffixes), and placed only if exactly one symbol
has that key: the instances of a generic function differ only by their hash in the legacy
mangling, and placing all of them would spread the start-up code again.

  order-key.py record OUT < callgrind.out   the functions a callgrind profile ran, first-run order
  order-key.py resolve LIST < nm-output     this build's symbols for the names in LIST, in order;
                                            a count of what was found goes to stderr; exits 1
                                            when some were found only by their hash-free form
"""

import re
import sys

HASH = re.compile(r"17h[0-9a-f]{16}E")
CRATE = re.compile(r"Cs[0-9A-Za-z]+_")
LLVM = re.compile(r"\.llvm\.\d+$")
# callgrind names a function `fn=(id) name` (or `cfn=` for a callee) the first time it is seen;
# a recursion level is marked with a trailing 'N.
CALLGRIND = re.compile(r"^c?fn=\(\d+\) (\S+)")
RECURSION = re.compile(r"'\d+$")


def key(symbol: str) -> str:
    return CRATE.sub("C_", HASH.sub("E", LLVM.sub("", symbol)))


def record(out: str) -> None:
    seen = {}
    for line in sys.stdin:
        m = CALLGRIND.match(line)
        if not m:
            continue
        name = RECURSION.sub("", m.group(1))
        # Addresses without a symbol (0x…) and callgrind's own frames ("(below main)") cannot be ordered.
        if not name.startswith(("0x", "(")):
            seen.setdefault(name, None)
    with open(out, "w") as f:
        f.write("".join(k + "\n" for k in seen))
    print(f"{len(seen)} functions recorded in {out}", file=sys.stderr)


def resolve(listing: str) -> None:
    wanted = [line.strip() for line in open(listing) if line.strip()]
    present = set()
    by_key = {}
    for line in sys.stdin:
        parts = line.split()
        # `nm --defined-only`: address, type, name; only code (t/T/w/W, i: an IFUNC resolver) is ordered.
        if len(parts) == 3 and parts[1] in "tTwWi":
            present.add(parts[2])
            by_key.setdefault(key(parts[2]), []).append(parts[2])
    exact = by_name = 0
    placed = set()
    for name in wanted:
        if name in present:
            exact += 1
        else:
            candidates = by_key.get(key(name), [])
            if len(candidates) != 1:
                continue
            by_name += 1
            name = candidates[0]
        if name not in placed:
            placed.add(name)
            print(name)
    print(
        f"{exact + by_name} of {len(wanted)} start-up functions of the order file placed first "
        f"({exact} by name, {by_name} by name without hash)",
        file=sys.stderr,
    )
    if by_name:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "resolve":
        resolve(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
