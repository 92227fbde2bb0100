"""Per-shot grades (ASC CDL): parsing .cc/.cdl/.ccc and metadata, the lookup order, and the acceptance of
issue 30: a 12-frame ACEScg chart sequence with a .cc beside it, every 10-bit SDR deliverable within 0.5
CIEDE2000 and the review clip within 1.0 of a reference built here with PyOpenColorIO (CDL in ACEScct before the
view), and the same measurement failing for a product that ignores the grade or applies it in linear."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio
import pytest

from proxygen_core.colour.colorimetry import bt1886_eotf, ciede2000, lab
from proxygen_core.colour.grades import Grade, GradeContext, GradeError, find_grade, from_metadata, parse_cdl
from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file, write_sequence_clips
from proxygen_core.pipeline.sequence import load_members
from proxygen_core.pipeline.sequence.plan import plan_clips
from proxygen_core.settings import PipelineSettings, RenderSettings, Settings, load_settings
from proxygen_core.store.local import LocalStore

from .media import decoded_pictures, picture_rgb
from .reference import patch_means, read_full

# The grade, written here (not read from the product).
SLOPE, OFFSET, POWER, SAT = (1.10, 0.95, 0.90), (0.01, 0.0, -0.01), (1.05, 1.00, 0.95), 0.9
CC = """<?xml version="1.0" encoding="UTF-8"?>
<ColorCorrection id="sh010">
  <SOPNode><Slope>1.10 0.95 0.90</Slope><Offset>0.01 0.0 -0.01</Offset><Power>1.05 1.00 0.95</Power></SOPNode>
  <SatNode><Saturation>0.9</Saturation></SatNode>
