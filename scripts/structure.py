#!/usr/bin/env python3
"""Measures the structure rules of issue 12 over the product code in src/
(test modules and files excluded): main.rs length, functions over 120
lines, `Result<_, String>` signatures, `.expect`/`.unwrap()`/`panic!`
calls, and lake commits outside src/ingest/. Prints each finding; with
--check, exits 1 when a limit is passed (scripts/test.sh runs it so)."""
import os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LIMITS = {"main_lines": 250, "fn_lines": 120, "string_results": 15, "panics": 15, "commits_outside_ingest": 0, "module_cycles": 0}


def blank_literals(text):
    """Replaces comments, strings and char literals by spaces (keeping newlines)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:]); hashes = m.group(1)
            end = text.find('"' + hashes, i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:end])); i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j + 1])); i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)


def block_end(text, open_at):
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{": depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0: return j
    return len(text) - 1


def drop_test_modules(text):
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m: return text
        end = block_end(text, m.end() - 1)
        text = text[:m.start()] + re.sub(r"[^\n]", " ", text[m.start():end + 1]) + text[end + 1:]


def product_files():
    for dirpath, _, names in os.walk(ROOT):
        for name in sorted(names):
            if name.endswith(".rs") and name != "tests.rs":
                yield os.path.join(dirpath, name)


def module_of(rel):
    """src/sources/aws/sqs/mod.rs -> ['sources', 'aws', 'sqs']."""
    parts = rel.split(os.sep)[1:]
    parts[-1] = parts[-1][:-3]
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    depth, parts, start = 0, [], brace + 1
    for k in range(brace, len(tree)):
        if tree[k] == "{":
            depth += 1
        elif tree[k] == "}":
            depth -= 1
            if depth == 0:
                parts.append(tree[start:k])
                break
        elif tree[k] == "," and depth == 1:
            parts.append(tree[start:k])
            start = k + 1
    prefix = tree[:brace]
    return [path for part in parts if part for path in expand_use(prefix + part)]


def references(module, code, children):
    """The module paths `code` (in `module`) uses: `crate::`, `super::` and
    `self::` paths, `use` trees with braces, and bare paths into its child
    modules. Re-exports (`pub use`) are not uses."""
    paths = []
    for m in re.finditer(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+([^;]+);", code):
        if not m.group(1):
            paths.extend(expand_use(m.group(3)))
    body = re.sub(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", code)
    paths.extend(m.group(0) for m in re.finditer(r"(?<![:\w])\w+(?:::\w+)+", body))
    found = set()
    for path in paths:
        names = [n for n in path.split("::") if n]
        if not names:
            continue
        head = names[0]
        if head == "crate":
            found.add(tuple(names[1:]))
        elif head == "super":
            base = list(module[:-1])
            names = names[1:]
            while names and names[0] == "super":
                base, names = base[:-1], names[1:]
            found.add(tuple(base + names))
        elif head == "self":
            found.add(tuple(list(module) + names[1:]))
        elif head in children.get(tuple(module), ()):
            found.add(tuple(list(module) + names))
    return found


def node_of(path, modules, parents):
    """The module (or, for an item of a folder module, its `mod.rs`) a path names."""
    for cut in range(len(path), 0, -1):
        prefix = tuple(path[:cut])
        if prefix in modules:
            if prefix in parents:
                rest_is_module = cut < len(path) and tuple(path[:cut + 1]) in modules
                return prefix if rest_is_module else prefix + ("<mod>",)
            return prefix
    return None


def cycles(edges):
    """Pairs of modules that reach each other."""
    def reach(start):
        stack, visited = [start], set()
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in visited:
                    visited.add(nxt)
                    stack.append(nxt)
        return visited
    reachable = {node: reach(node) for node in edges}
    out = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            if a < b and a in reachable.get(b, ()):
                out.append(f"{a} <-> {b}")
    return out


def module_cycles(files):
    """Cycles between sibling modules at every level of the tree (the top
    level: ingest, lake, sources, ...; inside sql: table, prune, ...; a folder
    module's own code in mod.rs counts as a sibling of its children)."""
    modules = {tuple(m) for m, _ in files}
    parents = {m[:-1] for m in modules if m}
    children = {}
    for m in modules:
        if m:
            children.setdefault(m[:-1], set()).add(m[-1])
    edges = {}
    for module, code in files:
        here = tuple(module) + ("<mod>",) if tuple(module) in parents else tuple(module)
        for ref in references(module, code, children):
            there = node_of(ref, modules, parents)
            if there is None:
                continue
            depth = 0
            while depth < min(len(here), len(there)) and here[depth] == there[depth]:
                depth += 1
            if depth < len(here) and depth < len(there):
                parent = "::".join(here[:depth]) or "crate"
                edges.setdefault(parent + "::" + here[depth], set()).add(parent + "::" + there[depth])
    return cycles(edges)


def main():
    findings = {k: [] for k in LIMITS}
    parsed = []
    for path in product_files():
        rel = os.path.relpath(path, os.path.join(ROOT, ".."))
        raw = open(path, encoding="utf-8").read()
        code = drop_test_modules(blank_literals(raw))
        if rel != os.path.join("src", "main.rs") and not rel.startswith(os.path.join("src", "cli")):
            parsed.append((module_of(rel), code))
        line_of = lambda pos: code.count("\n", 0, pos) + 1
        if rel == os.path.join("src", "main.rs"):
            findings["main_lines"] = [raw.count("\n")]
        for m in re.finditer(r"\bfn\s+(\w+)[^;{]*\{", code):
            end = block_end(code, m.end() - 1)
            length = line_of(end) - line_of(m.start()) + 1
            if length > LIMITS["fn_lines"]:
                findings["fn_lines"].append(f"{rel}:{line_of(m.start())}: fn {m.group(1)} is {length} lines")
        for m in re.finditer(r"Result<[^;{]*?,\s*String>", code):
            findings["string_results"].append(f"{rel}:{line_of(m.start())}")
        for m in re.finditer(r"\.expect\(|\.unwrap\(\)|\bpanic!\(|\bunreachable!\(|\btodo!\(", code):
            findings["panics"].append(f"{rel}:{line_of(m.start())}: {m.group(0)}")
        if not rel.startswith(os.path.join("src", "ingest")):
            # The lake's commit takes the operation (and force); Maintenance::commit() does not.
            for m in re.finditer(r"\.commit\(\s*[^)\s]", code):
                findings["commits_outside_ingest"].append(f"{rel}:{line_of(m.start())}")
    findings["module_cycles"] = module_cycles(parsed)
    failed = False
    for key, limit in LIMITS.items():
        items = findings[key]
        if key == "main_lines":
            value = items[0] if items else 0
            over = value > limit
            print(f"{'OVER ' if over else ''}src/main.rs: {value} lines (limit {limit})")
        elif key == "fn_lines":
            over = bool(items)
            print(f"{'OVER ' if over else ''}functions over {limit} lines: {len(items)}")
            for item in items: print(f"  {item}")
        else:
            over = len(items) > limit
            print(f"{'OVER ' if over else ''}{key}: {len(items)} (limit {limit})")
            if over or "-v" in sys.argv:
                for item in items: print(f"  {item}")
        failed |= over
    if failed and "--check" in sys.argv:
        print("error: the code passes a structure limit above; split the function or give the error a type", file=sys.stderr)
        sys.exit(1)


main()
