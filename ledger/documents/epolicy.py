"""The e-policy: what one issued version of a policy shows (``EPolicyView``) and its PDF (``render_epolicy``).

The PDF is a pure function of the view: the same view gives the same bytes in any process, on any day and with
any environment, so the digest registered for a version can be recomputed from the journal's facts years later.
The view holds only masked personal text; the caller masks with ``ledger.parties.identity``.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote, urlsplit

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from ledger.documents.layout import LATIN_FONT, LEADING, Layout, Rows, prepare_reportlab, wrap
from ledger.documents.qr import QUIET_ZONE, draw_qr
from ledger.errors import ValidationFailed
from ledger.log.encoding import parse_digest

__all__ = ["Beneficiary", "Bilingual", "EPolicyView", "ScheduleRow", "render_epolicy", "verification_url"]

LEGAL_HEIRS = "法定继承人 / legal heirs"
_MASK = "*"
_QR_SIZE = 96.0


@dataclass(frozen=True)
class Bilingual:
    """A text in Chinese and in English."""

    zh: str
    en: str


@dataclass(frozen=True)
class ScheduleRow:
    """One line of the policy schedule: a bilingual label and its value as it is to be printed."""

    label: Bilingual
    value: str


@dataclass(frozen=True)
class Beneficiary:
    """A named beneficiary: masked name and share as printed ("60%")."""

    name: str
    share: str


@dataclass(frozen=True)
class EPolicyView:
    """Everything one e-policy version prints, as text and dates; people appear masked only.

    ``beneficiaries`` empty means the legal heirs (法定继承人). ``schedule`` holds the sum insured, premium and
    frequency, term, payment term, next due date and the underwriting result (with any extra premium and
    exclusions); ``terms`` the summary of the product's terms; ``exclusions`` those specific to this policy.
    ``supersedes_digest`` is the ``sha256:<hex>`` digest of the version this one replaces, None for version 1.
    Raises ``ValidationFailed`` naming the field when a version and its predecessor's digest disagree, a digest is
    malformed, a person's text is not masked (has no ``*``), a date is a datetime or the URL is not http(s).
    """

    policy_no: str
    version: int
    issued_on: date
    effective_on: date
    product_name: Bilingual
    product_id: str
    product_version: str
    product_digest: str
    policyholder: str
    insured: str
    beneficiaries: tuple[Beneficiary, ...]
    schedule: tuple[ScheduleRow, ...]
    terms: tuple[Bilingual, ...]
    exclusions: tuple[Bilingual, ...]
    verification_url: str
    supersedes_digest: str | None

    def __post_init__(self) -> None:
        if not self.policy_no.strip():
            raise ValidationFailed("policy_no must not be empty", field="policy_no")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValidationFailed(f"version must be a whole number from 1, not {self.version!r}", field="version")
        for name in ("issued_on", "effective_on"):
            value = getattr(self, name)
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ValidationFailed(f"{name} must be a date (not a datetime)", field=name)
        parse_digest(self.product_digest, field="product_digest")
        if self.version == 1 and self.supersedes_digest is not None:
            raise ValidationFailed("version 1 supersedes nothing: supersedes_digest must be None",
                                   field="supersedes_digest")
        if self.version > 1:
            if self.supersedes_digest is None:
                raise ValidationFailed(f"version {self.version} must name the digest of the version it supersedes",
                                       field="supersedes_digest")
            parse_digest(self.supersedes_digest, field="supersedes_digest")
        people = [("policyholder", self.policyholder), ("insured", self.insured)]
        people += [(f"beneficiaries[{i}].name", b.name) for i, b in enumerate(self.beneficiaries)]
        for field, text in people:
            if _MASK not in text:
                raise ValidationFailed(f"{field} must be masked text (mask_name), got a name without '*'",
                                       field=field)
        if urlsplit(self.verification_url).scheme not in ("https", "http"):
            raise ValidationFailed("verification_url must be an http(s) URL", field="verification_url")


def verification_url(base_url: str, *, policy_no: str, version: int, key_id: str | None = None) -> str:
    """The public verification page for one version of a policy: ``{base}/verify#policy=<no>&version=<n>``.

    The QR code names the policy and version, not a digest: the digest of the PDF cannot be printed inside the
    PDF it is the digest of. They go in the URL fragment, which browsers never send to the server, so scanning
    the code tells the service nothing; the page's script reads them, looks nothing up by them, and only says
    which policy (its last four characters) and version the code names. The holder then chooses their file: the
    page hashes it on their device, asks about that digest alone, and compares what the proofs say with the code.
    With ``key_id`` (the 8 hex digits of the ledger's verifier key id) the code also pins the key
    (``&vkey=<key id>``): a holder who scans it checks the answer against the key printed on their own e-policy,
    not only the key the service publishes, so a service answering under another key is refused on a first visit.
    Requires an absolute http(s) ``base_url`` without query or fragment (a trailing ``/`` is dropped), a
    non-empty ``policy_no``, ``version`` >= 1 and a ``key_id`` of 8 lowercase hex digits if given; raises
    ``ValidationFailed`` otherwise.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed(f"base_url must be an absolute http(s) URL without query or fragment: {base_url!r}",
                               field="base_url")
    if not policy_no.strip():
        raise ValidationFailed("policy_no must not be empty", field="policy_no")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationFailed(f"version must be a whole number from 1, not {version!r}", field="version")
    pin = ""
    if key_id is not None:
        if not re.fullmatch(r"[0-9a-f]{8}", key_id):
            raise ValidationFailed(f"key_id must be 8 lowercase hex digits, not {key_id!r}", field="key_id")
        pin = f"&vkey={key_id}"
    return f"{base_url.rstrip('/')}/verify#policy={quote(policy_no, safe='')}&version={version}{pin}"


def render_epolicy(view: EPolicyView) -> bytes:
    """The A4 PDF of ``view``: header with the QR code, facts, parties, schedule, terms and exclusions.

    Deterministic: fixed creation date (the view's ``issued_on``), a file identifier derived from the view's
    title rather than the clock or ``SOURCE_DATE_EPOCH``, and reportlab's invariant mode. A typical policy fits
    one page; longer terms or exclusions continue on the next. Raises ``ValidationFailed`` only for a
    verification URL too long for a QR code.
    """
    prepare_reportlab()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1, lang="zh-CN", initialFontName=LATIN_FONT,
                    initialFontSize=12, initialLeading=14.4)
    title = f"电子保险单 Electronic policy {view.policy_no} v{view.version}"
    # The file /ID is an MD5 that reportlab 5.1 (pinned) keeps in the document's ``signature``, seeds with a time
    # stamp (the clock, or SOURCE_DATE_EPOCH even in invariant mode) and then feeds the title, author, subject and
    # keywords. Seeded with a constant instead, the /ID names the policy version and nothing else.
    canvas._doc.signature = hashlib.md5(b"lifeledger e-policy", usedforsecurity=False)
    stamp = f"D:{view.issued_on.strftime('%Y%m%d')}000000+08'00'"  # midnight of the issue date, China time
    canvas.setDateFormatter(lambda *_: stamp)
    canvas.setTitle(title)
    canvas.setAuthor("lifeledger")
    canvas.setCreator("lifeledger")
    canvas.setSubject(f"{view.product_id} {view.product_version}")
    canvas.setKeywords(f"policy={view.policy_no}; version={view.version}")
    layout = Layout(canvas, footer=_footer_lines(view),
                    continued=f"保单号 Policy no. {view.policy_no} (续 continued)")
    _header(layout, view)
    layout.table(("当事人", "Parties"), _parties(view))
    layout.table(("保险利益表", "Schedule"), _schedule(view))
    layout.bullets(("条款摘要", "Summary of terms"), [(t.zh, t.en) for t in view.terms])
    exclusions = [(e.zh, e.en) for e in view.exclusions] or [("无", "None")]
    layout.bullets(("本保单特别约定的责任免除", "Exclusions particular to this policy"), exclusions)
    layout.finish()
    canvas.save()
    return buffer.getvalue()


