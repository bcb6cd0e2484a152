"""The README is a quick start that leads to every reference page, and no link between the
pages is broken (a moved section takes its anchor with it)."""

from __future__ import annotations

from tests.documentation import DOCS, README, anchors, page, pages, relative_links


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for path in pages():
        text = path.read_text(encoding="utf-8")
        for target in relative_links(text):
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_readme_leads_to_every_reference_page() -> None:
    readme = page("README.md")
    for doc in sorted(DOCS.glob("*.md")):
        assert f"](docs/{doc.name})" in readme, f"README does not link docs/{doc.name}"


def test_readme_is_a_quick_start() -> None:
    readme = page("README.md")
    assert "make run" in readme and "make test" in readme
    what_next = readme.split("## What next", 1)[1].split("\n## ", 1)[0]
    for step in ("Stop", "logs", "Add a source", "Relay", "Back up", "Deploy"):
        assert step in what_next, step
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_anchor_rules() -> None:
    assert anchors("# A\n## `sources.yaml`\n### Editing `sources.yaml` while it runs\n## Daily newsletter by e-mail\n## A\n") == {
        "a", "sourcesyaml", "editing-sourcesyaml-while-it-runs", "daily-newsletter-by-e-mail", "a-1"}
    assert anchors("```\n# not a heading\n```\n## The newsletter's pages\n") == {"the-newsletters-pages"}
