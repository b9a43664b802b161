#!/usr/bin/env python3
"""Checks README.md, docs/ and the other Markdown pages of the repository against the code.

    docs.py --ftl build/ftl [--root REPO]
    docs.py --ftl build/ftl --self-test     the check on pages with a known fault each

Fails (exit 1), printing FILE:LINE: why for each, when
  - a command `ftl SUBCOMMAND ... --flag` names a flag that the subcommand's --help does not list;
  - a config key (`train.epochs`, `--set data.augment=true`, a key of a JSON config block) is not
    in the option table (the keys `ftl finetune --help` lists), nor a section of it;
  - a relative link or image, or its #anchor, does not resolve;
  - README.md is over 300 lines;
  - a --help text says what is no longer true (STALE_HELP below).
Run by CTest as docs_check. Standard library only.
"""
import argparse
import json
import os
import re
import subprocess
import sys

README_MAX_LINES = 300
# Phrases that no --help text may hold any more, with why.
STALE_HELP = {
    "ResNet-18": "ftl takes any torchvision classifier, not only ResNet-18",
}
# The top-level sections of the config: a dotted word starting with one of these is a key.
SECTIONS = ("model", "data", "train", "optimizer", "output", "dist")
# Dotted words that are file names, not keys (data.json, train.csv, model.onnx, ...).
FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".pt", ".pth", ".onnx", ".txt", ".html", ".svg",
                 ".png", ".jpg", ".md", ".py", ".sh", ".h", ".cpp")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
# A dotted word on a section, not a call (`model.state_dict()` is Python).
KEY = re.compile(r"(?<![\w./-])((?:%s)(?:\.[a-z0-9_]+)+)(?![\w(])" % "|".join(SECTIONS))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`([^`]+)`")


def run_help(ftl, words):
    result = subprocess.run([ftl] + words + ["--help"], capture_output=True, text=True)
    return result.stdout + result.stderr


def subcommands_in(help_text):
    """The subcommand names a CLI11 help lists under SUBCOMMANDS."""
    names, listing = [], False
    for line in help_text.splitlines():
        if line.strip() in ("SUBCOMMANDS:", "Subcommands:"):
            listing = True
        elif listing and re.match(r"^  [a-z][a-z-]*\s", line):
            names.append(line.split()[0])
        elif listing and line and not line.startswith(" "):
            listing = False
    return names


class Cli:
    """What the ftl binary takes: each command path's flags, the global flags, the keys."""

    def __init__(self, ftl):
        self.ftl = ftl
        self.helps = {(): run_help(ftl, [])}
        self.flags = {}
        pending = [()]
        while pending:
            path = pending.pop()
            text = self.helps[path]
            self.flags[path] = set(FLAG.findall(text))
            for name in subcommands_in(text):
                child = path + (name,)
                self.helps[child] = run_help(ftl, list(child))
                pending.append(child)
        # Global flags that take a value (--log-file FILE): the word after them is not a command.
        self.valued = set(re.findall(r"^\s+(?:-\w,)?(--[a-z-]+) [A-Z]+", self.helps[()], re.M))
        self.keys = set(re.findall(r"^  ((?:%s)\.[a-z0-9_.]+) " % "|".join(SECTIONS),
                                   self.helps[("finetune",)], re.M))
        if not self.keys:
            sys.exit(f"docs check: no config keys in `{ftl} finetune --help`")

    def command_path(self, words):
        """The longest known command path that `words` starts with."""
        path = ()
        for word in words:
            if path + (word,) in self.helps:
                path += (word,)
            else:
                break
        return path

    def key_known(self, key):
        return key in self.keys or any(k.startswith(key + ".") for k in self.keys)


def markdown_files(root):
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in
                   ("node_modules", "build", "runs") and not d.startswith("build")]
        files += [os.path.join(folder, n) for n in names if n.endswith(".md")]
    return sorted(files)


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"`|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, seen, fenced = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("```"):
                    fenced = not fenced
                if fenced:
                    continue
                match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if match:
                    base = slug(match.group(1))
                    count = seen.get(base, 0)
                    seen[base] = count + 1
                    found.add(base if count == 0 else f"{base}-{count}")
                for name in re.findall(r'<a (?:name|id)="([^"]+)"', line):
                    found.add(name)
        cache[path] = found
    return cache[path]


FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
# Fenced blocks whose words are another language's, not ftl commands or config keys.
OTHER_LANGUAGES = ("python", "py", "js", "javascript", "cpp", "c++", "lua", "ini", "toml")


def blocks(lines):
    """The file as (kind, language, first line number, lines): kind "text" or "fenced"."""
    parts, kind, language, start, current = [], "text", "", 1, []
    fence = None
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if fence is None and match:
            parts.append(("text", "", start, current))
            fence, language, start, current = match.group(1), match.group(2).lower(), number + 1, []
        elif fence is not None and line.strip().startswith(fence):
            parts.append(("fenced", language, start, current))
            fence, start, current = None, number + 1, []
        else:
            current.append(line)
    parts.append(("fenced" if fence else "text", language if fence else "", start, current))
    return parts


def logical_lines(lines, first=1):
    """(line number, text) with shell continuations (a trailing backslash) joined."""
    joined, start, parts = [], None, []
    for number, line in enumerate(lines, first):
        if start is None:
            start = number
        stripped = line.rstrip("\n")
        if stripped.endswith("\\"):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        joined.append((start, " ".join(parts)))
        start, parts = None, []
    if parts:
        joined.append((start, " ".join(parts)))
    return joined


def commands_in(text):
    """Each `ftl ...` command in a line: the words after `ftl`, up to a pipe, ; or &&."""
    for match in re.finditer(r"(?:^|[\s`(/$])ftl((?:\s+[^\s|;&`]+)+)", text):
        yield match.group(1).split()


def check_commands(cli, where, text, problems):
    for words in commands_in(text):
        # Global flags may stand before the subcommand (ftl -q evaluate ...).
        position = 0
        while position < len(words) and words[position].startswith("-"):
            position += 2 if words[position] in cli.valued else 1
        path = cli.command_path(words[position:])
        if not path:
            continue
        allowed = cli.flags[path] | cli.flags[()]
        for word in words[position + len(path):]:
            flag = word.split("=", 1)[0]
            if FLAG.fullmatch(flag) and flag not in allowed:
                problems.append(f"{where}: `ftl {' '.join(path)}` takes no {flag}")


def check_keys(cli, where, text, problems):
    for key in KEY.findall(text):
        key = key.rstrip(".")
        if key.endswith(FILE_SUFFIXES):
            continue
        if not cli.key_known(key):
            problems.append(f"{where}: {key} is not a config key (ftl finetune --help lists them)")


