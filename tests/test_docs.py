"""README.md and docs/*.md against the repository: what they name exists, what they tell you to run runs.

Checked: README.md's length; every relative link (and its #anchor); every repository path and dotted Python name
in backticks; every ``python -m PACKAGE [SUBCOMMAND] --option`` and ``python run_pointnet.py --option`` (against the
command's own ``--help``, one process per command); every ``make TARGET``; the layout table against ``git ls-files``
(every top-level folder and file); the README's list of modules without a test module of their own.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 150
HELP_TIMEOUT_S = 60
#: ``python -m X`` of modules that are not the repository's: every other X must be one of its packages.
EXTERNAL_MODULES = {"pytest", "pip", "venv", "ruff", "pre_commit"}

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
COMMAND = re.compile(r"python -m ([A-Za-z_][\w.]*)((?:[ \t]+[^\s`#]+)*)")
RUNNER = re.compile(r"run_pointnet\.py((?:[ \t]+[^\s`#]+)*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
DOTTED = re.compile(r"(?<![\w./-])([a-z_]+(?:\.[A-Za-z_]\w*)+)(?![\w/])")
MAKE = re.compile(r"\bmake ([a-z][\w-]*)")


def rel(page: Path) -> str:
    return str(page.relative_to(REPO))


@functools.cache
def tracked() -> tuple[str, ...]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return tuple(out.split())


@functools.cache
def top_level() -> tuple[set[str], set[str]]:
    """(folders, files) at the top of the tracked tree."""
    folders = {p.split("/", 1)[0] for p in tracked() if "/" in p}
    files = {p for p in tracked() if "/" not in p}
    return folders, files


def packages() -> set[str]:
    return {d for d in top_level()[0] if (REPO / d / "__init__.py").exists()}


def code_text(page: Path) -> tuple[str, list[str]]:
    """(the page's prose with fenced blocks removed, the command lines of its fenced blocks)."""
    text = page.read_text()
    blocks = []
    for block in FENCE.findall(text):
        lines = block.splitlines()[1:-1]
        joined: list[str] = []
        for line in lines:
            line = re.sub(r"\s#\s.*$", "", line).rstrip().rstrip("\\")
            if joined and line[:1].isspace() and line.strip()[:1] in "[-(":
                joined[-1] += " " + line.strip()
            else:
                joined.append(line)
        blocks.extend(joined)
    # indented code (four spaces) in prose counts as a command line too
    prose = FENCE.sub("", text)
    blocks.extend(line.strip().rstrip("\\") for line in prose.splitlines() if line.startswith("    python"))
    return prose, blocks


def spans(page: Path) -> list[str]:
    prose, _ = code_text(page)
    return [s.replace("\n", " ") for s in INLINE.findall(prose)]


def commands(page: Path) -> list[str]:
    """Every command string of a page: its inline code spans and the lines of its code blocks."""
    return spans(page) + code_text(page)[1]


# ------------------------------------------------------------------------------------------------------ the README
def test_readme_is_at_most_150_lines():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}: the rest belongs in docs/)"


def layout_names() -> set[str]:
    text = README.read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in section.splitlines():
        if row.startswith("|") and not row.startswith("|---"):
            first = row.split("|")[1]
            names |= {n.rstrip("/") for n in INLINE.findall(first)}
    return names


def test_layout_table_lists_every_tracked_top_level_folder_and_file():
    folders, files = top_level()
    missing = sorted((folders | files) - layout_names())
    assert not missing, f"README.md's layout table lacks the tracked top-level folders and files {missing}"


def test_layout_table_names_only_what_is_there():
    folders, files = top_level()
    extra = sorted(layout_names() - folders - files)
    assert not extra, f"README.md's layout table names {extra}, which git does not track at the top level"


def own_test_module(module: str) -> bool:
    """Whether tests/ has a test module of the module's own: test_<package>_<name>.py or test_<package>.py for any
    package the module is in, or test_<name>.py when it names the module (tests/test_build_network_params.py is
    build_network.params', not common.params')."""
    parts = Path(module).with_suffix("").parts
    tests = REPO / "tests"
    *packages, name = parts
    if any((tests / f"test_{p}_{name}.py").exists() or (tests / f"test_{p}.py").exists() for p in packages):
        return True
    same_name = tests / f"test_{name}.py"
    if not packages:
        return same_name.exists()
    dotted = r"[./]".join(parts)
    mention = rf"\b{dotted}\b|from {'.'.join(packages)} import[^\n]*\b{name}\b"
    return same_name.exists() and re.search(mention, same_name.read_text()) is not None


