"""The human side of a credential link: one URL for people and machines.

A browser (``Accept: text/html`` preferred) gets a page saying what was earned, by whom, when,
from which issuer, whether it checks out, with downloads and "add to LinkedIn"; verifiers and
wallets (``application/ld+json``, ``application/json``, ``*/*``) keep getting the JSON-LD.
"""

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date
from cryptography.exceptions import InvalidSignature

from backend.badges.credentials import BadgeSigningKey, vc_jwt
from backend.badges.services import AwardRecord, BadgeTexts, engine_definition
from backend.badges.texts import language_of, localized, tier_label

HTML_TYPES = ("text/html", "application/xhtml+xml")
DATA_TYPES = ("application/ld+json", "application/json")
LINKEDIN_ADD_URL = "https://www.linkedin.com/profile/add"


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type``: that of its most specific matching range."""
    main, _, sub = media_type.partition("/")
    best, quality = -1, 0.0
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        range_main, _, range_sub = media_range.lower().partition("/")
        if (range_main, range_sub) == (main, sub):
            specificity = 2
        elif range_main == main and range_sub == "*":
            specificity = 1
        elif (range_main, range_sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if specificity > best:
            best, quality = specificity, q
    return quality


def wants_html(accept: str | None) -> bool:
    """A person's browser: HTML preferred over every JSON type. Ties (``*/*``, no header)
    go to the JSON-LD, which verifiers fetched from this URL before the page existed."""
    if not accept:
        return False
    html = max(_quality(accept, t) for t in HTML_TYPES)
    data = max(_quality(accept, t) for t in DATA_TYPES)
    return html > 0 and html > data


def linkedin_add_url(name: str, organisation: str, awarded_at: datetime, cert_url: str) -> str:
    """LinkedIn's "add licence or certification" form, filled in."""
    cert_id = cert_url.rstrip("/").rsplit("/", 1)[-1]
    query = urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": name,
            "organizationName": organisation,
            "issueYear": awarded_at.year,
            "issueMonth": awarded_at.month,
            "certUrl": cert_url,
            "certId": cert_id,
        }
    )
    return f"{LINKEDIN_ADD_URL}?{query}"


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def signature_checks_out(credential: dict[str, Any], key: BadgeSigningKey) -> bool:
    """Sign the credential and check the token against the published public key, the way a
    verifier does with the JWKS: a wrong or rotated deployment secret shows here."""
    token = vc_jwt(credential, key)
    header, payload, signature = token.split(".")
    try:
        key.private_key.public_key().verify(
            _b64url_decode(signature), f"{header}.{payload}".encode("ascii")
        )
    except InvalidSignature:
        return False
    return True


def _date_locale(language: str) -> str:
    # "7 December 2026" reads well to an employer anywhere; the US order does not
    return "en_GB" if language == "en" else "nl_NL"


@dataclass(frozen=True)
class CredentialView:
    """What the page shows, in the reader's language."""

    public_id: str
    badge_name: str
    tier: str
    description: str
    criteria: str
    competency: str
    earner: str
    awarded_on: str
    issuer: str
    revoked: bool
    revoked_on: str
    revocation_reason: str
    verified: bool
    linkedin_url: str
    credential_url: str


def credential_view(
    record: AwardRecord, credential: dict[str, Any], key: BadgeSigningKey, locale: str
) -> CredentialView:
    award, organisation = record.award, record.organisation
    language = language_of(locale)
    texts = BadgeTexts(language, record.streak_mode, record.competency_names)
    name, description, criteria, competency = award.badge_code, "", "", ""
    badge = record.badge
    if badge is not None:
        definition = engine_definition(badge)
        name = localized(badge.name, badge.name_en, language)
        description = localized(badge.description, badge.description_en, language)
        threshold = next((t.threshold for t in definition.tiers if t.name == award.tier), None)
        if threshold is not None:
            criteria = texts.tier_sentence(definition.criterion, threshold)
        ref = texts.competency(badge.competency_id)
        competency = ref.name if ref is not None else ""
    tz = ZoneInfo(organisation.default_timezone or "Europe/Amsterdam")
    awarded = award.awarded_at.astimezone(tz)
    revoked = award.revoked_at is not None
    tier = tier_label(award.tier, language)
    cert_url: str = credential["id"]
    return CredentialView(
        public_id=award.public_id,
        badge_name=name,
        tier=tier,
        description=description,
        criteria=criteria,
        competency=competency,
        earner=record.learner_name,
        awarded_on=format_date(awarded.date(), format="long", locale=_date_locale(language)),
        issuer=organisation.name,
        revoked=revoked,
        revoked_on=format_date(
            award.revoked_at.astimezone(tz).date(), format="long", locale=_date_locale(language)
        )
        if award.revoked_at is not None
        else "",
        revocation_reason=award.revocation_reason,
        verified=not revoked and signature_checks_out(credential, key),
        linkedin_url=linkedin_add_url(f"{name} ({tier})", organisation.name, awarded, cert_url),
        credential_url=cert_url,
    )