</ColorCorrection>
"""
CDL = """<ColorDecisionList xmlns="urn:ASC:CDL:v1.01"><ColorDecision><ColorCorrection id="a">
<SOPNode><Slope>2 2 2</Slope><Offset>0 0 0</Offset><Power>1 1 1</Power></SOPNode></ColorCorrection></ColorDecision>
</ColorDecisionList>"""
CCC = """<ColorCorrectionCollection xmlns="urn:ASC:CDL:v1.2">
<ColorCorrection id="sh005"><SOPNode><Slope>3 3 3</Slope></SOPNode></ColorCorrection>
<ColorCorrection id="sh010"><SOPNode><Slope>1.2 1.2 1.2</Slope><Offset>0 0 0</Offset><Power>1 1 1</Power>
</SOPNode><SatNode><Saturation>0.5</Saturation></SatNode></ColorCorrection>
</ColorCorrectionCollection>"""
SDR_10BIT = ("prores_422hq", "prores_4444", "dnxhr_hqx", "hevc_main10")
CONFIG = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"
DISPLAY, VIEW = "Rec.1886 Rec.709 - Display", "ACES 2.0 - SDR 100 nits (Rec.709)"


# --- parsing ------------------------------------------------------------------------------------------------

def test_cc_cdl_and_ccc_parse_to_their_values():
    cc = parse_cdl(CC, "/x/sh010.cc")
    assert (cc.slope, cc.offset, cc.power, cc.saturation, cc.id) == (SLOPE, OFFSET, POWER, SAT, "sh010")
    assert cc.source == "cc:/x/sh010.cc"
    cdl = parse_cdl(CDL, "/x/a.cdl")  # namespaced, nested in ColorDecision; no SatNode: saturation 1
    assert (cdl.slope, cdl.saturation) == ((2.0, 2.0, 2.0), 1.0)
    ccc = parse_cdl(CCC, "/show/demo.ccc", "ccc", shot="sh010")
    assert (ccc.slope, ccc.saturation, ccc.source) == ((1.2, 1.2, 1.2), 0.5, "ccc:/show/demo.ccc#sh010")
    partial = parse_cdl(CCC, "/show/demo.ccc", "ccc", shot="SH005")  # ids match case-insensitively
    assert (partial.slope, partial.offset, partial.power) == ((3, 3, 3), (0, 0, 0), (1, 1, 1))
    assert parse_cdl(CCC, "/show/demo.ccc", "ccc", shot="sh999") is None  # no entry for that shot
    assert cc.columns() == {"grade_slope": "1.1 0.95 0.9", "grade_offset": "0.01 0 -0.01",
                            "grade_power": "1.05 1 0.95", "grade_sat": 0.9, "grade_source": "cc:/x/sh010.cc"}


@pytest.mark.parametrize(("text", "cause"), [
    ("<ColorCorrection><SOPNode><Slope>1 1</Slope></SOPNode></ColorCorrection>", "Slope '1 1' has 2 numbers"),
    ("<ColorCorrection><SOPNode><Slope>1 x 1</Slope></SOPNode></ColorCorrection>", "is not three numbers"),
    ("<ColorCorrection><SOPNode><Power>1 0 1</Power></SOPNode></ColorCorrection>", "power > 0"),
    ("<ColorCorrection><SOPNode><Slope>1 1 1</Slope></SOPNode>", "not a readable CDL XML"),
    ("<ColorCorrection/>", "neither SOPNode nor SatNode"),
    ("<Grade><Slope>1 1 1</Slope></Grade>", "root element 'Grade'"),
    ("<ColorDecisionList></ColorDecisionList>", "no ColorCorrection"),
    ("<ColorCorrection><SatNode><Saturation>lots</Saturation></SatNode></ColorCorrection>", "is not a number"),
])
def test_malformed_cdl_names_the_file_and_the_cause(text, cause):
    with pytest.raises(GradeError) as err:
        parse_cdl(text, "s3://b/shows/demo/sh010.cc")
    assert cause in err.value.cause and "s3://b/shows/demo/sh010.cc" in err.value.cause, err.value.cause


def test_metadata_forms():
    keys = from_metadata({"proxygen-cdl-slope": "1.1,0.95,0.9", "Proxygen-CDL-Sat": "0.9"}, "s3://b/k")
    assert (keys.slope, keys.offset, keys.power, keys.saturation) == (SLOPE, (0, 0, 0), (1, 1, 1), 0.9)
    doc = from_metadata({"proxygen-cdl": '{"slope": [1, 2, 3], "power": [1, 1, 2], "sat": 0.5}'}, "s3://b/k")
    assert (doc.slope, doc.power, doc.saturation, doc.source) == ((1, 2, 3), (1, 1, 2), 0.5,
                                                                   "metadata:s3://b/k#proxygen-cdl")
    assert from_metadata({"artist": "me"}, "s3://b/k") is None
    with pytest.raises(GradeError, match="proxygen-cdl is not a CDL"):
        from_metadata({"proxygen-cdl": '{"slope": [1, 2]}'}, "s3://b/k")


def test_grade_sources_setting_is_checked_at_load():
    assert load_settings(env={"PROXYGEN_GRADE_SOURCES": "ccc,cc"}).pipeline.grade_sources == "ccc,cc"
    assert load_settings(env={}).pipeline.grade_sources == "metadata,cc,ccc,edl"  # the cuts' CDLs come last
    with pytest.raises(ValueError, match="PROXYGEN_GRADE_SOURCES.*unknown grade source"):
        load_settings(env={"PROXYGEN_GRADE_SOURCES": "metadata,avid"})


# --- where a grade is found ---------------------------------------------------------------------------------

def _layout_store(tmp_path):
    store = LocalStore(tmp_path / "out")
    show = tmp_path / "shows" / "demo"
    seq = show / "sq010" / "sh010" / "comp" / "v003"
    seq.mkdir(parents=True)
    first = seq / "sh010_comp_v003.1001.exr"
    first.write_bytes(b"not read")
    return store, show, seq, str(seq / "sh010_comp_v003.####.exr"), str(first)


def _ctx(store, pattern, first):
    from proxygen_core.store.identity import identify, show_folder

    shot = identify(pattern)
    return GradeContext(store, pattern, first, shot.shot, show_folder(pattern), shot.show)


def test_lookup_order_metadata_then_cc_then_ccc(tmp_path):
    store, show, seq, pattern, first = _layout_store(tmp_path)
    ctx = _ctx(store, pattern, first)
    assert (ctx.shot, ctx.show_root) == ("sh010", f"{show}/")
    order = ("metadata", "cc", "ccc")
    assert find_grade(ctx, order) is None
    (show / "demo.ccc").write_text(CCC)
    assert find_grade(ctx, order).source == f"ccc:{show}/demo.ccc#sh010"
    (seq / "sh010.cdl").write_text(CDL)  # named after the shot
    assert find_grade(ctx, order).source == f"cc:{seq}/sh010.cdl"
    (seq / "sh010_comp_v003.cc").write_text(CC)  # named after the sequence: before the shot's name
    assert find_grade(ctx, order).source == f"cc:{seq}/sh010_comp_v003.cc"
    store._write_sidecar(first, None, {"proxygen-cdl-slope": "2 2 2"})
    assert find_grade(ctx, order).slope == (2, 2, 2)
    assert find_grade(ctx, ("ccc", "cc", "metadata")).slope == (1.2, 1.2, 1.2)  # the order is the setting's
    assert find_grade(ctx, ()) is None


def test_a_malformed_cc_fails_that_sequences_rows_only(tmp_path):
    """A broken .cc fails every row of its sequence with the file and the cause; frames keep their outputs,
    another sequence with a good grade is built."""
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review"))
    bad, good = tmp_path / "a", tmp_path / "b"
    rows = {}
    for folder, text in ((bad, "<ColorCorrection><SOPNode><Slope>1 1</Slope></SOPNode></ColorCorrection>"),
                         (good, CC)):
        folder.mkdir()
        (folder / "sh010_comp.cc").write_text(text)
        results = []
        for n in (1, 2):
            img, _ = chart(64, 36, frame=n)
            write_exr(folder / f"sh010_comp.{n:04d}.exr", img, CHROMATICITIES["ACEScg"])
            results.append(render_file(folder / f"sh010_comp.{n:04d}.exr", tmp_path / "out", settings,
                                       LocalStore(tmp_path / "out")))
        assert all(r.ok for r in results)  # the frames are untouched
        rows[folder.name] = write_sequence_clips(results, LocalStore(tmp_path / "out"), settings)[0]
    assert rows["a"].status == "failed"
    assert rows["a"].error.startswith("GradeError: ") and f"{bad}/sh010_comp.cc" in rows["a"].error
    assert "has 2 numbers" in rows["a"].error
    assert rows["b"].status == "ok" and rows["b"].grade_slope == "1.1 0.95 0.9"


def test_grade_fields_in_burn_ins_and_unknown_fields_refused(tmp_path):
    """``{grade}`` prints the CDL's line and ``{grade_source}`` its file on the burn-ins; an ungraded sequence
    prints neither (nor the separator before them); a misspelt field is refused when the settings load."""
    template = "top_left={name} | {grade};bottom_left={grade_source}"
    settings = Settings(render=RenderSettings(clip_burnins=True, clip_burnin_template=template),
                        pipeline=PipelineSettings(clip_profiles="review", working_retention="keep"))
    texts = {}
    for name, cc in (("graded", CC), ("plain", None)):
        folder = tmp_path / name
        folder.mkdir()
        if cc:
            (folder / "sh010_comp.cc").write_text(cc)
        keys = []
        for n in (1, 2):
            img, _ = chart(64, 36, frame=n)
            write_exr(folder / f"sh010_comp.{n:04d}.exr", img, CHROMATICITIES["ACEScg"])
            keys.append(render_file(folder / f"sh010_comp.{n:04d}.exr", tmp_path / "out", settings,
                                    LocalStore(tmp_path / "out"), keep_working=True).key)
        store = LocalStore(tmp_path / "out")
        plan = plan_clips(store, str(folder / "sh010_comp.####.exr"), load_members(store, keys), settings, "review")
        assert plan.error is None and plan.burnins is not None
        texts[name] = plan.burnins.texts(1, "00:00:00:01", "", DISPLAY, VIEW)
    assert texts["graded"]["top_left"] == ("sh010_comp.####.exr | slope 1.1 0.95 0.9 offset 0.01 0 -0.01 "
                                           "power 1.05 1 0.95 sat 0.9")
    assert texts["graded"]["bottom_left"] == "sh010_comp.cc"
    assert texts["plain"]["top_left"] == "sh010_comp.####.exr"  # no grade: no stray separator
    assert texts["plain"]["bottom_left"] == ""
    from proxygen_core.media.burnins import BurnIns
    from proxygen_core.profiles import parse_template

    named = BurnIns(parse_template("top_right={profile} {view}"), {}, frozenset({"review", "prores_422hq"}))
    assert named.per_profile and named.texts(1, "", "", DISPLAY, VIEW, "prores_422hq") == {
        "top_right": f"prores_422hq {VIEW}"}  # each profile's own name, so each is drawn on its own
    with pytest.raises(ValueError, match=r"unknown field \{shto\}"):
        load_settings(None, {"PROXYGEN_CLIP_BURNIN_TEMPLATE": "top_left={shto}"})


# --- the acceptance: deliverables against an independent reference ----------------------------------------

def _reference(full: np.ndarray, size, grade_space: str | None) -> np.ndarray:
    """ACEScg full frame -> OIIO box resize -> (ACEScg -> grade_space -> the issue's CDL -> ACEScg) -> the
    Rec.1886 display, SDR view: built here from PyOpenColorIO calls, none of proxygen's."""
    config = ocio.Config.CreateFromFile(CONFIG)
    src = oiio.ImageBuf(oiio.ImageSpec(full.shape[1], full.shape[0], 3, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), full)
    small = oiio.ImageBufAlgo.resize(src, filtername="box", roi=oiio.ROI(0, size[0], 0, size[1], 0, 1, 0, 3))
    out = np.ascontiguousarray(small.get_pixels(oiio.FLOAT), dtype=np.float32)
    group = ocio.GroupTransform()
    if grade_space is not None:
        cdl = ocio.CDLTransform(slope=list(SLOPE), offset=list(OFFSET), power=list(POWER), sat=SAT)
        group.appendTransform(ocio.ColorSpaceTransform("ACEScg", grade_space))
        group.appendTransform(cdl)
        group.appendTransform(ocio.ColorSpaceTransform(grade_space, "ACEScg"))
    group.appendTransform(ocio.DisplayViewTransform("ACEScg", DISPLAY, VIEW))
    config.getProcessor(group).getDefaultCPUProcessor().apply(ocio.PackedImageDesc(out, size[0], size[1], 3))
    return np.clip(out, 0.0, 1.0)


def _graded_sequence(tmp_path, name: str, pipeline: PipelineSettings, display_transform: str = "lut"):
    size = (640, 360)
    src = tmp_path / name
    src.mkdir()
    (src / "sh010_comp.cc").write_text(CC)
    settings = Settings(render=RenderSettings(display_transform=display_transform), pipeline=pipeline)
    store = LocalStore(tmp_path / f"out_{name}")
    results = []
    for n in range(1001, 1013):  # 12 frames
        img, _ = chart(*size, frame=n - 1000)
        write_exr(src / f"sh010_comp.{n:04d}.exr", img, CHROMATICITIES["ACEScg"])
        results.append(render_file(src / f"sh010_comp.{n:04d}.exr", tmp_path / f"out_{name}", settings, store,
                                   keep_working=True))
    rows = {r.profile: r for r in write_sequence_clips(results, store, settings, keep_working=True)}
    return rows, store, results, settings, src


def _errors(rows, full, centres, size, grade_space) -> dict[str, float]:
    want = patch_means(_reference(full, size, grade_space), centres, size)
    out = {}
    for profile, row in rows.items():
        assert row.status == "ok", f"{profile}: {row.error}"
        picture = picture_rgb(decoded_pictures(row.clip_s3_key)[row.slate_frames or 0], 0.2126, 0.0722)
        got = patch_means(picture, centres, size)
        out[profile] = float(ciede2000(lab(got, bt1886_eotf), lab(want, bt1886_eotf)).max())
    return out


BOUNDS = {"review": 1.0, **dict.fromkeys(SDR_10BIT, 0.5)}


@pytest.mark.slow
@pytest.mark.parametrize("display_transform", ["lut", "exact"])
def test_graded_deliverables_match_an_independent_cdl_reference(tmp_path, display_transform):
    size = (640, 360)
    pipeline = PipelineSettings(clip_profiles="review," + ",".join(SDR_10BIT))
    rows, store, results, settings, src = _graded_sequence(tmp_path, "src", pipeline, display_transform)
    _, centres = chart(*size, frame=1)
    full = read_full(str(src / "sh010_comp.1001.exr"))
    errors = _errors(rows, full, centres, size, "ACEScct")
    print(f"{display_transform} graded vs reference, worst patch dE2000:",
          {k: round(v, 3) for k, v in errors.items()})
    for profile, bound in BOUNDS.items():
        assert errors[profile] < bound, (profile, errors[profile])
    # the grade's values, where it came from, the config and processor on every row
    for row in rows.values():
        assert (row.grade_slope, row.grade_offset, row.grade_power, row.grade_sat) == (
            "1.1 0.95 0.9", "0.01 0 -0.01", "1.05 1 0.95", 0.9)
        assert row.grade_source == f"cc:{src}/sh010_comp.cc"
        assert row.ocio_config == CONFIG and row.ocio_cache_id
    # ... and on the slate the plan gives the editorial profiles
    pattern = str(src / "sh010_comp.####.exr")
    plan = plan_clips(store, pattern, load_members(store, [r.key for r in results]), settings, "review")
    lines = dict(plan.slate.lines)
    assert (lines["CDL slope"], lines["CDL offset"], lines["CDL power"], lines["CDL sat"], lines["Grade from"]) == (
        "1.1 0.95 0.9", "0.01 0 -0.01", "1.05 1 0.95", "0.9 in ACEScct", "sh010_comp.cc")
    # the measurement discriminates: the same deliverables are far from the ungraded and the linear references
    for mutant in (None, "ACEScg"):
        wrong = _errors(rows, full, centres, size, mutant)
        print(f"{display_transform} graded vs mutant reference ({mutant or 'no grade'}):",
              {k: round(v, 3) for k, v in wrong.items()})
        assert all(wrong[p] > 2 * BOUNDS[p] for p in BOUNDS), wrong


@pytest.mark.slow
@pytest.mark.parametrize("mutant", ["grade ignored", "grade applied in linear"])
def test_mutant_products_fail_the_acceptance_measurement(tmp_path, mutant):
    """A product that ignores the grade (no grade source) or applies it in linear (grade space ACEScg) misses
    the acceptance bounds against the reference (CDL in ACEScct)."""
    size = (640, 360)
    pipeline = PipelineSettings(clip_profiles="review,prores_422hq")
    pipeline = replace(pipeline, grade_sources="none") if mutant == "grade ignored" else \
        replace(pipeline, grade_space="ACEScg")
    rows, *_, src = _graded_sequence(tmp_path, "src", pipeline)
    _, centres = chart(*size, frame=1)
    errors = _errors(rows, read_full(str(src / "sh010_comp.1001.exr")), centres, size, "ACEScct")
    print(f"{mutant}: worst patch dE2000 vs reference", {k: round(v, 3) for k, v in errors.items()})
    assert errors["review"] > BOUNDS["review"] and errors["prores_422hq"] > BOUNDS["prores_422hq"], errors
    assert (rows["review"].grade_source is None) == (mutant == "grade ignored")


def test_grade_space_changes_the_look_not_the_frames():
    """The grade is a plan decision: its settings are not in the render-settings hash (the frames stay)."""
    assert RenderSettings().settings_hash() == RenderSettings().settings_hash()
    assert "grade_space" not in RenderSettings.__dataclass_fields__
    assert Grade(space="ACEScct").digest() != Grade(space="ACEScg").digest()


@pytest.mark.slow
def test_baked_display_lut_still_meets_its_bound_on_graded_colours():
    """The grade is applied exactly, then the baked LUT: the LUT's own check (display_lut.BOUNDS), repeated on
    its test set after the issue's grade, still holds (measured, not assumed)."""
    from proxygen_core.colour import display_lut
    from proxygen_core.colour.engine import ColourEngine

    eng = ColourEngine(CONFIG)  # a fresh engine: its bake report (from the disk cache after the first run)
    grade = Grade(SLOPE, OFFSET, POWER, SAT)
    fast = eng.display("ACEScg", DISPLAY, VIEW, "lut", 129)
    exact = eng.display("ACEScg", DISPLAY, VIEW, "exact")
    assert eng.bake_reports[("display-lut", "ACEScg", DISPLAY, VIEW, 129)].used == "lut"
    colours = display_lut.test_colours(eng.config, "ACEScg")
    graded = display_lut._apply(eng.grade(grade, "ACEScg"), colours)
    want = np.clip(display_lut._apply(exact, graded), 0, 1)
    got = np.clip(display_lut._apply(fast, graded), 0, 1)
    de = ciede2000(lab(got, bt1886_eotf), lab(want, bt1886_eotf))
    measured = {"mean": float(de.mean()), "p99": float(np.percentile(de, 99)), "max": float(de.max())}
    print("graded LUT check:", {k: round(v, 3) for k, v in measured.items()})
    assert all(measured[k] <= display_lut.BOUNDS[k] for k in measured), measured


def test_partition_page_shows_the_grade_and_the_processor():
    from types import SimpleNamespace

    from proxygen_core.pipeline.sequence import ClipOutcome
    from proxygen_core.rows import ClipRow
    from proxygen_dagster.sequences.assets import _metadata

    row = ClipRow(clip_id="c", sequence="s", s3_bucket="b", status="ok", ocio_config=CONFIG, ocio_cache_id="abc",
                  **Grade(SLOPE, OFFSET, POWER, SAT, "cc:s3://b/sh010.cc").columns())
    meta = _metadata(SimpleNamespace(bucket="b"), ClipOutcome("review", row))
    assert meta["grade"] == "slope 1.1 0.95 0.9 offset 0.01 0 -0.01 power 1.05 1 0.95 sat 0.9"
    assert (meta["grade_source"], meta["ocio_config"], meta["ocio_cache_id"]) == ("cc:s3://b/sh010.cc", CONFIG, "abc")
    ungraded = _metadata(SimpleNamespace(bucket="b"), ClipOutcome("review", row.but(grade_source=None)))
    assert ungraded["grade"] == "none"


# --- looks and a facility config per show ---------------------------------------------------------------------

SHOW_LOOK_SLOPE = (0.8, 0.9, 1.1)


def _facility_config(path) -> str:
    """The studio config plus a show look (a CDL in ACEScct), written as a file: a facility config."""
    import copy

    config = copy.deepcopy(ocio.Config.CreateFromFile(CONFIG))
    config.addLook(ocio.Look(name="ShowLook", processSpace="ACEScct",
                             transform=ocio.CDLTransform(slope=list(SHOW_LOOK_SLOPE))))
    path.write_text(config.serialize())
    return str(path)


def test_show_configs_and_looks_are_refused_at_load_when_something_is_missing(tmp_path):
    facility = _facility_config(tmp_path / "facility.ocio")
    ok = load_settings(env={"PROXYGEN_SHOW_CONFIGS": f"demo={facility}|Rec.1886 Rec.709 - Display|Un-tone-mapped",
                            "PROXYGEN_LOOKS": "demo=ShowLook;*=ACES 1.3 Reference Gamut Compression"})
    assert ok.pipeline.looks.startswith("demo=ShowLook")
    for env, cause in (
        ({"PROXYGEN_LOOKS": "demo=ShowLook"}, "look 'ShowLook' is not in the config"),  # not in the default config
        ({"PROXYGEN_SHOW_CONFIGS": f"demo={facility}|Nope - Display"}, "display 'Nope - Display' is not in"),
        ({"PROXYGEN_SHOW_CONFIGS": f"demo={facility}|sRGB - Display|Nope"}, "view 'Nope' is not on display"),
        ({"PROXYGEN_SHOW_CONFIGS": f"demo={tmp_path}/missing.ocio"}, "cannot load OCIO config"),
        ({"PROXYGEN_SHOW_CONFIGS": "demo"}, "want show=value"),
        ({"PROXYGEN_SHOW_CONFIGS": "demo=a|b|c|d|e|f"}, "want config|display|view"),
    ):
        with pytest.raises(ValueError, match="PROXYGEN_SHOW_CONFIGS") as err:
            load_settings(env=env)
        assert cause in str(err.value), str(err.value)
    # a config in the bucket cannot be checked at load: it is accepted here and checked at first use
    assert load_settings(env={"PROXYGEN_SHOW_CONFIGS": "demo=s3://frames/shows/demo/config.ocio"})


ACES13 = "ocio://studio-config-v2.2.0_aces-v1.3_ocio-v2.4"
ACES13_SDR, ACES13_HDR = "ACES 1.0 - SDR Video", "ACES 1.1 - HDR Video (1000 nits & Rec.2020 lim)"


def test_the_hdr_display_and_view_are_checked_at_load_when_hdr_pq_is_enabled():
    """With hdr_pq enabled, the render config and every show config must have its PQ display and view (an
    ACES 1.3 show config has no ACES 2.0 HDR view): refused at start with what the config has, not a night of
    failed HDR clips; a display that is not PQ is refused too. Without hdr_pq nothing HDR is checked."""
    hdr = {"PROXYGEN_CLIP_PROFILES": "review,hdr_pq"}
    assert load_settings(env=hdr).render.hdr_view == "ACES 2.0 - HDR 1000 nits (P3 D65)"
    for env, cause in (
        ({"PROXYGEN_HDR_VIEW": "Nope"}, "view 'Nope' is not on display 'Rec.2100-PQ - Display'"),
        ({"PROXYGEN_HDR_DISPLAY": "Rec.1886 Rec.709 - Display", "PROXYGEN_HDR_VIEW": VIEW}, "not a PQ display"),
        ({"PROXYGEN_HDR_DISPLAY": "Nope - Display"}, "display 'Nope - Display' is not in the config"),
    ):
        with pytest.raises(ValueError, match="PROXYGEN_HDR_VIEW") as err:
            load_settings(env={**hdr, **env})
        assert cause in str(err.value), str(err.value)
    assert load_settings(env={"PROXYGEN_HDR_VIEW": "Nope"}).render.hdr_view == "Nope"  # hdr_pq is not enabled
    show = f"demo={ACES13}|Rec.1886 Rec.709 - Display|{ACES13_SDR}"
    assert load_settings(env={"PROXYGEN_SHOW_CONFIGS": show})  # SDR only: the HDR view is not asked for
    with pytest.raises(ValueError, match="PROXYGEN_SHOW_CONFIGS") as err:
        load_settings(env={**hdr, "PROXYGEN_SHOW_CONFIGS": show})
    assert "view 'ACES 2.0 - HDR 1000 nits (P3 D65)' is not on display 'Rec.2100-PQ - Display'" in str(err.value)
    assert ACES13_HDR in str(err.value)  # what the config has, to choose from
    own = load_settings(env={**hdr, "PROXYGEN_SHOW_CONFIGS": f"{show}|Rec.2100-PQ - Display|{ACES13_HDR}"})
    from proxygen_core.pipeline.sequence.show_config import show_render
    from proxygen_core.show_colour import show_colour

    colour = show_colour("demo", own.pipeline.show_configs, own.pipeline.looks)
    clip_render = show_render(None, colour, own.render, hdr=True)  # a path or ocio:// config: no store needed
    assert (clip_render.ocio_config, clip_render.view, clip_render.hdr_view) == (ACES13, ACES13_SDR, ACES13_HDR)


def test_new_render_fields_at_their_default_keep_the_settings_hash():
    """An upgrade that adds a render field (hdr_display, hdr_view) must not mark every output stale: the hash of
    the default settings is the one outputs were made with before the fields existed; setting one changes it."""
    assert RenderSettings().settings_hash() == "9d311f939f2a"
    assert RenderSettings(hdr_view=ACES13_HDR).settings_hash() != "9d311f939f2a"


def _show_sequence(tmp_path, settings, show="demo", frames=(1, 2, 3), size=(640, 360)):
    src = tmp_path / "shows" / show / "sq010" / "sh010" / "comp" / "v001"
    src.mkdir(parents=True)
    (src / "sh010_comp_v001.cc").write_text(CC)
    store = LocalStore(tmp_path / f"out_{show}")
    results = []
    for n in frames:
        img, _ = chart(*size, frame=n)
        write_exr(src / f"sh010_comp_v001.{n:04d}.exr", img, CHROMATICITIES["ACEScg"])
        results.append(render_file(src / f"sh010_comp_v001.{n:04d}.exr", tmp_path / f"out_{show}", settings, store))
    rows = {r.profile: r for r in write_sequence_clips(results, store, settings)}
    return rows, src, store


@pytest.mark.slow
def test_a_shows_facility_config_view_and_look_are_applied_after_the_grade(tmp_path):
    """The show's config (a file), its view (Un-tone-mapped) and its look after the shot's CDL: the clips within
    the acceptance bounds of a reference built here in that config; without the look they are far from it."""
    facility = _facility_config(tmp_path / "facility.ocio")
    view = "Un-tone-mapped"
    settings = Settings(pipeline=PipelineSettings(
        clip_profiles="review,prores_422hq", show_configs=f"demo={facility}|{DISPLAY}|{view}", looks="demo=ShowLook"))
    rows, src, _ = _show_sequence(tmp_path, settings)
    size = (640, 360)
    _, centres = chart(*size, frame=1)
    full = read_full(str(src / "sh010_comp_v001.0001.exr"))
    config = ocio.Config.CreateFromFile(facility)

    def reference(with_look: bool) -> np.ndarray:
        src_buf = oiio.ImageBuf(oiio.ImageSpec(full.shape[1], full.shape[0], 3, oiio.FLOAT))
        src_buf.set_pixels(oiio.ROI(), full)
        small = oiio.ImageBufAlgo.resize(src_buf, filtername="box", roi=oiio.ROI(0, size[0], 0, size[1], 0, 1, 0, 3))
        out = np.ascontiguousarray(small.get_pixels(oiio.FLOAT), dtype=np.float32)
        group = ocio.GroupTransform()
        group.appendTransform(ocio.ColorSpaceTransform("ACEScg", "ACEScct"))
        group.appendTransform(ocio.CDLTransform(slope=list(SLOPE), offset=list(OFFSET), power=list(POWER), sat=SAT))
        group.appendTransform(ocio.ColorSpaceTransform("ACEScct", "ACEScg"))
        if with_look:
            group.appendTransform(ocio.ColorSpaceTransform("ACEScg", "ACEScct"))
            group.appendTransform(ocio.CDLTransform(slope=list(SHOW_LOOK_SLOPE)))
            group.appendTransform(ocio.ColorSpaceTransform("ACEScct", "ACEScg"))
        group.appendTransform(ocio.DisplayViewTransform("ACEScg", DISPLAY, view))
        config.getProcessor(group).getDefaultCPUProcessor().apply(ocio.PackedImageDesc(out, size[0], size[1], 3))
        return patch_means(np.clip(out, 0.0, 1.0), centres, size)

    def worst(row, want) -> float:
        picture = picture_rgb(decoded_pictures(row.clip_s3_key)[row.slate_frames or 0], 0.2126, 0.0722)
        got = patch_means(picture, centres, size)
        return float(ciede2000(lab(got, bt1886_eotf), lab(want, bt1886_eotf)).max())

    want, no_look = reference(True), reference(False)
    for profile, bound in (("review", 1.0), ("prores_422hq", 0.5)):
        row = rows[profile]
        assert row.status == "ok", row.error
        assert row.ocio_config == facility and row.grade_slope == "1.1 0.95 0.9"
        good, bad = worst(row, want), worst(row, no_look)
        print(f"{profile}: vs facility reference {good:.3f}, vs the same without the look {bad:.3f}")
        assert good < bound and bad > 2 * bound, (good, bad)


def test_a_bucket_config_is_checked_at_first_use_and_fails_only_that_show(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXYGEN_LUT_CACHE_DIR", str(tmp_path / "cache"))
    store_root = tmp_path / "a" / "out_demo"
    facility = _facility_config(tmp_path / "facility.ocio")
    missing = f"s3://{store_root}/{tmp_path}/nowhere.ocio"
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", show_configs=f"demo={missing}"))
    rows, *_ = _show_sequence(tmp_path / "a", settings, size=(64, 36), frames=(1, 2))
    assert rows["review"].status == "failed"
    assert rows["review"].error == f"ColorError: {missing}: the show's OCIO config is not in the bucket"
    # a config in the bucket that lacks the view the show names: that show's clips fail, naming it
    bad_view = f"s3://{tmp_path / 'b' / 'out_demo'}/{facility}"
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review",
                                                  show_configs=f"demo={bad_view}|{DISPLAY}|Nope"))
    rows, *_ = _show_sequence(tmp_path / "b", settings, size=(64, 36), frames=(1, 2))
    assert rows["review"].status == "failed" and "view 'Nope' is not on display" in rows["review"].error
    # ... while another show, with no config of its own, is built with the render settings' config
    rows, *_ = _show_sequence(tmp_path / "b", settings, show="other", size=(64, 36), frames=(1, 2))
    assert rows["review"].status == "ok" and rows["review"].ocio_config == CONFIG
    # and a good bucket config is fetched, used, and named by its URI on the row
    good = f"s3://{tmp_path / 'c' / 'out_demo'}/{facility}"
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", show_configs=f"demo={good}",
                                                  looks="demo=ShowLook"))
    rows, *_ = _show_sequence(tmp_path / "c", settings, size=(64, 36), frames=(1, 2))
    assert rows["review"].status == "ok", rows["review"].error
    assert rows["review"].ocio_config == good and list((tmp_path / "cache" / "configs").glob("*/config.ocio"))