def flattened(value, prefix=""):
    if isinstance(value, dict):
        for name, item in value.items():
            yield from flattened(item, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix


def check_json_block(cli, where, block, problems):
    try:
        config = json.loads(block)
    except ValueError:
        return
    if not isinstance(config, dict) or not set(config) & set(SECTIONS):
        return
    for key in flattened(config):
        # train.class_weights holds class names of its own.
        if not cli.key_known(key) and not any(key.startswith(k + ".") for k in cli.keys):
            problems.append(f"{where}: {key} (a JSON config block) is not a config key")


def check_links(root, path, number, line, problems):
    for target in LINK.findall(line):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        base = root if file_part.startswith("/") else os.path.dirname(path)
        resolved = os.path.normpath(os.path.join(base, file_part.lstrip("/"))) \
            if file_part else path
        where = f"{os.path.relpath(path, root)}:{number}"
        if not os.path.exists(resolved):
            problems.append(f"{where}: link to {target}: no such file")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            problems.append(f"{where}: link to {target}: no heading makes #{anchor}")


def check_file(cli, root, path, problems):
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    relative = os.path.relpath(path, root)
    if relative == "README.md" and len(lines) > README_MAX_LINES:
        problems.append(f"README.md:{len(lines)}: README.md has {len(lines)} lines, over "
                        f"{README_MAX_LINES}: its reference belongs in docs/")
    for kind, language, first, block in blocks(lines):
        if kind == "fenced":
            if language in OTHER_LANGUAGES:
                continue
            check_json_block(cli, f"{relative}:{first}", "".join(block), problems)
            for number, text in logical_lines(block, first):
                check_commands(cli, f"{relative}:{number}", text, problems)
                check_keys(cli, f"{relative}:{number}", text, problems)
            continue
        for number, text in enumerate(block, first):
            check_links(root, path, number, text, problems)
            for span in CODE_SPAN.findall(text):
                check_commands(cli, f"{relative}:{number}", span, problems)
                check_keys(cli, f"{relative}:{number}", span, problems)


def check_help(cli, problems):
    for path, text in sorted(cli.helps.items()):
        for phrase, why in STALE_HELP.items():
            if phrase in text:
                command = " ".join(("ftl",) + path + ("--help",))
                problems.append(f"{command}: says \"{phrase}\": {why}")


# Pages with one fault each, and the line the check must print for it (--self-test).
SELF_TEST_PAGES = {
    # 301 lines: one over README's limit.
    "README.md": "# T\n\nSee [the guide](docs/guide.md#usage) and [x](docs/gone.md).\n" + "\n" * 298,
    "docs/guide.md": "# Guide\n\n## Usage\n\n```sh\nftl evaluate --checkpoint a.pt \\\n"
                     "  --no-such-flag\nftl finetune --set train.epoch=3 --set data.augment=true\n"
                     "```\n\nRead `data.json` and `train.nothing`; [up](#missing).\n"
                     "```json\n{\"train\": {\"epochs\": 3, \"bogus\": 1}}\n```\n"
                     "```python\nmodel.fc = torch.nn.Linear(512, 3)  # Python, not a key\n```\n"
                     "`ftl --log-file run.log evaluate --checkpoint a.pt --bogus` and\n"
                     "```json\n{\"optimiser\": {\"lr\": 0.1}, \"train\": {\"epochs\": 2}}\n```\n"
                     "[titled](#guide \"the top\")\n",
}
SELF_TEST_EXPECTED = [
    "README.md:301: README.md has 301 lines, over 300: its reference belongs in docs/",
    "ftl finetune --help: says \"ResNet-18\": ftl takes any torchvision classifier, not only "
    "ResNet-18",
    "README.md:3: link to docs/gone.md: no such file",
    "docs/guide.md:6: `ftl evaluate` takes no --no-such-flag",
    "docs/guide.md:8: train.epoch is not a config key (ftl finetune --help lists them)",
    "docs/guide.md:11: link to #missing: no heading makes #missing",
    "docs/guide.md:11: train.nothing is not a config key (ftl finetune --help lists them)",
    "docs/guide.md:13: train.bogus (a JSON config block) is not a config key",
    "docs/guide.md:18: `ftl evaluate` takes no --bogus",
    "docs/guide.md:20: optimiser.lr (a JSON config block) is not a config key",
]


def self_test(cli):
    """The check finds each planted fault, naming its file and line, and nothing else."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        for name, text in SELF_TEST_PAGES.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        problems = []
        for path in markdown_files(root):
            check_file(cli, root, path, problems)
    # A help text as finetune's read before it named any family.
    cli.helps = {("finetune",): "Fine-tune a ResNet-18 TorchScript file on a labelled dataset"}
    check_help(cli, problems)
    if sorted(problems) != sorted(SELF_TEST_EXPECTED):
        print("docs check self-test: expected\n  " + "\n  ".join(SELF_TEST_EXPECTED) +
              "\ngot\n  " + "\n  ".join(problems))
        return 1
    print(f"docs check self-test: all {len(SELF_TEST_EXPECTED)} planted faults found")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ftl", required=True, help="the ftl executable")
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--self-test", action="store_true", help="check the check")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    cli = Cli(args.ftl)
    if args.self_test:
        return self_test(cli)
    problems = []
    files = markdown_files(root)
    for path in files:
        check_file(cli, root, path, problems)
    check_help(cli, problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs check: {len(problems)} problem(s)")
        return 1
    print(f"docs check: {len(files)} pages, {len(cli.helps)} help texts and "
          f"{len(cli.keys)} config keys agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
