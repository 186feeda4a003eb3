"""Search benchmark: typical queries over a million files (run by hand, not a test).

Target (issue 8): p50 <= 100 ms and p95 <= 300 ms per query, on SQLite and on PostgreSQL,
for a regular user who reads through a group grant (the permission-filtered path), over
1,000,000 files of which 100,000 are DICOM instances with headers.

The repository: collection "Bench" → 10 partner folders → 200 patient folders each (project
identifier SINFONIA-T2.1-<PARTNER>-<NNNN>) → filesets: 7 DICOM series (50 instances: baseline
CT, RTSTRUCT, RTPLAN, RTDOSE; follow-up CT or MR, PT, RTDOSE; scanner metadata) and files of
other kinds (reports, photos, segmentations, slides, karyotypes, spreadsheets, notes) in
filesets of up to 25, named from a vocabulary whose words follow a Zipf law, as real names do.
One partner folder is closed to the reader (its own access list). Files are created in bulk
(bulk_create through `new_node`, the one way nodes are built); DICOM index rows (Patient,
Study, Series, Instance with a DICOM JSON header) are created in bulk, not by parsing files.

Each query runs through the real HTTP stack (Django test client, API key, ninja, JSON); the
figure is over ``--repeat`` runs after one warm-up, and ``hits`` is the total the reader
gets. Everything lives in a temporary data folder (and, for PostgreSQL, a throw-away server
from scripts/pg-test-server), removed at the end.

    .venv/bin/python bench/search.py [--db sqlite|postgres] [--files 1000000] [--repeat 30]

Populating a million files takes 4 minutes on SQLite and 10 on PostgreSQL (2 cores). To
measure again without that, keep the repository: ``--keep DIR`` (SQLite: the database is in
DIR) and, for PostgreSQL, a server of your own that the run leaves alone:

    scripts/pg-test-server start /tmp/pgb/pg 55433      # prints its URL
    .venv/bin/python bench/search.py --db postgres --keep /tmp/pgb/data \
        --database-url postgres://sinfonia:sinfonia@127.0.0.1:55433/sinfonia

A later run with the same options migrates and measures without populating.
``BENCH_SHOW_SQL=1`` prints each search's statements. Searches by words alone run on
search's narrow copy of the node rows (search_node_text), the rest on the node table; on
PostgreSQL at the server's default configuration (128 MB of shared buffers), on SQLite with
the settings' page cache (32 MB) and memory-mapped reads (docs/decisions/0005-search-backends.md).
At a million files on a loaded 2-core VM, SQLite's slowest targeted search, ``cardio*``
(21,558 hits), has a p50 of 64-73 ms (97-108 ms before the narrow copy and memory-mapped
reads).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from common import start_postgres, stop_postgres

if TYPE_CHECKING:
    from sinfonia.resources.models import Node

P50_TARGET_MS = 100.0
P95_TARGET_MS = 300.0
PAGE = 50
BLOB_POOL = 64
PARTNERS = [
    ("SERGAS", "Santiago de Compostela"),
    ("UNIPI", "Pisa"),
    ("CHUV", "Lausanne"),
    ("UMED", "Łódź"),
    ("AUTH", "Θεσσαλονίκη"),
    ("UTOKYO", "東京"),
    ("CHARITE", "Berlin"),
    ("KUL", "Leuven"),
    ("INSERM", "Marseille"),
    ("UMCU", "Utrecht"),
]
CLOSED_PARTNER = "KUL"  # its folder has its own access list: the reader sees nothing of it
BODY_PARTS = ["THORAX", "PELVIS", "HEAD", "ABDOMEN"]
SCANNERS = ["Siemens", "GE", "Philips", "Canon"]
# (modality, number of instances, study): 50 instances per patient
SERIES = [
    ("CT", 22, 0),
    ("RTSTRUCT", 1, 0),
    ("RTPLAN", 1, 0),
    ("RTDOSE", 1, 0),
    ("CT|MR", 12, 1),
    ("PT", 12, 1),
    ("RTDOSE", 1, 1),
]
INSTANCES_PER_PATIENT = sum(n for _, n, _ in SERIES)
# Other files: (category word, extension, mime type, weight)
CATEGORIES = [
    ("report", "pdf", "application/pdf", 10),
    ("photo", "jpg", "image/jpeg", 14),
    ("segmentation", "nii.gz", "application/gzip", 12),
    ("histology", "svs", "image/tiff", 12),
    ("karyotype", "tif", "image/tiff", 10),
    ("lab", "csv", "text/csv", 10),
    ("dose summary", "xlsx", "application/vnd.ms-excel", 8),
    ("notes", "txt", "text/plain", 10),
    ("endoscopy", "mp4", "video/mp4", 6),
    ("consent", "pdf", "application/pdf", 8),
]
# Words of names, most common first (a Zipf law over their rank).
TOPICS = """
baseline follow-up axial coronal sagittal liver lung heart kidney spleen prostate bladder
rectum brain breast bone colon pancreas stomach thyroid skin lymph node tumour margin
necrosis fibrosis oedema cyst nodule lesion metastasis stage grade biopsy resection
cardiomyopathy cardiology cardiotoxicity chromosome translocation deletion mosaic painted
fish probe telomere centromere haematoxylin eosin ki67 pas trichrome immunostain contrast
phase arterial venous delayed perfusion diffusion spectroscopy dosimetry fraction boost
isodose gradient homogeneity organ risk cochlea parotid mandible larynx oesophagus trachea
aorta ventricle atrium valve pericardium pleura diaphragm adrenal ureter urethra uterus
ovary testis femur tibia pelvis spine skull orbit sinus tongue tonsil gland vessel nerve
muscle tendon cartilage marrow blood plasma serum urine saliva culture sequencing variant
mutation fusion amplification methylation expression pathway signature cohort arm control
placebo randomised screening interim final primary secondary endpoint survival response
relapse toxicity Łódź Kraków Zürich São-Paulo Αθήνα Θεσσαλονίκη 東京 大阪 서울 Curaçao Malmö Ærø
""".split()  # noqa: SIM905 - a list of 140 words reads better as text
STATUS = ["draft", "final", "reviewed", "v2", "signed", "anonymised"]
# The benchmark's queries: (label, query, targeted)
QUERIES = [
    ("free text word", "fibrosis", True),
    ("prefix", "cardio*", True),
    ("project-id component", "id.partner:UNIPI", True),
    ("DICOM Modality + date range", "modality:RTDOSE studydate:2021-01-01..2021-06-30", True),
    ("metadata key", "meta.scanner:Siemens", True),
    ("combined with negation", "report -draft ext:pdf stage", True),
    ("under a folder", "under:/Bench/UNIPI metastasis", True),
    ("accents folded", "lodz", True),
    # (info) a tag of the header JSON, narrowed by the index columns; the header is read
    # for every candidate, so it costs in proportion to them
    ("DICOM tag in the header", "modality:CT tag:00181030=*thorax* studydate:2019", False),
    ("very common word (top rank)", "baseline", False),
    ("every DICOM file", "type:dicom", False),
]


# --------------------------------------------------------------------------- environment


# --------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Row:
    query: str
    text: str
    hits: int
    p50: float
    p95: float
    queries: int
    targeted: bool

    @property
    def ok(self) -> bool:
        return self.p50 * 1000 <= P50_TARGET_MS and self.p95 * 1000 <= P95_TARGET_MS


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        headers = ("query", "q=", "hits", "p50", "p95", "SQL", "target", "result")
        table = [
            (
                r.query,
                r.text,
                f"{r.hits:,}",
                f"{r.p50 * 1000:.1f} ms",
                f"{r.p95 * 1000:.1f} ms",
                str(r.queries),
                f"p50<={P50_TARGET_MS:.0f} p95<={P95_TARGET_MS:.0f}" if r.targeted else "(info)",
                ("PASS" if r.ok else "FAIL") if r.targeted else "",
            )
            for r in self.rows
        ]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        print()
        print(self.title)
        print(line)
        print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
        print(line.replace("-", "="))
        for t in table:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)) + " |")
        print(line)
        for note in self.notes:
            print(f"  {note}")
        missed = [r.query for r in self.rows if r.targeted and not r.ok]
        print()
        if missed:
            print(f"*** FAIL: {len(missed)} target(s) missed: {'; '.join(missed)} ***")
        else:
            print(f"All {sum(r.targeted for r in self.rows)} targets met (PASS).")


# --------------------------------------------------------------------------- the repository


def zipf_picker(rng: random.Random, words: Sequence[str], s: float = 1.0) -> Callable[[], str]:
    weights = [1 / (rank + 1) ** s for rank in range(len(words))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def pick() -> str:
        return rng.choices(words, cum_weights=cumulative)[0]

    return pick


def header_for(
    series: dict[str, Any], instance_number: int, sop_uid: str, position: float
) -> dict[str, Any]:
    """A DICOM JSON header (PS3.18 F.2) of about 45 attributes, like a real CT's without
    pixel data: the series' attributes plus the instance's own."""
    header = dict(series["header"])
    header["00080018"] = {"vr": "UI", "Value": [sop_uid]}
    header["00200013"] = {"vr": "IS", "Value": [instance_number]}
    header["00200032"] = {"vr": "DS", "Value": [-200.0, -180.5, position]}
    header["00201041"] = {"vr": "DS", "Value": [position]}
    return header


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(20240817)
        self.topic = zipf_picker(self.rng, TOPICS, 0.9)
        self.report = Report(
            f"Sinfonia search benchmark - {args.db}, {args.files:,} files "
            f"({args.files // 10:,} DICOM), {args.repeat} runs per query, as a group reader"
        )
        self.uid_counter = 0
        self.blob_pool: list[tuple[str, int]] = []
        self.extra_refs: list[str] = []
        self.taken: set[str] = set()

    # ---------------------------------------------------------------- people, blobs

    def setup_people(self) -> None:
        from sinfonia.accounts.models import Membership
        from sinfonia.accounts.services import apikeys, groups, users
        from sinfonia.core.context import Actor
        from sinfonia.resources.models import Level
        from sinfonia.resources.services import acl, tree

        system = Actor.local_system()
        password = "bench-Long-pass-123"
        self.admin, _ = users.create_user(system, "bench-admin", password=password, site_admin=True)
        self.reader, _ = users.create_user(system, "bench-reader", password=password)
        self.writer, _ = users.create_user(system, "bench-writer", password=password)
        self.admin_actor = Actor(user=self.admin, channel="cli", client="bench")
        readers = groups.create_group(self.admin_actor, "bench-readers")
        Membership.objects.create(group=readers, user=self.reader)
        others = []
        for i in range(10):  # unrelated groups and collections: a realistic mix of entries
            other = groups.create_group(self.admin_actor, f"other-{i}")
            others.append(other)
            if i % 3 == 0:
                Membership.objects.create(group=other, user=self.reader)
            coll = tree.create_collection(self.admin_actor, f"Other {i}")
            acl.set_acl(
                self.admin_actor,
                coll,
                [acl.Grant(Level.ADMIN, user=self.admin), acl.Grant(Level.WRITE, group=other)],
            )
        self.coll = tree.create_collection(self.admin_actor, "Bench")
        acl.set_acl(
            self.admin_actor,
            self.coll,
            [
                acl.Grant(Level.ADMIN, user=self.admin),
                acl.Grant(Level.READ, group=readers),
                *(acl.Grant(Level.READ, group=o) for o in others[1::3]),
            ],
        )
        self.coll.refresh_from_db()
        self.key = apikeys.create_api_key(system, self.reader, "bench")[1]

    def reuse(self) -> None:
        """Measure a repository populated by an earlier run (--keep)."""
        from sinfonia.accounts.models import User
        from sinfonia.accounts.services import apikeys
        from sinfonia.core.context import Actor

        self.reader = User.objects.get(username="bench-reader")
        self.key = apikeys.create_api_key(Actor.local_system(), self.reader, "bench")[1]
        self.report.notes.append("Measured on the repository of an earlier run (--keep).")

    def setup_blobs(self) -> None:
        from sinfonia.storage import blobstore

        for i in range(BLOB_POOL):
            data = self.rng.randbytes(self.rng.randint(512, 4096))
            stored = blobstore.write_chunks([data, f"#{i}".encode()])
            self.blob_pool.append((stored.sha256, stored.size))
        self.stored = {sha: blobstore.StoredBytes(sha, size) for sha, size in self.blob_pool}

    def blob(self) -> tuple[str, int]:
        from sinfonia.storage.services import take_blob

        sha, size = self.rng.choice(self.blob_pool)
        if sha in self.taken:
            self.extra_refs.append(sha)
        else:
            take_blob(self.stored[sha])
            self.taken.add(sha)
        return sha, size

    def uid(self) -> str:
        self.uid_counter += 1
        return f"1.2.826.0.1.3680043.10.1234.{self.uid_counter}"

    # ---------------------------------------------------------------- nodes

    def nodes(self, parent: Node, specs: list[dict[str, Any]]) -> list[Node]:
        """Build (unsaved) nodes under ``parent`` through `new_node`."""
        from sinfonia.resources.services.common import new_node

        return [
            new_node(parent=parent, acl_root_id=parent.acl_root_id, creator=self.writer, **spec)
            for spec in specs
        ]

    def populate(self) -> None:
        from django.db import connection

        from sinfonia.resources.models import Level, Node
        from sinfonia.resources.services import acl, tree
        from sinfonia.storage.services import add_references

        t0 = time.perf_counter()
        self.setup_people()
        self.setup_blobs()
        patients_total = max(1, self.args.files // 500)
        per_partner = -(-patients_total // len(PARTNERS))
        made = 0
        for code, city in PARTNERS:
            folder = tree.create_folder(
                self.admin_actor, self.coll, code, description=f"Partner {code}, {city}"
            )
            if code == CLOSED_PARTNER:
                acl.set_acl(self.admin_actor, folder, [acl.Grant(Level.ADMIN, user=self.admin)])
                folder.refresh_from_db()
            count = min(per_partner, patients_total - made)
            self.partner(folder, code, city, count)
            made += count
            print(f"  {code}: {count} patients, {time.perf_counter() - t0:.0f} s", flush=True)
        add_references(self.extra_refs)
        if connection.vendor == "postgresql":
            # What autovacuum does on a running server after bulk inserts; doing it now also
            # keeps autovacuum from competing with the measurements.
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
            self.report.notes.append("PostgreSQL: VACUUM ANALYZE after populating.")
        else:
            with connection.cursor() as cur:
                cur.execute("PRAGMA optimize")
        files = Node.objects.filter(kind=3).count()
        self.report.notes.append(
            f"Populated {files:,} files in {Node.objects.count():,} elements "
            f"({made:,} patients) in {time.perf_counter() - t0:.0f} s."
        )

    def partner(self, folder: Node, code: str, city: str, patients: int) -> None:
        from django.db import transaction

        from sinfonia.resources.models import Kind, Node

        for start in range(0, patients, 20):
            with transaction.atomic():
                specs = []
                for number in range(start + 1, min(patients, start + 20) + 1):
                    pid = f"SINFONIA-T2.1-{code}-{number:04d}"
                    specs.append(
                        {
                            "kind": Kind.FOLDER,
                            "name": pid,
                            "description": f"Patient {number} of {code} ({city})",
                            "project_id": _pid(pid),
                        }
                    )
                folders = Node.objects.bulk_create(self.nodes(folder, specs))
                for patient in folders:
                    self.patient(patient, code)

    def patient(self, folder: Node, code: str) -> None:
        from sinfonia.resources.models import Kind, Node

        pid = folder.name
        body = self.rng.choice(BODY_PARTS)
        filesets: list[dict[str, Any]] = []
        series_specs: list[tuple[str, int, int, str]] = []
        for modality, count, study in SERIES:
            if modality == "CT|MR":
                modality = self.rng.choice(["CT", "MR"])
            label = ("Baseline", "Follow-up")[study]
            name = f"{label} {modality} {body.lower()} {len(series_specs) + 1}"
            scanner = self.rng.choice(SCANNERS)
            filesets.append(
                {
                    "kind": Kind.FILESET,
                    "name": name,
                    "project_id": _pid(pid),
                    "meta": {"scanner": scanner, "protocol": f"{body.lower()} routine"},
                }
            )
            series_specs.append((modality, count, study, name))
        others = self.other_files(INSTANCES_PER_PATIENT * 9)
        groups = [others[i : i + 25] for i in range(0, len(others), 25)]
        for i, _ in enumerate(groups):
            filesets.append(
                {
                    "kind": Kind.FILESET,
                    "name": f"{self.topic()} {self.topic()} set {i + 1}",
                    "project_id": _pid(pid),
                    "description": f"{self.topic()} and {self.topic()} material",
                }
            )
        made = Node.objects.bulk_create(self.nodes(folder, filesets))
        files: list[Node] = []
        for index, (modality, count, _study, _name) in enumerate(series_specs):
            fs = made[index]
            prefix = f"{modality}_{body.lower()}" if self.rng.random() < 0.3 else "IM"
            for n in range(count):
                sha, size = self.blob()
                files += self.nodes(
                    fs,
                    [
                        {
                            "kind": Kind.FILE,
                            "name": f"{prefix}_{n + 1:05d}.dcm",
                            "blob_id": sha,
                            "size": size,
                            "mime_type": "application/dicom",
                        }
                    ],
                )
        dicom_count = len(files)
        for fs, group in zip(made[len(series_specs) :], groups, strict=True):
            specs = []
            for name, mime in group:
                sha, size = self.blob()
                specs.append(
                    {
                        "kind": Kind.FILE,
                        "name": name,
                        "blob_id": sha,
                        "size": size,
                        "mime_type": mime,
                    }
                )
            files += self.nodes(fs, specs)
        files = Node.objects.bulk_create(files, batch_size=1000)
        self.dicom_rows(folder, code, body, series_specs, made, files[:dicom_count])

    def other_files(self, count: int) -> list[tuple[str, str]]:
        names: list[tuple[str, str]] = []
        seen: set[str] = set()
        weights = [w for *_, w in CATEGORIES]
        while len(names) < count:
            word, ext, mime, _ = self.rng.choices(CATEGORIES, weights=weights)[0]
            parts = [word.replace(" ", "_"), self.topic()]
            if self.rng.random() < 0.5:
                parts.append(self.topic())
            if self.rng.random() < 0.2:
                parts.append(self.rng.choice(STATUS))
            parts.append(f"{len(names) + 1:04d}")
            name = "_".join(parts) + "." + ext
            if name not in seen:
                seen.add(name)
                names.append((name, mime))
        return names

    def dicom_rows(
        self,
        folder: Node,
        code: str,
        body: str,
        series_specs: list[tuple[str, int, int, str]],
        filesets: list[Node],
        files: list[Node],
    ) -> None:
        from sinfonia.dicom.models import Instance, Patient, Series, Study

        patient = Patient.objects.create(
            patient_id=f"{code}-{folder.name[-4:]}",
            patient_name=f"Anon^{folder.name[-4:]}",
            birth_date=f"19{self.rng.randint(30, 99)}0101",
            sex=self.rng.choice("FM"),
        )
        base = date(2019, 1, 1) + timedelta(days=self.rng.randint(0, 729))
        follow = date(2021, 1, 1) + timedelta(days=self.rng.randint(0, 729))
        studies = [
            Study(
                study_instance_uid=self.uid(),
                patient=patient,
                study_date=day.strftime("%Y%m%d"),
                study_time="101500",
                accession_number=f"A{self.uid_counter}",
                study_description=f"{label} {body.title()}",
            )
            for label, day in (("Baseline", base), ("Follow-up", follow))
        ]
        Study.objects.bulk_create(studies)
        series_rows = []
        for number, (modality, _count, study, name) in enumerate(series_specs, start=1):
            series_rows.append(
                Series(
                    series_instance_uid=self.uid(),
                    study=studies[study],
                    modality=modality,
                    series_number=number,
                    series_description=name,
                    body_part_examined=body,
                    series_date=studies[study].study_date,
                )
            )
        Series.objects.bulk_create(series_rows)
        instances = []
        at = 0
        for series, (modality, count, study, _name), fileset in zip(
            series_rows, series_specs, filesets, strict=False
        ):
            template = self.series_header(patient, studies[study], series, modality, body, fileset)
            for n in range(count):
                uid = self.uid()
                instances.append(
                    Instance(
                        file=files[at],
                        series=series,
                        sop_instance_uid=uid,
                        sop_class_uid=template["sop_class"],
                        instance_number=n + 1,
                        transfer_syntax_uid="1.2.840.10008.1.2.1",
                        rows=512,
                        columns=512,
                        number_of_frames=1,
                        slice_position=n * 2.5,
                        header=header_for(template, n + 1, uid, n * 2.5),
                    )
                )
                at += 1
        Instance.objects.bulk_create(instances, batch_size=1000)

    def series_header(
        self, patient: Any, study: Any, series: Any, modality: str, body: str, fileset: Node
    ) -> dict[str, Any]:
        sop_class = {
            "CT": "1.2.840.10008.5.1.4.1.1.2",
            "MR": "1.2.840.10008.5.1.4.1.1.4",
            "PT": "1.2.840.10008.5.1.4.1.1.128",
            "RTDOSE": "1.2.840.10008.5.1.4.1.1.481.2",
            "RTSTRUCT": "1.2.840.10008.5.1.4.1.1.481.3",
            "RTPLAN": "1.2.840.10008.5.1.4.1.1.481.5",
        }[modality]

        def el(vr: str, *values: Any) -> dict[str, Any]:
            return {"vr": vr, "Value": list(values)}

        header = {
            "00080005": el("CS", "ISO_IR 192"),
            "00080008": el("CS", "ORIGINAL", "PRIMARY", "AXIAL"),
            "00080016": el("UI", sop_class),
            "00080020": el("DA", study.study_date),
            "00080021": el("DA", series.series_date),
            "00080030": el("TM", study.study_time),
            "00080050": el("SH", study.accession_number),
            "00080060": el("CS", modality),
            "00080070": el("LO", fileset.meta["scanner"]),
            "00080080": el("LO", "Hospital"),
            "00081030": el("LO", study.study_description),
            "0008103E": el("LO", series.series_description),
            "00081090": el("LO", f"{fileset.meta['scanner']} model 7"),
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": patient.patient_name}]},
            "00100020": el("LO", patient.patient_id),
            "00100030": el("DA", patient.birth_date),
            "00100040": el("CS", patient.sex),
            "00180015": el("CS", body),
            "00180050": el("DS", self.rng.choice([1.0, 1.5, 2.5, 3.0, 5.0])),
            "00180060": el("DS", 120),
            "00181020": el("LO", "VA50"),
            "00181030": el("LO", f"{body.title()} routine"),
            "00181100": el("DS", 500),
            "00181150": el("IS", 1000),
            "00181151": el("IS", 200),
            "00185100": el("CS", "HFS"),
            "0020000D": el("UI", study.study_instance_uid),
            "0020000E": el("UI", series.series_instance_uid),
            "00200010": el("SH", "1"),
            "00200011": el("IS", series.series_number),
            "00200037": el("DS", 1, 0, 0, 0, 1, 0),
            "00200052": el("UI", "1.2.826.0.1.3680043.10.1234.0"),
            "00280002": el("US", 1),
            "00280004": el("CS", "MONOCHROME2"),
            "00280010": el("US", 512),
            "00280011": el("US", 512),
            "00280030": el("DS", 0.9765625, 0.9765625),
            "00280100": el("US", 16),
            "00280101": el("US", 12),
            "00280102": el("US", 11),
            "00280103": el("US", 0),
            "00281050": el("DS", 40),
            "00281051": el("DS", 400),
            "00281052": el("DS", -1024),
            "00281053": el("DS", 1),
        }
        return {"header": header, "sop_class": sop_class}

    # ---------------------------------------------------------------- measuring

    def describe_db(self) -> None:
        from django.db import connection

        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("SELECT version()")
                version = str(cur.fetchone()[0]).split(" on ")[0]
            else:
                cur.execute("SELECT sqlite_version()")
                version = f"SQLite {cur.fetchone()[0]}"
        self.report.notes.append(
            f"{version}; Python {platform.python_version()}; {platform.machine()}, "
            f"{os.cpu_count()} CPUs."
        )

    def measure(self) -> None:
        from django.db import connection
        from django.test import Client

        from sinfonia.core.context import Actor
        from sinfonia.search.selectors import search

        self.reader_actor = Actor(user=self.reader, channel="api", client="bench")
        client = Client(headers={"Authorization": f"Bearer {self.key}"})
        for label, query, targeted in QUERIES:
            answer: dict[str, Any] = {}

            def run(query: str = query, answer: dict[str, Any] = answer) -> None:
                response = client.get("/api/v1/search", {"q": query, "limit": str(PAGE)})
                assert response.status_code == 200, (response.status_code, response.content)
                answer.update(response.json())

            run()  # warm-up
            statements: list[str] = []

            def count(execute: Any, sql: str, *rest: Any, seen: list[str] = statements) -> Any:
                seen.append(sql)
                return execute(sql, *rest)

            with connection.execute_wrapper(count):  # the service call alone
                search(self.reader_actor, query, limit=PAGE)
            if os.environ.get("BENCH_SHOW_SQL"):
                for sql in statements:
                    print("   SQL", sql[:600])
            values = [timed(run) for _ in range(self.args.repeat)]
            row = Row(
                query=label,
                text=query,
                hits=int(answer["total"]),
                p50=statistics.median(values),
                p95=percentile(values, 0.95),
                queries=len(statements),
                targeted=targeted,
            )
            self.report.rows.append(row)
            print(
                f"  .. {label}: {row.hits:,} hits, p50 {row.p50 * 1000:.1f} ms, "
                f"p95 {row.p95 * 1000:.1f} ms",
                flush=True,
            )
            assert all(CLOSED_PARTNER not in item["path"] for item in answer["items"])

    def run(self, populated: bool = False) -> None:
        self.describe_db()
        if populated:
            self.reuse()
        else:
            self.populate()
        print("measuring ...", flush=True)
        self.measure()
        self.report.notes.append(
            "p50/p95 over the runs after one warm-up, HTTP GET /api/v1/search?q=...&limit=50 "
            "as a user reading through a group grant; hits = the total that user gets; "
            "SQL = statements per search (service call, without authentication)."
        )
        self.report.print()


def _pid(text: str) -> Any:
    from sinfonia.resources import identifiers

    return identifiers.parse(text)


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--files", type=int, default=1_000_000, help="files in the repository")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="use and keep this data folder (and, with --database-url, that database); a "
        "repository populated by an earlier run is measured again without populating",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="with --db postgres: this database instead of a throw-away server",
    )
    args = parser.parse_args(argv)
    if args.files < 5000 or args.repeat < 1:
        parser.error("--files must be at least 5000 and --repeat at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    data = args.keep or tempfile.mkdtemp(prefix="sinfonia-bench-")
    pg_dir: str | None = None
    try:
        os.environ["SINFONIA_DATA"] = data
        os.environ["DJANGO_SETTINGS_MODULE"] = "sinfonia.settings"
        os.environ.setdefault("SINFONIA_LOG_LEVEL", "WARNING")
        os.environ.pop("SINFONIA_DEBUG", None)
        os.environ.pop("SINFONIA_DATABASE_URL", None)
        if args.db == "postgres" and args.database_url:
            os.environ["SINFONIA_DATABASE_URL"] = args.database_url
        elif args.db == "postgres":
            pg_dir = tempfile.mkdtemp(prefix="sfpg-")
            os.environ["SINFONIA_DATABASE_URL"] = start_postgres(pg_dir)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from sinfonia.accounts.models import User

        populated = bool(args.keep) and User.objects.filter(username="bench-reader").exists()
        Bench(args).run(populated)
    finally:
        if pg_dir is not None:
            if "django.db" in sys.modules:
                from django.db import connections

                connections.close_all()
            stop_postgres(pg_dir)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