@pytest.mark.slow
def test_grade_frames_grades_each_frames_own_outputs(tmp_path):
    """PROXYGEN_GRADE_FRAMES: a sequence frame's thumbnail follows the graded reference (sRGB display), and
    without it the frame is ungraded; a malformed .cc never fails a frame (ungraded, with a warning)."""
    from .media import read_jpeg

    size = (640, 360)
    src = tmp_path / "src"
    src.mkdir()
    (src / "sh010_comp.cc").write_text(CC)
    img, centres = chart(*size, frame=1)
    write_exr(src / "sh010_comp.0001.exr", img, CHROMATICITIES["ACEScg"])
    full = read_full(str(src / "sh010_comp.0001.exr"))
    errors = {}
    for graded in (True, False):
        settings = Settings(pipeline=PipelineSettings(grade_frames=graded))
        out = tmp_path / f"out_{graded}"
        result = render_file(src / "sh010_comp.0001.exr", out, settings, LocalStore(out))
        ours = read_jpeg(result.thumbnail.path)
        thumb = (result.thumbnail.width, result.thumbnail.height)
        config = ocio.Config.CreateFromFile(CONFIG)
        buf = oiio.ImageBuf(oiio.ImageSpec(full.shape[1], full.shape[0], 3, oiio.FLOAT))
        buf.set_pixels(oiio.ROI(), full)
        small = oiio.ImageBufAlgo.resize(buf, filtername="box", roi=oiio.ROI(0, thumb[0], 0, thumb[1], 0, 1, 0, 3))
        ref = np.ascontiguousarray(small.get_pixels(oiio.FLOAT), dtype=np.float32)
        group = ocio.GroupTransform()
        group.appendTransform(ocio.ColorSpaceTransform("ACEScg", "ACEScct"))
        group.appendTransform(ocio.CDLTransform(slope=list(SLOPE), offset=list(OFFSET), power=list(POWER), sat=SAT))
        group.appendTransform(ocio.ColorSpaceTransform("ACEScct", "ACEScg"))
        group.appendTransform(ocio.DisplayViewTransform("ACEScg", "sRGB - Display", VIEW))
        config.getProcessor(group).getDefaultCPUProcessor().apply(ocio.PackedImageDesc(ref, thumb[0], thumb[1], 3))
        from proxygen_core.colour.colorimetry import srgb_eotf

        de = ciede2000(lab(patch_means(ours, centres, size, 1), srgb_eotf),
                       lab(patch_means(np.clip(ref, 0, 1), centres, size, 1), srgb_eotf))
        errors[graded] = float(de.max())
    print("thumbnail vs graded reference, worst patch:", errors)
    assert errors[True] < 1.5 and errors[False] > 5, errors
    (src / "sh010_comp.cc").write_text("<ColorCorrection>")
    out = tmp_path / "out_bad"
    result = render_file(src / "sh010_comp.0001.exr", out, Settings(pipeline=PipelineSettings(grade_frames=True)),
                         LocalStore(out))
    assert result.ok and "not a readable CDL XML" in result.warnings["grade"], result.warnings


