"""The project's own French (and some English and German) news fixture for search tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.model import EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Store
from tests.building import store_entries

SOURCES = [
    SourceConfig(slug="paris-luttes", name="Paris-luttes.info", kind="feed", url="https://paris-luttes.info/rss", language="fr"),
    SourceConfig(slug="rebellyon", name="Rebellyon", kind="feed", url="https://rebellyon.info/rss", language="fr"),
    SourceConfig(slug="enough", name="Enough", kind="feed", url="https://enough.example/feed", language="en"),
    SourceConfig(slug="barrikade", name="Barrikade", kind="feed", url="https://barrikade.info/rss", language="de"),
]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Doc:
    key: str
    source: str
    title: str
    text: str
    language: str | None = "fr"
    tags: tuple[str, ...] = ()
    days_ago: float = 1.0


DOCS = [
    Doc("greve", "paris-luttes", "Grève générale à Lyon ce jeudi",
        "Les cheminots appellent à une grève reconductible contre la réforme.", tags=("travail",)),
    Doc("greves", "paris-luttes", "Les grèves se multiplient dans les écoles",
        "Enseignantes et parents d'élèves mobilisés partout.", days_ago=2),
    Doc("greve-sans-accent", "rebellyon", "Greve des eboueurs a Marseille",
        "Texte saisi sans accents : la greve continue malgre les menaces.", days_ago=3),
    Doc("manif", "rebellyon", "Manifestation contre les violences policières",
        "Des milliers de personnes ont manifesté samedi après-midi.", days_ago=4),
    Doc("manifs", "paris-luttes", "Retour sur les manifestations du week-end",
        "Les manifestants ont défilé dans le calme jusqu'à la préfecture.", days_ago=5),
    Doc("etat", "paris-luttes", "L'État condamné pour inaction climatique",
        "Le tribunal administratif a rendu sa décision mardi.", days_ago=6),
    Doc("etats", "rebellyon", "Un rapport sur les états généraux de la presse",
        "La presse indépendante se réunit à Lyon.", days_ago=7),
    Doc("elections", "paris-luttes", "Élections municipales : les listes citoyennes",
        "Le premier tour aura lieu en mars.", days_ago=8),
    Doc("election", "rebellyon", "Election du bureau de l'association",
        "Compte rendu de l'assemblée générale annuelle.", days_ago=9),
    Doc("expulsion", "paris-luttes", "Expulsion du squat de la rue des Lilas",
        "La police a expulsé les habitants au petit matin.", tags=("logement",), days_ago=10),
    Doc("logement", "rebellyon", "Crise du logement à Grenoble",
        "Les loyers explosent et les expulsions aussi.", tags=("logement", "grenoble"), days_ago=11),
    Doc("strike", "enough", "General strike called in London",
        "Workers are striking across the country and the strikes continue.", language="en", days_ago=2),
    Doc("streik", "barrikade", "Demonstration gegen Polizeigewalt in Zürich",
        "Hunderte Demonstrierende zogen durch die Straßen. Die Streiks gehen weiter.", language="de-CH", days_ago=3),
    Doc("greve-1995", "paris-luttes", "Grève historique de décembre",
        "Retour sur un grand mouvement social.", days_ago=320),
    Doc("faim", "rebellyon", "Grève de la faim au centre de rétention",
        "Trois personnes sont en grève de la faim depuis dix jours.", days_ago=12),
    Doc("html", "paris-luttes", "Sécurité des sites militants",
        'Le texte cite <b>des balises</b> & des "guillemets" pendant la grève <script>.', days_ago=13),
    Doc("reforme-titre", "rebellyon", "La réforme des retraites adoptée",
        "Un texte sans le mot en question.", days_ago=1),
    Doc("inconnue", "rebellyon", "Occupation de la fac",
        "Les étudiantes occupent l'amphithéâtre.", language=None, days_ago=14),
    # Typed without accents on a phone, "universite" must find it (issue 10).
    Doc("universite", "paris-luttes", "Assemblée ouverte à l'université de Nanterre",
        "Le conseil de l'université vote la fermeture administrative du campus.", days_ago=15),
]


def entry(doc: Doc) -> EntryData:
    return EntryData(
        guid=doc.key,
        url=f"https://{doc.source}.example/{doc.key}",
        title=doc.title,
        text=doc.text,
        summary=f"<p>{doc.text}</p>",
        language=doc.language,
        tags=doc.tags,
        published=NOW - timedelta(days=doc.days_ago),
        content_hash=content_hash(doc.title, doc.text),
    )


def save(store: Store, docs: list[Doc]) -> dict[str, int]:
    """Store docs the way the crawler does (the write path); returns key -> entry id."""
    by_source: dict[str, list[Doc]] = {}
    for doc in docs:
        by_source.setdefault(doc.source, []).append(doc)
    configs = {s.slug: s for s in SOURCES}
    for source, items in by_source.items():
        store_entries(store, configs[source], [entry(d) for d in items])
    return ids_by_key(store)


def ids_by_key(store: Store) -> dict[str, int]:
    out: dict[str, int] = {}
    for source in SOURCES:
        for e in store.entries.newest(source=source.slug, limit=1000):
            out[e.guid] = e.id
    return out


def load(store: Store) -> dict[str, int]:
    store.sources.sync(SOURCES)
    return save(store, DOCS)
