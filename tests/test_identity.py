"""Shot identity from the key templates: show, sequence, shot, task, version on rows, events, reports and clips;
whole-key matching after the root, templates tried in order, disagreements flagged; the command and the re-derive."""
from __future__ import annotations

import json
import re

import pytest

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.settings import PipelineSettings, Settings, load_settings
from proxygen_core.store.identity import KEY_TEMPLATES, KeyLayout, ShotIdentity, identify

from .test_catalog import BACKENDS, _postgres

KEY = "shows/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr"
ISSUE_KEY = "shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.1001.exr"  # issue 29: misread by the old default
VERSION_FOLDER, FILE_VERSION = KEY_TEMPLATES
FLAT = "{show}_{shot}_{task}_v{version}.{frame}.{ext}"
REGEX = r"(?P<show>[^/]+)/(?P<shot>[^/]+)/plates/\w+_v(?P<version>\d+)_\d+\.dpx"
NO_TASK_FOLDER = "{show}/{sequence}/{shot}/{name}_{task}_v{version}.{frame}.{ext}"
RENDERS_FOLDER = "{show}/{sequence}/{shot}/{task}/renders/{name}_v{version}.{frame}.{ext}"
SHOT_IN_FILE = "{show}/{folder}/{shot}_{task}_v{version}.{frame}.{ext}"
SHOT_TWICE = "{show}/{sequence}/{shot}/{task}/{shot}_{task}_v{version}.{frame}.{ext}"
DEFAULTS = None  # the default templates (or root)