def test_the_sequence_sensor_rebuilds_a_sequence_whose_grade_arrives_alone(tmp_path, monkeypatch):
    """A .cc uploaded after the clips were built changes no frame: the sensor's grade check sees it, requests
    the sequence's clips once, and not again while the grade stays."""
    from types import SimpleNamespace

    from dagster import DagsterInstance, build_sensor_context

    from proxygen_core.pipeline.sequence import build_fingerprint
    from proxygen_dagster.names import PARTITION
    from proxygen_dagster.sequences import sensors

    monkeypatch.setattr(sensors, "GRADE_CHECK_SECONDS", 0.0)
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", clip_settle_seconds=0.0))
    src = tmp_path / "src"
    src.mkdir()
    store = LocalStore(tmp_path / "out")
    keys = []
    for n in (1, 2):
        img, _ = chart(64, 36, frame=n)
        write_exr(src / f"sh010_comp.{n:04d}.exr", img, CHROMATICITIES["ACEScg"])
        keys.append(render_file(src / f"sh010_comp.{n:04d}.exr", tmp_path / "out", settings, store).key)
    pattern = str(src / "sh010_comp.####.exr")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITION.frames, keys)
    instance.add_dynamic_partitions(PARTITION.sequences, [pattern])
    built = build_fingerprint(load_members(store, keys), settings)
    cursor = json.dumps({"after": None, "pending": {}, "built": {pattern: built}})
    storage = SimpleNamespace(store=lambda: store)

    def tick(cursor):
        result = sensors.sequence_clips_tick(build_sensor_context(instance=instance, cursor=cursor), storage, settings)
        return [r.partition_key for r in result.run_requests or []], result.cursor

    assert tick(cursor)[0] == []  # ungraded and built: nothing to do
    (src / "sh010_comp.cc").write_text(CC)
    requested, cursor = tick(cursor)
    assert requested == [pattern]
    assert tick(cursor)[0] == []  # the same grade: not again
    (src / "sh010_comp.cc").write_text(CC.replace("1.10 0.95", "1.20 0.95"))
    assert tick(cursor)[0] == [pattern]  # an edited grade is a change too