def listed_without_tests() -> set[str]:
    section = README.read_text().split("## Tests", 1)[1].split("\n## ", 1)[0]
    bullet = section.split("have no test module of their own", 1)[1].split("\n- ", 1)[0].split("\n\n", 1)[0]
    return {s for s in INLINE.findall(bullet) if s.endswith(".py") and not s.startswith("tests/")}


def test_readme_lists_exactly_the_modules_without_a_test_module():
    modules = {p for p in tracked() if p.endswith(".py") and not p.startswith("tests/")
               and Path(p).name not in ("__init__.py", "__main__.py")}
    actual = {m for m in modules if not own_test_module(m)}
    listed = listed_without_tests()
    assert listed == actual, (f"README.md's Tests section: listed without a test module but has one or does not "
                              f"exist: {sorted(listed - actual)}; without a test module and not listed: "
                              f"{sorted(actual - listed)}")


# ------------------------------------------------------------------------------------------- links and anchors
def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = code_text(page)
    return {slug(m) for m in re.findall(r"^#+\s+(.*)$", prose, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_and_anchor_exists(page):
    prose, _ = code_text(page)
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(REPO)})")
    assert not broken, f"{rel(page)}: broken links: {broken}"


# ------------------------------------------------------------------------------------ paths and names in backticks
def path_candidates(page: Path) -> set[str]:
    """Tokens of inline code that name a path of the repository: a tracked top-level file or a relative a/b path, no
    placeholders or wildcards."""
    _, files = top_level()
    found = set()
    for span in spans(page):
        for token in span.split():
            token = token.strip("()[],;:'\"").split("::", 1)[0]
            if not token or re.search(r"[*<>{}|$=]", token) or token.startswith(("../", "/", "-", "~")):
                continue
            head = token.split("/", 1)[0]
            # a path: a tracked top-level file, or a/b whose first part is a lower-case name (DIR/, OUTPUT_DIR/ are
            # placeholders; a lone folder name like figures/ is a name, not a path); a first part git does not
            # track must be a generated place (output/, network/, ...)
            if token in files or (token.rstrip("/").count("/") >= 1 and re.fullmatch(r"\.?[a-z][\w.-]*", head)):
                found.add(token)
    return found


def ignored(paths: list[str]) -> set[str]:
    if not paths:
        return set()
    out = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(paths),
                         capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_repository_path_in_backticks_exists(page):
    candidates = sorted(path_candidates(page))
    missing = [p for p in candidates if not (REPO / p).exists()]
    # a generated file (git-ignored, e.g. inputs/lgn_spikes.h5 before the first run) is named, not committed
    missing = sorted(set(missing) - ignored(missing))
    assert not missing, f"{rel(page)} names paths that are neither in the repository nor generated: {missing}"


def defines(source: Path, name: str) -> bool:
    text = source.read_text()
    return bool(re.search(rf"^(?:def|class) {re.escape(name)}\b|^{re.escape(name)}\s*[:=]", text, re.M))