def _header(layout: Layout, view: EPolicyView) -> None:
    left, top = layout.left, layout.y
    qr_x = layout.right - _QR_SIZE
    modules = draw_qr(layout.canvas, view.verification_url, x=qr_x, y=top - _QR_SIZE, size=_QR_SIZE)
    layout.text(qr_x + _QR_SIZE / 2, top - _QR_SIZE - 10, "扫码验证 Scan to verify", size=7.5, centre=True)
    # Text keeps clear of the QR code's quiet zone.
    width = qr_x - QUIET_ZONE * _QR_SIZE / modules - left
    lines = [("电子保险单", 20.0, 0.0), ("Electronic Insurance Policy", 11.0, 0.0)]
    lines += [(line, 12.5, 6.0 if i == 0 else 0.0) for i, line in enumerate(wrap(view.product_name.zh, size=12.5,
                                                                                  width=width))]
    lines += [(line, 9.5, 0.0) for line in wrap(view.product_name.en, size=9.5, width=width)]
    lines += [(line, 8.5, 4.0 if i == 0 else 0.0) for i, line in enumerate(wrap(
        f"保单号 Policy no. {view.policy_no}    版本 Version {view.version}\n"
        f"签发日期 Issued on {view.issued_on.isoformat()}    生效日期 Effective on {view.effective_on.isoformat()}",
        size=8.5, width=width))]
    y = top
    for text, size, gap in lines:
        y -= size * LEADING + gap
        layout.text(left, y, text, size=size)
    layout.y = min(y, top - _QR_SIZE - 14) - 4


def _parties(view: EPolicyView) -> Rows:
    beneficiaries = "\n".join(f"{b.name}  {b.share}" for b in view.beneficiaries) or LEGAL_HEIRS
    return [
        ("投保人", "Policyholder", view.policyholder),
        ("被保险人", "Insured", view.insured),
        ("身故受益人", "Beneficiaries", beneficiaries),
    ]


def _schedule(view: EPolicyView) -> Rows:
    product = f"{view.product_id}  版本 version {view.product_version}\n{view.product_digest}"
    return [("产品", "Product", product), *((r.label.zh, r.label.en, r.value) for r in view.schedule)]


def _footer_lines(view: EPolicyView) -> tuple[str, ...]:
    if view.supersedes_digest is None:
        history = "第 1 版 首次签发 · Version 1, first issue"
    else:
        history = (f"第 {view.version} 版 取代第 {view.version - 1} 版 Version {view.version}, supersedes "
                   f"version {view.version - 1}: {view.supersedes_digest}")
    return (
        history,
        f"验证 Verify: {view.verification_url}",
        "为保护隐私 姓名已部分隐去。Names are partly hidden for privacy.",
    )