def _lut_look_config(folder, with_lut: bool = True):
    """A facility config whose look is a LUT file (``FileTransform`` of ``show_look.cc`` under its ``luts`` search
    path), written with (or without) that file beside it: the shape of a studio's config on disk."""
    import copy

    config = copy.deepcopy(ocio.Config.CreateFromFile(CONFIG))
    config.setSearchPath("luts")
    config.addLook(ocio.Look(name="LutLook", processSpace="ACEScct",
                             transform=ocio.FileTransform(src="show_look.cc")))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ocio").write_text(config.serialize())
    if with_lut:
        (folder / "luts").mkdir(exist_ok=True)
        slope = " ".join(str(s) for s in SHOW_LOOK_SLOPE)
        (folder / "luts" / "show_look.cc").write_text(
            f'<ColorCorrection id="look"><SOPNode><Slope>{slope}</Slope><Offset>0 0 0</Offset>'
            '<Power>1 1 1</Power></SOPNode></ColorCorrection>')
    return folder / "config.ocio"


@pytest.mark.slow
def test_a_bucket_config_fetches_the_luts_its_looks_name(tmp_path, monkeypatch):
    """A show config in the bucket whose look is a LUT beside it (its search path): the LUT is fetched from the
    bucket and the look applied (the clip matches one made with the same look inline); without the LUT in the
    bucket, that show's clips fail naming the file and the keys looked at; an .ocioz archive is used as is."""
    from proxygen_core.pipeline.sequence.show_config import MAX_CONFIG_FILES

    assert MAX_CONFIG_FILES >= 16
    monkeypatch.setenv("PROXYGEN_LUT_CACHE_DIR", str(tmp_path / "cache"))

    def clip_rgb(case: str, show_configs: str, looks: str) -> tuple[np.ndarray | None, object]:
        settings = Settings(pipeline=PipelineSettings(clip_profiles="review", show_configs=show_configs, looks=looks))
        rows, *_ = _show_sequence(tmp_path / case, settings, size=(64, 36), frames=(1, 2))
        row = rows["review"]
        if row.status != "ok":
            return None, row
        return picture_rgb(decoded_pictures(row.clip_s3_key)[row.slate_frames or 0], 0.2126, 0.0722), row

    # the same look inline (a CDLTransform in the config), the reference
    inline, _ = clip_rgb("inline", f"demo={_facility_config(tmp_path / 'facility.ocio')}", "demo=ShowLook")
    plain, _ = clip_rgb("plain", "", "")
    # the config in the bucket without its LUT: the show's clips fail, naming the file
    bucket = tmp_path / "nolut" / "out_demo"
    lutless = _lut_look_config(bucket / "colour" / "demo", with_lut=False)
    _, row = clip_rgb("nolut", f"demo=s3://{bucket}/{lutless}", "demo=LutLook")
    assert row.status == "failed"
    assert "file 'show_look.cc' that the config needs is not in the bucket" in row.error, row.error
    assert f"{bucket}/colour/demo/luts/show_look.cc" in row.error  # the key looked at
    # with the LUT beside it in the bucket: fetched, the look applied
    bucket = tmp_path / "lut" / "out_demo"
    config = _lut_look_config(bucket / "colour" / "demo")
    fetched, row = clip_rgb("lut", f"demo=s3://{bucket}/{config}", "demo=LutLook")
    assert fetched is not None, row.error
    assert row.ocio_config == f"s3://{bucket}/{config}"
    copies = list((tmp_path / "cache" / "configs").glob("*/luts/show_look.cc"))
    assert [c.read_bytes() for c in copies] == [(config.parent / "luts" / "show_look.cc").read_bytes()]
    assert inline is not None and plain is not None
    assert np.abs(fetched - inline).max() < 2 / 255, np.abs(fetched - inline).max()
    assert np.abs(plain - inline).mean() > 0.02  # the look is visible: the match above is not trivial
    # an .ocioz archive in the bucket (its LUT inside it, none beside it): used as it is
    archived = ocio.Config.CreateFromFile(str(config))
    bucket = tmp_path / "ocioz" / "out_demo"
    bucket.mkdir(parents=True)
    archive = bucket / "demo.ocioz"
    archived.archive(str(archive))
    from_archive, row = clip_rgb("ocioz", f"demo=s3://{bucket}/{archive}", "demo=LutLook")
    assert from_archive is not None, row.error
    assert np.abs(from_archive - inline).max() < 2 / 255
