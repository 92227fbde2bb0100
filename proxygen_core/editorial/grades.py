"""A cut's per-event grades (``*ASC_SOP`` / ``*ASC_SAT``) left for its shots: the ``edl`` grade source.

Why a file per shot, written by the cut's build: a shot's clips are planned without reading every cut of the
show (the store has no listing on that path, and a sequence must not wait for editorial). So each build of a cut
writes, for every matched shot whose event carries a CDL, ``<editorial prefix><show>/.proxies/grades/<shot>.cc``
(colour/grades.py ``edl_grade_key``), naming the cut and the event in its Description; the grade lookup reads it
as the ``edl`` source, in the order ``PROXYGEN_GRADE_SOURCES`` gives. The sequence sensor's grade check then sees
the new grade and rebuilds the shot's clips, and the cut follows its new clips (two builds of the cut, then
stable: an unchanged CDL is not written again).

Ownership, so two cuts never flip a shot's grade back and forth (each rewrite would rebuild the clips and both
cuts, for ever): the first cut to grade a shot owns its file; another cut whose CDL differs for that shot leaves
it and says so in its warnings. The owner rewrites it when its CDL changes and removes it when its events no
longer carry one. A shot graded differently by two events of the same cut takes the first event's, with a
warning. A cut outside ``<editorial prefix><show>/`` has no show: its CDLs are not a source (a warning).
"""
from __future__ import annotations

from proxygen_core.colour.grades import Grade, GradeError, cdl_document, edl_grade_key, edl_origin, parse_cdl
from proxygen_core.editorial.conform import CutPlan
from proxygen_core.editorial.uses import marked_shots
from proxygen_core.store.base import Store


def event_grades(plan: CutPlan) -> tuple[dict[str, tuple[Grade, int]], list[str]]:
    """Shot -> (its first event's CDL, that event's index), and warnings for shots graded twice differently."""
    grades: dict[str, tuple[Grade, int]] = {}
    warnings: list[str] = []
    for p in plan.events:
        shot, grade = p.match.shot, p.event.grade
        if not shot or grade is None:
            continue
        if shot not in grades:
            grades[shot] = (grade, p.event.index)
        elif grades[shot][0].digest() != grade.digest():
            warnings.append(f"{shot}: events {grades[shot][1]} and {p.event.index} carry different ASC CDLs; "
                            f"the shot's grade is event {grades[shot][1]}'s")
    return grades, warnings


def drop_grades(store: Store, editorial_root: str, cut_uri: str, shots: set[str]) -> None:
    """Remove these shots' event CDLs where this cut wrote them (a shot it dropped, or the cut deleted)."""
    for shot in sorted(shots):
        key = edl_grade_key(editorial_root, shot)
        existing = store.get_bytes_if_exists(key)
        origin = edl_origin(existing) if existing is not None else None
        if origin and origin.rsplit("#", 1)[0].removeprefix("edl:") == cut_uri:
            store.delete(key)


def publish_grades(store: Store, plan: CutPlan, editorial_root: str | None) -> list[str]:
    """Write (or remove) this cut's shots' event CDLs under ``editorial_root`` (the show's editorial folder, a
    key); returns the warnings. Raises StorageError when the store fails (the build fails, naming the key)."""
    grades, warnings = event_grades(plan)
    if editorial_root is None:
        return warnings + ([f"{plan.key}: not in a show's editorial folder: its ASC CDLs are no grade source"]
                           if grades else [])
    cut_uri = store.uri(plan.key)
    shots = {p.match.shot for p in plan.events if p.match.shot}
    drop_grades(store, editorial_root, cut_uri, marked_shots(store, editorial_root, plan.key) - shots)
    for shot in sorted(shots):
        key = edl_grade_key(editorial_root, shot)
        existing = store.get_bytes_if_exists(key)
        origin = edl_origin(existing) if existing is not None else None
        owner = origin.rsplit("#", 1)[0].removeprefix("edl:") if origin else None
        if shot not in grades:
            if existing is not None and owner == cut_uri:
                store.delete(key)  # this cut no longer grades the shot
            continue
        grade, index = grades[shot]
        text = cdl_document(grade, shot, f"edl:{cut_uri}#{index}").encode()
        if existing == text:
            continue
        if existing is not None and owner != cut_uri:
            try:
                theirs = parse_cdl(existing, store.uri(key), "edl")
            except GradeError:
                theirs = None  # not ours to mend: the grade lookup fails that shot's clips naming the file
            if theirs is None or theirs.digest() != grade.digest():
                warnings.append(f"{shot}: its EDL grade is {owner or key}'s (the first cut to grade it); this "
                                f"cut's ASC CDL (event {index}) is not used")
            continue
        store.put_bytes(key, text, "application/xml")
    return warnings