def resolve_dotted(name: str) -> str | None:
    """None when ``pkg.module[.attribute]`` names a module (and a top-level definition in it), else the reason."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:i])
        module = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if module.exists():
            rest = parts[i:]
            if not rest:
                return None
            if len(rest) == 1 and defines(module, rest[0]):
                return None
            if len(rest) == 2 and defines(module, rest[0]):
                return None  # Class.attribute: the class is enough
            return f"{'.'.join(rest)} is not defined at the top of {module.relative_to(REPO)}"
    return "no such module"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_dotted_python_name_in_backticks_exists(page):
    pkgs = packages()
    bad = []
    for span in spans(page):
        for name in DOTTED.findall(span):
            if name.split(".", 1)[0] in pkgs and not re.search(r"\.(py|json|csv|md|h5|gz|yml|j2|txt|png)$", name):
                reason = resolve_dotted(name)
                if reason:
                    bad.append(f"{name}: {reason}")
    assert not bad, f"{rel(page)}: {bad}"


# ------------------------------------------------------------------------------------------------ the commands
# One process per command prints the --help of the command and of each of its documented subcommands (argparse
# exits after printing it, before any work): a command's imports (NEST's among them) are paid once.
HELP_SCRIPT = """
import contextlib, io, json, runpy, sys
target, subs = sys.argv[1], sys.argv[2:]
out = {}
for sub in ["", *subs]:
    sys.argv = [target, *([sub] if sub else []), "--help"]
    buf, code = io.StringIO(), None
    with contextlib.redirect_stdout(buf):
        try:
            if target.endswith(".py"):
                runpy.run_path(target, run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = exit.code
    out[sub] = [code, buf.getvalue()]
print("\\0" + json.dumps(out))
"""


def help_texts(command: tuple[str, ...], subs: tuple[str, ...]) -> dict[str, str]:
    """``--help`` of a command of the repository ("" key) and of its subcommands; a failure is a text starting
    ``EXIT`` or ``TIMEOUT`` (NEST's import banner is part of a text; it names no option)."""
    target = command[-1]
    try:
        done = subprocess.run([sys.executable, "-c", HELP_SCRIPT, target, *subs], cwd=REPO, capture_output=True,
                              text=True, timeout=HELP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"": f"TIMEOUT after {HELP_TIMEOUT_S} s"}
    if done.returncode != 0 or "\0" not in done.stdout:
        return {"": f"EXIT {done.returncode}: {done.stderr[-500:]}"}
    texts = json.loads(done.stdout.rsplit("\0", 1)[1])
    return {sub: (text if code in (0, None) else f"EXIT {code}") for sub, (code, text) in texts.items()}


def choices(help_out: str) -> set[str] | None:
    """The subcommands (the choices of the first positional argument), or None for a command without them."""
    m = re.search(r"positional arguments:\s*\n\s+\{([\w,-]+)\}", help_out)
    return set(m.group(1).split(",")) if m else None


def documented_commands() -> list[tuple[str, tuple[str, ...], str | None, list[str]]]:
    """(page, command, subcommand, options) of every ``python -m PACKAGE ...`` and ``run_pointnet.py ...``."""
    found = []
    for page in PAGES:
        for text in commands(page):
            for m in COMMAND.finditer(text):
                package, rest = m.group(1), m.group(2).split()
                if package in EXTERNAL_MODULES:
                    continue
                sub = rest[0] if rest and re.fullmatch(r"[a-z][\w-]*", rest[0]) else None
                found.append((rel(page), ("-m", package), sub, OPTION.findall(m.group(2))))
            for m in RUNNER.finditer(text):
                found.append((rel(page), ("run_pointnet.py",), None, OPTION.findall(m.group(1))))
    return found


def test_every_documented_command_and_option_exists():
    found = documented_commands()
    assert any(c == ("-m", "analysis") for _, c, _, _ in found), "the command parser found no python -m analysis"
    wanted: dict[tuple[str, ...], set[str]] = {}
    for _, command, sub, _ in found:
        wanted.setdefault(command, set()).update([sub] if sub else [])
    with ThreadPoolExecutor(4) as pool:
        helps = dict(zip(wanted, pool.map(lambda c: help_texts(c, tuple(sorted(wanted[c]))), wanted), strict=True))
    bad = []
    for page, command, sub, options in found:
        name = " ".join(command)
        out = helps[command][""]
        if out.startswith(("EXIT", "TIMEOUT")):
            bad.append(f"{page}: python {name} --help: {out}")
            continue
        valid = choices(out)
        if valid is not None:
            if sub is None:
                if not options or options == ["--help"]:
                    continue
                bad.append(f"{page}: python {name} {' '.join(options)}: a subcommand is needed ({sorted(valid)})")
                continue
            if sub not in valid:
                bad.append(f"{page}: python {name} {sub}: no such subcommand ({sorted(valid)})")
                continue
            out = helps[command][sub]
        for option in options:
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out):
                bad.append(f"{page}: python {name} {sub or ''}: no option {option}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_every_documented_make_target_exists():
    targets = set(re.findall(r"^([a-z][\w-]*)\s*:", (REPO / "Makefile").read_text(), re.M))
    bad = sorted({f"{rel(p)}: make {t}" for p in PAGES for text in commands(p) for t in MAKE.findall(text)
                  if t not in targets})
    assert not bad, f"no such Makefile target: {bad}"
