"""One credential URL for people and machines: a browser gets a page saying what was earned,
by whom, when, from which issuer, whether it checks out, with downloads and "add to LinkedIn";
verifiers keep getting the JSON-LD. A revoked award says so on its page; verifiers get 410."""

import re
import struct
import zlib
from datetime import UTC, datetime
from html import unescape
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.badges.baking import OB_NAMESPACE, bake_png, png_credential
from backend.badges.credential_page import wants_html
from backend.settings import Settings
from tests.badges.test_credentials import earn_aligned_badge
from tests.factories import World, signed_in_client

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_only_a_preference_for_html_gets_the_page() -> None:
    assert wants_html(BROWSER)
    assert wants_html("text/html")
    for machine in (
        None,
        "",
        "*/*",
        "application/ld+json",
        "application/json",
        "application/ld+json, text/html;q=0.5",
        "text/html, application/json",  # a tie goes to the data
        "text/html;q=0",
    ):
        assert not wants_html(machine), machine


def _linkedin(html: str) -> dict[str, str]:
    match = re.search(r'class="[^"]*credential-linkedin[^"]*" href="([^"]+)"', html)
    assert match, "the page has an add-to-LinkedIn button"
    url = urlsplit(unescape(match.group(1)))
    assert (url.scheme, url.netloc, url.path) == ("https", "www.linkedin.com", "/profile/add")
    return {k: v[0] for k, v in parse_qs(url.query).items()}


