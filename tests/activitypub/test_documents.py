"""The JSON-LD documents, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.activitypub import activities, documents
from aggregator.activitypub.activities import NoteInput
from aggregator.activitypub.documents import AS_PUBLIC, ActorProfile, Urls

URLS = Urls.from_base("https://agg.example/")
PORTED = Urls.from_base("http://127.0.0.1:8080")
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
STORY = NoteInput(entry_id=12, title="Grève & <manif>", url="https://media.example/a?x=1&y=2", published=WHEN,
                  summary="Résumé court.", hashtags=("social", "gilets jaunes", "Social", "2026", "!!"),
                  language="fr", source_name="Le Média")


def test_urls() -> None:
    assert URLS.base == "https://agg.example"
    assert (URLS.actor, URLS.key_id, URLS.inbox, URLS.shared_inbox) == (
        "https://agg.example/ap/actor", "https://agg.example/ap/actor#main-key",
        "https://agg.example/ap/inbox", "https://agg.example/ap/inbox")
    assert URLS.host == "agg.example" and PORTED.host == "127.0.0.1:8080"
    assert Urls.from_base("https://agg.example/sub/").actor == "https://agg.example/sub/ap/actor"
    assert URLS.note(3) == "https://agg.example/ap/notes/3"
    assert URLS.activity("update", 3, 1700000000) == "https://agg.example/ap/activities/update/3/1700000000"
    assert URLS.outbox_page(2) == "https://agg.example/ap/outbox?page=2"
    assert URLS.tag("écologie") == "https://agg.example/tags/%C3%A9cologie"
    for bad in ("ftp://agg.example", "agg.example", "https://agg.example/?q=1", "https://"):
        with pytest.raises(ValueError):
            Urls.from_base(bad)


def test_actor() -> None:
    profile = ActorProfile(username="relay", name="Le relais", summary="Ligne 1\nligne 2\n\n<b>Deux</b>",
                           icon_url="https://agg.example/static/avatar.png", icon_media_type="image/png",
                           website="https://agg.example/")
    doc = documents.actor(URLS, profile, "PEM")
    assert doc["@context"][:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    assert doc["type"] == "Service" and doc["id"] == URLS.actor and doc["preferredUsername"] == "relay"
    assert doc["name"] == "Le relais"
    assert doc["summary"] == "<p>Ligne 1<br>ligne 2</p><p>&lt;b&gt;Deux&lt;/b&gt;</p>"
    assert (doc["inbox"], doc["outbox"], doc["followers"], doc["following"], doc["featured"]) == (
        URLS.inbox, URLS.outbox, URLS.followers, URLS.following, URLS.featured)
    assert doc["endpoints"] == {"sharedInbox": URLS.inbox}
    assert doc["manuallyApprovesFollowers"] is False and doc["discoverable"] is True and doc["indexable"] is True
    assert doc["publicKey"] == {"id": URLS.key_id, "owner": URLS.actor, "publicKeyPem": "PEM"}
    assert doc["icon"] == {"type": "Image", "url": "https://agg.example/static/avatar.png", "mediaType": "image/png"}
    assert doc["attachment"][0]["type"] == "PropertyValue" and 'href="https://agg.example/"' in doc["attachment"][0]["value"]
    assert doc["url"] == "https://agg.example/"
    assert "icon" not in documents.actor(URLS, ActorProfile(), "PEM")


def test_webfinger() -> None:
    jrd = documents.webfinger(PORTED, "relay", "acct:relay@127.0.0.1:8080")
    assert jrd == {
        "subject": "acct:relay@127.0.0.1:8080",
        "aliases": [PORTED.actor],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": PORTED.actor},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": "http://127.0.0.1:8080/"},
        ],
    }
    assert documents.webfinger(PORTED, "relay", PORTED.actor) == jrd
    assert documents.webfinger(PORTED, "relay", "acct:RELAY@127.0.0.1:8080") == jrd
    for other in ("acct:relay@127.0.0.1", "acct:other@127.0.0.1:8080", "acct:relay@evil.example", "https://evil.example/ap/actor", ""):
        assert documents.webfinger(PORTED, "relay", other) is None


def test_nodeinfo() -> None:
    assert documents.nodeinfo_links(URLS) == {"links": [
        {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": "https://agg.example/nodeinfo/2.1"}]}
    info = documents.nodeinfo(version="0.1.0", local_posts=5, name="Agg")
    assert info["version"] == "2.1" and info["software"] == {"name": "aggregator", "version": "0.1.0"}
    assert info["protocols"] == ["activitypub"] and info["openRegistrations"] is False
    assert info["usage"] == {"users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1}, "localPosts": 5}
    assert info["metadata"] == {"nodeName": "Agg"}


def test_note_and_create() -> None:
    note = activities.note(URLS, STORY)
    assert note["id"] == "https://agg.example/ap/notes/12" and note["type"] == "Note"
    assert note["attributedTo"] == URLS.actor
    assert note["to"] == [AS_PUBLIC] and note["cc"] == [URLS.followers]
    assert note["published"] == "2026-12-01T09:30:00Z" and "updated" not in note
    assert note["url"] == "https://media.example/a?x=1&y=2"
    assert note["content"] == (
        "<p>Grève &amp; &lt;manif&gt; — Le Média</p><p>Résumé court.</p>"
        '<p><a href="https://media.example/a?x=1&amp;y=2" rel="nofollow noopener" target="_blank">'
        "https://media.example/a?x=1&amp;y=2</a></p>"
        '<p><a href="https://agg.example/tags/social" class="mention hashtag" rel="tag">#<span>social</span></a> '
        '<a href="https://agg.example/tags/GiletsJaunes" class="mention hashtag" rel="tag">#<span>GiletsJaunes</span></a></p>'
    )
    assert note["contentMap"] == {"fr": note["content"]}
    assert note["tag"] == [
        {"type": "Hashtag", "href": "https://agg.example/tags/social", "name": "#social"},
        {"type": "Hashtag", "href": "https://agg.example/tags/GiletsJaunes", "name": "#GiletsJaunes"},
    ]
    create = activities.create(URLS, STORY)
    assert create["id"] == "https://agg.example/ap/activities/create/12" and create["type"] == "Create"
    assert create["actor"] == URLS.actor and create["published"] == note["published"]
    assert create["to"] == [AS_PUBLIC] and create["cc"] == [URLS.followers]
    assert create["object"] == {k: v for k, v in note.items() if k != "@context"}
    bare = activities.note(URLS, NoteInput(entry_id=1, title="t", url=None, published=WHEN))
    assert "url" not in bare and "contentMap" not in bare and bare["tag"] == []


def test_update_delete_tombstone_announce() -> None:
    with pytest.raises(ValueError):
        activities.update(URLS, STORY)
    edited = NoteInput(**{**STORY.__dict__, "updated": datetime(2026, 12, 2, tzinfo=UTC)})
    upd = activities.update(URLS, edited)
    assert upd["id"] == f"https://agg.example/ap/activities/update/12/{int(edited.updated.timestamp())}"  # type: ignore[union-attr]
    assert upd["type"] == "Update" and upd["object"]["id"] == URLS.note(12)
    assert upd["object"]["updated"] == "2026-12-02T00:00:00Z" and upd["published"] == "2026-12-02T00:00:00Z"
    delete = activities.delete(URLS, 12, deleted=WHEN)
    assert delete["id"] == "https://agg.example/ap/activities/delete/12" and delete["type"] == "Delete"
    assert delete["object"] == {"id": URLS.note(12), "type": "Tombstone", "formerType": "Note", "deleted": "2026-12-01T09:30:00Z"}
    assert delete["to"] == [AS_PUBLIC] and delete["cc"] == [URLS.followers]
    assert activities.tombstone(URLS, 12)["type"] == "Tombstone"
    boost = activities.announce(URLS, 5, "https://masto.example/users/m/statuses/1", published=WHEN,
                               author="https://masto.example/users/m")
    assert boost["id"] == "https://agg.example/ap/activities/announce/5" and boost["type"] == "Announce"
    assert boost["object"] == "https://masto.example/users/m/statuses/1"
    assert boost["to"] == [AS_PUBLIC] and boost["cc"] == [URLS.followers, "https://masto.example/users/m"]


def test_follows() -> None:
    remote_follow = {"id": "https://remote.example/f/1", "type": "Follow", "actor": {"id": "https://remote.example/u"},
                     "object": URLS.actor}
    accept = activities.accept(URLS, remote_follow)
    assert accept["id"] == URLS.activity("accept", documents.token("https://remote.example/f/1"))
    assert accept["type"] == "Accept" and accept["actor"] == URLS.actor and accept["to"] == ["https://remote.example/u"]
    assert accept["object"] == {"id": "https://remote.example/f/1", "type": "Follow", "actor": "https://remote.example/u", "object": URLS.actor}
    follow = activities.follow(URLS, "https://remote.example/u")
    assert follow == activities.follow(URLS, "https://remote.example/u")  # stable id
    assert follow["id"] != activities.follow(URLS, "https://remote.example/u", nonce="2")["id"]
    assert (follow["type"], follow["actor"], follow["object"]) == ("Follow", URLS.actor, "https://remote.example/u")
    undo = activities.undo_follow(URLS, "https://remote.example/u", follow["id"])
    assert undo["type"] == "Undo" and undo["object"] == {"id": follow["id"], "type": "Follow", "actor": URLS.actor,
                                                         "object": "https://remote.example/u"}
    assert len(documents.token("x")) == 32


def test_collections() -> None:
    assert activities.outbox(URLS, 0) == {"@context": documents.CONTEXT, "id": URLS.outbox, "type": "OrderedCollection",
                                         "totalItems": 0, "orderedItems": []}
    outbox = activities.outbox(URLS, 45)
    assert outbox["totalItems"] == 45 and outbox["first"] == URLS.outbox_page(1)
    creates = [activities.create(URLS, NoteInput(entry_id=i, title=str(i), url=None, published=WHEN)) for i in range(5)]
    page = activities.outbox_page(URLS, 2, creates, total=45)
    assert page["type"] == "OrderedCollectionPage" and page["partOf"] == URLS.outbox and page["totalItems"] == 45
    assert page["next"] == URLS.outbox_page(3) and page["prev"] == URLS.outbox_page(1)
    assert all("@context" not in item for item in page["orderedItems"])
    last = activities.outbox_page(URLS, 3, creates, total=45)
    assert "next" not in last
    followers = activities.followers(URLS, 3)
    assert followers == {"@context": documents.CONTEXT, "id": URLS.followers, "type": "OrderedCollection", "totalItems": 3}
    following = activities.following(URLS, ["https://a.example/u"])
    assert following["totalItems"] == 1 and following["orderedItems"] == ["https://a.example/u"]
    featured = activities.featured(URLS, [activities.note(URLS, STORY)])
    assert featured["id"] == URLS.featured and featured["totalItems"] == 1
    assert featured["orderedItems"][0]["type"] == "Note" and "@context" not in featured["orderedItems"][0]


def test_hashtag_body() -> None:
    assert activities.hashtag_body("gilets jaunes") == "GiletsJaunes"
    assert activities.hashtag_body("éco-logie") == "ÉcoLogie"
    assert activities.hashtag_body("2026") is None and activities.hashtag_body("—") is None
