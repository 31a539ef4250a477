"""The documentation: the mkdocs site builds strictly (so a broken link or anchor, a page left out of nav or a
docstring that does not match its function fails `make test`), every API name it promises is rendered, and the
README stays a landing page whose command table covers every command and whose links lead somewhere."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings")


def mkdocs_build(config: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )


def config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(nav_pages(value) if isinstance(value, list) else [value])
    return pages


def api_members() -> dict[str, list[str]]:
    """module -> the names its `::: module` block on docs/api/*.md lists under `members:`."""
    members = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for block in re.finditer(r"^::: ([\w.]+)\n((?:    .*\n)*)", page.read_text(), re.M):
            listed = re.search(r"members: \[([^\]]*)\]", block.group(2))
            members[block.group(1)] = [name.strip() for name in listed.group(1).split(",")] if listed else []
    return members


def slug(heading: str) -> str:
    from markdown.extensions.toc import slugify

    return slugify(heading, "-")


def anchors(path: pathlib.Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", path.read_text(), re.M)}


def test_the_site_builds_strictly_with_every_api_name_rendered(tmp_path):
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    members = api_members()
    assert {"keras_resnet.models.specs", "keras_resnet.training.fit", "keras_resnet.errors"} <= set(members)
    for module, names in members.items():
        page = next(p for p in (DOCS / "api").glob("*.md") if f"::: {module}\n" in p.read_text())
        html = (tmp_path / "site" / "api" / page.stem / "index.html").read_text()
        assert f'id="{module}"' in html, module
        missing = [name for name in names if f'id="{module}.{name}"' not in html]
        assert not missing, f"{page.relative_to(ROOT)}: {module} has no {missing} (renamed or not yet written?)"


def test_every_page_of_docs_is_in_nav_and_every_nav_entry_exists():
    pages = nav_pages(config()["nav"])
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk
    assert len(pages) == len(set(pages))


def test_the_strict_build_fails_on_a_broken_link_a_broken_anchor_and_a_page_missing_from_nav(tmp_path):
    """The site's own validation settings, on a three-page site with one mistake of each kind."""
    settings = config()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](missing.md) and [a heading that is not](page.md#nowhere)\n")
    (docs / "page.md").write_text("# Page\n\n## Somewhere\n")
    (docs / "orphan.md").write_text("# Orphan\n")
    site = {key: settings[key] for key in ("site_name", "strict", "validation")}
    site.update(
        docs_dir=str(docs),
        theme={"name": "material", "font": False},
        markdown_extensions=["toc"],
        nav=[{"Home": "index.md"}, {"Page": "page.md"}],
    )
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(site))
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "missing.md" in output and "nowhere" in output and "orphan.md" in output, output
    (docs / "index.md").write_text("# Home\n\n[there](page.md#somewhere)\n")
    (docs / "orphan.md").unlink()
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_is_a_landing_page_of_at_most_10_kb():
    assert README.stat().st_size <= 10 * 1024, f"README.md is {README.stat().st_size:,} bytes"


def test_the_readme_command_table_lists_every_command_and_links_its_reference():
    from keras_resnet.cli.main import COMMANDS

    text = README.read_text()
    section = text[text.index("## Commands") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| [`resnet-tflite ")]
    listed = {re.match(r"\| \[`resnet-tflite ([\w-]+)", row).group(1) for row in rows}
    assert set(COMMANDS) <= listed, f"missing from the README's command table: {sorted(set(COMMANDS) - listed)}"
    cli_anchors = anchors(DOCS / "cli.md")
    for row in rows:
        command, target = re.match(r"\| \[`(resnet-tflite [\w -]+)`\]\(docs/cli\.md#([\w-]+)\)", row).groups()
        assert target == slug(command) and target in cli_anchors, row


def test_every_relative_link_of_the_readme_leads_to_a_file_and_heading():
    for target in LINK.findall(README.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path
        assert file.exists(), target
        if anchor:
            assert anchor in anchors(file), target
