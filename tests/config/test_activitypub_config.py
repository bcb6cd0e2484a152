"""The ``activitypub:`` section and ``activitypub`` sources in ``sources.yaml``."""

from __future__ import annotations

import pytest

from aggregator.config import parse_config
from aggregator.errors import ConfigError
from aggregator.model import ActivityPubConfig


def test_the_section_and_the_sources() -> None:
    config = parse_config("""activitypub:
  username: medias_libres
  name: Médias libres
  summary: "Les nouvelles des médias indépendants."
  avatar: https://medias.example/logo.png
  blocked_domains: [Spam.Example, "*.bad.example"]
sources:
  - name: Alice
    kind: activitypub
    actor: https://social.example/users/alice
  - name: Bob
    kind: activitypub
    account: "bob@social.example"
    url: https://fedi.social.example/
""")
    assert config.activitypub == ActivityPubConfig(
        username="medias_libres", name="Médias libres", summary="Les nouvelles des médias indépendants.",
        avatar="https://medias.example/logo.png", blocked_domains=("spam.example", "bad.example"))
    alice, bob = config.sources
    assert (alice.kind, alice.actor, alice.account) == ("activitypub", "https://social.example/users/alice", None)
    assert (bob.account, bob.url) == ("@bob@social.example", "https://fedi.social.example/")
    assert parse_config("activitypub:\nsources: []\n").activitypub == ActivityPubConfig()
    assert parse_config("sources: []\n").activitypub is None


@pytest.mark.parametrize(("text", "line", "field"), [
    ("activitypub:\n  username: a-b\nsources: []\n", 2, "activitypub.username"),
    ("activitypub:\n  colour: red\nsources: []\n", 2, "activitypub.colour"),
    ("activitypub:\n  avatar: logo.png\nsources: []\n", 2, "activitypub.avatar"),
    ("activitypub:\n  blocked_domains: [https://x.example/]\nsources: []\n", 2, "activitypub.blocked_domains"),
    ("sources:\n  - name: A\n    kind: activitypub\n", 2, "sources[0].actor"),
    ("sources:\n  - name: A\n    kind: activitypub\n    actor: https://a.example/u\n    account: '@u@a.example'\n", 2, "sources[0].actor"),
    ("sources:\n  - name: A\n    kind: activitypub\n    account: nobody\n", 4, "sources[0].account"),
    ("sources:\n  - name: A\n    url: https://a.example/feed\n    actor: https://a.example/u\n", 4, "sources[0].actor"),
])
def test_errors_name_the_line_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert (error.value.line, error.value.field) == (line, field), str(error.value)
