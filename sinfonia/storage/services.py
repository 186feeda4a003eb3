"""Blob bookkeeping: registering stored bytes, counting references, collecting garbage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F

from sinfonia.core import bulk
from sinfonia.storage import blobstore, previews
from sinfonia.storage.models import Blob


class BlobVanished(RuntimeError):
    """The bytes of a blob disappeared under us; the caller should store them again."""


def take_blob(stored: blobstore.StoredBytes) -> Blob:
    """Return the Blob row for freshly stored bytes with one more reference counted."""
    blob, _ = Blob.objects.get_or_create(sha256=stored.sha256, defaults={"size": stored.size})
    Blob.objects.filter(pk=blob.pk).update(ref_count=F("ref_count") + 1)
    blob.ref_count += 1
    if not blobstore.exists(stored.sha256):
        # Garbage collection removed identical bytes between our write and this row update.
        raise BlobVanished(stored.sha256)
    return blob


def take_blobs(stored: Iterable[blobstore.StoredBytes]) -> None:
    """`take_blob` for many stored contents at once (one reference per occurrence), in a few
    queries: the rows missing are created, then every count is raised."""
    items = list(stored)
    sizes = {s.sha256: s.size for s in items}
    if not sizes:
        return
    known: set[str] = set()
    shas = list(sizes)
    for start in range(0, len(shas), 500):
        known.update(
            Blob.objects.filter(sha256__in=shas[start : start + 500]).values_list(
                "sha256", flat=True
            )
        )
    bulk.insert_values(
        Blob,
        [{"sha256": sha, "size": size} for sha, size in sizes.items() if sha not in known],
        ignore_conflicts=True,  # created meanwhile by a concurrent upload of the same bytes
    )
    _shift(Counter(s.sha256 for s in items), +1)
    for sha in sizes:
        if not blobstore.exists(sha):
            raise BlobVanished(sha)


def discard_unclaimed(sha256: str) -> None:
    """Delete stored bytes that no Blob row claims: the registration they were stored for
    failed and rolled back. Bytes that identical content registered meanwhile are kept."""
    if not Blob.objects.filter(sha256=sha256).exists():
        blobstore.delete(sha256)


def add_references(sha256s: Iterable[str]) -> None:
    """Count one more reference per occurrence in ``sha256s`` (a copy of many files)."""
    _shift(Counter(sha256s), +1)


def drop_references(sha256s: Iterable[str]) -> None:
    """Count one reference less per occurrence; blobs reaching zero go on commit."""
    counts = Counter(sha256s)
    _shift(counts, -1)
    if counts:
        transaction.on_commit(lambda: collect_garbage(list(counts)))


def _shift(counts: Counter[str], sign: int) -> None:
    by_multiplicity: dict[int, list[str]] = {}
    for sha, n in counts.items():
        by_multiplicity.setdefault(n, []).append(sha)
    for n, shas in by_multiplicity.items():
        for start in range(0, len(shas), 500):
            Blob.objects.filter(sha256__in=shas[start : start + 500]).update(
                ref_count=F("ref_count") + sign * n
            )


def collect_garbage(candidates: list[str] | None = None) -> int:
    """Delete unreferenced blobs (rows and bytes); return how many went."""
    qs = Blob.objects.filter(ref_count=0)
    if candidates is not None:
        qs = qs.filter(sha256__in=candidates)
    removed = 0
    for sha in list(qs.values_list("sha256", flat=True)):
        with transaction.atomic():
            # Re-check under the transaction: a concurrent upload may have taken it again.
            deleted, _ = Blob.objects.filter(sha256=sha, ref_count=0).delete()
        if deleted:
            blobstore.delete(sha)
            previews.discard(sha)
            removed += 1
    return removed