# key, templates (None: the defaults), root (None: the default shows/), expected identity (None: no identity),
# the template that matches, a word of the problem (None: not flagged)
LAYOUTS = [
    pytest.param(ISSUE_KEY, DEFAULTS, DEFAULTS, ("demo", "seq010", "sh010", "comp", 3), VERSION_FOLDER, None,
                 id="version-folder"),
    pytest.param(KEY, DEFAULTS, DEFAULTS, ("abc", "sq010", "sh020", "comp", 3), FILE_VERSION, None,
                 id="no-version-folder"),
    pytest.param("shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.####.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "sh010", "comp", 3), VERSION_FOLDER, None, id="sequence-pattern"),
    pytest.param("shows/abc/sq010/sh020/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS, None, None, None,
                 id="no-task-folder-defaults"),
    pytest.param("shows/abc/sq010/sh020/sh020_comp_v003.1001.exr", NO_TASK_FOLDER, DEFAULTS,
                 ("abc", "sq010", "sh020", "comp", 3), NO_TASK_FOLDER, None, id="no-task-folder-template"),
    pytest.param("shows/abc/sq010/sh020/comp/renders/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS, None, None, None,
                 id="extra-folder-not-guessed"),
    pytest.param("shows/abc/sq010/sh020/comp/renders/sh020_comp_v003.1001.exr", f"{VERSION_FOLDER};{RENDERS_FOLDER}",
                 DEFAULTS, ("abc", "sq010", "sh020", "comp", 3), RENDERS_FOLDER, None, id="extra-folder-template"),
    pytest.param("projects/2026/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr", DEFAULTS, "/projects/2026",
                 ("abc", "sq010", "sh020", "comp", 3), FILE_VERSION, None, id="root-prefix"),
    pytest.param("abc/sq010/sh020/comp/sh020_comp_v003.1001.exr", DEFAULTS, "", ("abc", "sq010", "sh020", "comp", 3),
                 FILE_VERSION, None, id="bucket-root"),
    pytest.param("renders/sq010/sh020/comp/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS, None, None, None,
                 id="outside-the-root"),
    pytest.param("shows/x/shows/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS, None, None,
                 None, id="root-prefix-inside-is-no-root"),
    pytest.param("shows/demo/seq010/sh010/comp/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", None, "comp", 3), FILE_VERSION, "shot 'sh010' from the folder disagrees with "
                 "'sh020'", id="shot-folder-vs-file"),
    pytest.param("shows/demo/seq010/sh010/comp/v003/sh010_comp_v004.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "sh010", "comp", None), VERSION_FOLDER, "version 'v003' from the folder "
                 "disagrees with 'v004'", id="version-folder-vs-file"),
    pytest.param("shows/demo/seq010/sh010/comp/v003/sh020_comp_v004.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", None, "comp", None), VERSION_FOLDER, "shot 'sh010'", id="both-disagree"),
    pytest.param("shows/demo/seq010/sh010/v003/sh010_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "sh010", None, 3), FILE_VERSION, "task 'v003' is a version token",
                 id="version-folder-read-as-task"),
    pytest.param("abc/sh010/sh020_comp_v3.1001.exr", SHOT_IN_FILE, "", ("abc", None, None, "comp", 3), SHOT_IN_FILE,
                 "shot 'sh020' from the file name disagrees with 'sh010' in the folder", id="file-shot-vs-folder"),
    pytest.param("shows/demo/seq010/SH010/comp/v003/sh010_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "SH010", "comp", 3), VERSION_FOLDER, None, id="case-is-no-disagreement"),
    pytest.param("shows/demo/seq010/hero/comp/v003/sh020_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "hero", "comp", 3), VERSION_FOLDER, None, id="shot-without-digits-no-shape"),
    pytest.param("shows/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr", SHOT_TWICE, DEFAULTS,
                 ("abc", "sq010", "sh020", "comp", 3), SHOT_TWICE, None, id="field-twice-agrees"),
    pytest.param("shows/abc/sq010/sh020/comp/sh010_comp_v003.1001.exr", SHOT_TWICE, DEFAULTS, None, None, None,
                 id="field-twice-disagrees"),
    pytest.param("proj/sh5/plates/bg_v12_1001.dpx", REGEX, "", ("proj", None, "sh5", None, 12), REGEX, None,
                 id="regex"),
    pytest.param("in/abc_sh020_comp_v7.1001.exr", FLAT, "in", ("abc", None, "sh020", "comp", 7), FLAT, None,
                 id="flat-file-name"),
    pytest.param("/mnt/shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "sh010", "comp", 3), VERSION_FOLDER, None, id="local-path-with-root"),
    pytest.param("/home/me/renders/demo/seq010/sh010/comp/v003/sh010_comp_v003.1001.exr", DEFAULTS, DEFAULTS,
                 ("demo", "seq010", "sh010", "comp", 3), VERSION_FOLDER, None, id="local-path-suffix"),
    pytest.param("/home/me/renders/sh010/beauty.1001.exr", DEFAULTS, DEFAULTS, None, None, None,
                 id="local-path-no-layout"),
]


@pytest.mark.parametrize(("key", "templates", "root", "expected", "template", "problem"), LAYOUTS)
def test_a_table_of_key_layouts(key, templates, root, expected, template, problem):
    layout = KeyLayout.parse(templates if templates is not None else "; ".join(KEY_TEMPLATES),
                             root if root is not None else "shows/")
    found = identify(key, layout)
    assert (found.show, found.sequence, found.shot, found.task, found.version) == (expected or (None,) * 5)
    assert found.template == template and found.known == (expected is not None)
    if problem is None:
        assert found.problem is None and not found.flagged
    else:
        assert found.flagged and problem in found.problem
        assert found.note() == f"identity: {found.problem}"


def test_the_issue_key_no_longer_reads_as_the_old_default_did():
    found = identify(ISSUE_KEY)  # the old default, matched at the key's end: show seq010, shot comp, task v003
    assert found.columns() == {"show": "demo", "seq": "seq010", "shot": "sh010", "task": "comp", "version": 3}
    assert found.template == VERSION_FOLDER and found.lacking() == []


def test_lacking_names_what_a_publish_needs():
    flagged = identify("shows/demo/seq010/sh010/comp/sh020_comp_v003.1001.exr")
    assert flagged.lacking() == ["shot"] and flagged.lacking(("project", "seq", "task")) == []
    assert ShotIdentity().lacking() == ["show", "shot", "task", "version"]


def test_the_templates_and_root_come_from_the_settings():
    pipeline = load_settings(env={"PROXYGEN_KEY_TEMPLATES": f"{REGEX}\n{FLAT}", "PROXYGEN_KEY_ROOT": ""}).pipeline
    assert pipeline.key_layout() == KeyLayout((REGEX, FLAT), "")
    assert identify("in/abc_sh020_comp_v7.1001.exr", pipeline.key_layout()).shot is None  # "in/" is not FLAT's
    assert identify("abc_sh020_comp_v7.1001.exr", pipeline.key_layout()) == ShotIdentity("abc", None, "sh020",
                                                                                          "comp", 7)
    assert load_settings(env={}).pipeline.key_layout() == KeyLayout(KEY_TEMPLATES, "shows/")
    yaml_style = load_settings(env={"PROXYGEN_KEY_TEMPLATES": f" {FLAT} ; ;{REGEX} "}).pipeline.key_layout()
    assert yaml_style.templates == (FLAT, REGEX)
    with pytest.raises(ValueError, match="PROXYGEN_KEY_TEMPLATES"):
        load_settings(env={"PROXYGEN_KEY_TEMPLATES": "(?P<show>[unclosed"})
    with pytest.raises(ValueError, match="PROXYGEN_KEY_TEMPLATES.*no key template"):
        load_settings(env={"PROXYGEN_KEY_TEMPLATES": " ; "})


def test_the_old_single_template_is_refused_naming_the_new_variable(tmp_path):
    with pytest.raises(ValueError, match=r"key_template \(PROXYGEN_KEY_TEMPLATE\) was renamed: use key_templates "
                                         r"\(PROXYGEN_KEY_TEMPLATES\).*WHOLE key.*--rederive"):
        load_settings(env={"PROXYGEN_KEY_TEMPLATE": FLAT})
    config = tmp_path / "settings.yaml"
    config.write_text(f"pipeline:\n  key_template: '{FLAT}'\n")
    with pytest.raises(ValueError, match="PROXYGEN_KEY_TEMPLATES"):
        load_settings(config, env={})


def test_rows_events_and_reports_carry_it(tmp_path):
    from proxygen_core.events.schema import build_event
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.folder import render_file
    from proxygen_core.pipeline.record import frame_row
    from proxygen_core.settings import RenderSettings

    row = frame_row(KeyResult(KEY), "frames", RenderSettings(), "review")
    assert (row.show, row.seq, row.shot, row.task, row.version) == ("abc", "sq010", "sh020", "comp", 3)
    assert row.error is None
    body = build_event(row, "t").body
    assert (body["show"], body["seq"], body["shot"], body["task"], body["version"]) == ("abc", "sq010", "sh020",
                                                                                           "comp", 3)
    assert body["project_id"] == "abc" and body["shot_id"] == "sh020"  # the original function's optional fields
    # a flagged key: its row and event say why, and the contradicted field is empty
    flagged = frame_row(KeyResult("shows/abc/sq010/sh010/comp/sh020_comp_v003.1001.exr"), "frames",
                        RenderSettings(), "review")
    assert flagged.status == "ok" and flagged.shot is None and flagged.show == "abc"
    assert flagged.error is not None and flagged.error.startswith("identity: shot 'sh010' from the folder")
    assert build_event(flagged, "t").body["error"] == flagged.error
    # the local door: an absolute path under the same layout
    src = tmp_path / "abc" / "sq010" / "sh020" / "comp" / "sh020_comp_v003.1001.exr"
    src.parent.mkdir(parents=True)
    write_exr(src, chart(64, 36)[0], CHROMATICITIES["ACEScg"])
    report = render_file(src, tmp_path / "out", Settings()).report()
    assert (report["show"], report["shot"], report["version"]) == ("abc", "sh020", 3)
    assert report["identity_template"] == FILE_VERSION and report["identity_problem"] is None
    on_disk = json.loads((tmp_path / "out" / "sh020_comp_v003.1001.json").read_text())
    assert on_disk["shot"] == "sh020" and on_disk["identity_template"] == FILE_VERSION
    custom = Settings(pipeline=PipelineSettings(key_templates="{shot}/{task}/{name}.{frame}.{ext}"))
    assert render_file(src, tmp_path / "out2", custom).report()["shot"] == "sh020"
    # a flagged local file: the report names the problem
    bad = tmp_path / "abc" / "sq010" / "sh010" / "comp" / "sh020_comp_v003.1001.exr"
    bad.parent.mkdir(parents=True)
    write_exr(bad, chart(64, 36)[0], CHROMATICITIES["ACEScg"])
    bad_report = render_file(bad, tmp_path / "out3", Settings()).report()
    assert bad_report["status"] == "ok" and bad_report["shot"] is None
    assert "disagrees with 'sh020'" in bad_report["identity_problem"]


def test_a_flagged_sequence_clip_row_says_so(tmp_path):
    from proxygen_core.pipeline.sequence.members import Members
    from proxygen_core.pipeline.sequence.plan import plan_clips
    from proxygen_core.store.local import LocalStore

    plan = plan_clips(LocalStore(tmp_path), "shows/demo/sq/sh010/comp/v003/sh010_comp_v004.####.exr",
                      Members({}, {}), Settings(), "review")
    row = plan.row(Settings().pipeline.profiles()[0])
    assert row.version is None and row.shot == "sh010" and row.error is not None
    assert row.error.startswith("identity: version 'v003' from the folder disagrees with 'v004'")


@pytest.fixture(autouse=True)
def _no_catalog_from_the_environment(monkeypatch):
    """The settings these tests write are the whole story: a suite fixture's PROXYGEN_SQLITE_PATH (s3_env sets it
    for the process) would otherwise win over the test's own catalog."""
    for name in ("PROXYGEN_SQLITE_PATH", "PROXYGEN_CONFIG", "PROXYGEN_CATALOG_BACKEND", "PROXYGEN_KEY_TEMPLATES",
                 "PROXYGEN_KEY_ROOT"):
        monkeypatch.delenv(name, raising=False)


def _cli(tmp_path, *argv):
    from proxygen_core.cli import main

    config = tmp_path / "settings.yaml"
    if not config.exists():
        config.write_text(f"catalog:\n  sqlite_path: {tmp_path / 'catalog.db'}\n")
    return main(["--config", str(config), *argv])


def test_the_identity_command_prints_each_reading(tmp_path, capsys, monkeypatch):
    assert _cli(tmp_path, "identity", ISSUE_KEY, KEY) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [ISSUE_KEY, "  show demo  seq seq010  shot sh010  task comp  version 3",
                   f"  template {VERSION_FOLDER}", KEY, "  show abc  seq sq010  shot sh020  task comp  version 3",
                   f"  template {FILE_VERSION}"]
    flagged = "shows/demo/seq010/sh010/comp/v003/sh010_comp_v004.1001.exr"
    assert _cli(tmp_path, "identity", "--json", ISSUE_KEY, flagged, "renders/x.1001.exr", "shows/x.exr") == 1
    found = json.loads(capsys.readouterr().out)
    assert [f["ok"] for f in found] == [True, False, False, False]
    assert found[0] == {"key": ISSUE_KEY, "show": "demo", "seq": "seq010", "shot": "sh010", "task": "comp",
                        "version": 3, "template": VERSION_FOLDER, "problem": None, "ok": True, "reason": None}
    assert found[1]["version"] is None and "'v004'" in found[1]["problem"] and found[1]["reason"] is None
    assert "outside the key root 'shows/'" in found[2]["reason"] and found[2]["template"] is None
    assert "no key template matches" in found[3]["reason"]
    local = tmp_path / "demo" / "seq010" / "sh010" / "comp" / "v003" / "sh010_comp_v003.1001.exr"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"")
    assert _cli(tmp_path, "identity", "--json", str(local.relative_to(tmp_path.parent))) == 1  # relative: not here
    capsys.readouterr()
    monkeypatch.chdir(tmp_path.parent)
    assert _cli(tmp_path, "identity", "--json", str(local.relative_to(tmp_path.parent))) == 0  # a file: its path
    assert json.loads(capsys.readouterr().out)[0]["key"] == str(local)
    assert _cli(tmp_path, "identity") == 2  # no keys: a usage error, said on one line
    assert "give one or more keys" in capsys.readouterr().err


# --- the re-derive, on every catalog backend ------------------------------------------------------------------

# the old default, matched at the key's end (this regex reproduces it): what the catalog holds before the fix.
# Read by the regex alone: identify() would now flag its task 'v003' (a version token).
OLD = re.compile(r"(?:.*/)?(?P<show>[^/]+)/(?P<seq>[^/]+)/(?P<shot>[^/]+)/(?P<task>[^/]+)/"
                 r"[^/]+?_v(?P<version>\d+)\.\d+\.[^/]+")


def _old_reading(key):
    groups = OLD.fullmatch(key.replace("#", "0")).groupdict()
    return {**groups, "version": int(groups["version"])}


SAME = "shows/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr"  # read alike by both
FLAGGED = "shows/demo/seq010/sh010/comp/v003/sh020_comp_v003.1001.exr"
PATTERN = "shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.####.exr"


@pytest.fixture(autouse=True)
def _server_for_backend(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("make") is _postgres:
        request.getfixturevalue("postgres_server")


def _old_catalog(make, tmp_path):
    from proxygen_core.events.schema import build_clip_event, build_event, clip_event_id, event_id
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.record import frame_row
    from proxygen_core.rows import ClipRow
    from proxygen_core.settings import RenderSettings

    catalog = make(tmp_path)
    rows = [frame_row(KeyResult(key), "frames", RenderSettings(), "review").but(error=None, **_old_reading(key))
            for key in (ISSUE_KEY, SAME, FLAGGED)]
    rows = [r.but(event_id=event_id(r)) for r in rows]
    catalog.write(rows, [build_event(r, "t") for r in rows])
    old = _old_reading(PATTERN)
    clip = ClipRow(clip_id="c1", sequence=PATTERN, s3_bucket="frames", output_profile="review", profile="review",
                   status="ok", planned_at=100, generated_timestamp="2026-12-02T09:00:00+00:00",
                   tracker_status="published", tracker_url="http://tracker/rev/1", tracker_revision="1",
                   tracker_attempts=1, **old)
    clip = clip.but(event_id=clip_event_id(clip))
    catalog.write_clips([clip], [build_clip_event(clip, "t")])
    return catalog


@pytest.mark.parametrize("make", [p for p in BACKENDS if p.id in ("sqlite", "postgres", "vast-fake")])
def test_rederive_rewrites_the_changed_rows_keeping_history(make, tmp_path):
    from proxygen_core.pipeline.rederive import rederive

    catalog = _old_catalog(make, tmp_path)
    before = {r.s3_key: r for r in catalog.rows(limit=10)}
    assert (before[ISSUE_KEY].show, before[ISSUE_KEY].shot, before[ISSUE_KEY].task) == ("seq010", "comp", "v003")
    events_before = catalog.count("events")
    done = rederive(catalog, KeyLayout(), "t")
    assert (done.examined_rows, done.changed_rows, done.examined_clips, done.changed_clips, done.flagged) == (
        3, 2, 1, 1, 1)
    now = {r.s3_key: r for r in catalog.rows(limit=10)}
    assert (now[ISSUE_KEY].show, now[ISSUE_KEY].seq, now[ISSUE_KEY].shot, now[ISSUE_KEY].task,
            now[ISSUE_KEY].version) == ("demo", "seq010", "sh010", "comp", 3)
    assert now[ISSUE_KEY].error is None and now[SAME] == before[SAME]
    assert now[FLAGGED].shot is None and now[FLAGGED].error.startswith("identity: shot 'sh010' from the folder")
    history = {r.s3_key: r for r in catalog.history(limit=10)}
    assert set(history) == {ISSUE_KEY, FLAGGED}  # the old readings are kept, the unchanged row has none
    assert (history[ISSUE_KEY].show, history[ISSUE_KEY].shot) == ("seq010", "comp")
    clip = catalog.clip("c1")
    assert (clip.show, clip.shot, clip.task, clip.version) == ("demo", "sh010", "comp", 3)
    assert (clip.tracker_status, clip.tracker_revision, clip.tracker_attempts) == ("pending", None, 0)
    # one new event per changed row, saying the new reading
    assert catalog.count("events") == events_before + 3
    bodies = [e.body for e in catalog.pending_events(limit=20)]
    frames = [b for b in bodies if b.get("source_uri") == f"s3://frames/{ISSUE_KEY}"]
    assert sorted((b["show"], b["shot"]) for b in frames) == [("demo", "sh010"), ("seq010", "comp")]
    assert sorted(b["shot"] for b in bodies if b.get("clip_id") == "c1") == ["comp", "sh010"]
    again = rederive(catalog, KeyLayout(), "t")  # nothing left to change: nothing written
    assert (again.changed_rows, again.changed_clips) == (0, 0) and catalog.count("events") == events_before + 3
    assert catalog.count("history") == 2


def test_the_rederive_command_on_the_configured_catalog(tmp_path, capsys):
    from proxygen_core.catalog import SQLiteCatalog

    from .test_catalog import _sqlite

    _old_catalog(_sqlite, tmp_path)
    assert _cli(tmp_path, "identity", "--rederive") == 0
    captured = capsys.readouterr()
    assert "2 of 3 frame rows and 1 of 1 clips changed (1 of them flagged)" in captured.out
    assert f"catalog: sqlite {tmp_path / 'catalog.db'}" in captured.err
    assert _cli(tmp_path, "identity", "--rederive", "--json") == 0
    assert json.loads(capsys.readouterr().out)["changed_rows"] == 0
    assert SQLiteCatalog(tmp_path / "catalog.db").count("history") == 2
    assert _cli(tmp_path, "identity", "--rederive", KEY) == 2


def test_the_note_follows_a_failure_and_comes_off_again():
    from proxygen_core.store.identity import noted_problem, with_note, without_note

    flagged = identify("shows/demo/seq010/sh010/comp/sh020_comp_v003.1001.exr")
    failure = "DecodeError at source: truncated; read 10 of 20 bytes"
    noted = with_note(failure, flagged)
    assert noted == f"{failure}; identity: {flagged.problem}"
    assert without_note(noted) == failure and noted_problem(noted) == flagged.problem
    assert with_note(None, flagged) == f"identity: {flagged.problem}" and without_note(with_note(None, flagged)) is None
    assert with_note(failure, identify(KEY)) == failure and noted_problem(failure) is None
