#!/usr/bin/env python3
"""Source files over 900 lines and functions over 150 lines in crates/*/src.

A function is measured from its `fn` line to the line that closes its body (brace
matching over the text, strings and comments skipped roughly). A function may stay longer
when the line before it says `// code-shape: table` (a table of data, not logic).
Exit status 1 when anything is over; `make lint` runs it.
"""
import pathlib, re, sys

MAX_FILE, MAX_FN = 900, 150
root = pathlib.Path(__file__).resolve().parent.parent
fn_re = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')
over = []
for path in sorted(root.glob('crates/*/src/**/*.rs')):
    lines = path.read_text().splitlines()
    rel = path.relative_to(root)
    if len(lines) > MAX_FILE:
        over.append(f'{rel}: {len(lines)} lines (file, max {MAX_FILE})')
    i = 0
    while i < len(lines):
        m = fn_re.match(lines[i])
        if not m:
            i += 1
            continue
        table = i > 0 and 'code-shape: table' in lines[i - 1]
        depth, started, j = 0, False, i
        while j < len(lines):
            text = re.sub(r"'(\\.|[^'\\])'", "''", lines[j])
            text = re.sub(r'"(\\.|[^"\\])*"', '""', text).split('//')[0]
            for ch in text:
                if ch == '{':
                    depth += 1
                    started = True
                elif ch == '}':
                    depth -= 1
            if started and depth <= 0:
                break
            if not started and text.rstrip().endswith(';'):
                break  # a declaration without a body
            j += 1
        n = j - i + 1
        if started and n > MAX_FN and not table:
            over.append(f'{rel}:{i + 1}: fn {m.group(6)} is {n} lines (max {MAX_FN})')
        i += 1
for o in over:
    print(o)
sys.exit(1 if over else 0)