async def test_a_browser_reads_the_badge_and_a_verifier_gets_json_ld_from_one_url(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    url = f"/badges/credentials/{public_id}"

    page = await client.get(url, headers={"Accept": BROWSER, "Accept-Language": "nl"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "accept" in page.headers["vary"].lower()
    html = page.text
    assert '<html lang="nl">' in html
    for words in ("Feedbackkampioen", "Brons", "Sam Acme", "Acme", "Rond 1 training af"):
        assert words in html, words
    assert "Geverifieerd" in html and "Ingetrokken" not in html
    # shared by the learner, not listed by search engines (it names a person)
    assert '<meta name="robots" content="noindex">' in html
    # a link preview (LinkedIn, chat apps) names the badge, the earner and the issuer
    assert '<meta property="og:title" content="Feedbackkampioen (brons) · Sam Acme">' in html
    assert '<meta property="og:description" content="Uitgegeven door Acme · Rond 1' in html
    assert f'href="/badges/credentials/{public_id}.json"' in html
    assert f'href="/badges/credentials/{public_id}.jwt"' in html
    now = datetime.now(UTC).astimezone(ZoneInfo("Europe/Amsterdam"))
    assert _linkedin(html) == {
        "startTask": "CERTIFICATION_NAME",
        "name": "Feedbackkampioen (brons)",
        "organizationName": "Acme",
        "issueYear": str(now.year),
        "issueMonth": str(now.month),
        "certUrl": f"{settings.base_url}/badges/credentials/{public_id}",
        "certId": public_id,
    }

    english = await client.get(url, headers={"Accept": BROWSER, "Accept-Language": "en-GB"})
    for words in ("Feedback champion", "Bronze", "Verified", "Complete 1 course", "Sam Acme"):
        assert words in english.text, words
    assert _linkedin(english.text)["name"] == "Feedback champion (bronze)"

    # machines: the JSON-LD, as before the page existed, at the same address
    for accept in ("application/ld+json", "application/json", "*/*"):
        data = await client.get(url, headers={"Accept": accept})
        assert data.status_code == 200
        assert data.headers["content-type"].startswith("application/ld+json"), accept
        assert data.json()["id"] == f"{settings.base_url}{url}"
    download = await client.get(f"{url}.json", headers={"Accept": BROWSER})
    assert download.headers["content-type"].startswith("application/ld+json")

    emblem = await client.get(f"{url}/emblem")
    assert emblem.status_code == 200 and emblem.headers["content-type"].startswith("image/")

    # the downloadable image carries the signed credential (Open Badges baking)
    baked = await client.get(f"{url}/image")
    assert baked.status_code == 200 and baked.headers["content-type"].startswith("image/svg+xml")
    assert "attachment" in baked.headers["content-disposition"]
    token = (await client.get(f"{url}.jwt")).text
    assert f'xmlns:openbadges="{OB_NAMESPACE}"' in baked.text
    assert f'<openbadges:credential verify="{token}">' in baked.text
    root = ElementTree.fromstring(baked.content)  # still a well-formed SVG
    assert root.find(f"{{{OB_NAMESPACE}}}credential") is not None

    missing = await client.get("/badges/credentials/no-such-thing", headers={"Accept": BROWSER})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


async def test_a_revoked_badge_says_so_and_why_and_verifiers_get_gone(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    revoke = f"/api/v1/badges/awards/{public_id}/revoke"
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        assert (await employee.post(revoke, json={"reason": "mine"})).status_code == 403
    async with signed_in_client(app, world.email("b", "ld_admin")) as other_org:
        assert (await other_org.post(revoke, json={"reason": "x"})).status_code == 404
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        empty = await admin.post(revoke, json={"reason": "  "})
        assert empty.status_code == 400 and "reason" in empty.json()["detail"]
        done = await admin.post(revoke, json={"reason": "Awarded by mistake"})
        assert done.status_code == 200, done.text
        assert done.json()["revocation_reason"] == "Awarded by mistake"
        assert (await admin.post(revoke, json={"reason": "again"})).status_code == 409

    url = f"/badges/credentials/{public_id}"
    page = await client.get(url, headers={"Accept": BROWSER, "Accept-Language": "nl"})
    assert page.status_code == 200
    assert "Ingetrokken" in page.text and "Awarded by mistake" in page.text
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    assert [t["revoked"] for t in wall["feedback-pro"]["earned"]] == [True]
    assert "Geverifieerd" not in page.text and "credential-linkedin" not in page.text
    for data_url in (url, f"{url}.jwt", f"{url}/image"):
        gone = await client.get(data_url, headers={"Accept": "application/ld+json"})
        assert gone.status_code == 410
        assert gone.json()["revoked"] is True
        assert gone.json()["revocationReason"] == "Awarded by mistake"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_png_emblem_carries_the_token_in_an_itxt_chunk_after_its_header() -> None:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00\x00\x00\x00")
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )
    assert png_credential(png) is None
    baked = bake_png(png, "aaa.bbb.ccc")
    assert png_credential(baked) == "aaa.bbb.ccc"
    assert baked[33 + 4 : 33 + 8] == b"iTXt"  # right after the 25-byte IHDR chunk
    assert baked.endswith(_png_chunk(b"IEND", b""))


def _form_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_ld_revokes_from_the_credential_page_and_others_see_no_form(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    url = f"/badges/credentials/{public_id}"
    headers = {"Accept": BROWSER}
    assert "revoke-reason" not in (await client.get(url, headers=headers)).text
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        assert "revoke-reason" not in (await employee.get(url, headers=headers)).text
    async with signed_in_client(app, world.email("b", "ld_admin")) as other_org:
        assert "revoke-reason" not in (await other_org.get(url, headers=headers)).text
        csrf = {"x-csrf-token": other_org.cookies.get("learnloop_csrf") or ""}
        refused = await other_org.post(f"{url}/revoke", data={"reason": "x"}, headers=csrf)
        assert refused.status_code == 404
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        page = await admin.get(url, headers=headers)
        assert "Ingetrokken" not in page.text
        assert "revoke-reason" in page.text
        token = _form_token(page.text)
        empty = await admin.post(
            f"{url}/revoke", data={"reason": " ", "_csrf_token": token}, headers=headers
        )
        assert empty.status_code == 400 and "Zeg waarom je deze badge intrekt" in empty.text
        done = await admin.post(
            f"{url}/revoke",
            data={"reason": "Dubbel toegekend", "_csrf_token": token},
            headers=headers,
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == url
        after = await admin.get(url, headers=headers)
    assert "Ingetrokken" in after.text and "Dubbel toegekend" in after.text
    assert "revoke-reason" not in after.text
