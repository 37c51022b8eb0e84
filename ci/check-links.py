#!/usr/bin/env python3
"""Checks the links between the project's pages: every relative link or
image in a tracked Markdown file must point at a file that exists, and a
link with an anchor (`page.md#a-heading`, `#a-heading`) at a heading of that
page, as GitHub names it. Links to the web are not followed (CI reaches no
web site).

  ci/check-links.py             # the repository's Markdown files
  ci/check-links.py --self-test # shows that a broken link and a broken
                                # anchor are caught

Exit status 0 when every link holds, 1 otherwise (each broken one printed).
"""

import os
import re
import subprocess
import sys
import tempfile

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def slug(heading):
    """The anchor GitHub gives a heading: markup dropped, lower case,
    punctuation removed, spaces as hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("*", "")
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def prose_lines(path):
    """The lines of a Markdown file outside fenced code blocks."""
    inside = False
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if FENCE.match(line.lstrip()):
                inside = not inside
                continue
            if not inside:
                yield number, line


def anchors(path):
    seen = {}
    found = set()
    for _, line in prose_lines(path):
        if line.startswith("#"):
            base = slug(line.lstrip("#").strip())
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(root, files):
    broken = []
    for page in files:
        path = os.path.join(root, page)
        for number, line in prose_lines(path):
            # Inline code is not a link.
            line = re.sub(r"`[^`]*`", "", line)
            for target in LINK.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # https:, mailto:: not followed
                file_part, _, anchor = target.partition("#")
                linked = (
                    os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                    if file_part
                    else path
                )
                where = f"{page}:{number}: {target}"
                if not os.path.exists(linked):
                    broken.append(f"{where}: no such file")
                elif anchor:
                    if not linked.endswith(".md"):
                        broken.append(f"{where}: an anchor into a file that is not Markdown")
                    elif anchor not in anchors(linked):
                        broken.append(f"{where}: no heading #{anchor} there")
    return broken


def tracked_markdown(root):
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=root, capture_output=True, text=True, check=True
    )
    return [name for name in listed.stdout.split("\n") if name]


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "README.md"), "w") as file:
            file.write(
                "# Top\n\n## The `crate`'s API\n\n"
                "[ok](docs/page.md) [ok](docs/page.md#a-part) [ok](#the-crates-api)\n"
                "![missing](docs/images/none.png) [bad anchor](docs/page.md#no-part)\n"
                "```\n[not a link](nowhere.md)\n```\n"
            )
        with open(os.path.join(root, "docs", "page.md"), "w") as file:
            file.write("# Page\n\n## A part\n\n[back](../README.md#top) [web](https://example.com/x)\n")
        found = broken_links(root, ["README.md", "docs/page.md"])
        expected = [
            "README.md:6: docs/images/none.png: no such file",
            "README.md:6: docs/page.md#no-part: no heading #no-part there",
        ]
        if found != expected:
            print(f"self-test FAILED: expected {expected}, found {found}")
            return 1
    print("self-test: a missing file and a missing heading are caught; the rest pass")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = tracked_markdown(root)
    broken = broken_links(root, files)
    for line in broken:
        print(line)
    if broken:
        print(f"{len(broken)} broken links")
        return 1
    print(f"links between {len(files)} Markdown files: all hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
